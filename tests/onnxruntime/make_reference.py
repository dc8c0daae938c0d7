#!/usr/bin/env python3
"""Reference logits from onnxruntime for zoo networks exported by lrp.

For each (architecture, classes, seed) below, runs the Rust example `export_zoo` (which
builds `lrp::zoo::build(arch, classes, seed)` and writes it with `lrp::export::onnx::save`,
the logits being a second output) into a temporary directory, checks the file with
`onnx.checker` (with shape inference), runs it in onnxruntime on a deterministic input and
writes the logits to tests/data/onnxruntime/<arch>.json. The .onnx files are deleted (VGG-16's
is ~550 MB); only the JSON is committed. `tests/onnx_export.rs` regenerates the networks from
the seeds and compares.

Input: shape [2, 3, H, W] (two images, to exercise the symbolic batch dimension), float32,
x.flat[i] = float32(sin(0.001 * i)) with i the row-major flat index over the whole batch and
the sine computed in float64.

Usage (from the repository root, with numpy, onnx and onnxruntime installed):
    python tests/onnxruntime/make_reference.py
Set CARGO_TARGET_DIR as for any cargo command.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "onnxruntime")

# (architecture, classes, seed, per-sample input shape)
MODELS = [
    ("adiencenet", 8, 1, [3, 227, 227]),
    ("caffenet", 1000, 2, [3, 227, 227]),
    ("googlenet", 1000, 3, [3, 224, 224]),
    ("vgg16", 1000, 4, [3, 224, 224]),
]
BATCH = 2


def make_input(per_sample):
    shape = [BATCH] + per_sample
    n = int(np.prod(shape))
    return np.sin(0.001 * np.arange(n, dtype=np.float64)).astype(np.float32).reshape(shape)


def main():
    subprocess.run(
        ["cargo", "build", "--release", "--example", "export_zoo"], cwd=ROOT, check=True
    )
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    exe = os.path.join(target, "release", "examples", "export_zoo")
    os.makedirs(OUT, exist_ok=True)
    for arch, classes, seed, shape in MODELS:
        with tempfile.TemporaryDirectory() as tmp:
            logits_name = subprocess.run(
                [exe, tmp, arch, str(classes), str(seed)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            path = os.path.join(tmp, f"{arch}.onnx")
            size = os.path.getsize(path)
            onnx.checker.check_model(path, full_check=True)
            model = onnx.load(path, load_external_data=False)
            opset = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")][0]
            ops = sorted({n.op_type for n in model.graph.node})
            del model
            sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            x = make_input(shape)
            (input_name,) = [i.name for i in sess.get_inputs()]
            prob, logits = sess.run(["prob", logits_name], {input_name: x})
        ref = np.exp(logits - logits.max(axis=1, keepdims=True))
        ref /= ref.sum(axis=1, keepdims=True)
        assert np.allclose(prob, ref, atol=1e-6), arch
        record = {
            "architecture": arch,
            "classes": classes,
            "seed": seed,
            "input_shape": [BATCH] + shape,
            "input_formula": "x.flat[i] = float32(sin(0.001 * i)), sine in float64, i row-major over the batch",
            "logits_tensor": logits_name,
            "onnx_file_bytes": size,
            "opset": opset,
            "ops": ops,
            "onnxruntime": ort.__version__,
            "onnx": onnx.__version__,
            "numpy": np.__version__,
            "logits": [[float(v) for v in row] for row in logits],
        }
        # One line per key and per image's logits (readable diffs, small files).
        rows = record.pop("logits")
        lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in record.items()]
        lines.append(' "logits": [\n  ' + ",\n  ".join(json.dumps(r) for r in rows) + "\n ]")
        with open(os.path.join(OUT, f"{arch}.json"), "w") as f:
            f.write("{\n" + ",\n".join(lines) + "\n}\n")
        print(f"{arch}: {size} bytes, logits {logits.shape}, max |logit| {np.abs(logits).max():.4g}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
