"""lrp.metrics against Quantus 0.6: the scores of tests/data/evaluate (made by
tests/evaluate/generate.py: Quantus on Captum's input × gradient of the shipped models, the
face rectangle as mask, Quantus's own faithfulness subsets recorded), with the tolerance of
tests/evaluate.rs: 1e-5, absolute for scores of order 1 and relative above."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lrp
from lrp import metrics
from conftest import REPO

DATA = REPO / "tests" / "data"
QUANTUS = json.loads((DATA / "evaluate" / "manifest.json").read_text())["models"]
MODELS = {"gender": "gender-v1", "age": "age-v1"}


def npy(name: str) -> np.ndarray:
    return np.load(DATA / "evaluate" / f"{name}.npy")


def close(got: float, want: float, tol: float = 1e-5):
    assert abs(got - want) / max(abs(want), 1.0) <= tol, (got, want)


@pytest.mark.parametrize("name", ["gender", "age"])
def test_attribution_metrics_match_quantus(name):
    r = QUANTUS[name]
    heat, mask = npy(f"{name}_heatmap"), npy(f"{name}_mask")
    close(metrics.sparseness(heat), r["sparseness"])
    close(metrics.complexity(heat), r["complexity"])
    close(metrics.relevance_mass_accuracy(heat, mask), r["relevance_mass_accuracy"])
    close(metrics.relevance_rank_accuracy(heat, mask.astype(bool)), r["relevance_rank_accuracy"])
    assert metrics.pointing_game(heat, mask) == r["pointing_game"]


@pytest.mark.parametrize("name", ["gender", "age"])
def test_model_metrics_match_quantus(name):
    r = QUANTUS[name]
    model = lrp.shipped(MODELS[name])
    x = np.load(DATA / "attribution" / f"{name}_input.npy")
    a = npy(f"{name}_attribution")
    pf = r["pixel_flipping"]
    morf = metrics.pixel_flipping(model, x, a, r["target"], "morf", pf["features_in_step"])
    lerf = metrics.pixel_flipping(model, x, a, r["target"], "lerf", pf["features_in_step"])
    for curve, key in [(morf, "morf"), (lerf, "lerf")]:
        assert len(curve["scores"]) == len(pf[key])
        for got, want in zip(curve["scores"], pf[key]):
            close(float(got), want)
    close(morf["unperturbed"], pf["unperturbed"])
    close(morf["auc"], pf["morf_auc"])
    close(metrics.srg(morf, lerf), pf["srg"])
    # Faithfulness correlation on the heatmap with the subsets Quantus drew.
    subsets = npy(f"{name}_fc_subsets").astype(np.int64)
    fc = metrics.faithfulness_correlation(model, x[0], npy(f"{name}_heatmap"), r["target"],
                                          subsets=subsets)
    close(fc, r["faithfulness_correlation"])


def test_own_subsets_and_errors():
    model = lrp.shipped("gender-v1")
    x = np.load(DATA / "attribution" / "gender_input.npy")
    heat = npy("gender_heatmap")
    s = metrics.random_subsets(3 * 32 * 32, 224, runs=100, seed=5)
    assert s.shape == (100, 224) and s.dtype == np.int64
    assert all(len(set(row)) == 224 for row in s.tolist())
    # Without subsets the function draws these same ones.
    assert metrics.faithfulness_correlation(model, x, heat, 0, seed=5) == \
        metrics.faithfulness_correlation(model, x, heat, 0, subsets=s)
    with pytest.raises(lrp.Error, match="an attribution of 5 values"):
        metrics.pixel_flipping(model, x, np.ones(5, np.float32), 0)
    with pytest.raises(lrp.InvalidError, match="order `up`"):
        metrics.pixel_flipping(model, x, heat, 0, order="up")
    with pytest.raises(lrp.InvalidError, match="fill `grey`"):
        metrics.pixel_flipping(model, x, heat, 0, fill="grey")
    with pytest.raises(lrp.InvalidError, match="score `prob`"):
        metrics.faithfulness_correlation(model, x, heat, 0, score="prob")
    with pytest.raises(lrp.InvalidError, match="one image"):
        metrics.pixel_flipping(model, np.concatenate([x, x]), heat, 0)
    with pytest.raises(TypeError, match="mask"):
        metrics.pointing_game(heat, heat)
    with pytest.raises(lrp.Error):
        metrics.sparseness(np.full(4, np.nan, np.float32))
    with pytest.raises(lrp.Error):
        metrics.random_subsets(10, 11)
