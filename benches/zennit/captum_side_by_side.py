"""lrp's SmoothGrad and integrated gradients against Captum 0.9 (PyTorch), side by side, on
identical float32 weights (issue 21, item 4).

Run through `./run.sh --captum`, which builds the Rust worker (examples/side_by_side.rs) and
installs Captum into the bench environment if it is missing. For every model the worker writes
its canonised graph to ONNX (`export vgg16`: the full-size VGG-16 of lrp's zoo, 224x224, seeded
random weights, as side_by_side.py times it; `export age`: the shipped age model, 64x64); the
torch module is rebuilt from that very file by side_by_side.py's `Graph` converter, so both
sides compute with the same weights. Inputs: seeded standard normal batches (numpy
default_rng(7), as side_by_side.py), batch 1 and 8; target: the predicted class of each clean
image, looked up by a forward pass on both sides (inside the timed call: ours does it in
`Attributor::attribute`, Captum's is one `model(x)` before `attribute`).

Methods and parameters (ours: `lrp::attribution::Method::from_name`, the command line's
defaults, run through `lrp::attribution::Attributor` by the worker):
- smoothgrad: 50 noisy copies, the mean signed gradient of the target logit. Captum:
  `NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=50,
  stdevs=S, abs=False)`. One noise level S for both sides (Captum takes one `stdevs` per input
  tensor, not per image): 15% of the value range max - min of the batch-1 input (the first
  image of every batch), given to the worker as `smoothgrad:S` (an absolute sigma, seed 0). The
  noise itself differs (lrp's seeded generator against torch's), so the averaged maps differ by
  the Monte-Carlo error; their relative difference ‖A_ours − A_Captum‖ / ‖A_Captum‖ is printed
  as information only, beside the same between Captum's last two calls (which drew different
  noise): the two should be alike. On the random-weight VGG-16 both are above 1 (the
  gradients of the noisy copies hardly correlate, so 50 samples do not average out the
  noise). The exact check, with Captum's draws fed to lrp, is tests/attribution.rs.
- integrated-gradients: 50 Gauss-Legendre steps (Captum's default `method`) from the zero
  baseline, `IntegratedGradients(model).attribute(x, target=..., n_steps=50)`. Both sides must
  agree within 1e-4 of max|A| over the batch. Where they differ by more, Captum is run once
  more in float64 (same passes): a ReLU or max-pool at one of the 50 path points can switch on
  float32 rounding. Near the zero baseline (the first Gauss-Legendre node is alpha = 5.7e-4)
  a unit's pre-activations are its bias plus a tiny input-dependent part, so which value of a
  max-pool window wins is decided by differences close to float32's resolution of the bias.
  Seen in check runs: VGG-16 at batch 1, ours 1.43e-3 and Captum's float32 1.35e-3 of max|A|
  from float64; the age model at batch 8, image 4, both 2.9e-3 of its max|A| from float64,
  every other image of ours within 1.3e-7. Ours must then be within 1e-4 of the float64
  result, or at most 10% farther from it than Captum's float32 result (reported as a note),
  else the run exits with status 1.

Images per backward pass. lrp runs 16 copies of one image per pass (the command line's
METHOD_BATCH). Captum's defaults put everything in one pass: `nt_samples_batch_size=None` and
`internal_batch_size=None` mean 50 x batch images at once, 400 VGG-16 images at batch 8, far
more memory than the machine has (~100 MB of saved activations per VGG-16 image). By default
(`--captum-batching matched`) Captum therefore gets the same pass size as ours: 16 images
per forward/backward pass (`nt_samples_batch_size = max(1, 16 // batch)`, so 16 samples x 1
image or 2 samples x 8 images; `internal_batch_size = 16`, i.e. 16 // batch steps x batch
images). `--captum-batching default` runs Captum's defaults instead (fine for the 64x64 age
model; the table says which was used).

Timing as side_by_side.py: one warm-up call per side, then alternately one call of ours and
one of Captum's (a 50 ms pause before each), `--seconds` of Captum time per measurement but at
least `--min-rounds` rounds; medians and the ratio Captum / ours. Each call is 50 forward and
backward passes per image: VGG-16 at batch 8 takes minutes per call on 2 cores.
"""

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib.metadata import version

import numpy as np
import onnx
import torch
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

from side_by_side import Graph, timed
from worker import Worker

METHODS = ["smoothgrad", "integrated-gradients"]
MODELS = ["vgg16", "age"]
# Copies per backward pass on our side (the command line's METHOD_BATCH, Method::from_name).
PASS = 16
SAMPLES = 50
STEPS = 50
NOISE = 0.15


