#!/usr/bin/env python3
"""Generate the layer-normalisation fusion cases in tests/data/layer_norm/.

Run from the repository root with torch 2.15.0, torchvision 0.29.2, onnx 1.23.2,
onnxscript 0.7.2 and onnxruntime 1.32.0 (the versions used for the committed files):

    python tests/layer_norm/generate.py

Each positive case is <case>/{model.onnx, input_0.pb, output_0.pb}: the model as PyTorch's
exporters write it (or as built here with onnx.helper), a seeded input, and the output of
onnxruntime (CPU) on that input, cross-checked against PyTorch's own output (rtol 1e-5,
atol 1e-6) where the model comes from PyTorch. The negative cases are <case>/model.onnx only:
patterns that must not be fused. tests/layer_norm.rs reads them.

Cases (opset in brackets):
- ln_nhwc_legacy [13]: nn.LayerNorm(8) on [N, 5, 5, 8], torch.onnx.export(dynamo=False):
  ReduceMean(axes=[-1]) ... Mul(weight) Add(bias), eps and 2 as Constant nodes.
- ln_nhwc_dynamo [20]: the same with dynamo=True: one LayerNormalization node.
- ln_ntc_legacy [13], ln_ntc_dynamo [20]: nn.LayerNorm(6) on [N, 7, 6] (a token sequence).
- ln_nobias_legacy [13]: nn.LayerNorm(6, bias=False): no trailing Add.
- ln_noaffine_legacy [13]: nn.LayerNorm(6, elementwise_affine=False): ends at the Div.
- ln_2d_legacy [13]: nn.LayerNorm([5, 6]) on [N, 4, 5, 6]: axes [-2, -1].
- cf_legacy [13], cf_dynamo [20]: the channels-first layer norm of ConvNeXt's reference code
  (x.mean(1, keepdim=True) ...; weight[:, None, None] * x + bias[:, None, None]) on
  [N, 8, 5, 5], inside Conv -> LN -> Conv: ReduceMean over axis 1 (the attribute at opset 13,
  the constant input at opset 20), Mul(gamma, x) with gamma first.
- ln2d_legacy [13], ln2d_dynamo [20]: torchvision's LayerNorm2d (ConvNeXt) on [N, 8, 5, 5]:
  Transpose -> layer norm over the last axis -> Transpose. The fusion of the middle is
  checked at the node level; importing the model needs the Transpose operator.
- handmade_mul_square [13]: built with onnx.helper: Mul(d, d) as the square, Add(eps, v) and
  Add(beta, g) with the constant first, axes [2, 3] (over H, W of NCHW).
Negative (not fused):
- neg_mean_is_output [13]: ln_ntc_legacy with the first ReduceMean's output also a graph output.
- neg_axes_differ [13]: the second ReduceMean over axes [-2] instead of [-1].
- neg_eps_from_data [13]: the "ε" added to the variance is Relu(x), data, not a constant.
- neg_layernorm_mean_output [17]: LayerNormalization whose output 1 (mean) is a graph output.
"""

import os
import shutil
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from torchvision.models.convnext import LayerNorm2d

warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "data", "layer_norm"))


class Wrap(torch.nn.Module):
    def __init__(self, ln):
        super().__init__()
        self.ln = ln

    def forward(self, x):
        return self.ln(x)


class ChannelsFirst(torch.nn.Module):
    """ConvNeXt's reference LayerNorm(data_format="channels_first") between two convs."""

    def __init__(self, c):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, c, 3, padding=1)
        self.weight = torch.nn.Parameter(torch.randn(c))
        self.bias = torch.nn.Parameter(torch.randn(c))
        self.eps = 1e-6
        self.conv2 = torch.nn.Conv2d(c, 4, 1)

    def forward(self, x):
        x = self.conv1(x)
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        x = self.weight[:, None, None] * x + self.bias[:, None, None]
        return self.conv2(x)


