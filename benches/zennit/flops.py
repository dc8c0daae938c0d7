"""How many multiply-adds an explanation costs in Zennit 1.0, counted by PyTorch itself.

Run through ./run.sh --flops [--models ...] [--batches 1,8]. For every model the Rust worker
writes its canonised graph to ONNX (the same file and weights as side_by_side.py), and the
forward pass and the composites EpsilonPlusFlat / EpsilonAlpha2Beta1Flat run once under
torch's flop formulas (`torch.utils.flop_counter.flop_registry`) at dispatch, which count
every convolution, matrix product and their gradients that autograd executes (2 FLOP per multiply-add; element-wise work is not
counted). Our own count is `examples/profile.rs` (the GEMM multiply-adds of every step,
`lrp::kernels::multiply_adds`), printed here beside it when --lrp-profile names that binary.

Zennit's rules recompute each layer under modified parameters inside the backward pass
(zennit.core.BasicHook.backward: one forward per input/parameter modifier, then
`torch.autograd.grad` through them), on top of the original forward and its gradient; this
script measures what that costs rather than deriving it from the source.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry
from zennit.rules import Pass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from side_by_side import MODELS, PRESETS, Graph, zennit_explain  # noqa: E402
from worker import Worker  # noqa: E402


class Count(TorchDispatchMode):
    """FLOPs of every operator torch's flop_counter has a formula for (convolutions, matrix
    products and their backward), counted at dispatch. torch's own FlopCounterMode also
    tracks modules with global backward hooks, which Zennit's autograd.grad inside a backward
    hook trips over; counting at dispatch needs no hooks."""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        f = flop_registry.get(func._overloadpacket)
        if f is not None:
            self.flops += f(*args, **kwargs, out_val=out)
        return out


def gmac(f):
    with Count() as counter:
        f()
    return counter.flops / 2e9


def ours(profile_bin, name, preset, batch, threads):
    """GEMM multiply-adds of our explanation, from examples/profile.rs's totals line."""
    zoo = {"gender": "gender-v1", "age": "age-v1"}.get(name, name)
    out = subprocess.run([profile_bin, zoo, "--preset", preset, "--batch", str(batch),
                          "--threads", str(threads), "--repeat", "1"],
                         check=True, capture_output=True, text=True).stdout
    m = re.search(r"([0-9.]+) GMAC forward, ([0-9.]+) GMAC relevance", out)
    return float(m.group(1)) + float(m.group(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", required=True, help="path of the built side_by_side example")
    ap.add_argument("--lrp-profile", help="path of the built profile example (our counts)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--flops", action="store_true", help="(run.sh's switch; ignored here)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    w = Worker(args.worker, args.threads)
    tmp = tempfile.mkdtemp(prefix="lrp-flops-")
    print("| model | batch | PyTorch forward GMAC | preset | Zennit GMAC | × forward | lrp GMAC | "
          "× forward | Zennit / lrp |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in [n for n in args.models.split(",") if n]:
        path = os.path.join(tmp, f"{name}.onnx")
        w("export", name, path)
        model = Graph(path).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
        chw = [d.dim_value for d in dims][1:]
        for batch in [int(b) for b in args.batches.split(",")]:
            x = torch.from_numpy(
                np.random.default_rng(7).standard_normal([batch] + chw).astype(np.float32))
            with torch.no_grad():
                fwd = gmac(lambda: model(x))
            for preset, make in PRESETS.items():
                composite = make(layer_map=[(torch.nn.LocalResponseNorm, Pass())])
                with composite.context(model):
                    z = gmac(lambda: zennit_explain(model, composite, x))
                row = f"| {name} | {batch} | {fwd:.3f} | {preset} | {z:.3f} | {z / fwd:.2f} |"
                if args.lrp_profile:
                    o = ours(args.lrp_profile, name, preset, batch, args.threads)
                    row += f" {o:.3f} | {o / fwd:.2f} | {z / o:.2f} |"
                else:
                    row += " | | |"
                print(row, flush=True)
    w.close()


if __name__ == "__main__":
    main()
