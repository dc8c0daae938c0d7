#!/usr/bin/env python3
"""Generate tests/data/concepts/: Concept Relevance Propagation references from zennit-crp 0.6
(issue 22), read by tests/concepts.rs.

How to run (from the repository root; the Rust tests only read the committed files):

    /work/venv/bin/python tests/concepts/generate.py

Versions (asserted and written to manifest.json): torch 2.15, zennit 1.0.0, zennit-crp 0.6.0,
onnx 1.23.2, onnx2torch 1.5.15, onnxruntime 1.32.0. Deterministic: the only random numbers
are the crops of part 3, drawn from numpy's default_rng(22).

Models: the shipped `assets/age-v1.onnx` (64x64, residual blocks) and `assets/gender-v1.onnx`
(32x32, a plain chain), turned into torch modules by onnx2torch 1.5.15 (read as opset 17:
Pad-18 only adds an `axes` input neither file uses, as tests/attribution/generate.py asserts)
and canonised in torch the way lrp's importer canonises them (src/canonize.rs) and the Zennit
references of ../shared/reference were made (see its README):
- the per-channel Mul/Add after each convolution is folded into the convolution
  (w' = w * s, b' = b * s + t), so the convolution's output is what the file's Add writes;
- a scalar Mul in front of a Gemm is folded into the Gemm's weights;
- the residual Adds become zennit.layer.Sum modules (Zennit's Norm rule: split in proportion
  to the inputs), keeping the ONNX node's name; GlobalAveragePool becomes
  torch.nn.AdaptiveAvgPool2d(1) (Norm), AveragePool is torch's AvgPool2d (Norm);
- the final Softmax is dropped: relevance starts at the logits.
The canonised module's logits are checked against onnxruntime (1e-5 of max |logit|), and its
plain EpsilonPlusFlat heatmap on the astronaut input against the committed Zennit reference
../shared/reference/astronaut_<model>_epsilon_plus_flat_argmax.npy (1e-5 of max |R|), so
the conditional references below come from the very rules lrp's `epsilon-plus-flat` preset
runs: Flat on the first convolution, ZPlus on the others, Epsilon (1e-6) on dense layers,
stabiliser 1e-6, Pass on ReLU, Norm on average pooling and residual sums, winner-take-all
max pooling (zennit.composites.EpsilonPlusFlat(epsilon=1e-6, stabilizer=1e-6)).
All relevance is computed in float64 (`.double()`) and stored as float32.

1. Inputs: `../shared/reference/astronaut_<model>_input.npy` (the face of assets/astronaut.png
   as lrp's preprocessing makes it) and, for the age model, a second portrait: the face box
   (150, 120, 270, 260) of assets/grace_hopper.jpg, resized by Pillow (bilinear) to 64x64,
   then (RGB - [122.781998, 117.000999, 104.297997]) / 256, channels first. The tensors are
   saved (`<model>_<image>_input.npy`) and the Rust test feeds exactly them.
2. Conditional relevance, crp.attribution.CondAttribution with the composite above, relevance
   seeded with the predicted class's logit (zennit-crp's default `init_rel`: prediction x
   one-hot), per case `<model>_<image>_<layer>`:
   - `_channels.npy` [C]: the relevance of each channel of the layer for the prediction,
     ChannelConcept().attribute(relevances[layer], abs_norm=False) of the condition
     {'y': [target]} with record_layer=[layer] (the sum of the layer's output relevance over
     each channel's map);
   - `_heatmaps.npy` [5, H, W]: the input heatmaps (CondAttribution sums the colour
     channels) of the conditions {layer: [c], 'y': [target]} for the four most relevant
     channels c, and {layer: [c1, c2, c3], 'y': [target]} for the three most relevant
     together, all five in one call (exclude_parallel=True, zennit-crp's default);
   - for the age model's `layer_47_conv` (a convolution a residual shortcut bypasses) also
     `_heatmaps_parallel.npy`: the same five conditions with exclude_parallel=False (masks
     only, the shortcut's relevance kept).
   - `age_astronaut_two_layers_heatmaps.npy` [4, 64, 64]: conditions on two layers at once,
     `layer_20_conv` and `layer_47_conv` (listed deepest first, as zennit-crp's partial
     backward requires), channel pairs (236, 63), (87, 38), (236, 19) and the sets
     {236, 87, 115} x {63, 38}, exclude_parallel=True.
3. Relevance and activation maximisation, crp.visualization.FeatureVisualization on the
   gender model's `layer_12_conv` ([64, 16, 16]), layer_map {layer: ChannelConcept()},
   max_target="sum", abs_norm=True (its defaults), batch size 6 (so 20 samples take four
   batches and the top lists are merged across them): the dataset is 20 augmented crops of
   the two portraits (`maximise_inputs.npy`, [20, 3, 32, 32] float32; sample i is a random
   square box of side 0.8..1.2 times the face box, shifted by up to 15 % of its side, mirrored
   with probability 1/2, resized by Pillow bilinear to 32x32 and normalised as above), each
   sample's label its predicted class (FeatureVisualization explains the dataset's label; lrp
   explains the prediction). Stored: for relevance (`maximise_rel_*`) and activation
   (`maximise_act_*`) the sample ids [20, 64] (`_ids.npy`, int64, rank-major: row r = the
   r-th best sample of each channel), their scores (`_scores.npy`) and the flat index of the
   most relevant / most active position of the channel's map in that sample (`_rf.npy`).
"""

