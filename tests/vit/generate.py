#!/usr/bin/env python3
"""Generate tests/data/vit/: two small vision transformers in ONNX, with onnxruntime logits and
LXT 2.1 input relevance under AttnLRP and CP-LRP, for issue 18 ("vision transformers: AttnLRP
and CP-LRP from ONNX, checked against LXT").

How to run (from the repository root; the Rust tests only read the committed files):

    /work/venv/bin/python tests/vit/generate.py                # the committed test models
    /work/venv/bin/python tests/vit/generate.py --full         # full-size models for benches
                                                               # (target/vit-full, not committed)

`--full [DIR]` (default target/vit-full) builds the full-size architectures with their
libraries' own constructors, `torchvision.models.vit_b_16(weights=None)` (ViT-B/16: 12 layers,
hidden 768, 86.6 M parameters) and `timm.create_model('deit_tiny_patch16_224',
pretrained=False)` (DeiT-Tiny: 12 layers, hidden 192, 5.7 M parameters), 1000 classes, 224x224,
randomises every parameter as below (seed: the model's name + "_full") and calibrates the head,
and writes <model>_full.onnx (+ .data; the default dynamo exporter), <model>_full_input.npy (the
astronaut at 224x224, as input_48.npy at 48), <model>_full_logits.npy (onnxruntime, checked
against torch to 1e-5) and <model>_full.pt (the state_dict, from which the LXT side of
benches/zennit/run.sh --vit rebuilds the same model: `build_full(name)`). `--only NAME` limits
it to one model (deit_tiny takes seconds, vit_b_16 a few minutes and 700 MB of disk).

Versions used: torch 2.15.0, torchvision 0.29.2, timm 1.0.31, lxt 2.1 (which imports only with
transformers >= 4.51, < 5 beside it: 4.57.6 here), onnx 1.23.2, onnxruntime 1.32.0, onnxscript
0.7.2 (the exact versions are written to manifest.json). Everything is seeded: a rerun with the
same versions rewrites the same numbers.

What it does, per model (`MODELS` below):
1. Builds the architecture with its library's own class at reduced size, 10 classes, image 48x48,
   patch 8 (6x6 = 36 patch tokens plus the class token), depth 2, hidden 48, MLP 192:
   - `vit_b_16`: torchvision's `VisionTransformer` (the class of `vit_b_16`; 4 heads of 12),
     whose attention is `nn.MultiheadAttention` (packed in-projection);
   - `deit_tiny`: timm's `deit_tiny_patch16_224` (`timm.create_model` with the overrides in
     manifest.json; 3 heads of 16, as DeiT-Tiny), whose attention is timm's `Attention`
     (one qkv Linear, `F.scaled_dot_product_attention`).
2. Randomises every parameter (`randomise`), including those the libraries initialise to
   constants (torchvision's zero head, class token and position embedding, LayerNorm weights and
   biases): Linear/Conv weights N(0, 1/fan_in) (the packed in-projection per output row, fan_in =
   hidden), biases U(-0.2, 0.2), LayerNorm weight ±U(0.5, 1.5) (negative with p = 0.2), bias
   U(-0.3, 0.3), class token N(0, 1), position embedding N(0, 0.5²). The head is then scaled so
   the logits have standard deviation 4. The script asserts nothing was left unset.
3. Input: assets/astronaut.png, the whole 512x512 image resized with PIL bilinear to 48x48,
   RGB/255, ImageNet mean/std, NCHW float32 (input_48.npy).
4. Exports the model in eval mode twice with fixed shape (batch 1): the default exporter
   `torch.onnx.export(model, (x,), f, dynamo=True)` (opset 20 with torch 2.15, weights in a side
   file `<f>.data`) and the legacy one, `dynamo=False, opset_version=14`. Checks each file with
   onnx.checker, runs it with onnxruntime and asserts its logits agree with torch to 1e-5
   relative (max |diff| / max |logit|). manifest.json lists every file's operators; what each
   exporter writes for the attention is summarised under `attention_spelling`.
5. LXT 2.1 input relevance (`lxt_relevance`) for the predicted class: the output gradient is
   one-hot at that logit (relevance = the logit), and the input relevance is `x ⊙ ∂/∂x` of the
   patched model, in float64 on the float32 weights (model.double()) and stored as float32.
   The patched model's forward is asserted equal to the unpatched one. LXT's rules are applied
   with LXT's own functions (`lxt.efficient.patches`, `lxt.efficient.rules`), bound to each
   module instance (LXT's `monkey_patch` patches classes globally; per instance is the same
   code and leaves the exported models alone):
   - every configuration: `nn.GELU` -> `patches.non_linear_forward` (identity rule, backward
     multiplied by GELU(x)/(x + 1e-10)); `nn.LayerNorm` -> `patches.layer_norm_forward`
     (standard deviation held constant: AttnLRP's LayerNorm rule); Linear and Conv layers keep
     the plain gradient (LRP-0, i.e. the ε rule with ε -> 0, LXT's default without
     `monkey_patch_zennit`); residual additions and the position-embedding addition keep the
     gradient (in the gradient×input frame: relevance split in proportion to the summands, the
     constant's share absorbed like a bias); the class token is a parameter, so its relevance is
     not part of the input relevance;
   - `attnlrp`: the attention function gets LXT's `wrap_attention_forward` treatment
     (`rules.divide_gradient` by 4 on q and k, by 2 on v, after the projections and the head
     split), and the softmax is differentiated as is. LXT 2.1 ships this only for Hugging Face
     attention functions, so for torchvision's `nn.MultiheadAttention` and timm's `Attention`
     it is written out below (`attnlrp_mha_forward`, `attnlrp_timm_forward`): the same
     projections and `F.scaled_dot_product_attention`, with those divisions in between;
   - `cp_lrp`: torchvision's MultiheadAttention gets LXT's own
     `patches.cp_multi_head_attention_forward` (query and key inputs detached, so the attention
     weights are constants and relevance reaches the input through v only; the map of
     `lxt/efficient/models/vit_torch.py`); timm's Attention the same, q and k detached after
     the qkv projection (`cp_timm_forward`), as LXT's `cp_wrap_attention_forward` does for
     Hugging Face attention.
   The float32 run of the same patched model is compared with the float64 one and its error
   (max |R32 - R64| / max |R64|) written to the manifest: the floor a float32 implementation
   can be expected to reach.

Files written to tests/data/vit/ (see its README.md and manifest.json):
- input_48.npy: the network input (1, 3, 48, 48) float32.
- <model>_dynamo.onnx (+ <model>_dynamo.onnx.data), <model>_legacy.onnx.
- <model>_dynamo_logits.npy, <model>_legacy_logits.npy: onnxruntime logits (1, 10).
- <model>_attnlrp.npy, <model>_cp_lrp.npy: LXT input relevance (1, 3, 48, 48).
- manifest.json, README.md (written by this script).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import io
import json
import math
import sys
import types
import warnings
import zlib
from importlib.metadata import version
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import timm
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

from lxt.efficient import patches as lxt_patches
from lxt.efficient.rules import divide_gradient, stop_gradient

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "vit"
IMAGE = ROOT / "assets" / "astronaut.png"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SEED = 18
NUM_CLASSES = 10
IMAGE_SIZE = 48
PATCH = 8
DEPTH = 2
HIDDEN = 48
MLP = 192
LOGIT_STD = 4.0
FORWARD_RTOL = 1e-5
LEGACY_OPSET = 14
EXPORTERS = ("dynamo", "legacy")
CONFIGS = ("attnlrp", "cp_lrp")


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def build_vit_b_16():
    text = (f"torchvision.models.vision_transformer.VisionTransformer(image_size={IMAGE_SIZE}, "
            f"patch_size={PATCH}, num_layers={DEPTH}, num_heads=4, hidden_dim={HIDDEN}, "
            f"mlp_dim={MLP}, num_classes={NUM_CLASSES})")
    model = VisionTransformer(image_size=IMAGE_SIZE, patch_size=PATCH, num_layers=DEPTH,
                              num_heads=4, hidden_dim=HIDDEN, mlp_dim=MLP,
                              num_classes=NUM_CLASSES)
    return model, text


def build_deit_tiny():
    kwargs = dict(pretrained=False, img_size=IMAGE_SIZE, patch_size=PATCH, depth=DEPTH,
                  embed_dim=HIDDEN, num_heads=3, mlp_ratio=MLP / HIDDEN,
                  num_classes=NUM_CLASSES)
    text = "timm.create_model('deit_tiny_patch16_224', " + ", ".join(
        f"{k}={v!r}" for k, v in kwargs.items()) + ")"
    return timm.create_model("deit_tiny_patch16_224", **kwargs), text


MODELS = {
    "vit_b_16": {"build": build_vit_b_16, "head": lambda m: m.heads.head},
    "deit_tiny": {"build": build_deit_tiny, "head": lambda m: m.head},
}


def model_seed(name):
    return SEED * 1000003 + zlib.crc32(name.encode())


def _u(g, shape, lo, hi):
    return torch.rand(shape, generator=g, dtype=torch.float32) * (hi - lo) + lo


def _sign(g, shape, p_neg):
    return torch.where(torch.rand(shape, generator=g) < p_neg, -1.0, 1.0)


@torch.no_grad()
def randomise(model, g):
    """Every parameter random; asserts none is left at its library's initialisation."""
    done = set()
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(fan_in))
            done.add(id(m.weight))
            if m.bias is not None:
                m.bias.copy_(_u(g, m.bias.shape, -0.2, 0.2))
                done.add(id(m.bias))
        elif isinstance(m, nn.LayerNorm):
            c = m.weight.shape
            m.weight.copy_(_u(g, c, 0.5, 1.5) * _sign(g, c, 0.2))
            m.bias.copy_(_u(g, c, -0.3, 0.3))
            done.update((id(m.weight), id(m.bias)))
        elif isinstance(m, nn.MultiheadAttention):
            w = m.in_proj_weight
            w.copy_(torch.randn(w.shape, generator=g) / math.sqrt(w.shape[1]))
            m.in_proj_bias.copy_(_u(g, m.in_proj_bias.shape, -0.2, 0.2))
            done.update((id(w), id(m.in_proj_bias)))
    for name, p in model.named_parameters():
        if name.endswith(("class_token", "cls_token")):
            p.copy_(torch.randn(p.shape, generator=g))
            done.add(id(p))
        elif name.endswith(("pos_embedding", "pos_embed")):
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            done.add(id(p))
    missed = [n for n, p in model.named_parameters() if id(p) not in done]
    assert not missed, f"parameters not randomised: {missed}"


