"""`lrp evaluate` against Quantus 0.6: one method on 100 face images, side by side (issue 21,
item 4).

Run through `./run.sh --quantus`, which builds the lrp command line and installs Quantus and
Captum into the bench environment if they are missing.

Images: `--images` (default 100) face crops made deterministically from the two shipped
portraits (assets/astronaut.png, assets/grace_hopper.jpg; numpy default_rng(`--seed`, default
0)): alternately either portrait, the face box (lrp::assets' ASTRONAUT_FACE /
GRACE_HOPPER_FACE) shifted by up to 10% of its size each way and scaled by 0.85 to 1.2,
mirrored with probability 1/2, brightness times 0.7 to 1.3; written as PNG (the crop at its own
size) to a temporary folder, which both sides read.

The lrp side: one `lrp evaluate --model age-v1 --image DIR --method gradient --metric
sparseness,complexity,pixel-flipping,faithfulness-correlation,random-logit --flip-steps 96
--seed 0 --out OUT`
with RAYON_NUM_THREADS=`--threads`, timed by the wall clock from start to exit (reading the
images, preprocessing, attributing, scoring, writing the tables); its per-image scores are read
from OUT/scores.csv.

The Quantus side, timed alike from reading the PNG files to the last score, with torch at
`--threads` threads: the same model (assets/age-v1.onnx turned into a torch module by
onnx2torch, as tests/attribution/generate.py's `load` does, the final softmax dropped so that
it returns logits), the same preprocessing (Pillow's bilinear resize to 64x64, which lrp
reproduces exactly, then (RGB - mean) / 256), the predicted class of each image, and the same
method: Captum's `Saliency(abs=False)` (lrp's gradient) computed once for all images as a
precomputed `a_batch`, summed over colour channels into a heatmap (lrp's heatmap). Quantus's
metrics get all images in one call each (its batch_size 64), with the settings that are lrp
evaluate's defaults (tests/evaluate/generate.py and tests/evaluate.rs check that they compute the
same thing on one image):
- Sparseness and Complexity (abs, normalise) on the heatmap `[n, 1, H, W]`;
- PixelFlipping (perturb_baseline "black", softmax=True) on the heatmap `[n, 1, H, W]`, which
  it broadcasts over the channels and sorts as C*H*W values, as lrp does; features_in_step =
  H*W/32 = 128 values, so 96 steps, and lrp gets `--flip-steps 96` (ceil(C*H*W/96) = 128
  values per step). Not lrp's default of 32 steps: Quantus asserts that the step divides H*W,
  and C*H*W/32 = 384 does not divide 4096. LeRF is the same metric on the negated heatmap;
  the areas over the removed fraction [0, 1] with the unperturbed probability at 0 (lrp's
  Curve::area) and SRG = area(LeRF) - area(MoRF) are computed here from the curves. The
  three channel copies of a pixel tie; lrp removes them in channel order (a stable sort),
  Quantus in whatever order numpy's unstable argsort leaves them, and a step boundary that
  cuts a pixel's copies then changes that point of the curve slightly: the per-image
  differences come from there (on face_000 of the default images, MoRF area 6.600e-3 against
  lrp's 6.685e-3, where the stable order computed by hand in torch gives 6.685e-3 to 1e-8).
  So after the timed part, pixel flipping runs once more, untimed, with numpy's argsort made
  stable inside Quantus's pixel-flipping module (`--no-stable-check` skips it), and the
  last column of the table compares those areas with lrp's. What remains there comes from
  the attributions themselves: Captum's gradient of the whole batch and lrp's of one image
  differ by float32 rounding, which can swap two nearly equal heatmap values across a step
  boundary (check run, 4 images: three within 5e-8, face_000's LeRF area 1.9e-4 off; with
  Captum's gradient of face_000 alone instead of the batch's, the stable curve gives lrp's
  area to 2.5e-8);
- FaithfulnessCorrelation (nr_runs 100, subset_size 224, "black", softmax=False) on the heatmap
  broadcast over the three channels (lrp draws 224 of the C*H*W input values, so Quantus must
  too; on the heatmap it would draw 224 pixels of three values each), np.random.seed(`--seed`):
  Quantus draws its own subsets, lrp its own, so only the means (and the time) are comparable;
- RandomLogit (num_classes of the model, seed `--seed`, its default SSIM) with
  explain_func = Captum's Saliency summed over channels: each side draws its own off-class,
  so again only the means compare.
Quantus normalises over the whole batch it is given, lrp each explanation alone: every metric
gets `normalise_func_kwargs={"normalise_axes": (1, 2, 3)}`, Quantus's own per-sample
normalisation (it changes nothing for the scale-free metrics, and makes random logit's SSIM
see what lrp's sees).

Printed: both wall-clock times and their ratio, the per-metric means of both sides, and for the
deterministic metrics (sparseness, complexity, pixel flipping MoRF/LeRF/SRG) the largest
per-image difference; the predicted classes must agree on every image (else the inputs
differ and the run exits with status 1).
"""

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# lrp::assets: the face boxes of the shipped portraits, left, top, right, bottom.
PORTRAITS = [("astronaut.png", (150, 30, 260, 150)), ("grace_hopper.jpg", (155, 110, 365, 330))]
MEAN = np.array([122.782, 117.001, 104.298], dtype=np.float32)  # lrp::preprocess::ONNX_FACE_MEAN
DIVISOR = 256.0
METRICS = "sparseness,complexity,pixel-flipping,faithfulness-correlation,random-logit"
# Pixel-flipping steps on both sides (see the docstring).
FLIP_STEPS = 96
DETERMINISTIC = ["sparseness", "complexity", "pixel-flipping-morf", "pixel-flipping-lerf", "srg"]
COLUMNS = DETERMINISTIC + ["faithfulness-correlation", "random-logit"]


