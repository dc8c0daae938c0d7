#!/usr/bin/env python3
"""Generate tests/data/attribution/: reference attributions from Captum 0.9 and Zennit 1.0 for
issue 21 (baseline attribution methods), read by tests/attribution.rs.

How to run (from the repository root; the Rust tests only read the committed files):

    /work/venv/bin/python tests/attribution/generate.py

Versions: torch 2.15.0, captum 0.9.0, zennit 1.0.0, onnx 1.23.2, onnx2torch 1.5.15,
onnxruntime 1.32.0 (the exact versions are written to manifest.json). Float32 throughout,
batch 1, 1 thread (deterministic sums).

Models:
- the two shipped models `assets/gender-v1.onnx` (32x32) and `assets/age-v1.onnx` (64x64),
  on the face of `assets/astronaut.png` as the shipped preprocessing makes it (the input is
  taken from `../shared/reference/astronaut_<model>_input.npy` and saved here, so the Rust
  test feeds the very same tensor);
- three of the reduced torchvision CNNs of tests/data/modern (MobileNetV2: ReLU6, batch norm,
  residual sums; EfficientNet-B0: SiLU, sigmoid gates; ConvNeXt-Tiny: GELU, LayerNorm,
  depthwise 7x7), on tests/data/modern/input_224.npy;
- the two reduced vision transformers of tests/data/vit (torchvision ViT-B/16 and timm
  DeiT-tiny: attention MatMul, Softmax, LayerNorm, GELU), on tests/data/vit/input_48.npy.

For the Captum methods every ONNX file is turned into a torch module by onnx2torch (the
original file, not our canonised graph: torch autograd through the operators as the file
writes them); the script asserts that module's logits equal onnxruntime's to 1e-5 relative.
Excitation backprop is a Zennit composite and needs Zennit's module types (residual sums as
zennit.layer.Sum, BatchNorm merged into the convolutions): it runs on the canonised graph that
lrp exports (`examples/side_by_side.rs export`), rebuilt in torch by
benches/zennit/side_by_side.py's `Graph` converter, as the Zennit references of the side-by-side
run are made.

Methods (target: the predicted class of the clean input, output seeded with 1):
- gradient: captum.attr.Saliency(abs=False)
- gradient-x-input: captum.attr.InputXGradient
- smoothgrad: captum.attr.NoiseTunnel(Saliency(abs=False)), nt_type="smoothgrad",
  stdevs = 0.15 * (max(x) - min(x)), torch.manual_seed(0). The noisy inputs Captum forms are
  recorded by a forward hook and stored as `<model>_smoothgrad_noise.npy` (noisy input − x), so
  the Rust side adds exactly those draws.
- integrated-gradients: captum.attr.IntegratedGradients, baseline 0, n_steps 16, method
  "gausslegendre" (gender also 10 steps "riemann_trapezoid").
- occlusion: captum.attr.Occlusion, baseline 0, gender window (3,6,6) stride (3,4,4) (the last
  window is clipped at the border), age window (3,16,16) stride (3,8,8).
- guided-backprop: captum.attr.GuidedBackprop.
- excitation-backprop: zennit.composites.ExcitationBackprop (stabiliser 1e-6), gender and age.

The torchvision CNNs are 224x224: to keep tests/data small their references are stored only
for the central 64x64 crop (rows and columns 80..144), with the float64 sum, sum of absolute
values and maximum absolute value of the whole map in manifest.json.
"""

import json
import os
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import onnx
import onnx2torch
import onnxruntime as ort
import torch
from captum.attr import (GuidedBackprop, InputXGradient, IntegratedGradients, NoiseTunnel,
                         Occlusion, Saliency)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "attribution")
SHARED = os.path.join(ROOT, "..", "shared", "reference")
CROP = (slice(None), slice(None), slice(80, 144), slice(80, 144))

torch.set_num_threads(1)


