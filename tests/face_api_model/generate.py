"""Reference data for face-api's age/gender network (assets/face-api-age-gender.onnx): the
preprocessed inputs of a few face crops, the network's outputs under onnxruntime, and the input
relevance Zennit computes on the same weights.

Run from the repository root with the project's venv:

    /work/venv/bin/python tests/face_api_model/generate.py

Versions (asserted below): Python 3.11, torch 2.15, onnx 1.23.2, onnxruntime 1.32.0,
zennit 1.0.0, numpy and Pillow as installed in that venv. Deterministic: no random numbers.

1. Crops. The boxes of ../shared/models/face-api/reference/samples.json (face-api's own
   verification of the ONNX file against its JavaScript implementation), cut from the shipped
   portraits (assets/astronaut.png, assets/grace_hopper.jpg, decoded by Pillow to RGB):
   `astronaut_face` (150,30,110,120), `astronaut_wide` (120,40,170,110: wider than tall,
   padding above and below), `grace_hopper_face` (141,139,242,209) and `grace_hopper_full`
   (the whole 512x600 image: padding left and right).
2. Preprocessing: face-api's, by its numpy port ../shared/models/face-api/scripts/preprocess.py
   (`age_gender_input`: centred zero padding, tfjs bilinear resize, (RGB - mean) / 255), which
   that folder's README shows bit-identical to the tensor face-api's JavaScript builds. Saved as
   `<crop>_input.npy` (1x3x112x112 float32): lrp's Preprocess::FaceApi must reproduce them
   to the bit.
3. Outputs: onnxruntime 1.32.0 (CPU) on the ONNX file, `outputs.json` (age in years, gender
   logits [male, female]).
4. Relevance: the network written by hand in torch (module below, 55 ONNX nodes) with the ONNX
   file's initialisers, checked against onnxruntime (max abs difference / max |output| below
   1e-5 in float32), then run in float64 (`.double()`) under Zennit's EpsilonPlusFlat with
   epsilon = stabiliser = 1e-6: Flat on the first convolution, ZPlus on every other convolution
   (depthwise and pointwise alike), Epsilon on the two Gemm heads, Pass on ReLU, Norm on the
   7x7 average pooling and on the residual additions (zennit.layer.Sum), gradient
   (winner-take-all) through the max pooling. The asymmetric pads of the ONNX file (0 before,
   1 after) are F.pad calls: -inf before the max pooling (its gradient is a slice), zeros
   inside the stem convolution's module (`PaddedConv`: padding is not an input of the rule).
   Relevance is seeded at one output: `age` (its value), or the predicted class of
   `gender_logits` (one-hot x logit). The Flat rule gives the three channels of a pixel the same
   relevance: the script asserts it and stores channel 0, `<crop>_<output>_<composite>.npy`
   (112x112 float32, the float64 result rounded).
5. Relevance under the family's default composite, lrp's `epsilon-gamma-box`: the same module
   in float64 under Zennit's EpsilonGammaBox(low, high, epsilon=1e-6, gamma=0.25,
   stabilizer=1e-6): ZBox(low, high) on the first convolution (conv_in), Gamma(gamma=0.25)
   on every other convolution (depthwise, pointwise and the 1x1 expansions alike), Epsilon on
   the two Gemm heads, and the same Pass / Norm / gradient rules as in 4 (Zennit's
   layer_map_base). lrp's preset gives the zB rule no bounds of its own, so it takes the
   per-channel extremes of the explained batch; the reference does the same for its batch of
   one: low and high are the input's minimum and maximum over each channel, broadcast to the
   input's shape. ZBox gives each channel its own relevance: all three channels are stored,
   `<crop>_<output>_epsilon_gamma_box.npy` (3x112x112 float32, the float64 result rounded).
   No earlier test maps epsilon-gamma-box to Zennit; this mapping follows lrp's preset table
   (src/composite.rs) and its rule definitions (zB: the bias terms cancel, as in Zennit; gamma:
   Zennit 1.0's generalised rule, w + gamma w+ on positive and w + gamma w- on negative inputs
   where z > 0, swapped where z < 0).

6. Max-pool near-ties (epsilon-gamma-box). Where the two largest inputs of a max-pool window
   differ by less than 1e-6 of the pooled layer's max |value| (TIE: about twice the error of a
   float32 forward pass there, measured against float64 on these crops at up to 5.4e-7, torch's
   and lrp's alike), a float32 implementation may pick either, and the winner takes all of the
   window's relevance. On `grace_hopper_face` the exit block's pooling has such a window
   (channel 25, output row 4, col 1: -4.3262444 vs -4.3262500 in float64, a gap of 5.8e-8 of
   max |value|); torch's float32 forward keeps float64's winner, lrp's float32 forward picks
   the other, and that moves the input relevance by 3.9e-4 (age) and 6.1e-4 (gender) of
   max|R|. For every near-tie that moves the float64 relevance by more than 1e-5 of max|R|
   (TIE_EFFECT), the change when the window picks its runner-up is stored,
   `<crop>_<output>_epsilon_gamma_box_tie<k>.npy` (3 x h x w float32: the rows and columns it
   touches, at `offset` in outputs.json's `near_ties`). The relevance is linear in the
   windows' choices, so the reference for any set of switched near-ties is the float64 map
   plus their changes: the test accepts the closest of these (all float64, differing only in
   the choice float32 cannot make reliably). Exact ties (the constant padding of a crop) are
   no near-ties: float32 ties them too, and every implementation takes the first maximum.

Files (tests/data/face_api_model/, about 1.8 MB): the inputs, the relevance maps and
outputs.json with the versions, the rules and each map's sum. For each map it also records
Zennit's own float32 result against its float64 one (`zennit_float32_vs_float64_rel`, max
abs difference over max |R|): how close any float32 implementation can be expected to come.
"""
import importlib.metadata
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
import zennit
from onnx import numpy_helper
from PIL import Image
from zennit.attribution import Gradient
from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat
from zennit.layer import Sum

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "models", "face-api")
MODEL = os.path.join(ROOT, "assets", "face-api-age-gender.onnx")
OUT = os.path.join(ROOT, "tests", "data", "face_api_model")
EPS = 1e-6

