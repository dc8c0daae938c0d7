"""Explanation quality metrics (``lrp::evaluate`` of the Rust library, Quantus 0.6's
definitions and defaults, checked against Quantus in the tests), on numpy arrays.

Attributions are float32 arrays of any shape: a heatmap ``(H, W)`` or the full ``(C, H, W)``
attribution. ``abs`` and ``normalise`` are Quantus's preprocessing (first divide by
max |a|, then take absolute values); each function has Quantus's default.

>>> from lrp import metrics
>>> a = np.zeros((4, 4), np.float32); a[1, 2] = 1.0
>>> metrics.sparseness(a) > 0.9, metrics.pointing_game(a, a > 0)
(True, 1.0)
"""

from __future__ import annotations

from . import _lrp

__all__ = [
    "sparseness", "complexity", "relevance_mass_accuracy", "relevance_rank_accuracy",
    "pointing_game", "pixel_flipping", "srg", "random_subsets", "faithfulness_correlation",
]


def sparseness(a, abs: bool = True, normalise: bool = True) -> float:
    """Gini index of the attribution (Chalasani et al. 2020; Quantus ``Sparseness``): 1 when
    one value holds everything, 0 when all are equal.

    >>> round(metrics.sparseness(np.ones((4, 4), np.float32)), 5)
    0.0
    """
    return _lrp.metrics_sparseness(a, abs, normalise)


def complexity(a, abs: bool = True, normalise: bool = True) -> float:
    """Entropy of the attribution's fractional contributions (Bhatt et al. 2020; Quantus
    ``Complexity``): log(n) when all are equal, lower when concentrated.

    >>> round(metrics.complexity(np.ones((4, 4), np.float32)), 4) == round(float(np.log(16)), 4)
    True
    """
    return _lrp.metrics_complexity(a, abs, normalise)


def relevance_mass_accuracy(a, mask, abs: bool = False, normalise: bool = True) -> float:
    """Share of the attribution inside ``mask`` (a bool or 0/1 uint8 array of the
    attribution's shape; Arras et al. 2022, Quantus ``RelevanceMassAccuracy``).

    >>> metrics.relevance_mass_accuracy(np.array([3, 1], np.float32), np.array([True, False]))
    0.75
    """
    return _lrp.metrics_relevance_mass_accuracy(a, mask, abs, normalise)


def relevance_rank_accuracy(a, mask, abs: bool = False, normalise: bool = True) -> float:
    """Share of the mask's K pixels among the K most relevant (Arras et al. 2022, Quantus
    ``RelevanceRankAccuracy``)."""
    return _lrp.metrics_relevance_rank_accuracy(a, mask, abs, normalise)


def pointing_game(a, mask, weighted: bool = False, abs: bool = False,
                  normalise: bool = True) -> float:
    """1 if the most relevant value lies inside ``mask``, else 0 (Zhang et al. 2018, Quantus
    ``PointingGame``); ``weighted``: the share of the maximal values inside."""
    return _lrp.metrics_pointing_game(a, mask, weighted, abs, normalise)


def pixel_flipping(model, x, a, target: int, order: str = "morf", features_in_step=None,
                   fill="black", score: str = "probability", abs: bool = False,
                   normalise: bool = True, batch: int = 32) -> dict:
    """The flip curve (Bach et al. 2015; Quantus ``PixelFlipping``): input values of one
    image ``x`` (``(C, H, W)`` or ``(1, C, H, W)``) set to ``fill`` (``"black"``: the
    input's smallest value, ``"white"``, or a number) in the order of the attribution
    (``"morf"``: most relevant first, ``"lerf"``: least), ``features_in_step`` at a time
    (default: 32 steps), recording the ``target``'s ``score`` (``"probability"`` or
    ``"logit"``). A ``(H, W)`` heatmap ranks all channels of a pixel alike.

    Returns ``{"unperturbed", "fractions", "scores", "auc", "area"}``: ``auc`` is Quantus's
    (trapezoid over the steps), ``area`` the area over the removed fraction from the
    unperturbed score, as :func:`srg` takes it.

    >>> curve = metrics.pixel_flipping(model, x, e.relevance[0], target=0, features_in_step=96)
    >>> len(curve["scores"]), float(curve["fractions"][-1])
    (32, 1.0)
    """
    return _lrp.metrics_pixel_flipping(model, x, a, target, order, features_in_step, fill,
                                       score, abs, normalise, batch)


def srg(morf: dict, lerf: dict) -> float:
    """Symmetric Relevance Gain (Blücher et al. 2024): ``lerf["area"] − morf["area"]`` of two
    :func:`pixel_flipping` curves of the same attribution; higher is more faithful."""
    return _lrp.metrics_srg(morf, lerf)


def random_subsets(features: int, size: int, runs: int = 100, seed: int = 0):
    """``runs`` seeded random subsets of ``size`` distinct feature indices out of
    ``features`` (int64 ``(runs, size)``): the draws :func:`faithfulness_correlation` makes,
    to hand to another implementation.

    >>> metrics.random_subsets(10, 3, runs=4, seed=7).shape
    (4, 3)
    """
    return _lrp.metrics_random_subsets(features, size, runs, seed)


def faithfulness_correlation(model, x, a, target: int, subsets=None, subset_size: int = 224,
                             runs: int = 100, seed: int = 0, fill="black",
                             score: str = "logit", abs: bool = False, normalise: bool = True,
                             batch: int = 32) -> float:
    """Pearson correlation, over random feature subsets, between the attribution's sum over
    the subset and the ``target`` score's drop when the subset is set to ``fill`` (Bhatt et
    al. 2020; Quantus ``FaithfulnessCorrelation``). ``subsets``: feature indices
    (``(runs, size)``, e.g. another implementation's draws); without it, :func:`random_subsets`
    of ``subset_size`` features, ``runs`` times, seeded by ``seed``."""
    if subsets is None:
        import numpy as np

        features = int(np.prod(np.shape(x)[-3:]))
        subsets = random_subsets(features, subset_size, runs, seed)
    return _lrp.metrics_faithfulness_correlation(model, x, a, target, subsets, fill, score, abs,
                                                 normalise, batch)
