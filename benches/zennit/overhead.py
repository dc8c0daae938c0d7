"""The Python bindings' cost per call: `Explainer.explain` from Python against the same call in Rust.

Run through ./run.sh --overhead (which builds the Rust worker, examples/side_by_side.rs, and
installs the bindings into its venv). Unlike side_by_side.py, this process imports neither
torch nor Zennit, whose threads would compete with lrp's for the cores. Each round times,
on the same canonised ONNX file, preset and input:

- the worker (a Rust process of its own, examples/side_by_side.rs), timed in Rust;
- `Explainer._rust_explain_ms`: the same Rust call inside this process, timed in Rust around
  the call alone, on the same `Explainer` the bindings use;
- `Explainer.explain` from Python, timed in Python around the call.

Each round runs the three in a shuffled order (the first call after another process ran
finds colder caches). The bindings' overhead per call is the Python median minus the
in-process Rust median: both run in one process, with the same heap and allocator state, so
it is what the bindings add (argument checks, the input copy, building the `Explanation`,
dropping the previous one). The worker column shows how far another process lands from
that, which is process-to-process variation, not the bindings. The Python relevance must
equal the worker's bit for bit.

Both sides use lrp's allocator (lrp::memory::Pool); `LRP_POOL=0` in the environment turns its
cache off on both, which shows what glibc alone does to each side.
"""

import argparse
import json
import os
import random
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
    order = random.Random(11)
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
                ours, inproc, py = [], [], []
                def worker():
                    ours.append(float(w("run", name, preset, xin, 1, out)))

                def rust():
                    inproc.extend(ex._rust_explain_ms(x))

                def python():
                    nonlocal rel
                    t0 = time.perf_counter()
                    rel = ex.explain(x).relevance
                    py.append((time.perf_counter() - t0) * 1e3)

                # The first call after another process ran finds colder caches: a fixed order
                # would charge that to whichever side comes first, so each round shuffles it.
                rel = None
                sides = [worker, rust, python]
                for _ in range(rounds):
                    order.shuffle(sides)
                    for side in sides:
                        side()
                o, r, p = (statistics.median(v) for v in (ours, inproc, py))
                same = bool(np.array_equal(rel, np.load(out)))
                row = {"model": name, "batch": batch, "preset": preset, "worker_ms": o,
                       "rust_ms": r, "python_ms": p, "overhead_ms": p - r,
                       "worker_minus_rust_ms": o - r, "rounds": rounds, "equal": same}
                results.append(row)
                print(f"{name:8} b{batch} {preset:26} worker {o:8.2f}  rust {r:8.2f}  "
                      f"python {p:8.2f} ms  overhead {p - r:+7.3f} ms  "
                      f"(worker {o - r:+6.2f}; {rounds} rounds)"
                      f"{'' if same else '  RELEVANCE DIFFERS'}", flush=True)
    w.close()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"threads": args.threads, "pool": pool, "results": results}, fh, indent=1)
    if not all(r["equal"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
