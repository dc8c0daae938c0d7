#!/usr/bin/env python3
"""Generate tests/data/evaluate/: Quantus 0.6 scores of fixed attributions, read by
tests/evaluate.rs (issue 21, explanation quality metrics).

How to run (from the repository root; the Rust tests only read the committed files):

    /work/venv/bin/python tests/evaluate/generate.py

Versions: torch 2.15.0, captum 0.9.0, quantus 0.6.0, onnx2torch 1.5.15, scikit-image and
scipy as pinned by quantus (the exact versions are written to manifest.json). Float32
models, 1 thread, numpy seeded before every random metric.

Models and inputs: the two shipped models `assets/gender-v1.onnx` (32x32) and
`assets/age-v1.onnx` (64x64) through onnx2torch (loaded, and checked against onnxruntime,
by tests/attribution/generate.py's `load`; the final softmax dropped so that the module
returns logits), on the face inputs tests/data/attribution/<model>_input.npy (the shipped
preprocessing of assets/astronaut.png), target the predicted class.

Attributions, computed once here and stored, so that both sides score identical arrays:
- `<model>_attribution.npy`: Captum's InputXGradient, `[3, H, W]`;
- `<model>_heatmap.npy`: its sum over channels, `[H, W]` (lrp's heatmap convention);
- `<model>_mask.npy`: a rectangle of the face (uint8 0/1, `[H, W]`): rows H/4..3H/4,
  columns 3W/8..5W/8.

Each Quantus metric is called on one explanation at a time (its normalisation by the
maximum runs over the whole batch it is given; lrp normalises each explanation alone):
- Sparseness, Complexity (defaults: abs, normalise), RelevanceMassAccuracy,
  RelevanceRankAccuracy, PointingGame (defaults: normalise; its weighted=True raises a
  TypeError in Quantus 0.6, boolean-mask assignment of a 2-d array) on the
  heatmap with the mask;
- PixelFlipping (features_in_step = H*W/32, so 96 steps, perturb_baseline "black", softmax=True) on
  the full attribution (MoRF); the LeRF curve is the same metric on the negated attribution
  (its order is argsort(+a)). The script asserts that no tie straddles a step boundary but
  among features that do not change the logits, so numpy's argsort and lrp's stable sort
  give the same curve. SRG (not in Quantus 0.6) is computed here from those two curves by
  its paper's definition (Bluecher et al. 2024): area over the removed fraction [0, 1] of the
  LeRF curve minus the MoRF curve, both starting at the unperturbed probability;
- FaithfulnessCorrelation (nr_runs 100, subset_size 224, "black", softmax=False) on the
  heatmap, np.random.seed(0); the subsets Quantus draws are recorded by a wrapper around its
  perturbation function and stored as `<model>_fc_subsets.npy` (int32 [100, 224]);
- RegionPerturbation (patch_size 4, regions_evaluation 16, perturb_baseline 0.0, order morf,
  softmax=False) on the heatmap: compared with lrp::compare::flip_curve, one patch per step;
- RandomLogit (seed 42, num_classes of the model, default SSIM, normalise) with Captum's
  Saliency (abs=False) summed over channels as explain_func: the off-class Quantus draws and
  the off-class heatmap are stored (`<model>_random_logit_heatmap.npy`), and the input heatmap
  is Saliency's for the target (`<model>_saliency.npy`);
- MPRT (gender only; seed 42, cascading top down, default Spearman, abs and normalise) with
  the same Saliency heatmaps: Quantus resets each layer with torch's reset_parameters under
  torch.manual_seed(43); the randomised weights are stored (`gender_mprt_<k>_weight.npy`,
  `_bias.npy`, k in forward order) as lrp's canonised graph holds them (the constant
  Mul/Add maps of the file folded in, see `folds`) and loaded by the Rust test, which
  computes its own gradients on them.
"""

import json
import os
import sys
from importlib.metadata import version

