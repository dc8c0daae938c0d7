#!/usr/bin/env python3
"""LXT 2.1 token relevance of the two test vision transformers (tests/data/vit/tokens.json), the
reference of `lrp explain`'s token view (tests/cli_vit.rs).

How to run (from the repository root; same environment and versions as tests/vit/generate.py):

    /work/venv/bin/python tests/vit/tokens.py

It rebuilds each model of tests/vit/generate.py with the same seed (`generate.make_model`),
asserts that LXT's input relevance equals the committed <model>_<config>.npy to 1e-6 of its
max |R| (so the weights are those of the committed ONNX files), and records, for the same
LXT configurations (attnlrp, cp_lrp: `generate.lxt_patched`), in float64, for the predicted
class of input_48.npy, in LXT's gradient x input frame:

- `map`: the patch embedding convolution's output relevance `out * d logit / d out` summed over
  its channels, on the 6x6 patch grid (row-major): the patch tokens' relevance;
- `class_token`: `class_token * d logit / d class_token`, summed: the class token's relevance;
- `position`: the same for the position embedding parameter: what it absorbs;
- `patches`: the sum of `map`; `logit`: the explained logit.

In this frame the tokens entering the first block, `patches + class token + position`, are the
stem's relevance exactly, which the Rust side asserts of its own numbers too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generate as gen  # noqa: E402

OUT = gen.OUT / "tokens.json"

# Per model: the patch embedding convolution, the class token and the position embedding.
PARTS = {
    "vit_b_16": lambda m: (m.conv_proj, m.class_token, m.encoder.pos_embedding),
    "deit_tiny": lambda m: (m.patch_embed.proj, m.cls_token, m.pos_embed),
}


def token_relevance(model, name, x, config):
    m, _ = gen.lxt_patched(model, config)
    m = m.double()
    conv, cls, pos = PARTS[name](m)
    kept = {}

    def hook(_mod, _inp, o):
        o.retain_grad()
        kept["out"] = o

    handle = conv.register_forward_hook(hook)
    xt = torch.from_numpy(x).double().requires_grad_(True)
    out = m(xt)
    handle.remove()
    target = int(out.argmax())
    out[0, target].backward()
    o = kept["out"]
    grid = (o * o.grad).sum(dim=1)[0].detach().numpy()
    rel = (xt * xt.grad).detach().numpy()
    return {
        "target": target,
        "logit": float(out[0, target].detach()),
        "map": grid.tolist(),
        "patches": float(grid.sum()),
        "class_token": float((cls * cls.grad).sum()),
        "position": float((pos * pos.grad).sum()),
    }, rel


def main():
    x = np.load(gen.OUT / "input_48.npy")
    result = {"generator": "tests/vit/tokens.py", "versions": gen.versions(), "models": {}}
    for name in gen.MODELS:
        model, _ = gen.make_model(name, torch.from_numpy(x))
        result["models"][name] = {}
        for config in gen.CONFIGS:
            r, rel = token_relevance(model, name, x, config)
            want = np.load(gen.OUT / f"{name}_{config}.npy")
            err = float(np.abs(rel - want).max() / np.abs(want).max())
            assert err <= 1e-6, (name, config, err)
            result["models"][name][config] = r
            print(f"{name} {config}: patches {r['patches']:.5f} class token "
                  f"{r['class_token']:.5f} position {r['position']:.5f} logit {r['logit']:.5f} "
                  f"(input relevance vs committed {err:.1e})")
    OUT.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