def randomise(m, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return m.eval()


def ort_run(path, x):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def write(name, model_path, x, torch_out=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    shutil.move(model_path, os.path.join(d, "model.onnx"))
    path = os.path.join(d, "model.onnx")
    onnx.checker.check_model(onnx.load(path), full_check=True)
    y = ort_run(path, x)
    if torch_out is not None:
        np.testing.assert_allclose(y, torch_out, rtol=1e-5, atol=1e-6, err_msg=name)
    onnx.save_tensor(numpy_helper.from_array(x), os.path.join(d, "input_0.pb"))
    onnx.save_tensor(numpy_helper.from_array(y), os.path.join(d, "output_0.pb"))
    ops = [n.op_type for n in onnx.load(path).graph.node]
    opset = [o.version for o in onnx.load(path).opset_import if o.domain in ("", "ai.onnx")]
    print(f"{name}: opset {opset}, {' '.join(ops)}")


def export(name, module, x, dynamo):
    tmp = os.path.join(OUT, f"{name}.tmp.onnx")
    kw = {"dynamo": dynamo}
    if not dynamo:
        kw["opset_version"] = 13
    else:
        kw["external_data"] = False
    torch.onnx.export(module, (torch.from_numpy(x),), tmp, input_names=["x"], output_names=["y"], **kw)
    with torch.no_grad():
        want = module(torch.from_numpy(x)).numpy()
    write(name, tmp, x, want)


def save_model(name, model):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    print(f"{name}: {' '.join(n.op_type for n in model.graph.node)}")


def spelled_out(axes, square="pow", eps_first=False, extra_outputs=(), second_axes=None, eps_node=None):
    """The legacy exporter's pattern on x [2, 7, 6] (or as given), built by hand."""
    n = helper.make_node
    nodes = [
        n("ReduceMean", ["x"], ["m"], axes=axes),
        n("Sub", ["x", "m"], ["d"]),
        n("Pow", ["d", "two"], ["p"]) if square == "pow" else n("Mul", ["d", "d"], ["p"]),
        n("ReduceMean", ["p"], ["v"], axes=second_axes or axes),
    ]
    if eps_node is not None:
        nodes.append(eps_node)
    nodes += [
        n("Add", ["eps", "v"] if eps_first else ["v", "eps"], ["e"]),
        n("Sqrt", ["e"], ["s"]),
        n("Div", ["d", "s"], ["q"]),
        n("Mul", ["q", "gamma"], ["g"]),
        n("Add", ["beta", "g"], ["y"]),
    ]
    return nodes


def handmade(name, nodes, x, inits, outputs=("y",)):
    """A model of `nodes` on data input x; outputs other than y are per-row statistics."""
    shapes = {"y": x.shape}
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [
            helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes.get(o, x.shape[:-1] + (1,)))
            for o in outputs
        ],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    rng = np.random.default_rng(17)
    x_nhwc = rng.standard_normal((2, 5, 5, 8)).astype(np.float32) * 2 + 1
    x_ntc = rng.standard_normal((2, 7, 6)).astype(np.float32) * 2 + 1
    x_2d = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    x_img = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    x_nchw = rng.standard_normal((2, 8, 5, 5)).astype(np.float32)

    for dyn, tag in ((False, "legacy"), (True, "dynamo")):
        export(f"ln_nhwc_{tag}", randomise(Wrap(torch.nn.LayerNorm(8)), 1), x_nhwc, dyn)
        export(f"ln_ntc_{tag}", randomise(Wrap(torch.nn.LayerNorm(6)), 2), x_ntc, dyn)
        export(f"cf_{tag}", randomise(ChannelsFirst(8), 3), x_img, dyn)
        export(f"ln2d_{tag}", randomise(Wrap(LayerNorm2d(8)), 4), x_nchw, dyn)
    export("ln_nobias_legacy", randomise(Wrap(torch.nn.LayerNorm(6, bias=False)), 5), x_ntc, False)
    export(
        "ln_noaffine_legacy",
        Wrap(torch.nn.LayerNorm(6, elementwise_affine=False)).eval(),
        x_ntc,
        False,
    )
    export("ln_2d_legacy", randomise(Wrap(torch.nn.LayerNorm([5, 6])), 6), x_2d, False)

    # Built by hand: Mul(d, d), constants first, axes [2, 3] of NCHW.
    g = rng.standard_normal((5, 5)).astype(np.float32)
    b = rng.standard_normal((5, 5)).astype(np.float32)
    consts = {
        "eps": np.array(1e-3, np.float32),
        "gamma": g,
        "beta": b,
    }
    model = handmade(
        "handmade_mul_square",
        spelled_out([2, 3], square="mul", eps_first=True),
        x_nchw,
        consts,
    )
    tmp = os.path.join(OUT, "handmade.tmp.onnx")
    onnx.save(model, tmp)
    xd = x_nchw.astype(np.float64)
    mu = xd.mean(axis=(2, 3), keepdims=True)
    var = ((xd - mu) ** 2).mean(axis=(2, 3), keepdims=True)
    want = ((xd - mu) / np.sqrt(var + 1e-3) * g + b).astype(np.float32)
    write("handmade_mul_square", tmp, x_nchw, want)

    # Negative cases: must stay unfused.
    ntc = {"two": np.array(2.0, np.float32), "eps": np.array(1e-5, np.float32),
           "gamma": rng.standard_normal(6).astype(np.float32),
           "beta": rng.standard_normal(6).astype(np.float32)}
    save_model("neg_mean_is_output", handmade("neg_mean_is_output", spelled_out([-1]), x_ntc, ntc, ("y", "m")))
    save_model("neg_axes_differ", handmade("neg_axes_differ", spelled_out([-1], second_axes=[-2]), x_ntc, ntc))
    nodes = spelled_out([-1], eps_node=helper.make_node("Relu", ["x"], ["eps_data"]))
    for node in nodes:
        if node.op_type == "Add" and "v" in node.input:
            node.input[:] = ["v", "eps_data"]
    save_model("neg_eps_from_data", handmade("neg_eps_from_data", nodes, x_ntc, ntc))
    ln = helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["y", "mean"], axis=-1)
    model = handmade("neg_layernorm_mean_output", [ln], x_ntc, {"gamma": ntc["gamma"], "beta": ntc["beta"]}, ("y", "mean"))
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", 17))
    save_model("neg_layernorm_mean_output", model)


if __name__ == "__main__":
    main()