import numpy as np
import torch
from captum.attr import InputXGradient, Saliency

import quantus
from quantus.functions.perturb_func import batch_baseline_replacement_by_indices

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "attribution"))
import generate as attribution  # noqa: E402  (tests/attribution/generate.py: load, Logits)

OUT = os.path.join(ROOT, "tests", "data", "evaluate")
ATTR = os.path.join(ROOT, "tests", "data", "attribution")
torch.set_num_threads(1)


def model_of(name):
    path = os.path.join(ROOT, "assets", f"{name}-v1.onnx")
    m = attribution.load(path)
    x = torch.from_numpy(np.load(os.path.join(ATTR, f"{name}_input.npy")))
    softmax = attribution.logits_of(m, path, x)
    model = attribution.Logits(m, softmax).eval()
    # Logits drops the Softmax node from the fx graph but keeps its module; Quantus looks
    # for a torch.nn.Softmax module to decide whether to add one (softmax=True) or remove
    # one (softmax=False): drop the unused module so that it sees a model of logits.
    model.model.delete_all_unused_submodules()
    assert not any(isinstance(mod, torch.nn.Softmax) for mod in model.modules()), name
    return model, x


SEEN_TARGETS = []


def saliency_heatmap(model, inputs, targets, **kwargs):
    """Quantus explain_func: Captum's signed gradient summed over channels, [n, 1, H, W]."""
    SEEN_TARGETS.append(np.asarray(targets).tolist())
    x = torch.as_tensor(inputs).requires_grad_(True)
    g = Saliency(model).attribute(x, target=torch.as_tensor(targets), abs=False)
    return g.sum(dim=1, keepdim=True).detach().numpy()


def one(v):
    v = np.asarray(v).reshape(-1)
    assert v.size == 1, v
    return float(v[0])


def folds(path):
    """For each Conv/Gemm node of the ONNX file, the map from its own (weight, bias) to the
    parameters of the layer of that name in lrp's canonised graph (src/canonize.rs): a
    constant Mul (scale s) and Add (offset t) right after a convolution fold into it,
    w' = s w, b' = s b + t; a constant scalar Mul before a Flatten before a Gemm folds into
    the Gemm's weight, w' = sigma w. (The file's other constants are checked to be of these
    forms by the asserts.) MPRT resets the torch layer and keeps the constant maps around it;
    lrp's graph holds the folded product, so the stored parameters are that product."""
    import onnx
    from onnx import numpy_helper
    g = onnx.load(path).graph
    init = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in g.initializer}
    by_input = {}
    by_output = {}
    for n in g.node:
        for i in n.input:
            by_input.setdefault(i, []).append(n)
        for o in n.output:
            by_output[o] = n
    out = {}
    for n in g.node:
        if n.op_type == "Conv":
            mul = by_input[n.output[0]][0]
            add = by_input[mul.output[0]][0]
            assert mul.op_type == "Mul" and add.op_type == "Add", n.name
            s = init[mul.input[1]].reshape(-1)
            t = init[add.input[1]].reshape(-1)
            out[n.name] = lambda w, b, s=s, t=t: (w * s[:, None, None, None], b * s + t)
        elif n.op_type == "Gemm":
            flat = by_output[n.input[0]]
            mul = by_output[flat.input[0]]
            assert flat.op_type == "Flatten" and mul.op_type == "Mul", n.name
            sigma = float(init[mul.input[1]].reshape(-1)[0])
            assert init[mul.input[1]].size == 1, n.name
            out[n.name] = lambda w, b, sigma=sigma: (w * sigma, b)
    return out