def make_images(folder, n, seed):
    """`n` seeded variants of the two portraits' face crops as PNG files in `folder`."""
    rng = np.random.default_rng(seed)
    sources = [Image.open(os.path.join(ROOT, "assets", f)).convert("RGB") for f, _ in PORTRAITS]
    for i in range(n):
        k = i % 2
        img, (l, t, r, b) = sources[k], PORTRAITS[k][1]
        w, h = r - l, b - t
        dx, dy = rng.uniform(-0.1, 0.1, 2) * (w, h)
        s = rng.uniform(0.85, 1.2)
        cx, cy = (l + r) / 2 + dx, (t + b) / 2 + dy
        box = [round(cx - w * s / 2), round(cy - h * s / 2), round(cx + w * s / 2), round(cy + h * s / 2)]
        box = [max(0, box[0]), max(0, box[1]), min(img.width, box[2]), min(img.height, box[3])]
        crop = img.crop(box)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        f = rng.uniform(0.7, 1.3)
        arr = np.clip(np.round(np.asarray(crop, dtype=np.float32) * f), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(os.path.join(folder, f"face_{i:03d}.png"))


def run_lrp(exe, folder, out, threads, seed):
    cmd = [exe, "evaluate", "--model", "age-v1", "--image", folder, "--method", "gradient",
           "--metric", METRICS, "--flip-steps", str(FLIP_STEPS), "--seed", str(seed), "--out", out]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr}")
    path = os.path.join(out, "scores.csv")
    if not os.path.exists(path):  # the name of the planned interface
        path = os.path.join(out, "evaluate.csv")
    scores = {}
    classes = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            v = float(row["value"]) if row["value"] != "" else float("nan")
            scores.setdefault(row["metric"], {})[row["image"]] = v
            classes[row["image"]] = int(row["class"])
    return seconds, scores, classes, " ".join(cmd)


