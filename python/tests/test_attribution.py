"""lrp.Attribution: the baseline methods against Captum 0.9 and Zennit 1.0, and bit for bit
against the command line's `--method`.

References: tests/data/attribution (made by tests/attribution/generate.py, torch autograd
through onnx2torch's translation of the shipped ONNX files; see its docstring), the same files
and tolerance as tests/attribution.rs: max |ours − theirs| ≤ 1e-4 · max |theirs| (float32 on
both sides, different summation orders).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import lrp
from conftest import ASSETS, REPO, run_cli

DATA = REPO / "tests" / "data" / "attribution"
MANIFEST = json.loads((DATA / "manifest.json").read_text())
MODELS = {"gender": "gender-v1", "age": "age-v1"}


def npy(name: str) -> np.ndarray:
    return np.load(DATA / f"{name}.npy")


def rel_err(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape
    return float(np.abs(got - want).max() / np.abs(want).max())


@pytest.mark.parametrize("name", ["gender", "age"])
def test_every_method_matches_captum_and_zennit(name):
    m = lrp.shipped(MODELS[name])
    x = npy(f"{name}_input")
    target = MANIFEST["targets"][name]
    occ = MANIFEST["occlusion"][name]
    noise = npy(f"{name}_smoothgrad_noise")
    cases = {
        "gradient": lrp.Attribution(m, "gradient"),
        "gradient_x_input": lrp.Attribution(m, "gradient-x-input"),
        "smoothgrad": lrp.Attribution(m, "smoothgrad", noise=noise, batch=3),
        "integrated_gradients": lrp.Attribution(m, "integrated-gradients", steps=16, batch=5),
        "occlusion": lrp.Attribution(m, "occlusion", window=occ["window"],
                                     stride=(occ["stride"], occ["stride"]), batch=7),
        "guided_backprop": lrp.Attribution(m, "guided-backprop"),
        "excitation_backprop": lrp.Attribution(m, "excitation-backprop"),
    }
    if name == "gender":
        cases["integrated_gradients_trapezoid"] = lrp.Attribution(
            m, "integrated-gradients", steps=10, quadrature="riemann-trapezoid", batch=4)
    for key, a in cases.items():
        e = a.explain(x, target=target)
        assert e.targets == [[target]]
        err = rel_err(e.relevance, npy(f"{name}_{key}"))
        assert err <= 1e-4, f"{name} {key}: {err:.2e} of max |attribution|"


@pytest.mark.parametrize("method,cli,py", [
    ("smoothgrad", ["--samples", "6", "--noise-sigma", "10%", "--noise-seed", "3"],
     {"samples": 6, "noise_sigma": "10%", "noise_seed": 3}),
    ("integrated-gradients", ["--steps", "7", "--quadrature", "riemann-middle", "--baseline", "0.5"],
     {"steps": 7, "quadrature": "riemann-middle", "baseline": 0.5}),
    ("occlusion", ["--window", "8,6", "--stride", "4"], {"window": (8, 6), "stride": 4}),
    ("gradient-x-input", [], {}),
])
def test_equals_the_command_line(tmp_path, method, cli, py):
    m = lrp.shipped("gender-v1")
    faces = lrp.preprocess([ASSETS / "astronaut.png", ASSETS / "grace_hopper.jpg"], m)
    path = tmp_path / "x.npy"
    np.save(path, faces)
    run_cli("explain", "--input-npy", str(path), "--model", str(ASSETS / "gender-v1.onnx"),
            "--method", method, *cli, "--target", "all", "--npy", "--out", str(tmp_path))
    rust = np.load(tmp_path / f"{m.name}_{method}_relevance.npy")
    got = lrp.Attribution(m, method, **py).explain(faces, target="all").relevance
    assert got.dtype == rust.dtype == np.float32 and got.shape == rust.shape
    assert np.array_equal(got, rust), f"max difference {np.abs(got - rust).max()}"


def test_parameters_and_errors():
    m = lrp.shipped("gender-v1")
    assert lrp.Attribution.methods() == [
        "gradient", "gradient-x-input", "smoothgrad", "integrated-gradients", "occlusion",
        "guided-backprop", "excitation-backprop"]
    a = lrp.Attribution(m, "IG")
    assert a.method == "integrated-gradients" and a.model.name == "gender-v1"
    assert "integrated-gradients" in repr(a)
    with pytest.raises(lrp.InvalidError, match="samples is a parameter of smoothgrad, not of occlusion"):
        lrp.Attribution(m, "occlusion", samples=3)
    with pytest.raises(lrp.InvalidError, match="unknown method `lrp`|LRP is lrp.Explainer"):
        lrp.Attribution(m, "lrp")
    with pytest.raises(lrp.InvalidError, match="unknown method `saliencyx`"):
        lrp.Attribution(m, "saliencyx")
    with pytest.raises(lrp.InvalidError, match="noise_sigma `-1"):
        lrp.Attribution(m, "smoothgrad", noise_sigma=-1.0)
    with pytest.raises(lrp.InvalidError, match="noise_sigma `15`"):
        lrp.Attribution(m, "smoothgrad", noise_sigma="15")
    with pytest.raises(lrp.InvalidError, match="quadrature `simpson`"):
        lrp.Attribution(m, "integrated-gradients", quadrature="simpson")
    noise = np.zeros((4, 3, 32, 32), np.float32)
    with pytest.raises(lrp.InvalidError, match="samples = 5, but noise holds 4 copies"):
        lrp.Attribution(m, "smoothgrad", noise=noise, samples=5)
    with pytest.raises(lrp.InvalidError, match="noise_sigma and noise_seed do not apply"):
        lrp.Attribution(m, "smoothgrad", noise=noise, noise_seed=1)
    with pytest.raises(TypeError, match="window: expected"):
        lrp.Attribution(m, "occlusion", window="big")
    # The library's own checks: a window larger than the input, zero steps.
    with pytest.raises(lrp.Error):
        lrp.Attribution(m, "occlusion", window=40)
    with pytest.raises(lrp.Error):
        lrp.Attribution(m, "integrated-gradients", steps=0)
    # Given noise of the wrong size, and a baseline of the wrong shape, fail when used.
    x = np.zeros((1, 3, 32, 32), np.float32)
    with pytest.raises(lrp.Error):
        lrp.Attribution(m, "smoothgrad", noise=np.zeros((2, 3, 8, 8), np.float32)).explain(x)
    with pytest.raises(lrp.Error):
        lrp.Attribution(m, "occlusion", baseline=np.zeros((3, 8, 8), np.float32)).explain(x)