def captum_call(method, model, x, stdev, batching):
    """The Captum attribution of `x` for its predicted classes, as one timed call."""
    batch = x.shape[0]
    matched = batching == "matched"
    with torch.no_grad():
        target = model(x).argmax(1)
    if method == "smoothgrad":
        nt = NoiseTunnel(Saliency(model))
        return nt.attribute(
            x, nt_type="smoothgrad", nt_samples=SAMPLES, stdevs=stdev, target=target, abs=False,
            nt_samples_batch_size=max(1, PASS // batch) if matched else None,
        )
    ig = IntegratedGradients(model)
    return ig.attribute(x, target=target, n_steps=STEPS, method="gausslegendre",
                        internal_batch_size=max(PASS, batch) if matched else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", required=True, help="path of the built side_by_side example")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {METHODS}")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--seconds", type=float, default=4.0,
                    help="Captum time budget per measurement (rounds = seconds / one call)")
    ap.add_argument("--min-rounds", type=int, default=3, help="at least this many rounds")
    ap.add_argument("--captum-batching", choices=["matched", "default"], default="matched",
                    help="Captum's images per pass: 16 as ours (matched) or its defaults (all at once)")
    ap.add_argument("--json", help="write all numbers here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="lrp-captum-")
    w = Worker(args.worker, args.threads)
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"--methods: {m} is not one of {METHODS}")
    batches = [int(b) for b in args.batches.split(",")]
    print(
        f"# lrp vs Captum {version('captum')} (PyTorch {torch.__version__}), {args.threads} threads, "
        f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}, "
        f"Captum batching: {args.captum_batching}",
        flush=True,
    )
    results, failures, notes = [], [], []
    names = [n for n in args.models.split(",") if n]
    for name in names:
        path = os.path.join(tmp, f"{name}.onnx")
        w("export", name, path)
        model = Graph(path).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        shape = onnx.load(path).graph.input[0].type.tensor_type.shape
        chw = [d.dim_value for d in shape.dim][1:]
        # The noise level: 15% of the batch-1 input's range (the first image of every batch).
        first = np.random.default_rng(7).standard_normal([1] + chw).astype(np.float32)
        stdev = float(np.float32(NOISE * (first.max() - first.min())))
        entries = [f"smoothgrad:{stdev!r}" if m == "smoothgrad" else m for m in methods]
        w("load", name, path, ",".join(entries))
        for batch in batches:
            x = np.random.default_rng(7).standard_normal([batch] + chw).astype(np.float32)
            xin = os.path.join(tmp, f"{name}-{batch}.npy")
            np.save(xin, x)
            xt = torch.from_numpy(x)
            for method in methods:
                ours_out = os.path.join(tmp, f"{name}-{batch}-{method}-ours.npy")

                def theirs():
                    return captum_call(method, model, xt, stdev, args.captum_batching)

                # Warm-up on both sides, then alternate.
                w("run", name, method, xin, 1, "-")
                t_c, a_c = timed(theirs)
                rounds = int(min(30, max(args.min_rounds, args.seconds * 1e3 // max(t_c, 1.0))))
                ours, cap = [], []
                for _ in range(rounds):
                    # A pause before each call lets the other side's idle worker threads
                    # (OpenMP and rayon spin before they sleep) go quiet.
                    time.sleep(0.05)
                    ours.append(float(w("run", name, method, xin, 1, ours_out)))
                    time.sleep(0.05)
                    prev = a_c
                    t, a_c = timed(theirs)
                    cap.append(t)
                o, c = statistics.median(ours), statistics.median(cap)
                a_o = np.load(ours_out).astype(np.float64)
                a_c = a_c.detach().numpy().astype(np.float64)
                scale = float(np.abs(a_c).max())
                err = float(np.abs(a_o - a_c).max()) / scale
                l2 = float(np.linalg.norm(a_o - a_c) / np.linalg.norm(a_c))
                row = {"model": name, "batch": batch, "method": method, "ours_ms": o,
                       "captum_ms": c, "speedup": c / o, "rounds": rounds,
                       "max_err_rel": err, "l2_err_rel": l2,
                       "captum_batching": args.captum_batching}
                if method == "smoothgrad":
                    # The Monte-Carlo spread: Captum's last two calls drew different noise.
                    prev = prev.detach().numpy().astype(np.float64)
                    spread = float(np.linalg.norm(a_c - prev) / np.linalg.norm(a_c))
                    row.update(stdev=stdev, captum_vs_captum_l2=spread)
                    note = (f"  (different noise) ‖ΔA‖/‖A‖ {l2:.2f}, between two Captum calls "
                            f"{spread:.2f}; max|ΔA|/max|A| {err:.2f}")
                else:
                    note = f"  max|ΔA|/max|A| {err:.1e}"
                    if not err <= 1e-4:
                        # Ill-conditioned in float32 (a ReLU or max-pool winner at some path
                        # point decided by rounding)? Ask Captum in float64, same passes.
                        m64 = copy.deepcopy(model).double()
                        a64 = captum_call(method, m64, xt.double(), stdev,
                                          args.captum_batching).detach().numpy()
                        del m64
                        s64 = float(np.abs(a64).max())
                        row["ours_vs_64"] = float(np.abs(a_o - a64).max()) / s64
                        row["captum32_vs_64"] = float(np.abs(a_c - a64).max()) / s64
                        ok = row["ours_vs_64"] <= max(1e-4, 1.1 * row["captum32_vs_64"])
                        (notes if ok else failures).append(
                            f"{name} batch {batch} integrated gradients: max|ΔA| = {err:.2e}·max|A|; "
                            f"against Captum in float64: ours {row['ours_vs_64']:.2e}, Captum "
                            f"float32 {row['captum32_vs_64']:.2e}")
                results.append(row)
                print(f"{name:6} b{batch} {method:21} ours {o:10.1f} ms  captum {c:10.1f} ms  "
                      f"×{c / o:5.2f}  ({rounds} rounds){note}", flush=True)
    w.close()

    print()
    print(f"| model | batch | method | ours ms | Captum ms | Captum / ours |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['batch']} | {r['method']} | {r['ours_ms']:.0f} | "
              f"{r['captum_ms']:.0f} | {r['speedup']:.2f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"threads": args.threads, "date": time.strftime("%Y-%m-%d"),
                       "torch": torch.__version__, "captum": version("captum"),
                       "captum_batching": args.captum_batching, "pass": PASS,
                       "results": results}, fh, indent=1)
    if notes:
        print("\nIll-conditioned in float32 (ours about as far from Captum in float64 as Captum's "
              "float32 result):\n  " + "\n  ".join(notes))
    if failures:
        print("\nIntegrated gradients disagree:\n  " + "\n  ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