sys.path.insert(0, os.path.join(SHARED, "scripts"))
import preprocess  # noqa: E402  face-api's preprocessing in numpy (see the docstring)

ZENNIT = importlib.metadata.version("zennit")
assert ZENNIT == "1.0.0", ZENNIT
assert onnx.__version__ == "1.23.2", onnx.__version__
assert ort.__version__ == "1.32.0", ort.__version__
assert torch.__version__.startswith("2.15"), torch.__version__

CROPS = {
    "astronaut_face": ("astronaut.png", (150, 30, 110, 120)),
    "astronaut_wide": ("astronaut.png", (120, 40, 170, 110)),
    "grace_hopper_face": ("grace_hopper.jpg", (141, 139, 242, 209)),
    "grace_hopper_full": ("grace_hopper.jpg", None),
}
# Crops whose relevance is stored (all four inputs are stored for the preprocessing test).
RELEVANCE_CROPS = ["astronaut_face", "grace_hopper_face", "grace_hopper_full"]


class Sep(nn.Module):
    """Depthwise 3x3 (pad 1, no bias) then pointwise 1x1 with bias."""

    def __init__(self, w, prefix):
        super().__init__()
        dw = w[f"{prefix}.dw.weight"]
        pw = w[f"{prefix}.pw.weight"]
        c, o = dw.shape[0], pw.shape[0]
        self.dw = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)
        self.pw = nn.Conv2d(c, o, 1)
        self.dw.weight.data = torch.from_numpy(dw)
        self.pw.weight.data = torch.from_numpy(pw)
        self.pw.bias.data = torch.from_numpy(w[f"{prefix}.pw.bias"])

    def forward(self, x):
        return self.pw(self.dw(x))


def pad_after(x, value):
    """The ONNX pads [0,0,1,1]: one row below and one column right."""
    return F.pad(x, (0, 1, 0, 1), value=value)


class Pool(nn.Module):
    """The 3x3 stride-2 max pooling of a reduction block on its input padded with -inf below
    and right. Its gradient (Zennit gives max pooling no rule) goes to each window's first
    maximum, as torch's and lrp's; `switch` lists windows `(channel, row, col, index)` whose
    relevance goes to the input at `index` (flat, in the padded plane) instead, the forward
    pass unchanged: the near-ties of `near_ties`. `seen` keeps the padded input of the last
    forward pass."""

    def __init__(self):
        super().__init__()
        self.switch = []
        self.seen = None

    def forward(self, x):
        x = pad_after(x, float("-inf"))
        self.seen = x.detach()
        out, idx = F.max_pool2d(x, 3, 2, return_indices=True)
        if not self.switch:
            return out
        idx = idx.clone()
        for c, i, j, k in self.switch:
            idx[:, c, i, j] = k
        # The forward value stays the window's maximum (the near-tie's runner-up differs
        # from it by less than float32's error there); only the gradient goes to `index`.
        flat = x.flatten(2).gather(2, idx.flatten(2)).view_as(out)
        return out.detach() + (flat - flat.detach())


