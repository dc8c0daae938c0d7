"""dtype and layout handling: float32 (uint8 for images) in C order, refused otherwise with
a TypeError or ValueError that says how to convert; outputs are fresh, writable C arrays."""

from __future__ import annotations

import numpy as np
import pytest

import lrp
from conftest import reference


@pytest.fixture(scope="module")
def ex():
    return lrp.Explainer(lrp.shipped("gender-v1"))


def test_wrong_dtype_is_type_error(ex):
    x = np.zeros((1, 3, 32, 32), np.float64)
    with pytest.raises(TypeError, match=r"expected dtype float32, got float64.*astype"):
        ex.explain(x)
    with pytest.raises(TypeError, match="numpy array"):
        ex.explain([[[[0.0] * 32] * 32] * 3])
    with pytest.raises(TypeError, match="uint8"):
        lrp.overlay(np.zeros((8, 8, 3), np.float32), np.ones((8, 8), np.float32))


def test_non_contiguous_is_value_error(ex):
    x = np.zeros((1, 32, 32, 3), np.float32).transpose(0, 3, 1, 2)
    with pytest.raises(ValueError, match="C-contiguous.*ascontiguousarray"):
        ex.explain(x)
    x = np.zeros((1, 3, 32, 64), np.float32)[..., ::2]
    with pytest.raises(ValueError, match="C-contiguous"):
        ex.forward(x)


def test_wrong_rank_is_value_error(ex):
    with pytest.raises(ValueError, match="expected 4 dimensions"):
        ex.explain(np.zeros((3, 32, 32), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        lrp.overlay(np.zeros((8, 8), np.uint8), np.ones((8, 8), np.float32))


def test_input_is_not_modified_and_outputs_are_writable(ex):
    x = reference("astronaut_gender_input.npy")
    before = x.copy()
    e = ex.explain(x, target="all")
    assert np.array_equal(x, before)
    for a in (e.relevance, e.logits):
        assert a.flags.c_contiguous and a.flags.writeable and a.dtype == np.float32
    assert e.relevance.shape == (1, 2, 3, 32, 32)
    assert e.targets == [[0, 1]]
    e.relevance[...] = 0  # the array is the caller's


def test_target_shapes(ex):
    x = np.concatenate([reference("astronaut_gender_input.npy")] * 2)
    assert ex.explain(x).relevance.shape == (2, 3, 32, 32)
    assert ex.explain(x, target=1).relevance.shape == (2, 3, 32, 32)
    e = ex.explain(x, target=[1, 0])
    assert e.relevance.shape == (2, 2, 3, 32, 32)
    assert e.targets == [[1, 0], [1, 0]]
    # A list of classes explains each: the same maps as one class at a time.
    assert np.array_equal(e.relevance[:, 0], ex.explain(x, target=1).relevance)
