"""lrp.set_precision: the refusal where the CPU lacks AVX512-BF16 (simulated with the library's
test hook, the environment variable LRP_TEST_NO_BF16=1) and bfloat16 relevance against float32
on the shipped gender model. The Rust tests (tests/precision.rs) derive the bound used here."""

from __future__ import annotations

import numpy as np
import pytest

import lrp
from conftest import ASSETS


@pytest.fixture
def f32_after():
    yield
    lrp.set_precision("f32")


def test_bf16_refused_without_the_cpu_feature(monkeypatch, f32_after):
    monkeypatch.setenv("LRP_TEST_NO_BF16", "1")
    with pytest.raises(lrp.UnsupportedError) as e:
        lrp.set_precision("bf16")
    assert str(e.value) == (
        'precision="bf16" needs a CPU with AVX512-BF16 or AMX; this one has neither'
    )
    assert lrp.precision() == "f32"


def test_unknown_precision_is_invalid():
    with pytest.raises(lrp.InvalidError, match="unknown precision `fp8`"):
        lrp.set_precision("fp8")


def test_bf16_relevance_close_to_f32(f32_after):
    try:
        lrp.set_precision("bf16")
    except lrp.UnsupportedError:
        pytest.skip("this CPU has no AVX512-BF16")
    lrp.set_precision("f32")
    model = lrp.shipped("gender-v1")
    ex = lrp.Explainer(model, preset="epsilon-plus-flat")
    x = lrp.preprocess(str(ASSETS / "astronaut.png"), model, face_box=(150, 30, 260, 150))
    r32 = ex.explain(x)
    cls = int(r32.targets[0][0])
    lrp.set_precision("bf16")
    assert lrp.precision() == "bf16"
    r16 = ex.explain(x, target=cls)
    lrp.set_precision("f32")
    a, b = r32.relevance.astype(np.float64), r16.relevance.astype(np.float64)
    # tests/precision.rs, relevance_bound: 3 routed products per linear layer, 6 layers,
    # each within 2^-7 relative: t = 3·6·2^-7; heatmaps turned by at most asin t.
    t = 3 * 6 * 2.0**-7
    assert 0 < np.abs(a - b).max() / np.abs(a).max() <= t
    corr = np.corrcoef(a.sum(axis=1).ravel(), b.sum(axis=1).ravel())[0, 1]
    assert corr >= np.sqrt(1 - t * t)