class Reduction(nn.Module):
    def __init__(self, w, prefix, relu_input):
        super().__init__()
        self.relu_input = relu_input
        self.relu_in, self.relu_mid = nn.ReLU(), nn.ReLU()
        self.sep0, self.sep1 = Sep(w, f"{prefix}.sep0"), Sep(w, f"{prefix}.sep1")
        e = w[f"{prefix}.expansion.weight"]
        self.expansion = nn.Conv2d(e.shape[1], e.shape[0], 1, stride=2)
        self.expansion.weight.data = torch.from_numpy(e)
        self.expansion.bias.data = torch.from_numpy(w[f"{prefix}.expansion.bias"])
        self.pool = Pool()
        self.add = Sum()

    def forward(self, x):
        out = self.relu_in(x) if self.relu_input else x
        out = self.sep1(self.relu_mid(self.sep0(out)))
        out = self.pool(out)
        return self.add(torch.stack([out, self.expansion(x)], dim=-1))


class Main(nn.Module):
    def __init__(self, w, prefix):
        super().__init__()
        self.relus = nn.ModuleList([nn.ReLU() for _ in range(3)])
        self.seps = nn.ModuleList([Sep(w, f"{prefix}.sep{i}") for i in range(3)])
        self.add = Sum()

    def forward(self, x):
        out = x
        for relu, sep in zip(self.relus, self.seps):
            out = sep(relu(out))
        return self.add(torch.stack([out, x], dim=-1))


class PaddedConv(nn.Conv2d):
    """The stride-2 stem convolution with the ONNX pads [0,0,1,1] inside the module: Zennit
    reruns a module's forward on its modified inputs, so the zero row and column stay outside
    every rule's inputs (as padding is outside lrp's), and the Flat rule's denominator counts
    the real pixels of a window only. An F.pad before the module would make them inputs of the
    rule: Flat would then send relevance to them, and it would be lost."""

    def forward(self, x):
        return F.conv2d(pad_after(x, 0.0), self.weight, self.bias, stride=self.stride)


class AgeGender(nn.Module):
    """The 55 nodes of face-api-age-gender.onnx; `output` picks the head."""

    def __init__(self, w, output):
        super().__init__()
        self.conv_in = PaddedConv(3, 32, 3, stride=2)
        self.conv_in.weight.data = torch.from_numpy(w["conv_in.weight"])
        self.conv_in.bias.data = torch.from_numpy(w["conv_in.bias"])
        self.relu_in = nn.ReLU()
        self.rb0 = Reduction(w, "rb0", False)
        self.rb1 = Reduction(w, "rb1", True)
        self.middle = nn.ModuleList([Main(w, f"middle.{i}") for i in range(2)])
        self.exit_rb = Reduction(w, "exit_rb", True)
        self.exit_sep = Sep(w, "exit_sep")
        self.relu_out = nn.ReLU()
        self.pool = nn.AvgPool2d(7, 2)
        head = "fc_age" if output == "age" else "fc_gender"
        hw = w[f"{head}.weight"]
        self.fc = nn.Linear(hw.shape[1], hw.shape[0])
        self.fc.weight.data = torch.from_numpy(hw)
        self.fc.bias.data = torch.from_numpy(w[f"{head}.bias"])

    def forward(self, x):
        out = self.relu_in(self.conv_in(x))
        out = self.rb1(self.rb0(out))
        for m in self.middle:
            out = m(out)
        out = self.relu_out(self.exit_sep(self.exit_rb(out)))
        return self.fc(self.pool(out).flatten(1))


def load_weights():
    m = onnx.load(MODEL)
    return {t.name: numpy_helper.to_array(t).copy() for t in m.graph.initializer}


def crop_input(name):
    file, box = CROPS[name]
    img = np.asarray(Image.open(os.path.join(ROOT, "assets", file)).convert("RGB"))
    return preprocess.age_gender_input(preprocess.crop(img, box)).astype(np.float32)


