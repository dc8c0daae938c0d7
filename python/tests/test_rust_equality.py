"""The Python results equal the Rust command-line tool's bit for bit on the shipped models:
the same library, the same build profile, the same input."""

from __future__ import annotations

import numpy as np
import pytest

import lrp
from conftest import ASSETS, reference, run_cli

PRESETS = ["epsilon-plus-flat", "epsilon-alpha2-beta1-flat", "paper"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Both portraits' faces plus the reference input, per model, as .npy files."""
    out = {}
    d = tmp_path_factory.mktemp("inputs")
    for name, file in (("gender", "gender-v1.onnx"), ("age", "age-v1.onnx")):
        m = lrp.load(ASSETS / file)
        faces = lrp.preprocess(
            [ASSETS / "astronaut.png", ASSETS / "grace_hopper.jpg"], m)
        x = np.concatenate([faces, reference(f"astronaut_{name}_input.npy")])
        path = d / f"{name}.npy"
        np.save(path, x)
        out[name] = (m, file, x, path)
    return out


@pytest.mark.parametrize("name", ["gender", "age"])
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("target", ["predicted", "all", "1"])
def test_relevance_equals_rust(batch, tmp_path, name, preset, target):
    m, file, x, path = batch[name]
    run_cli("explain", "--input-npy", str(path), "--model", str(ASSETS / file),
            "--preset", preset, "--target", target, "--npy", "--out", str(tmp_path))
    rust = np.load(tmp_path / f"{m.name}_{preset}_relevance.npy")
    py_target = int(target) if target.isdigit() else target
    got = lrp.Explainer(m, preset=preset).explain(x, target=py_target).relevance
    assert got.dtype == rust.dtype == np.float32
    assert got.shape == rust.shape
    assert np.array_equal(got, rust), f"max difference {np.abs(got - rust).max()}"


@pytest.mark.parametrize("name", ["gender", "age"])
def test_logits_equal_rust(batch, tmp_path, name):
    m, file, x, path = batch[name]
    out = tmp_path / "logits.npy"
    run_cli("forward", "--input-npy", str(path), "--model", str(ASSETS / file),
            "--npy", str(out))
    rust = np.load(out)
    ex = lrp.Explainer(m)
    assert np.array_equal(ex.forward(x), rust)
    assert np.array_equal(ex.explain(x).logits, rust)


def test_preprocess_equals_rust(batch, tmp_path):
    # `lrp explain --image` preprocesses the portrait itself; its relevance equals that of
    # lrp.preprocess's input only if the inputs are equal to the bit. The face box is given
    # on both sides (without one, `explain` would find the face with the detector).
    m, file, _, _ = batch["gender"]
    box = (150, 30, 260, 150)
    run_cli("explain", "--image", str(ASSETS / "astronaut.png"), "--model", str(ASSETS / file),
            "--face-box", ",".join(map(str, box)), "--preset", "epsilon-plus-flat", "--npy",
            "--out", str(tmp_path))
    rust = np.load(tmp_path / m.name / "epsilon-plus-flat" / "astronaut.png.npy")
    x = lrp.preprocess(ASSETS / "astronaut.png", m, face_box=box)
    got = lrp.Explainer(m).explain(x).relevance[0]
    assert np.array_equal(got, rust)