import functools
import json
import os
import shutil
import sys
import tempfile
from importlib.metadata import version

import numpy as np
import onnx
import onnx2torch
import onnxruntime as ort
import torch
from onnx import numpy_helper
from PIL import Image
from zennit.composites import EpsilonPlusFlat
from zennit.layer import Sum

from crp.attribution import CondAttribution
from crp.concepts import ChannelConcept
from crp.helper import load_maximization
from crp.visualization import FeatureVisualization

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "data", "concepts")
SHARED = os.path.join(ROOT, "..", "shared", "reference")
MEAN = np.array([122.781998, 117.000999, 104.297997], dtype=np.float32)
VERSIONS = {"torch": "2.15", "zennit": "1.0.0", "zennit-crp": "0.6.0", "onnx": "1.23.2",
            "onnx2torch": "1.5.15", "onnxruntime": "1.32.0"}

torch.set_num_threads(1)


def check_versions():
    found = {}
    for pkg, want in VERSIONS.items():
        have = version(pkg)
        assert have.startswith(want), (pkg, have, want)
        found[pkg] = have
    return found


def const(model, node):
    """The tensor behind an fx get_attr node."""
    return functools.reduce(getattr, node.target.split("."), model)


def canonise(path):
    """The ONNX file as a canonised torch module (see the module docstring)."""
    proto = onnx.load(path)
    opset = [o for o in proto.opset_import if o.domain in ("", "ai.onnx")][0]
    assert all(len(n.input) <= 3 for n in proto.graph.node if n.op_type == "Pad"), path
    opset.version = 17
    m = onnx2torch.convert(proto).eval()
    ops = {n.name: n.op_type for n in proto.graph.node}
    g = m.graph
    nodes = list(g.nodes)
    gone = set()
    for n in nodes:
        if n.op != "call_module" or n.name in gone:
            continue
        mod = m.get_submodule(n.target)
        kind = ops.get(n.target)
        if isinstance(mod, torch.nn.Conv2d):
            # Conv -> Mul(scale) -> Add(shift): fold.
            (mul,) = n.users
            (add,) = mul.users
            assert ops[mul.target] == "Mul" and ops[add.target] == "Add", n.target
            s = const(m, mul.args[1]).detach().reshape(-1)
            t = const(m, add.args[1]).detach().reshape(-1)
            with torch.no_grad():
                mod.weight.mul_(s.reshape(-1, 1, 1, 1))
                mod.bias.copy_(mod.bias * s + t)
            add.replace_all_uses_with(n)
            gone.update((add.name, mul.name))
            g.erase_node(add)
            g.erase_node(mul)
        elif kind == "Mul" and n.args[1].op == "get_attr":
            s = const(m, n.args[1]).detach()
            assert s.numel() == 1, n.target
            # Fold into the next Gemm (through Flatten).
            user = n
            while True:
                (user,) = user.users
                if isinstance(m.get_submodule(user.target), torch.nn.Linear):
                    break
                assert ops[user.target] == "Flatten", user.target
            with torch.no_grad():
                m.get_submodule(user.target).weight.mul_(s.reshape(()))
            n.replace_all_uses_with(n.args[0])
            g.erase_node(n)
        elif kind == "Add" and all(a.op != "get_attr" for a in n.args):
            name = n.target
            delattr(m, name)
            m.add_submodule(name, Sum())
            with g.inserting_before(n):
                stack = g.call_function(torch.stack, (tuple(n.args),), {"dim": -1})
            n.args = (stack,)
        elif kind == "GlobalAveragePool":
            delattr(m, n.target)
            m.add_submodule(n.target, torch.nn.AdaptiveAvgPool2d(1))
    # Drop the final Softmax.
    out = [n for n in g.nodes if n.op == "output"][0]
    sm = out.args[0]
    assert ops[sm.target] == "Softmax"
    out.args = (sm.args[0],)
    g.erase_node(sm)
    g.eliminate_dead_code()
    g.lint()
    m.recompile()
    for p in m.parameters():
        p.requires_grad_(False)
    # Logits against onnxruntime on the file itself.
    sess = ort.InferenceSession(path)
    x = np.load(os.path.join(SHARED, f"astronaut_{tag_of(path)}_input.npy"))
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        p = torch.softmax(m(torch.from_numpy(x)), dim=1).numpy()
    err = np.abs(p - ref).max() / np.abs(ref).max()
    assert err < 1e-5, (path, err)
    return m.double()


