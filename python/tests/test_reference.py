"""The shipped models through the Python API against onnxruntime's logits and Zennit's
relevance: the files and tolerances of tests/onnx_models.rs and tests/zennit_reference.rs."""

from __future__ import annotations

import numpy as np
import pytest

import lrp
from conftest import ASSETS, REPO, reference

MODELS = {"gender": "gender-v1.onnx", "age": "age-v1.onnx"}


@pytest.mark.parametrize("model", ["gender", "age"])
def test_logits_match_onnxruntime(model):
    m = lrp.load(ASSETS / MODELS[model])
    x = reference(f"astronaut_{model}_input.npy")
    want = reference(f"astronaut_{model}_logits.npy")  # onnxruntime 1.32.0
    ex = lrp.Explainer(m)
    for got in (ex.forward(x), ex.explain(x).logits):
        assert got.shape == want.shape and got.dtype == np.float32
        # 1e-5 of the largest logit: the reference README's tolerance for logits.
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


# face-api's age/gender network: inputs and onnxruntime 1.32.0 outputs of
# tests/face_api_model/generate.py (tests/data/face_api_model/outputs.json), as
# tests/face_api_model.rs reads them; the same tolerances (1e-5 of the age, 2e-5 of the
# largest gender logit: float32 sums in another order).
FACE_API = REPO / "tests" / "data" / "face_api_model"


@pytest.mark.parametrize("name,output,tol", [("face-api-age", "age", 1e-5),
                                             ("face-api-gender", "gender_logits", 2e-5)])
def test_face_api_outputs_match_onnxruntime(name, output, tol):
    import json

    m = lrp.shipped(name)
    assert m.name == name and m.input_shape == [3, 112, 112]
    crops = json.loads((FACE_API / "outputs.json").read_text())["crops"]
    assert len(crops) == 4
    ex = lrp.Explainer(m)
    for crop, c in crops.items():
        # generate.py saved the inputs in Fortran order; the API takes C order.
        x = np.ascontiguousarray(np.load(FACE_API / f"{crop}_input.npy"))
        want = np.array(c[output], dtype=np.float64).reshape(1, -1)
        got = ex.forward(x)
        assert got.shape == want.shape and got.dtype == np.float32, crop
        err = np.abs(got - want).max() / np.abs(want).max()
        assert err <= tol, f"{crop}: {got} vs onnxruntime {want}: {err:.2e}"


def test_face_api_preprocessing_matches_the_reference_input():
    # face-api's preprocessing (its numpy port, bit-identical to its JavaScript) of the
    # astronaut's face box (150, 30, 110, 120) as x, y, w, h: generate.py's `astronaut_face`.
    m = lrp.shipped("face-api-gender")
    x = lrp.preprocess(ASSETS / "astronaut.png", m, face_box=(150, 30, 260, 150))
    want = np.load(FACE_API / "astronaut_face_input.npy")
    assert x.shape == want.shape and x.dtype == np.float32
    assert np.array_equal(x, want)


# (model, preset, Zennit file, tolerance as a fraction of max|R|): tests/zennit_reference.rs.
CASES = [
    ("gender", "epsilon", "epsilon", 3e-4),  # ill-conditioned in float32, see the Rust test
    ("gender", "epsilon-plus-flat", "epsilon_plus_flat", 1e-4),
    ("gender", "epsilon-alpha2-beta1-flat", "epsilon_alpha2beta1_flat", 1e-4),
    ("age", "epsilon", "epsilon", 1e-4),
    ("age", "epsilon-plus-flat", "epsilon_plus_flat", 1e-4),
    ("age", "epsilon-alpha2-beta1-flat", "epsilon_alpha2beta1_flat", 1e-4),
]


@pytest.mark.parametrize("model,preset,file,tol", CASES)
def test_relevance_matches_zennit(model, preset, file, tol):
    m = lrp.load(ASSETS / MODELS[model])
    x = reference(f"astronaut_{model}_input.npy")
    want = reference(f"astronaut_{model}_{file}_argmax.npy")  # Zennit 1.0.0, predicted class
    e = lrp.Explainer(m, preset=preset).explain(x, target="predicted")
    assert e.relevance.shape == want.shape == (1, 3) + tuple(m.input_shape[1:])
    assert e.relevance.dtype == np.float32
    worst = np.abs(e.relevance - want).max()
    assert worst <= tol * np.abs(want).max(), f"{worst / np.abs(want).max():.2e} of max|R|"


def test_preprocess_matches_the_reference_input(gender, age):
    # The reference inputs: the face box (150, 30, 260, 150) of the astronaut, resized like
    # Pillow's bilinear filter, (RGB − mean) / 256; tests/preprocess.rs requires 1e-5.
    for m, name in ((gender, "gender"), (age, "age")):
        x = lrp.preprocess(ASSETS / "astronaut.png", m, face_box=(150, 30, 260, 150))
        want = reference(f"astronaut_{name}_input.npy")
        assert x.shape == want.shape and x.dtype == np.float32
        assert np.abs(x - want).max() <= 1e-5