def mprt(model, kw, sal, name):
    """Quantus's MPRT (cascading, top down, seed 42, Spearman of abs-normalised heatmaps) with
    Saliency heatmaps; the randomised weights are those of the model the last explanation
    was asked of (every layer reset by then; layer k's values do not change after its step),
    stored as <name>_mprt_<layer>_<weight|bias>.npy in forward order."""
    models = []

    def recording(model, inputs, targets, **kwargs):
        models.append(model)
        return saliency_heatmap(model, inputs, targets)

    metric = quantus.MPRT(seed=42, layer_order="top_down", disable_warnings=True)
    scores = metric(explain_func=recording, a_batch=sal.copy(), **kw)
    last = models[-1]
    layers = [(n, m) for n, m in last.named_modules() if hasattr(m, "reset_parameters")]
    fold = folds(os.path.join(ROOT, "assets", f"{name}-v1.onnx"))
    for k, (n, m) in enumerate(layers):
        w, b = m.weight.detach().numpy().astype(np.float64), m.bias.detach().numpy().astype(np.float64)
        w, b = fold[n.split(".")[-1]](w, b)
        np.save(os.path.join(OUT, f"{name}_mprt_{k}_weight.npy"), w.astype(np.float32))
        np.save(os.path.join(OUT, f"{name}_mprt_{k}_bias.npy"), b.astype(np.float32))
    return {
        "layers": [n for n, _ in layers],
        "scores": {k: one(v) for k, v in scores.items()},
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    manifest = {
        "versions": {p: version(p) for p in
                     ["torch", "captum", "quantus", "onnx2torch", "numpy", "scipy", "scikit-image"]},
        "models": {},
    }
    for name in ["gender", "age"]:
        model, x = model_of(name)
        with torch.no_grad():
            logits = model(x)[0].numpy()
        target = int(np.argmax(logits))
        classes = logits.shape[0]
        xn = x.numpy()
        _, c, h, w = xn.shape
        y = np.array([target])

        xr = x.clone().requires_grad_(True)
        a = InputXGradient(model).attribute(xr, target=target).detach().numpy()  # [1, 3, H, W]
        heat = a.sum(axis=1, keepdims=True)  # [1, 1, H, W]
        mask = np.zeros((1, 1, h, w), dtype=np.uint8)
        mask[:, :, h // 4: 3 * h // 4, 3 * w // 8: 5 * w // 8] = 1
        np.save(os.path.join(OUT, f"{name}_attribution.npy"), a[0].astype(np.float32))
        np.save(os.path.join(OUT, f"{name}_heatmap.npy"), heat[0, 0].astype(np.float32))
        np.save(os.path.join(OUT, f"{name}_mask.npy"), mask[0, 0])
        r = {"target": target, "classes": classes}

        kw = dict(model=model, x_batch=xn, y_batch=y, channel_first=True, device="cpu")
        s = mask.astype(bool)
        r["sparseness"] = one(quantus.Sparseness(disable_warnings=True)(a_batch=heat.copy(), **kw))
        r["complexity"] = one(quantus.Complexity(disable_warnings=True)(a_batch=heat.copy(), **kw))
        r["relevance_mass_accuracy"] = one(quantus.RelevanceMassAccuracy(disable_warnings=True)(
            a_batch=heat.copy(), s_batch=s, **kw))
        r["relevance_rank_accuracy"] = one(quantus.RelevanceRankAccuracy(disable_warnings=True)(
            a_batch=heat.copy(), s_batch=s, **kw))
        # Rank accuracy depends on numpy's argsort order at the mask size: no tie there.
        hn = (heat / np.abs(heat).max()).reshape(-1)
        k = int(s.sum())
        srt = np.sort(-hn)
        assert srt[k - 1] != srt[k], name
        r["pointing_game"] = one(quantus.PointingGame(disable_warnings=True)(
            a_batch=heat.copy(), s_batch=s, **kw))

        # Pixel flipping, MoRF and LeRF, on the full attribution.
        step = h * w // 32  # Quantus asserts that the step divides H*W; 3*32 = 96 steps
        an = a / np.abs(a).max()
        for sign in (1, -1):
            # Ties only matter where they straddle a step boundary (the order within a step
            # does not change the curve): none here, so numpy's unstable argsort and lrp's
            # stable sort give the same curve.
            srt = np.sort(-(sign * an).reshape(-1))
            cuts = np.arange(step, srt.size, step)
            tied = srt[cuts - 1] == srt[cuts]
            assert np.all(srt[cuts][tied] == 0), (name, sign)
        # The age model's exact zeros are its last row and column (3 * 127 = 381 features),
        # which its strided first convolution never reads: removing them changes no logit,
        # so their order does not matter either.
        zero = (a == 0)
        if zero.any():
            xz = xn.copy()
            xz[zero] = xn.min()
            with torch.no_grad():
                assert np.array_equal(model(torch.from_numpy(xz)).numpy(), logits[None]), name
        pf = quantus.PixelFlipping(features_in_step=step, perturb_baseline="black", disable_warnings=True)
        morf = np.asarray(pf(a_batch=a.copy(), softmax=True, **kw))[0]
        lerf = np.asarray(pf(a_batch=-a, softmax=True, **kw))[0]
        p0 = float(torch.softmax(torch.from_numpy(logits), 0)[target])
        frac = np.arange(len(morf) + 1) / len(morf)
        r["pixel_flipping"] = {
            "features_in_step": step,
            "unperturbed": p0,
            "morf": morf.tolist(),
            "lerf": lerf.tolist(),
            "morf_auc": float(np.trapezoid(morf)),
            "srg": float(np.trapezoid(np.r_[p0, lerf], frac) - np.trapezoid(np.r_[p0, morf], frac)),
        }

        # Faithfulness correlation, the subsets recorded.
        drawn = []

        def recording(arr, indices, **kwargs):
            drawn.append(np.array(indices[0], dtype=np.int32))
            return batch_baseline_replacement_by_indices(arr=arr, indices=indices, **kwargs)

        np.random.seed(0)
        fc = quantus.FaithfulnessCorrelation(nr_runs=100, subset_size=224, perturb_func=recording,
                                             perturb_baseline="black", return_aggregate=False,
                                             disable_warnings=True)
        r["faithfulness_correlation"] = one(fc(a_batch=heat.copy(), softmax=False, **kw))
        np.save(os.path.join(OUT, f"{name}_fc_subsets.npy"), np.stack(drawn))

        # Region perturbation: curve of logit drops, one 4x4 patch per step.
        rp = quantus.RegionPerturbation(patch_size=4, regions_evaluation=16, perturb_baseline=0.0,
                                        order="morf", disable_warnings=True)
        r["region_perturbation"] = np.asarray(rp(a_batch=heat.copy(), softmax=False, **kw))[0].tolist()

        # Random logit on Saliency heatmaps.
        sal = saliency_heatmap(model, xn, y)
        np.save(os.path.join(OUT, f"{name}_saliency.npy"), sal[0, 0].astype(np.float32))
        np.random.seed(42)
        batch_size = 1
        y_classes = np.arange(classes)[None]
        y_off_index = np.random.RandomState(42).randint(0, classes - 1, batch_size)
        off = int(y_classes[y_classes != target][y_off_index[0]])
        rl = quantus.RandomLogit(num_classes=classes, seed=42, disable_warnings=True)
        SEEN_TARGETS.clear()
        r["random_logit"] = one(rl(a_batch=sal.copy(), explain_func=saliency_heatmap, **kw))
        assert SEEN_TARGETS[-1] == [off], (SEEN_TARGETS, off)
        r["random_logit_class"] = off
        sal_off = saliency_heatmap(model, xn, np.array([off]))
        np.save(os.path.join(OUT, f"{name}_random_logit_heatmap.npy"), sal_off[0, 0].astype(np.float32))
        if name == "gender":
            r["mprt"] = mprt(model, kw, sal, name)
        manifest["models"][name] = r
        print(name, json.dumps({k: v for k, v in r.items() if not isinstance(v, (dict, list))}))

    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
