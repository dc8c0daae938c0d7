"""The Python bindings' cost per call: `Explainer.explain` from Python against the same call in Rust.

Run through ./run.sh --overhead (which builds the Rust worker, examples/side_by_side.rs, and
installs the bindings into its venv). Unlike side_by_side.py, this process imports neither
torch nor Zennit, whose threads would compete with lrp's for the cores: it times only the
worker (a Rust process of its own) and the bindings, alternately, on the same canonised ONNX
file, preset and input, and prints medians and the difference. The Python relevance must equal
the worker's bit for bit.

Both sides use lrp's allocator (lrp::memory::Pool); `LRP_POOL=0` in the environment turns its
cache off on both, which shows what glibc alone does to each side.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

from worker import Worker

PRESETS = ["epsilon-plus-flat", "epsilon-alpha2-beta1-flat"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", required=True, help="path of the built side_by_side example")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="gender,age", help="gender, age, or a zoo architecture")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--seconds", type=float, default=3.0, help="time budget per measurement and side")
    ap.add_argument("--json", help="write all numbers here")
    ap.add_argument("--python", action="store_true", help=argparse.SUPPRESS)  # run.sh's install flag
    args = ap.parse_args()

    os.environ["RAYON_NUM_THREADS"] = str(args.threads)  # before the bindings start rayon
    import lrp

    tmp = tempfile.mkdtemp(prefix="lrp-overhead-")
    w = Worker(args.worker, args.threads)
    pool = os.environ.get("LRP_POOL", "default")
    print(f"# Python bindings vs Rust worker, {args.threads} threads, LRP_POOL={pool}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    results = []
    for name in args.models.split(","):
        path = os.path.join(tmp, f"{name}.onnx")
        w("export", name, path)
        w("load", name, path)
        model = lrp.load(path)
        chw = list(model.input_shape)
        for batch in [int(b) for b in args.batches.split(",")]:
            x = np.random.default_rng(7).standard_normal([batch] + chw).astype(np.float32)
            xin = os.path.join(tmp, f"{name}-{batch}.npy")
            np.save(xin, x)
            for preset in PRESETS:
                out = os.path.join(tmp, f"{name}-{batch}-{preset}.npy")
                ex = lrp.Explainer(model, preset=preset)
                ex.explain(x)
                w("run", name, preset, xin, 1, "-")
                t0 = time.perf_counter()
                ex.explain(x)
                once = (time.perf_counter() - t0) * 1e3
                rounds = int(min(200, max(5, args.seconds * 1e3 // max(once, 0.1))))
                ours, py = [], []
                for _ in range(rounds):
                    ours.append(float(w("run", name, preset, xin, 1, out)))
                    t0 = time.perf_counter()
                    rel = ex.explain(x).relevance
                    py.append((time.perf_counter() - t0) * 1e3)
                o, p = statistics.median(ours), statistics.median(py)
                same = bool(np.array_equal(rel, np.load(out)))
                row = {"model": name, "batch": batch, "preset": preset, "rust_ms": o,
                       "python_ms": p, "overhead_ms": p - o, "rounds": rounds, "equal": same}
                results.append(row)
                print(f"{name:8} b{batch} {preset:26} rust {o:8.2f} ms  python {p:8.2f} ms  "
                      f"overhead {p - o:+7.3f} ms  ({rounds} rounds){'' if same else '  RELEVANCE DIFFERS'}",
                      flush=True)
    w.close()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"threads": args.threads, "pool": pool, "results": results}, fh, indent=1)
    if not all(r["equal"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
