#!/usr/bin/env python3
"""Generate the activation-fusion cases in tests/data/onnx_fusion/ from PyTorch exports.

Run from the repository root with a Python that has torch (2.15 was used), onnx (1.23.2),
onnxruntime (1.32.0) and onnxscript (0.7.2, for the dynamo exporter):

    python tests/onnx_node/torch_fusions.py

Each case is a small model, Conv(3→4, 3x3, pad 1) → activation → Conv(4→2, 1x1), with
seeded weights, exported by torch.onnx.export in the three ways a user gets it:

- `legacy13`: the TorchScript exporter (`dynamo=False`) at opset 13;
- `dynamo18`: the default (dynamo) exporter at opset 18;
- `dynamo`: the default exporter at its default opset (20 with torch 2.15).

The activations are nn.SiLU, nn.Hardswish, nn.GELU() and nn.GELU(approximate='tanh'). Where
the exporter spells the activation out in several nodes (see src/import/onnx/fuse_act.rs),
lrp's importer must fuse them back into one node; the Rust test tests/onnx_fusion.rs checks
that the imported graph holds exactly one node of the fused kind and that its output agrees
with the expected output here.

Each case becomes tests/data/onnx_fusion/<case>/{model.onnx, input_0.pb, output_0.pb}: the
exported file as torch wrote it, the input (float32, [2, 3, 6, 6], seeded normal values times
2, so the activations see about [-8, 8]) and the output of onnxruntime on the file, which the
script checks against torch's own output (rtol 1e-5, atol 1e-6). manifest.json lists the
cases with the exporter, opset, the exported graph's operator types and the fused kind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "data", "onnx_fusion"))

ACTIVATIONS = {
    # name: (module factory, the single lrp node kind after import)
    "silu": (torch.nn.SiLU, "Silu"),
    "hardswish": (torch.nn.Hardswish, "HardSwish"),
    "gelu": (torch.nn.GELU, "Gelu"),
    "gelu_tanh": (lambda: torch.nn.GELU(approximate="tanh"), "Gelu"),
}
EXPORTERS = {
    "legacy13": {"dynamo": False, "opset_version": 13},
    "dynamo18": {"dynamo": True, "opset_version": 18, "external_data": False},
    "dynamo": {"dynamo": True, "external_data": False},
}


def net(act):
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), act, torch.nn.Conv2d(4, 2, 1)
    ).eval()


def export(model, x, path, kwargs):
    # The dynamo exporter reports its progress on stdout; keep the case list readable.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], **kwargs)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    g = torch.Generator().manual_seed(17)
    x = torch.randn(2, 3, 6, 6, generator=g) * 2
    manifest = []
    for act_name, (make, kind) in ACTIVATIONS.items():
        model = net(make())
        with torch.no_grad():
            want = model(x).numpy()
        for exp_name, kwargs in EXPORTERS.items():
            name = f"{act_name}_{exp_name}"
            d = os.path.join(OUT, name)
            os.makedirs(d)
            path = os.path.join(d, "model.onnx")
            export(model, x, path, kwargs)
            m = onnx.load(path)
            onnx.checker.check_model(m, full_check=True)
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            y = sess.run(None, {"x": x.numpy()})[0]
            np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6, err_msg=name)
            onnx.save_tensor(numpy_helper.from_array(x.numpy()), os.path.join(d, "input_0.pb"))
            onnx.save_tensor(numpy_helper.from_array(y), os.path.join(d, "output_0.pb"))
            ops = [n.op_type for n in m.graph.node if n.op_type not in ("Conv", "Constant")]
            manifest.append(
                {
                    "name": name,
                    "module": act_name,
                    "exporter": exp_name,
                    "opset": m.opset_import[0].version,
                    "activation_nodes": ops,
                    "fused_kind": kind,
                    "source": "onnxruntime on the exported file (checked against torch)",
                    "versions": {
                        "torch": torch.__version__,
                        "onnx": onnx.__version__,
                        "onnxruntime": ort.__version__,
                    },
                }
            )
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c) for c in manifest))
        f.write("\n]\n")
    for c in manifest:
        print(f"{c['name']:<22} opset {c['opset']}: {' '.join(c['activation_nodes'])}", file=sys.stderr)


if __name__ == "__main__":
    main()