@torch.no_grad()
def calibrate_head(head, model, x):
    s = LOGIT_STD / float(model(x).std())
    head.weight.mul_(s)
    head.bias.mul_(s)


def make_model(name, x):
    spec = MODELS[name]
    torch.manual_seed(model_seed(name))
    model, text = spec["build"]()
    model.eval()
    randomise(model, torch.Generator().manual_seed(model_seed(name)))
    calibrate_head(spec["head"](model), model, x)
    return model, text


# ---------------------------------------------------------------------------------------------
# LXT 2.1 configurations (see the module documentation)
# ---------------------------------------------------------------------------------------------


def _heads(t, b, n, h):
    return t.reshape(b, n, h, -1).transpose(1, 2)


def attnlrp_mha_forward(self, query, key, value, need_weights=False, **kwargs):
    """nn.MultiheadAttention (self-attention, batch_first, no mask) with LXT's AttnLRP attention
    wrapper: q, k, v projected and split into heads, gradient divided by 4, 4, 2."""
    assert query is key is value and self.batch_first and self._qkv_same_embed_dim
    assert not need_weights and not kwargs.get("attn_mask") and self.dropout == 0.0
    b, n, _ = query.shape
    q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (_heads(t, b, n, self.num_heads) for t in (q, k, v))
    q, k, v = divide_gradient(q, 4), divide_gradient(k, 4), divide_gradient(v, 2)
    o = F.scaled_dot_product_attention(q, k, v)
    o = o.transpose(1, 2).reshape(b, n, -1)
    return self.out_proj(o), None