def tag_of(path):
    return "age" if "age" in os.path.basename(path) else "gender"


def composite():
    return EpsilonPlusFlat(epsilon=1e-6, stabilizer=1e-6)


def check_plain(model, tag):
    """The plain heatmap against ../shared/reference (the canonisation is lrp's)."""
    x = torch.from_numpy(np.load(os.path.join(SHARED, f"astronaut_{tag}_input.npy"))).double()
    ref = np.load(os.path.join(SHARED, f"astronaut_{tag}_epsilon_plus_flat_argmax.npy"))
    attr = CondAttribution(model)
    x.requires_grad_(True)
    t = int(model(x).argmax())
    r = attr(x, [{"y": [t]}], composite())
    heat = x.grad.numpy() if x.grad is not None else None
    # CondAttribution sums the colour channels; the reference keeps them.
    got = r.heatmap.numpy()[0]
    want = ref[0].sum(0)
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err < 1e-5, (tag, err)
    del heat
    return float(err)


def portrait_input(file, box, size):
    img = Image.open(os.path.join(ROOT, "assets", file)).convert("RGB").crop(box)
    img = img.resize((size, size), Image.BILINEAR)
    a = (np.asarray(img, dtype=np.float32) - MEAN) / 256.0
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None])


def save(name, arr, manifest):
    if arr.dtype != np.int64:
        arr = np.ascontiguousarray(arr.astype(np.float32))
    np.save(os.path.join(OUT, name + ".npy"), arr)
    entry = {"shape": list(arr.shape)}
    if arr.dtype == np.float32:
        entry.update(sum=float(arr.astype(np.float64).sum()), max_abs=float(np.abs(arr).max()))
    manifest["files"][name] = entry


def conditional_case(model, tag, image, x, layer, manifest, parallel=False):
    attr = CondAttribution(model)
    xt = torch.from_numpy(x).double().requires_grad_(True)
    with torch.no_grad():
        logits = model(xt)
    target = int(logits.argmax())
    r = attr(xt, [{"y": [target]}], composite(), record_layer=[layer])
    channels = ChannelConcept().attribute(r.relevances[layer], abs_norm=False)[0].numpy()
    order = np.argsort(-channels, kind="stable")
    top = [int(c) for c in order[:4]]
    conds = [{layer: [c], "y": [target]} for c in top]
    conds.append({layer: top[:3], "y": [target]})
    case = f"{tag}_{image}_{layer}"
    save(case + "_channels", channels, manifest)
    xt = torch.from_numpy(x).double().requires_grad_(True)
    heat = attr(xt, conds, composite(), exclude_parallel=True).heatmap.numpy()
    save(case + "_heatmaps", heat, manifest)
    entry = {"model": tag, "image": image, "layer": layer, "target": target,
             "logit": float(logits[0, target]), "top": top,
             "conditions": [sorted(c[layer]) for c in conds],
             "heatmap_total": float(r.heatmap.sum()),
             "layer_total": float(channels.astype(np.float64).sum())}
    if parallel:
        xt = torch.from_numpy(x).double().requires_grad_(True)
        heat = attr(xt, conds, composite(), exclude_parallel=False).heatmap.numpy()
        save(case + "_heatmaps_parallel", heat, manifest)
        entry["parallel"] = True
    manifest["cases"].append(entry)


