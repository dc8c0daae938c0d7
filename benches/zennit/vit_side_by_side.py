"""lrp against LXT 2.1 (PyTorch) on full-size vision transformers, side by side, same weights.

Run through ./run.sh --vit, which builds the Rust worker (examples/side_by_side.rs) and the
Python environment (torch, torchvision, timm, lxt 2.1 with transformers >= 4.51, < 5).

The models are those `tests/vit/generate.py --full` writes to target/vit-full/ (torchvision
`vit_b_16` and timm `deit_tiny_patch16_224` at full size, seeded random weights, 1000 classes,
224x224): our side loads the ONNX file torch exported; LXT's side rebuilds the torch module with
the library's constructor and loads `<model>_full.pt`, the same state_dict, in float32. LXT's
rules are bound exactly as the reference tests bind them (`generate.lxt_patched`: GELU identity
rule, LayerNorm with constant standard deviation, AttnLRP's q, k / 4 and v / 2 or CP-LRP's
detached q and k; linear layers keep the plain gradient, LRP-0), and LXT's relevance is
gradient x input, seeded with the predicted logit, as ours.

For batch 1 and 8 it times alternately (one call of ours, one of theirs, a 50 ms pause before
each, median of at least 3 rounds, same thread count on both sides) the plain forward pass
(PyTorch eval forward of the unpatched module) and attnlrp / cp-lrp against LXT's, checks in the
same run that both give the same input relevance (within 1e-4 of max|R|; where they differ by
more, LXT runs once more in float64 and decides: ours must then be within 1e-4 of that), and
prints medians, ratios and a markdown table for the README. Exit status 1 on a disagreement.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib.metadata import version

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "vit"))
from side_by_side import Worker, timed  # noqa: E402

MODELS = ["deit_tiny", "vit_b_16"]
PRESETS = {"attnlrp": "attnlrp", "cp-lrp": "cp_lrp"}  # ours -> LXT configuration


def lxt_explain(patched, x):
    """LXT's relevance for the predicted classes: gradient x input, seeded with the logits."""
    x = x.clone().requires_grad_(True)
    out = patched(x)
    idx = out.argmax(1)
    out[torch.arange(out.shape[0]), idx].sum().backward()
    return (x * x.grad).detach()