def _timm_attention(self, x, rule):
    b, n, c = x.shape
    assert self.gate is None and isinstance(self.q_norm, nn.Identity)
    qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = rule(*qkv.unbind(0))
    o = F.scaled_dot_product_attention(q, k, v)
    o = self.norm(o.transpose(1, 2).reshape(b, n, self.attn_dim))
    return self.proj(o)


def attnlrp_timm_forward(self, x, attn_mask=None, is_causal=False):
    """timm's Attention with LXT's AttnLRP attention wrapper (q, k / 4, v / 2)."""
    assert attn_mask is None and not is_causal
    return _timm_attention(self, x, lambda q, k, v: (
        divide_gradient(q, 4), divide_gradient(k, 4), divide_gradient(v, 2)))


def cp_timm_forward(self, x, attn_mask=None, is_causal=False):
    """timm's Attention with LXT's CP-LRP attention wrapper (q and k detached)."""
    assert attn_mask is None and not is_causal
    return _timm_attention(self, x, lambda q, k, v: (stop_gradient(q), stop_gradient(k), v))


def lxt_patched(model, config):
    """A copy of `model` with LXT's rules bound to each module (see the module docs)."""
    m = copy.deepcopy(model)
    counts = collections.Counter()
    for mod in m.modules():
        if isinstance(mod, nn.GELU):
            mod.original_forward = mod.forward
            mod.forward = types.MethodType(lxt_patches.non_linear_forward, mod)
            counts["GELU identity rule"] += 1
        elif isinstance(mod, nn.LayerNorm):
            mod.forward = types.MethodType(lxt_patches.layer_norm_forward, mod)
            counts["LayerNorm std constant"] += 1
        elif isinstance(mod, nn.MultiheadAttention):
            if config == "attnlrp":
                mod.forward = types.MethodType(attnlrp_mha_forward, mod)
            else:
                mod.original_forward = mod.forward
                mod.forward = types.MethodType(lxt_patches.cp_multi_head_attention_forward, mod)
            counts[f"MultiheadAttention {config}"] += 1
        elif isinstance(mod, timm.layers.Attention):
            fwd = attnlrp_timm_forward if config == "attnlrp" else cp_timm_forward
            mod.forward = types.MethodType(fwd, mod)
            counts[f"timm Attention {config}"] += 1
        elif isinstance(mod, nn.Dropout):
            assert mod.p == 0.0 or not mod.training
    return m, dict(counts)