def multi_layer_case(model, x, manifest):
    """Conditions on two layers at once (the age model's layer_20_conv and layer_47_conv),
    deepest first as zennit-crp's partial backward needs, exclude_parallel=True."""
    attr = CondAttribution(model)
    xt = torch.from_numpy(x).double().requires_grad_(True)
    with torch.no_grad():
        target = int(model(xt).argmax())
    pairs = [(236, 63), (87, 38), (236, 19)]
    conds = [{"layer_20_conv": [a], "layer_47_conv": [b], "y": [target]} for a, b in pairs]
    conds.append({"layer_20_conv": [236, 87, 115], "layer_47_conv": [63, 38], "y": [target]})
    heat = attr(xt, conds, composite(), exclude_parallel=True).heatmap.numpy()
    save("age_astronaut_two_layers_heatmaps", heat, manifest)
    manifest["two_layers"] = {
        "model": "age", "image": "astronaut", "target": target,
        "conditions": [[["layer_20_conv", c["layer_20_conv"]], ["layer_47_conv", c["layer_47_conv"]]]
                       for c in conds]}


def crops(n, rng):
    """n augmented square crops of the two portraits (see the module docstring)."""
    faces = [("astronaut.png", (150, 30, 260, 150)), ("grace_hopper.jpg", (150, 120, 270, 260))]
    out, meta = [], []
    for i in range(n):
        file, (l, t, r, b) = faces[i % 2]
        img = Image.open(os.path.join(ROOT, "assets", file)).convert("RGB")
        side = max(r - l, b - t) * rng.uniform(0.8, 1.2)
        cx = (l + r) / 2 + rng.uniform(-0.15, 0.15) * side
        cy = (t + b) / 2 + rng.uniform(-0.15, 0.15) * side
        box = tuple(int(round(v)) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
        im = img.crop(box).resize((32, 32), Image.BILINEAR)
        flip = bool(rng.uniform() < 0.5)
        if flip:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        a = (np.asarray(im, dtype=np.float32) - MEAN) / 256.0
        out.append(a.transpose(2, 0, 1))
        meta.append({"file": file, "box": list(box), "flip": flip})
    return np.ascontiguousarray(np.stack(out)), meta


def maximisation(model, manifest):
    rng = np.random.default_rng(22)
    x, meta = crops(20, rng)
    save("maximise_inputs", x, manifest)
    with torch.no_grad():
        labels = model(torch.from_numpy(x).double()).argmax(1).tolist()
    dataset = [(torch.from_numpy(x[i]).double(), labels[i]) for i in range(len(x))]
    layer = "layer_12_conv"
    tmp = tempfile.mkdtemp()
    try:
        fv = FeatureVisualization(CondAttribution(model), dataset, {layer: ChannelConcept()},
                                  path=tmp)
        fv.run(composite(), 0, len(dataset), batch_size=6, checkpoint=500)
        for mode, m in (("rel", fv.RelMax), ("act", fv.ActMax)):
            ids, scores, rf = load_maximization(m.PATH, layer)
            save(f"maximise_{mode}_ids", np.array(ids, dtype=np.int64), manifest)
            save(f"maximise_{mode}_scores", np.array(scores), manifest)
            save(f"maximise_{mode}_rf", np.array(rf, dtype=np.int64), manifest)
    finally:
        shutil.rmtree(tmp)
    manifest["maximise"] = {"model": "gender", "layer": layer, "batch_size": 6,
                            "max_target": "sum", "abs_norm": True, "labels": labels,
                            "crops": meta}


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {"versions": check_versions(), "python": sys.version.split()[0],
                "composite": "EpsilonPlusFlat(epsilon=1e-6, stabilizer=1e-6)",
                "files": {}, "cases": []}
    age = canonise(os.path.join(ROOT, "assets", "age-v1.onnx"))
    gender = canonise(os.path.join(ROOT, "assets", "gender-v1.onnx"))
    manifest["plain_vs_shared_reference"] = {"age": check_plain(age, "age"),
                                             "gender": check_plain(gender, "gender")}
    astro_age = np.load(os.path.join(SHARED, "astronaut_age_input.npy"))
    astro_gender = np.load(os.path.join(SHARED, "astronaut_gender_input.npy"))
    hopper_age = portrait_input("grace_hopper.jpg", (150, 120, 270, 260), 64)
    save("age_astronaut_input", astro_age, manifest)
    save("age_grace_hopper_input", hopper_age, manifest)
    save("gender_astronaut_input", astro_gender, manifest)
    conditional_case(age, "age", "astronaut", astro_age, "layer_47_conv", manifest, parallel=True)
    conditional_case(age, "age", "grace_hopper", hopper_age, "layer_47_conv", manifest)
    conditional_case(age, "age", "astronaut", astro_age, "layer_20_conv", manifest)
    conditional_case(gender, "gender", "astronaut", astro_gender, "layer_12_conv", manifest)
    multi_layer_case(age, astro_age, manifest)
    maximisation(gender, manifest)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {OUT}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