def run_quantus(folder, threads, seed, stable_check):
    """Everything on the Quantus side, timed from reading the files to the last score."""
    import torch
    import quantus
    from captum.attr import Saliency

    sys.path.insert(0, os.path.join(ROOT, "tests", "attribution"))
    import generate as attribution  # tests/attribution/generate.py: load, logits_of, Logits

    torch.set_num_threads(threads)
    path = os.path.join(ROOT, "assets", "age-v1.onnx")
    model = attribution.load(path)
    probe = torch.zeros(1, 3, 64, 64)
    model = attribution.Logits(model, attribution.logits_of(model, path, probe)).eval()
    # Quantus looks for a torch.nn.Softmax module to decide whether to add one (softmax=True)
    # or strip one: drop the unused module so that it sees a model of logits.
    model.model.delete_all_unused_submodules()
    names = sorted(f for f in os.listdir(folder) if f.endswith(".png"))

    def saliency_heatmap(model, inputs, targets, **kwargs):
        x = torch.as_tensor(inputs).requires_grad_(True)
        g = Saliency(model).attribute(x, target=torch.as_tensor(targets), abs=False)
        return g.sum(dim=1, keepdim=True).detach().numpy()

    t0 = time.perf_counter()
    xs = []
    for f in names:
        im = Image.open(os.path.join(folder, f)).convert("RGB").resize((64, 64), Image.BILINEAR)
        xs.append(((np.asarray(im, dtype=np.float32) - MEAN) / DIVISOR).transpose(2, 0, 1))
    x = np.ascontiguousarray(np.stack(xs))
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
    y = logits.argmax(1).numpy()
    p0 = torch.softmax(logits, 1)[torch.arange(len(y)), torch.from_numpy(y)].numpy()
    heat = saliency_heatmap(model, x, y)  # [n, 1, H, W]
    wide = np.ascontiguousarray(np.repeat(heat, 3, axis=1))  # broadcast over the channels
    n, c, h, w = x.shape
    common = dict(model=model, x_batch=x, y_batch=y, channel_first=True, device="cpu")
    per_sample = {"normalise_axes": (1, 2, 3)}
    q = {}
    q["sparseness"] = quantus.Sparseness(normalise_func_kwargs=per_sample, disable_warnings=True)(
        a_batch=heat.copy(), **common)
    q["complexity"] = quantus.Complexity(normalise_func_kwargs=per_sample, disable_warnings=True)(
        a_batch=heat.copy(), **common)
    assert (c * h * w) % FLIP_STEPS == 0 and (h * w) % (c * h * w // FLIP_STEPS) == 0
    pf = quantus.PixelFlipping(features_in_step=c * h * w // FLIP_STEPS, perturb_baseline="black",
                               normalise_func_kwargs=per_sample, disable_warnings=True)
    morf = np.asarray(pf(a_batch=heat.copy(), softmax=True, **common))
    lerf = np.asarray(pf(a_batch=-heat, softmax=True, **common))
    frac = np.arange(morf.shape[1] + 1) / morf.shape[1]

    def area(curve):  # lrp's Curve::area: trapezoids from the unperturbed probability at 0
        return np.array([np.trapezoid(np.r_[p, cv], frac) for p, cv in zip(p0, curve)])

    q["pixel-flipping-morf"], q["pixel-flipping-lerf"] = area(morf), area(lerf)
    q["srg"] = q["pixel-flipping-lerf"] - q["pixel-flipping-morf"]
    np.random.seed(seed)
    q["faithfulness-correlation"] = quantus.FaithfulnessCorrelation(
        nr_runs=100, subset_size=224, perturb_baseline="black", return_aggregate=False,
        normalise_func_kwargs=per_sample, disable_warnings=True,
    )(a_batch=wide.copy(), softmax=False, **common)
    q["random-logit"] = quantus.RandomLogit(
        num_classes=logits.shape[1], seed=seed, normalise_func_kwargs=per_sample,
        disable_warnings=True,
    )(a_batch=heat.copy(), explain_func=saliency_heatmap, **common)
    seconds = time.perf_counter() - t0
    if stable_check:
        # Untimed: pixel flipping once more with numpy's argsort made stable inside Quantus's
        # module, so that tied values go in index order as in lrp.
        import quantus.metrics.faithfulness.pixel_flipping as pf_module

        class StableNumpy:
            def __getattr__(self, name):
                return getattr(np, name)

            @staticmethod
            def argsort(a, axis=-1, **kwargs):
                return np.argsort(a, axis=axis, kind="stable")

        pf_module.np = StableNumpy()
        try:
            morf_s = area(np.asarray(pf(a_batch=heat.copy(), softmax=True, **common)))
            lerf_s = area(np.asarray(pf(a_batch=-heat, softmax=True, **common)))
        finally:
            pf_module.np = np
        q["pixel-flipping-morf stable"], q["pixel-flipping-lerf stable"] = morf_s, lerf_s
        q["srg stable"] = lerf_s - morf_s
    stems = [os.path.splitext(f)[0] for f in names]
    scores = {k: dict(zip(stems, np.asarray(v, dtype=np.float64).reshape(-1).tolist()))
              for k, v in q.items()}
    return seconds, scores, dict(zip(stems, y.tolist()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lrp", required=True, help="path of the built lrp command line")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0, help="seed of the images and of both sides' draws")
    ap.add_argument("--keep", help="write the images and lrp's tables here instead of a temporary folder")
    ap.add_argument("--no-stable-check", action="store_true",
                    help="skip the untimed second pixel-flipping run with a stable tie order")
    ap.add_argument("--json", help="write all numbers here")
    args = ap.parse_args()

    base = args.keep or tempfile.mkdtemp(prefix="lrp-quantus-")
    folder, out = os.path.join(base, "images"), os.path.join(base, "lrp-evaluate")
    os.makedirs(folder, exist_ok=True)
    make_images(folder, args.images, args.seed)
    import torch  # noqa: F401  (its import time stays out of the Quantus timing)
    print(f"# lrp evaluate vs Quantus {version('quantus')} (Captum {version('captum')}, PyTorch "
          f"{version('torch')}), {args.threads} threads, {platform.processor() or platform.machine()}, "
          f"{time.strftime('%Y-%m-%d')}, {args.images} images of age-v1, method gradient", flush=True)
    t_l, lrp_scores, lrp_classes, cmd = run_lrp(args.lrp, folder, out, args.threads, args.seed)
    print(f"lrp evaluate: {t_l:.2f} s  ({cmd})", flush=True)
    t_q, q_scores, q_classes = run_quantus(folder, args.threads, args.seed, not args.no_stable_check)
    print(f"Quantus:      {t_q:.2f} s (Saliency as a precomputed a_batch + the metrics)", flush=True)
    print(f"Quantus / lrp: ×{t_q / t_l:.2f}")
    wrong = [k for k in q_classes if lrp_classes.get(k) != q_classes[k]]

    print()
    print("| metric | lrp mean | Quantus mean | max per-image |Δ| | with stable ties |")
    print("|---|---|---|---|---|")

    def max_diff(lv, qv):
        keys = sorted(set(lv) & set(qv))
        a = np.array([lv[k] for k in keys])
        b = np.array([qv[k] for k in keys])
        ok = np.isfinite(a) & np.isfinite(b)
        return a, b, ok, (float(np.abs(a[ok] - b[ok]).max()) if ok.any() else None)

    rows = []
    for m in COLUMNS:
        a, b, ok, d = max_diff(lrp_scores.get(m, {}), q_scores[m])
        row = {"metric": m, "lrp_mean": float(np.nanmean(a)), "quantus_mean": float(np.nanmean(b)),
               "images": int(ok.sum()), "max_abs_diff": d if m in DETERMINISTIC else None}
        if f"{m} stable" in q_scores:
            row["max_abs_diff_stable_ties"] = max_diff(lrp_scores.get(m, {}), q_scores[f"{m} stable"])[3]
        rows.append(row)
        cell = f"{d:.1e}" if m in DETERMINISTIC and d is not None else "(own random draws)"
        stable = row.get("max_abs_diff_stable_ties")
        print(f"| {m} | {row['lrp_mean']:.4f} | {row['quantus_mean']:.4f} | {cell} | "
              f"{'' if stable is None else f'{stable:.1e}'} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"threads": args.threads, "images": args.images, "lrp_seconds": t_l,
                       "quantus_seconds": t_q, "quantus": version("quantus"),
                       "command": cmd, "metrics": rows}, fh, indent=1)
    if wrong:
        print(f"\nThe predicted classes differ on {len(wrong)} images (e.g. {wrong[0]}): "
              "the two sides do not see the same inputs")
        sys.exit(1)


if __name__ == "__main__":
    main()