def lxt_relevance(model, x, config, dtype):
    """(input relevance x ⊙ grad for the argmax class, logits) of the LXT-patched model."""
    m, counts = lxt_patched(model, config)
    m = m.to(dtype)
    xt = torch.from_numpy(x).to(dtype).requires_grad_(True)
    with torch.no_grad():
        want = model.to(dtype)(xt)
    model.float()
    out = m(xt)
    err = float((out.detach() - want).abs().max() / want.abs().max())
    assert err <= 1e-12 if dtype == torch.float64 else err <= 1e-5, (config, err)
    target = int(out.argmax())
    out[0, target].backward()
    rel = (xt * xt.grad).detach().numpy()
    return rel, float(out[0, target]), target, counts


# ---------------------------------------------------------------------------------------------
# Input, export, onnxruntime
# ---------------------------------------------------------------------------------------------


def load_input(size=IMAGE_SIZE):
    img = Image.open(IMAGE).convert("RGB").resize((size, size), Image.BILINEAR)
    a = np.asarray(img, dtype=np.float32) / np.float32(255.0)
    a = (a - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None]).astype(np.float32)


def export(model, x, path, exporter):
    for p in (path, Path(str(path) + ".data")):
        if p.exists():
            p.unlink()
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            torch.onnx.export(model, (torch.from_numpy(x),), str(path), dynamo=True)
        else:
            torch.onnx.export(model, (torch.from_numpy(x),), str(path), dynamo=False,
                              opset_version=LEGACY_OPSET)


def op_histogram(m):
    ops = collections.Counter()
    for n in m.graph.node:
        key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
        ops[key] += 1
    return dict(sorted(ops.items()))


def attention_spelling(m):
    """How the file spells one attention: the op types from the first Softmax's inputs back to
    the nearest MatMul, and forward to the next MatMul (what the exporter wrote for
    scaled_dot_product_attention / MultiheadAttention)."""
    producer = {o: n for n in m.graph.node for o in n.output}
    consumers = collections.defaultdict(list)
    for n in m.graph.node:
        for i in n.input:
            consumers[i].append(n)
    soft = next(n for n in m.graph.node if n.op_type == "Softmax")
    back, n = [], soft
    while n.op_type != "MatMul" or n is soft:
        n = producer[n.input[0]]
        back.append(n.op_type)
        if n.op_type == "MatMul":
            break
    fwd, n = [], soft
    while True:
        n = consumers[n.output[0]][0]
        fwd.append(n.op_type)
        if n.op_type == "MatMul":
            break
    # Inputs of the score MatMul: what q and k went through since the last MatMul/Add.
    score = producer[soft.input[0]]
    while score.op_type != "MatMul":
        score = producer[score.input[0]]
    paths = []
    for inp in score.input:
        path, p = [], producer.get(inp)
        while p is not None and p.op_type not in ("MatMul", "Add", "Gemm", "LayerNormalization"):
            path.append(p.op_type)
            p = producer.get(p.input[0])
        paths.append(" <- ".join(path) if path else "(direct)")
    return {
        "softmax_axis": next((a.i for a in soft.attribute if a.name == "axis"), None),
        "score_matmul_operands": paths,
        "between_score_matmul_and_softmax": list(reversed(back[:-1])),
        "softmax_to_context_matmul": fwd,
    }