def main():
    import generate  # noqa: E402 (tests/vit/generate.py: needs timm and lxt)

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", required=True, help="path of the built side_by_side example")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    ap.add_argument("--dir", default=os.path.join(ROOT, "target", "vit-full"),
                    help="where tests/vit/generate.py --full wrote the models")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--seconds", type=float, default=4.0, help="time budget per measurement and side")
    ap.add_argument("--json", help="write all numbers here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    tmp = tempfile.mkdtemp(prefix="lrp-lxt-")
    w = Worker(args.worker, args.threads)
    results, failures, notes = [], [], []
    print(f"# lrp vs LXT {version('lxt')} (PyTorch {torch.__version__}), {args.threads} threads, "
          f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}", flush=True)
    names = [n for n in args.models.split(",") if n]
    for name in names:
        path = os.path.join(args.dir, f"{name}_full.onnx")
        weights = os.path.join(args.dir, f"{name}_full.pt")
        for f in (path, weights):
            if not os.path.exists(f):
                raise SystemExit(f"{f} is missing: run tests/vit/generate.py --full {args.dir} "
                                 f"--only {name}")
        plain = generate.FULL[name]["build"]()
        plain.load_state_dict(torch.load(weights))
        plain.eval()
        for p in plain.parameters():
            p.requires_grad_(False)
        w("load", name, path, ",".join(PRESETS))
        for batch in [int(b) for b in args.batches.split(",")]:
            rng = np.random.default_rng(7)
            x = rng.standard_normal([batch, 3, 224, 224]).astype(np.float32)
            xin = os.path.join(tmp, f"{name}-{batch}.npy")
            np.save(xin, x)
            xt = torch.from_numpy(x)
            for what in ["forward"] + list(PRESETS):
                ours_out = os.path.join(tmp, f"{name}-{batch}-{what}-ours.npy")
                if what == "forward":
                    def theirs():
                        with torch.no_grad():
                            return plain(xt)
                else:
                    patched, _ = generate.lxt_patched(plain, PRESETS[what])

                    def theirs():
                        return lxt_explain(patched, xt)
                w("run", name, what, xin, 1, "-")  # warm-up on both sides, then alternate
                t_l, rel_l = timed(theirs)
                rounds = int(min(30, max(3, args.seconds * 1e3 // max(t_l, 1.0))))
                ours, lxt = [], []
                for _ in range(rounds):
                    time.sleep(0.05)
                    ours.append(float(w("run", name, what, xin, 1, ours_out)))
                    time.sleep(0.05)
                    t, rel_l = timed(theirs)
                    lxt.append(t)
                o, z = statistics.median(ours), statistics.median(lxt)
                row = {"model": name, "batch": batch, "what": what, "ours_ms": o, "theirs_ms": z,
                       "speedup": z / o, "rounds": rounds}
                if what != "forward":
                    r_o = np.load(ours_out)
                    r_l = rel_l.numpy()
                    scale = float(np.abs(r_l).max())
                    err = float(np.abs(r_o - r_l).max()) / scale
                    row.update(max_err_rel=err, sum_ours=float(r_o.sum()), sum_lxt=float(r_l.sum()))
                    if not err <= 1e-4:
                        p64, _ = generate.lxt_patched(plain, PRESETS[what])
                        r64 = lxt_explain(p64.double(), xt.double()).numpy()
                        s64 = float(np.abs(r64).max())
                        row["lxt32_vs_64"] = float(np.abs(r_l - r64).max()) / s64
                        row["ours_vs_64"] = float(np.abs(r_o - r64).max()) / s64
                        (failures if not row["ours_vs_64"] <= 1e-4 else notes).append(
                            f"{name} batch {batch} {what}: max|ΔR| = {err:.2e}·max|R|; against LXT "
                            f"in float64: ours {row['ours_vs_64']:.2e}, LXT float32 "
                            f"{row['lxt32_vs_64']:.2e}")
                results.append(row)
                extra = f"  max|ΔR|/max|R| {row['max_err_rel']:.1e}" if "max_err_rel" in row else ""
                print(f"{name:10} b{batch} {what:8} ours {o:9.2f} ms  "
                      f"{'torch' if what == 'forward' else 'lxt'} {z:9.2f} ms  ×{z / o:5.2f}{extra}",
                      flush=True)
    w.close()

    print()
    print("| model | batch | forward: lrp / PyTorch | × | attnlrp: lrp / LXT | × | cp-lrp: lrp / LXT "
          "| × | attnlrp / own forward |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        for batch in [int(b) for b in args.batches.split(",")]:
            r = {x["what"]: x for x in results if x["model"] == name and x["batch"] == batch}
            f, a, c = r["forward"], r["attnlrp"], r["cp-lrp"]
            print(f"| {name} | {batch} | {f['ours_ms']:.1f} / {f['theirs_ms']:.1f} | "
                  f"{f['speedup']:.2f} | {a['ours_ms']:.1f} / {a['theirs_ms']:.1f} | "
                  f"{a['speedup']:.2f} | {c['ours_ms']:.1f} / {c['theirs_ms']:.1f} | "
                  f"{c['speedup']:.2f} | {a['ours_ms'] / f['ours_ms']:.1f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"threads": args.threads, "date": time.strftime("%Y-%m-%d"),
                       "torch": torch.__version__, "lxt": version("lxt"), "results": results},
                      fh, indent=1)
    if notes:
        print("\nAgreement with LXT in float64 where float32 LXT disagrees with it:\n  "
              + "\n  ".join(notes))
    if failures:
        print("\nRelevance disagreements:\n  " + "\n  ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