def make_composite(name, xt):
    """Zennit's composite for lrp's preset `name`, for the input batch `xt` (see the
    docstring, 4 and 5)."""
    if name == "epsilon_plus_flat":
        return EpsilonPlusFlat(epsilon=EPS, stabilizer=EPS)
    assert name == "epsilon_gamma_box", name
    # lrp's zB bounds without --rule arguments: the batch's per-channel extremes.
    low = xt.amin(dim=(0, 2, 3), keepdim=True).expand_as(xt).clone()
    high = xt.amax(dim=(0, 2, 3), keepdim=True).expand_as(xt).clone()
    return EpsilonGammaBox(low=low, high=high, epsilon=EPS, gamma=0.25, stabilizer=EPS)


POOLS = ["rb0", "rb1", "exit_rb"]
# A max-pool window is a near-tie when its two largest inputs differ by less than TIE times
# the largest |value| of the pooled layer: below twice the error of a float32 forward pass
# there (measured against float64 on these crops: up to 5.4e-7 of max|value|, torch's and
# lrp's alike), so float32 implementations may pick either input.
TIE = 1e-6
# A near-tie's switched reference is stored when it moves the input relevance by more than
# this fraction of max|R| (a tenth of the tests' tolerance); the others cannot matter.
TIE_EFFECT = 1e-5