def check_export(path, x, want):
    onnx.checker.check_model(str(path), full_check=True)
    m = onnx.load(str(path), load_external_data=False)
    assert not m.functions, f"{path.name}: has local functions {[f.name for f in m.functions]}"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    (out,) = sess.get_outputs()
    got = sess.run(None, {inp.name: x})[0]
    err = float(np.abs(got - want).max() / np.abs(want).max())
    assert err <= FORWARD_RTOL, f"{path.name}: onnxruntime vs torch {err:.3g}"
    data = Path(str(path) + ".data")
    info = {
        "file": path.name,
        "external_data_file": data.name if data.exists() else None,
        "bytes": path.stat().st_size + (data.stat().st_size if data.exists() else 0),
        "opset": {o.domain or "ai.onnx": o.version for o in m.opset_import},
        "input_name": inp.name,
        "output_name": out.name,
        "nodes": len(m.graph.node),
        "ops": op_histogram(m),
        "attention_spelling": attention_spelling(m),
        "ort_max_rel_err": err,
    }
    return info, got


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def versions():
    return {
        "python": sys.version.split()[0],
        **{p: version(p) for p in ("torch", "torchvision", "timm", "lxt", "transformers", "onnx",
                                   "onnxruntime", "onnxscript", "numpy", "Pillow")},
    }


def save_npy(path, a):
    np.save(path, np.ascontiguousarray(a, dtype=np.float32))


def generate():
    OUT.mkdir(parents=True, exist_ok=True)
    x = load_input()
    save_npy(OUT / "input_48.npy", x)
    manifest = {
        "generator": "tests/vit/generate.py",
        "versions": versions(),
        "seed": SEED,
        "input": {
            "file": "input_48.npy",
            "shape": list(x.shape),
            "image": "assets/astronaut.png",
            "resize": f"whole image, PIL bilinear to {IMAGE_SIZE}x{IMAGE_SIZE}",
            "normalisation": f"(RGB/255 - {list(MEAN)}) / {list(STD)}, NCHW float32",
        },
        "conventions": {
            "forward_tolerance": "onnxruntime vs torch max|diff| / max|logit| <= 1e-5",
            "relevance": "LXT 2.1 gradient x input at the pixels, output gradient one-hot at "
                         "the argmax logit, float64 on the float32 weights, stored float32",
            "linear_layers": "plain gradient (LRP-0 = epsilon rule with epsilon -> 0)",
            "attnlrp": "GELU identity rule, LayerNorm std held constant, attention q and k "
                       "gradient / 4, v / 2 (uniform rule on q.k^T and softmax.v), softmax "
                       "differentiated",
            "cp_lrp": "GELU identity rule, LayerNorm std held constant, q and k detached "
                      "(attention weights constant)",
        },
        "models": {},
    }
    for name in MODELS:
        model, text = make_model(name, torch.from_numpy(x))
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
            want64 = copy.deepcopy(model).double()(torch.from_numpy(x).double()).numpy()
        entry = {
            "constructor": text,
            "parameters": sum(p.numel() for p in model.parameters()),
            "float32_vs_float64_logits_rel_err":
                float(np.abs(want - want64).max() / np.abs(want64).max()),
            "exports": {},
            "lxt": {},
        }
        for exporter in EXPORTERS:
            path = OUT / f"{name}_{exporter}.onnx"
            export(model, x, path, exporter)
            info, got = check_export(path, x, want)
            info["logits_file"] = f"{name}_{exporter}_logits.npy"
            save_npy(OUT / info["logits_file"], got)
            entry["exports"][exporter] = info
            print(f"{name} {exporter}: {info['nodes']} nodes, ort err {info['ort_max_rel_err']:.1e},"
                  f" {info['attention_spelling']}", flush=True)
        for config in CONFIGS:
            r64, logit, target, counts = lxt_relevance(model, x, config, torch.float64)
            r32, _, target32, _ = lxt_relevance(model, x, config, torch.float32)
            assert target32 == target
            scale = float(np.abs(r64).max())
            f32 = float(np.abs(r32 - r64).max() / scale)
            file = f"{name}_{config}.npy"
            save_npy(OUT / file, r64)
            entry["lxt"][config] = {
                "file": file,
                "target": target,
                "logit": logit,
                "relevance_sum": float(r64.sum()),
                "relevance_abs_max": scale,
                "lxt_float32_vs_float64_rel_err": f32,
                "patched_modules": counts,
            }
            print(f"{name} {config}: target {target}, logit {logit:.4f}, sum R {r64.sum():.4f}, "
                  f"LXT f32 vs f64 {f32:.1e}", flush=True)
        manifest["models"][name] = entry
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (OUT / "README.md").write_text(readme(manifest))


