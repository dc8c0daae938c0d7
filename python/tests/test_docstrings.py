"""Runs the examples in the module's docstrings (``>>>`` lines), so that they stay true.

The Python package's functions (``lrp/__init__.py``, ``lrp/compare.py``, ``lrp/metrics.py``) and the native
classes (``lrp.Model``, ``lrp.Explainer``, ``lrp.Attribution``, ``lrp.Explanation`` and their methods, whose
docstrings come from ``python/src/lib.rs``) are searched. Examples that continue from an
earlier one (``ex``, ``x``, ``e``, ``face``, ``a``) get those names from one namespace made here: the
shipped gender model under ``epsilon-plus-flat`` and the astronaut's face crop, as the module
docstring builds them. The examples run from the repository root, where their ``assets/`` paths
point.
"""

from __future__ import annotations

import doctest
import os

import numpy as np
import pytest

import lrp
import lrp.compare
import lrp.metrics
from conftest import REPO


def namespace() -> dict:
    model = lrp.shipped("gender-v1")
    ex = lrp.Explainer(model, preset="epsilon-plus-flat")
    x = lrp.preprocess(str(REPO / "assets/astronaut.png"), model, face_box=(150, 30, 260, 150))
    return {
        "lrp": lrp,
        "np": np,
        "compare": lrp.compare,
        "metrics": lrp.metrics,
        "model": model,
        "ex": ex,
        "x": x,
        "e": ex.explain(x),
        "face": np.full((64, 64, 3), 128, np.uint8),
        # From lrp.compare's module docstring, which its functions' examples continue.
        "a": np.arange(16, dtype=np.float32).reshape(4, 4),
    }


def examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    seen = []
    for obj, name in [
        (lrp, "lrp"),
        (lrp.compare, "lrp.compare"),
        (lrp.metrics, "lrp.metrics"),
        (lrp.Model, "lrp.Model"),
        (lrp.Explainer, "lrp.Explainer"),
        (lrp.Attribution, "lrp.Attribution"),
        (lrp.Explanation, "lrp.Explanation"),
    ]:
        for test in finder.find(obj, name, module=False):
            if test.examples and test.name not in {t.name for t in seen}:
                seen.append(test)
    return seen


EXAMPLES = examples()


def test_every_documented_object_has_examples_found():
    # The finder must see the native classes' docstrings and the package's functions; a
    # change that hid them (e.g. a missing __doc__) would make the test below vacuous.
    names = {t.name for t in EXAMPLES}
    expected = {"lrp", "lrp.Model", "lrp.Model.info", "lrp.Explainer", "lrp.Explainer.forward",
                "lrp.Explainer.explain", "lrp.Attribution", "lrp.Attribution.explain",
                "lrp.Explanation", "lrp.load", "lrp.shipped",
                "lrp.preprocess", "lrp.heatmap", "lrp.overlay", "lrp.figure",
                "lrp.compare.similarity", "lrp.compare.pixel_flipping", "lrp.metrics",
                "lrp.metrics.pixel_flipping"}
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize("test", EXAMPLES, ids=[t.name for t in EXAMPLES])
def test_docstring_examples(test, monkeypatch):
    monkeypatch.chdir(REPO)
    test.globs = {**namespace(), **test.globs}
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = []
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)
