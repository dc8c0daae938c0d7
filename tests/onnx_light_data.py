#!/usr/bin/env python3
"""Copy the ONNX package's "light" model zoo into tests/data/onnx_light/ and regenerate the
input that the ONNX backend test runner feeds these models.

Run from the repository root, with a Python that has `onnx` (1.23.2 was used) and
`onnxruntime` installed:

    python tests/onnx_light_data.py

What it writes (see tests/data/onnx_light/README.md):

- light_<model>.onnx and light_<model>_output_0.pb, copied unchanged from
  onnx/backend/test/data/light/ in the installed onnx package;
- input_0.pb: the input of every model. The runner (onnx/backend/test/runner/__init__.py,
  `Runner._add_model_test` -> `generate_dummy_data(x, seed=0, random=False)`) does not ship the
  input: it builds it from the declared input shape (unknown dims -> 1) as
  `(np.arange(n).reshape(shape) / n).astype(np.float32)` with n = number of elements. All seven
  models take a [1, 3, 224, 224] float input, so one file serves them all;
- light_<model>_logits.pb: for the models that end with Softmax, the Softmax *input* computed
  by onnxruntime. The light models' weights are constants (every ConstantOfShape fills 0.02),
  so all 1000 logits are equal and the shipped Softmax output is exactly 1/1000 whatever the
  network computes; the logits check the network numerically.

The script checks that onnxruntime, fed input_0.pb, reproduces each shipped output with the
tolerances the runner declares (onnx/backend/test/case/model/__init__.py).
"""

import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

MODELS = {
    # name: (rtol, atol) as declared in onnx/backend/test/case/model/__init__.py (and in
    # onnx/backend/test/data/real/test_<name>/data.json)
    "bvlc_alexnet": (1e-3, 1e-7),
    "inception_v1": (1e-3, 1e-7),
    "vgg19": (1e-3, 1e-7),
    "zfnet512": (1e-3, 1e-7),
    "resnet50": (1e-3, 1e-7),
    "squeezenet": (1e-3, 1e-7),
    "densenet121": (2e-3, 1e-7),
}

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "data", "onnx_light")
SRC = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def dummy_input(value_info):
    """The runner's generate_dummy_data(x, seed=0, random=False)."""
    shape = tuple(
        d.dim_value if d.HasField("dim_value") else 1
        for d in value_info.type.tensor_type.shape.dim
    )
    n = np.prod(shape)
    return (np.arange(n).reshape(shape) / n).astype(np.float32)


def data_input(model):
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    assert len(inputs) == 1, [i.name for i in inputs]
    return inputs[0]


def main():
    os.makedirs(OUT, exist_ok=True)
    shared = None
    for name, (rtol, atol) in MODELS.items():
        for suffix in (".onnx", "_output_0.pb"):
            shutil.copyfile(
                os.path.join(SRC, f"light_{name}{suffix}"),
                os.path.join(OUT, f"light_{name}{suffix}"),
            )
        model = onnx.load(os.path.join(OUT, f"light_{name}.onnx"))
        x_info = data_input(model)
        x = dummy_input(x_info)
        if shared is None:
            shared = x
        assert np.array_equal(shared, x), name

        expected = numpy_helper.to_array(
            onnx.load_tensor(os.path.join(OUT, f"light_{name}_output_0.pb"))
        )
        sess = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        (got,) = sess.run(None, {x_info.name: x})
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)

        last = model.graph.node[-1]
        if last.op_type == "Softmax":
            # Expose the Softmax input as the output.
            trunc = onnx.ModelProto()
            trunc.CopyFrom(model)
            del trunc.graph.node[-1]
            out = trunc.graph.output[0]
            out.name = last.input[0]
            del out.type.tensor_type.shape.dim[:]
            sess = ort.InferenceSession(
                trunc.SerializeToString(), providers=["CPUExecutionProvider"]
            )
            (logits,) = sess.run(None, {x_info.name: x})
            onnx.save_tensor(
                numpy_helper.from_array(logits, name=last.input[0]),
                os.path.join(OUT, f"light_{name}_logits.pb"),
            )
            print(f"{name}: output ok, logits {logits.shape} = {logits.ravel()[0]!r}")
        else:
            print(f"{name}: output ok ({got.ravel()[0]!r}), ends with {last.op_type}")

    onnx.save_tensor(
        numpy_helper.from_array(shared, name="input_0"), os.path.join(OUT, "input_0.pb")
    )


if __name__ == "__main__":
    main()