def readme(manifest):
    lines = [
        "# Vision transformer test models (issue 18)",
        "",
        "Written by `tests/vit/generate.py` (see its docstring for every choice); do not edit.",
        "Two reduced vision transformers with seeded random weights, each exported by both torch",
        "exporters, with onnxruntime logits and LXT 2.1 input relevance (AttnLRP and CP-LRP) on the",
        "same weights. Versions: " + ", ".join(f"{k} {v}" for k, v in manifest["versions"].items()),
        "",
        "| model | constructor | exporter | opset | nodes | bytes | ORT vs torch |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in manifest["models"].items():
        for exporter, info in e["exports"].items():
            lines.append(f"| {name} | `{e['constructor']}` | {exporter} | "
                         f"{info['opset']['ai.onnx']} | {info['nodes']} | {info['bytes']} | "
                         f"{info['ort_max_rel_err']:.1e} |")
    lines += ["", "| model | LXT configuration | file | target | logit | ΣR | LXT f32 vs f64 |",
              "|---|---|---|---|---|---|---|"]
    for name, e in manifest["models"].items():
        for config, r in e["lxt"].items():
            lines.append(f"| {name} | {config} | {r['file']} | {r['target']} | {r['logit']:.4f} | "
                         f"{r['relevance_sum']:.4f} | {r['lxt_float32_vs_float64_rel_err']:.1e} |")
    lines += ["", "What each exporter writes for the attention (from the first Softmax):", ""]
    for name, e in manifest["models"].items():
        for exporter, info in e["exports"].items():
            lines.append(f"- {name} {exporter}: `{json.dumps(info['attention_spelling'])}`")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Full-size models for the benches (`--full`)
# ---------------------------------------------------------------------------------------------

FULL = {
    "vit_b_16": {
        "build": lambda: torchvision.models.vit_b_16(weights=None),
        "text": "torchvision.models.vit_b_16(weights=None)",
        "head": lambda m: m.heads.head,
    },
    "deit_tiny": {
        "build": lambda: timm.create_model("deit_tiny_patch16_224", pretrained=False),
        "text": "timm.create_model('deit_tiny_patch16_224', pretrained=False)",
        "head": lambda m: m.head,
    },
}
FULL_SIZE = 224


def build_full(name, x=None):
    """Full-size model `name` of FULL, randomised and calibrated (the same weights on every
    call): (model in eval mode, constructor text)."""
    spec = FULL[name]
    if x is None:
        x = torch.from_numpy(load_input(FULL_SIZE))
    torch.manual_seed(model_seed(f"{name}_full"))
    model = spec["build"]()
    model.eval()
    randomise(model, torch.Generator().manual_seed(model_seed(f"{name}_full")))
    calibrate_head(spec["head"](model), model, x)
    return model, spec["text"]


def generate_full(outdir, only=None):
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    x = load_input(FULL_SIZE)
    for name in FULL:
        if only and name not in only:
            continue
        model, text = build_full(name, torch.from_numpy(x))
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        path = outdir / f"{name}_full.onnx"
        export(model, x, path, "dynamo")
        info, got = check_export(path, x, want)
        save_npy(outdir / f"{name}_full_input.npy", x)
        save_npy(outdir / f"{name}_full_logits.npy", got)
        torch.save(model.state_dict(), outdir / f"{name}_full.pt")
        n = sum(p.numel() for p in model.parameters())
        print(f"{name}: {text}, {n} parameters, opset {info['opset']['ai.onnx']}, "
              f"{info['bytes'] / 1e6:.1f} MB, {info['nodes']} nodes, "
              f"onnxruntime vs torch {info['ort_max_rel_err']:.1e}", flush=True)


def main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", nargs="?", const=str(ROOT / "target" / "vit-full"), metavar="DIR",
                    help="export the full-size bench models to DIR (default target/vit-full)")
    ap.add_argument("--only", nargs="*", help="with --full: only these models")
    args = ap.parse_args()
    if args.full:
        generate_full(args.full, args.only)
    else:
        generate()


if __name__ == "__main__":
    main()