def load(path):
    """The ONNX file as a torch module (onnx2torch), checked against onnxruntime.

    onnx2torch 1.5.15 has no converter for Pad at opset 18 (age-v1.onnx). Pad-18 only adds the
    optional `axes` input; none of these files uses it, and no other operator they contain
    changed at opset 18, so such a file is read as opset 17 (Pad-13) - asserted below."""
    proto = onnx.load(path)
    opset = [o for o in proto.opset_import if o.domain in ("", "ai.onnx")][0]
    if opset.version == 18:
        assert all(len(n.input) <= 3 for n in proto.graph.node if n.op_type == "Pad"), path
        assert not any(n.op_type.startswith("Reduce") or n.op_type in ("Resize", "Split")
                       for n in proto.graph.node), path
        opset.version = 17
    model = onnx2torch.convert(proto).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def logits_of(model, path, x):
    """Logits of the torch module: the input of a final Softmax if the file ends with one."""
    sess = ort.InferenceSession(path)
    out = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    m = onnx.load(path)
    last = m.graph.node[-1]
    with torch.no_grad():
        y = model(x).numpy()
    err = np.abs(y - out).max() / np.abs(out).max()
    assert err < 1e-5, (path, err)
    return last.op_type == "Softmax"


class Logits(torch.nn.Module):
    """The module without its final softmax: logits as Captum's target output."""

    def __init__(self, model, softmax):
        super().__init__()
        self.model = model
        if softmax:
            # onnx2torch keeps node order; drop the last (Softmax) node from the fx graph.
            g = model.graph
            nodes = list(g.nodes)
            out = [n for n in nodes if n.op == "output"][0]
            sm = out.args[0]
            out.args = (sm.args[0],)
            g.erase_node(sm)
            g.lint()
            model.recompile()

    def forward(self, x):
        return self.model(x)