def near_ties(w, output, x):
    """The near-ties (TIE) of the three max poolings in the float64 forward pass on `x`:
    `(block, channel, row, col, runner-up index, gap / max|value|)`. Exact ties (gap 0: the
    constant padding of a crop) are left out: float32 gives them exact ties too, and every
    implementation takes the first maximum."""
    model = AgeGender(w, output).double().eval()
    with torch.no_grad():
        model(torch.from_numpy(x).double())
    ties = []
    for block in POOLS:
        p = getattr(model, block).pool.seen[0]
        scale = float(p[torch.isfinite(p)].abs().max())
        c, hp, wp = p.shape
        win = F.unfold(p[:, None], 3, stride=2)  # [C, 9, L]: window values
        pos = F.unfold(torch.arange(hp * wp, dtype=torch.float64).view(1, 1, hp, wp), 3, stride=2)
        top, arg = win.topk(2, dim=1)
        gap = (top[:, 0] - top[:, 1]) / scale
        ow = (wp - 3) // 2 + 1
        for ch, l in ((gap > 0) & (gap < TIE)).nonzero().tolist():
            runner = int(pos[0, arg[ch, 1, l], l])
            ties.append((block, ch, l // ow, l % ow, runner, float(gap[ch, l])))
    return ties


def relevance(
    w, output, x, dtype=torch.float64, composite_name="epsilon_plus_flat", switch=()
):
    """Zennit's composite in `dtype` at `output`: (input relevance 1x3x112x112, target,
    the seeded value, the rule each leaf module got). `switch`: near-ties (`near_ties`) whose
    window sends its relevance to the runner-up instead."""
    model = AgeGender(w, output).to(dtype).eval()
    for block, ch, i, j, runner, _ in switch:
        getattr(model, block).pool.switch.append((ch, i, j, runner))
    xt = torch.from_numpy(x).to(dtype)
    composite = make_composite(composite_name, xt)
    log = []
    inner = composite.module_map

    def recorder(ctx, name, module):
        hook = inner(ctx, name, module)
        if len(list(module.children())) == 0:
            log.append((name, type(module).__name__, type(hook).__name__ if hook else None))
        return hook

    composite.module_map = recorder
    with Gradient(model=model, composite=composite) as attributor:
        with torch.no_grad():
            y = model(xt)
        target = int(y.argmax())
        onehot = torch.zeros_like(y)
        onehot[0, target] = 1.0
        out, rel = attributor(xt, lambda o: o * onehot)
    return rel.detach().numpy(), target, float(out[0, target].detach()), log


def tie_references(w, output, x, r, stem):
    """The near-ties of the max poolings (docstring, 6) that move the float64 epsilon-gamma-box
    relevance `r` by more than TIE_EFFECT of max|R|: for each, the change of `r` when its window
    picks the runner-up, cut to the rows and columns it touches and saved as
    `<stem>_tie<k>.npy` (3 x h x w float32); returns their description for outputs.json."""
    scale = np.abs(r).max()
    kept = []
    for tie in near_ties(w, output, x):
        block, ch, i, j, runner, gap = tie
        rt = relevance(w, output, x, composite_name="epsilon_gamma_box", switch=[tie])[0]
        delta = (rt - r)[0]
        effect = float(np.abs(delta).max() / scale)
        desc = {"block": block, "channel": ch, "row": i, "col": j, "gap_rel": gap,
                "effect_rel": effect}
        print(stem, desc)
        if effect <= TIE_EFFECT:
            continue
        rows = np.flatnonzero(np.abs(delta).max(axis=(0, 2)) > 0)
        cols = np.flatnonzero(np.abs(delta).max(axis=(0, 1)) > 0)
        r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        file = f"{stem}_tie{len(kept)}.npy"
        np.save(os.path.join(OUT, file), delta[:, r0:r1, c0:c1].astype(np.float32))
        kept.append({**desc, "file": file, "offset": [int(r0), int(c0)]})
    return kept


def main():
    os.makedirs(OUT, exist_ok=True)
    w = load_weights()
    sess = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
    summary = {
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": ort.__version__,
            "zennit": ZENNIT,
            "numpy": np.__version__,
        },
        "composite": "EpsilonPlusFlat(epsilon=1e-6, stabilizer=1e-6), float64",
        "composite_epsilon_gamma_box": (
            "EpsilonGammaBox(low, high = the input's per-channel min and max, epsilon=1e-6, "
            "gamma=0.25, stabilizer=1e-6), float64"
        ),
        "crops": {},
    }
    for name in CROPS:
        x = crop_input(name)
        np.save(os.path.join(OUT, f"{name}_input.npy"), x)
        age, gender = sess.run(["age", "gender_logits"], {"input": x})
        entry = {
            "box": CROPS[name][1],
            "image": CROPS[name][0],
            "age": float(age[0, 0]),
            "gender_logits": [float(v) for v in gender[0]],
        }
        if name in RELEVANCE_CROPS:
            for output, ref in (("age", age), ("gender_logits", gender)):
                # The hand-written module against onnxruntime, float32.
                with torch.no_grad():
                    y = AgeGender(w, output).eval()(torch.from_numpy(x)).numpy()
                err = float(np.abs(y - ref).max() / np.abs(ref).max())
                assert err < 1e-5, (name, output, err)
                r, target, seeded, log = relevance(w, output, x)
                # How far Zennit's own float32 run is from this float64 reference: the
                # rules are ill-conditioned here (see tests/face_api_model.rs), and a
                # float32 implementation can only be expected within about this much.
                r32 = relevance(w, output, x, torch.float32)[0]
                f32_err = float(np.abs(r32 - r).max() / np.abs(r).max())
                assert np.abs(r - r[:, :1]).max() <= 1e-12 * np.abs(r).max()
                flat = [n for n, _, rule in log if rule == "Flat"]
                assert flat == ["conv_in"], flat
                rules = sorted({(t, rule) for _, t, rule in log})
                np.save(
                    os.path.join(OUT, f"{name}_{output}_epsilon_plus_flat.npy"),
                    r[0, 0].astype(np.float32),
                )
                entry[f"{output}_epsilon_plus_flat"] = {
                    "target": target,
                    "seeded": seeded,
                    "relevance_sum": float(r.sum()),
                    "max_abs": float(np.abs(r).max()),
                    "torch_vs_onnxruntime_rel": err,
                    "zennit_float32_vs_float64_rel": f32_err,
                }
                summary["rules"] = [f"{t}: {rule}" for t, rule in rules]
                # The family's default composite (docstring, 5).
                r, target_g, seeded, log = relevance(
                    w, output, x, composite_name="epsilon_gamma_box"
                )
                assert target_g == target, (name, output, target_g, target)
                r32 = relevance(w, output, x, torch.float32, "epsilon_gamma_box")[0]
                f32_err = float(np.abs(r32 - r).max() / np.abs(r).max())
                box = [n for n, _, rule in log if rule == "ZBox"]
                assert box == ["conv_in"], box
                stem = f"{name}_{output}_epsilon_gamma_box"
                np.save(os.path.join(OUT, f"{stem}.npy"), r[0].astype(np.float32))
                entry[f"{output}_epsilon_gamma_box"] = {
                    "target": target,
                    "seeded": seeded,
                    "relevance_sum": float(r.sum()),
                    "max_abs": float(np.abs(r).max()),
                    "zennit_float32_vs_float64_rel": f32_err,
                    "near_ties": tie_references(w, output, x, r, stem),
                }
                summary["rules_epsilon_gamma_box"] = sorted(
                    {f"{t}: {rule}" for _, t, rule in log}
                )
        summary["crops"][name] = entry
        print(name, entry)
    with open(os.path.join(OUT, "outputs.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
