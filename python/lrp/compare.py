"""Comparing heatmaps: similarity, averages, pixel flipping and spectral clustering
(``lrp::compare`` of the Rust library), on numpy arrays.

>>> from lrp import compare
>>> a = np.arange(16, dtype=np.float32).reshape(4, 4)
>>> round(compare.similarity(a, a, "pearson"), 6)
1.0
"""

from __future__ import annotations

from . import _lrp

__all__ = ["similarity", "resize_area", "average", "pixel_flipping", "spectral_clustering"]


def similarity(a, b, metric: str = "pearson", top: float = 0.1) -> float:
    """Similarity of two float32 maps of one shape: ``"pearson"``, ``"spearman"`` (Pearson
    of the ranks, ties averaged), ``"cosine"`` or ``"top-iou"`` (overlap of the ``top``
    fraction of most relevant pixels).

    >>> compare.similarity(a, -a, "cosine")
    -1.0
    """
    return _lrp.compare_similarity(a, b, metric, top)


def resize_area(map, h: int, w: int):
    """A float32 ``(H, W)`` map averaged onto an ``h``×``w`` grid (area averaging, the
    common grid for maps of models with different input sizes).

    >>> compare.resize_area(a, 2, 2).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    return _lrp.compare_resize_area(map, h, w)


def average(maps, normalized: bool = False):
    """The average of float32 ``(H, W)`` maps of one shape, in ``[-1, 1]``: the paper's sum
    of the raw maps divided by its largest magnitude (``normalized=False``: maps with much
    relevance dominate), or the mean of the maps each divided by its own largest magnitude.

    >>> compare.average([a, a]).shape
    (4, 4)
    """
    return _lrp.compare_average(maps, normalized)


def pixel_flipping(model, x, relevance, target: int, patch: int = 4, steps: int = 32,
                   order: str = "most-relevant", seed: int = 0, baseline: str = "mean") -> dict:
    """Pixel flipping (Samek et al., 2017) of one input ``x`` (float32 ``(C, H, W)``): the
    target's logit as ``patch``×``patch`` patches are replaced (``baseline``: ``"mean"`` = 0
    in the network input, or ``"blur"``) in the order of ``relevance`` (``(C, H, W)`` or
    ``(H, W)``): ``"most-relevant"`` first, ``"least-relevant"`` first, or ``"random"``
    (seeded). Returns ``{"aopc": float, "fractions": array, "scores": array}``.

    >>> curve = compare.pixel_flipping(model, x[0], e.relevance[0], target=0, steps=8)
    >>> len(curve["scores"])
    9
    """
    return _lrp.compare_pixel_flipping(model, x, relevance, target, patch, steps, order, seed,
                                       baseline)


def spectral_clustering(maps, clusters: int = 2, neighbors: int = 5, grid: int = 16,
                        seed: int = 0) -> dict:
    """Spectral relevance analysis (Lapuschkin et al., 2019) of float32 ``(H, W)`` maps of
    any sizes (averaged onto a ``grid``×``grid`` grid). Returns ``{"labels": [int],
    "eigenvalues": array, "eigengaps": array, "embedding": array}``.

    >>> r = compare.spectral_clustering([a, a + 1, -a, -a - 1], clusters=2, neighbors=1)
    >>> sorted(set(r["labels"]))
    [0, 1]
    """
    return _lrp.compare_spectral_clustering(maps, clusters, neighbors, grid, seed)