class Recorder(torch.nn.Module):
    """Records every input the model sees (SmoothGrad's noisy copies)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.model(x)


def save(name, arr, manifest, crop=False):
    arr = np.ascontiguousarray(arr.astype(np.float32))
    entry = {
        "shape": list(arr.shape),
        "sum": float(arr.astype(np.float64).sum()),
        "abs_sum": float(np.abs(arr.astype(np.float64)).sum()),
        "max_abs": float(np.abs(arr).max()),
    }
    if crop:
        entry["crop"] = [[80, 144], [80, 144]]
        arr = np.ascontiguousarray(arr[CROP])
    np.save(os.path.join(OUT, name + ".npy"), arr)
    manifest[name] = entry


def captum_methods(model, x, target, stem, manifest, full, crop, occlusion=None):
    """The Captum methods on one model and input."""
    x = x.clone()
    attrs = {}
    attrs["gradient"] = Saliency(model).attribute(x, target=target, abs=False)
    if not full:
        attrs_all = attrs
    else:
        attrs["gradient_x_input"] = InputXGradient(model).attribute(x, target=target)
        sigma = 0.15 * float(x.max() - x.min())
        rec = Recorder(model)
        torch.manual_seed(0)
        samples = full["samples"]
        attrs["smoothgrad"] = NoiseTunnel(Saliency(rec)).attribute(
            x, nt_type="smoothgrad", nt_samples=samples, stdevs=sigma, target=target, abs=False)
        noisy = torch.cat(rec.seen, 0)
        assert noisy.shape[0] == samples, noisy.shape
        save(f"{stem}_smoothgrad_noise", (noisy - x).numpy(), manifest)
        manifest[f"{stem}_smoothgrad_noise"]["sigma"] = sigma
        attrs["integrated_gradients"] = IntegratedGradients(model).attribute(
            x, baselines=0.0, target=target, n_steps=16, method="gausslegendre")
        if full.get("trapezoid"):
            attrs["integrated_gradients_trapezoid"] = IntegratedGradients(model).attribute(
                x, baselines=0.0, target=target, n_steps=10, method="riemann_trapezoid")
        if occlusion:
            win, stride = occlusion
            attrs["occlusion"] = Occlusion(model).attribute(
                x, sliding_window_shapes=(x.shape[1], win, win),
                strides=(x.shape[1], stride, stride), baselines=0.0, target=target)
            manifest.setdefault("occlusion", {})[stem] = {"window": win, "stride": stride}
        attrs["guided_backprop"] = GuidedBackprop(model).attribute(x, target=target)
        attrs_all = attrs
    for k, v in attrs_all.items():
        save(f"{stem}_{k}", v.detach().numpy(), manifest, crop=crop)


def excitation(name, x, target, manifest):
    """Zennit's ExcitationBackprop on lrp's canonised export of a shipped model."""
    import zennit
    from zennit.composites import ExcitationBackprop

    sys.path.insert(0, os.path.join(ROOT, "benches", "zennit"))
    from side_by_side import Graph  # noqa: E402

    subprocess.run(["cargo", "build", "--release", "--example", "side_by_side"], cwd=ROOT,
                   check=True)
    exe = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                       "release", "examples", "side_by_side")
    path = os.path.join("/tmp", f"lrp-attr-{name}.onnx")
    p = subprocess.run([exe], input=f"export {name} {path}\nquit\n", text=True,
                       capture_output=True, check=True)
    assert p.stdout.startswith("ok"), p.stdout
    model = Graph(path).eval()
    xx = x.clone().requires_grad_(True)
    with ExcitationBackprop().context(model) as m:
        out = m(xx)
        seed = torch.zeros_like(out)
        seed[0, target] = 1.0
        (r,) = torch.autograd.grad(out, xx, seed)
    manifest["zennit"] = version("zennit")
    save(f"{name}_excitation_backprop", r.numpy(), manifest)


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {
        "versions": {p: version(p) for p in
                     ("torch", "captum", "zennit", "onnx", "onnx2torch", "onnxruntime", "numpy")},
        "targets": {},
    }
    shipped = {
        "gender": ("assets/gender-v1.onnx", {"samples": 8, "trapezoid": True}, (6, 4)),
        "age": ("assets/age-v1.onnx", {"samples": 4}, (16, 8)),
    }
    for name, (rel, full, occ) in shipped.items():
        x = torch.from_numpy(np.load(os.path.join(SHARED, f"astronaut_{name}_input.npy")))
        np.save(os.path.join(OUT, f"{name}_input.npy"), x.numpy())
        path = os.path.join(ROOT, rel)
        model = load(path)
        softmax = logits_of(model, path, x)
        model = Logits(model, softmax).eval()
        with torch.no_grad():
            target = int(model(x).argmax(1))
        manifest["targets"][name] = target
        captum_methods(model, x, target, name, manifest, full, crop=False, occlusion=occ)
        excitation(name, x, target, manifest)
    for arch in ("mobilenet_v2", "efficientnet_b0", "convnext_tiny"):
        path = os.path.join(ROOT, "tests", "data", "modern", f"{arch}_legacy.onnx")
        x = torch.from_numpy(np.load(os.path.join(ROOT, "tests", "data", "modern", "input_224.npy")))
        model = load(path)
        logits_of(model, path, x)
        with torch.no_grad():
            target = int(model(x).argmax(1))
        manifest["targets"][arch] = target
        captum_methods(model, x, target, arch, manifest, None, crop=True)
    for arch in ("vit_b_16", "deit_tiny"):
        path = os.path.join(ROOT, "tests", "data", "vit", f"{arch}_legacy.onnx")
        x = torch.from_numpy(np.load(os.path.join(ROOT, "tests", "data", "vit", "input_48.npy")))
        model = load(path)
        logits_of(model, path, x)
        with torch.no_grad():
            target = int(model(x).argmax(1))
        manifest["targets"][arch] = target
        captum_methods(model, x, target, arch, manifest, None, crop=False)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
