"""Layer-wise Relevance Propagation for convolutional networks, numpy in and out.

The Python face of the Rust library ``lrp``: load an ONNX model or a Caffe model of the
ICCV 2017 age and gender paper, explain its decisions with the LRP rules, and turn the
relevance into heatmaps, all without PyTorch or Caffe.

>>> import lrp
>>> model = lrp.shipped("gender-v1")
>>> x = lrp.preprocess("assets/astronaut.png", model, face_box=(150, 30, 260, 150))
>>> e = lrp.Explainer(model, preset="epsilon-plus-flat").explain(x)
>>> e.relevance.shape, model.labels[int(e.logits.argmax())]
((1, 3, 32, 32), 'female')

Conventions of every function:

* Tensors and relevance are ``numpy.float32`` arrays, images ``numpy.uint8`` arrays of
  shape ``(H, W, 3)``, both in C order. Another dtype raises ``TypeError`` and a
  non-contiguous array ``ValueError``, each saying how to convert (``x.astype(np.float32)``,
  ``np.ascontiguousarray(x)``); nothing is converted silently. Inputs are copied once into
  the engine (so a caller may keep changing its array while another thread computes).
* Returned arrays own the engine's buffers: no copy is made on the way out.
* Computations release the GIL; one :class:`Explainer` serves several threads at once.
* Errors of the library raise a subclass of :class:`lrp.Error` per kind (e.g.
  :class:`InvalidError` for an unknown preset, :class:`InputShapeError` for an input of the
  wrong size) with the library's message.
"""

from __future__ import annotations

from . import _lrp
from ._lrp import (  # noqa: F401  (re-exported)
    NodeAttributeError,
    CompareError,
    DecodeError,
    Error,
    ExportError,
    FaceBoxError,
    FileTooLargeError,
    FormatError,
    GraphError,
    HeatmapError,
    ImageError,
    ImageTooLargeError,
    InputShapeError,
    InvalidError,
    IoError,
    MemoryLimitError,
    NonFiniteError,
    NonFiniteOutputError,
    ParameterError,
    ParseError,
    PreprocessError,
    ShapeError,
    UnknownNameError,
    UnsupportedError,
    WriteError,
    Attribution,
    Explainer,
    Explanation,
    Model,
)
from . import compare  # noqa: F401
from . import metrics  # noqa: F401

__version__: str = _lrp.__version__

__all__ = [
    "Error", "Model", "Explainer", "Attribution", "Explanation", "load", "shipped", "preprocess",
    "heatmap", "overlay", "figure", "colormaps", "presets", "set_precision", "precision",
    "compare", "metrics",
]


def load(path, weights=None, mean=None, labels=None) -> Model:
    """Load a model: an ONNX file, or a Caffe ``deploy.prototxt`` with its weights
    (``.caffemodel``; without them the weights are seeded random values and
    ``model.warnings`` says so) and mean image (``mean.binaryproto``).

    ``labels`` is a text file with one class name per line. The shipped models given as
    files (``assets/gender-v1.onnx``) get their names and labels.

    >>> m = lrp.load("assets/gender-v1.onnx")
    >>> m.name, m.input_shape, m.labels
    ('gender-v1', [3, 32, 32], ['female', 'male'])
    >>> lrp.load("missing.onnx")
    Traceback (most recent call last):
    lrp.IoError: missing.onnx: cannot read: No such file or directory (os error 2)
    """
    return _lrp.load(path, weights, mean, labels)


def shipped(name: str) -> Model:
    """One of the four trained face models compiled into the library, by the names of the
    command-line tool's ``--model``: dlib's ``"gender-v1"`` (3×32×32, female/male) and
    ``"age-v1"`` (3×64×64, 81 ages), also ``"gender"`` and ``"age"``; face-api's 112×112
    age/gender network as ``"face-api-gender"`` (male/female logits) and ``"face-api-age"``
    (one output, the age in years), with face-api's preprocessing. Any other name raises
    ``lrp.Error`` listing these.

    >>> lrp.shipped("age-v1").classes
    81
    >>> lrp.shipped("face-api-gender").labels, lrp.shipped("face-api-age").input_shape
    (['male', 'female'], [3, 112, 112])
    """
    return _lrp.shipped(name)


def preprocess(images, model: Model, face_box=None):
    """The network input for one image or a list of images, float32 ``(N, C, H, W)``.

    Each image is a path (PNG or JPEG) or a uint8 ``(H, W, 3)`` RGB array; ``face_box`` is
    ``(left, top, right, bottom)`` in pixels (right and bottom exclusive), cut out before the
    model's preprocessing (for the ONNX face models: resized to the input size, then
    ``(RGB − mean) / 256``; for Caffe models the paper's BGR minus mean image).

    >>> x = lrp.preprocess("assets/astronaut.png", lrp.shipped("gender-v1"), face_box=(150, 30, 260, 150))
    >>> x.shape, x.dtype
    ((1, 3, 32, 32), dtype('float32'))
    """
    return _lrp.preprocess(images, model, face_box)


def heatmap(relevance, colormap: str = "black-firered", reduction: str = "sum",
            percentile=None, size=None, bilinear: bool = False):
    """A relevance map as an RGB image, uint8 ``(H, W, 3)``.

    ``relevance`` is float32 ``(C, H, W)`` (one map of ``Explanation.relevance``; its channels
    reduced by ``reduction``: ``"sum"``, ``"l2"`` or ``"max-abs"``) or ``(H, W)``. The map is
    divided by its largest magnitude (or clipped at the ``percentile`` of ``|H|``), coloured
    with ``colormap`` (:func:`colormaps` lists them), and upsampled to ``size = (H, W)``
    (nearest-neighbour, or bilinear).

    >>> img = lrp.heatmap(e.relevance[0], size=(128, 128))
    >>> img.shape, img.dtype
    ((128, 128, 3), dtype('uint8'))
    """
    return _lrp.heatmap(relevance, colormap, reduction, percentile, size, bilinear)


def overlay(image, relevance, colormap: str = "black-firered", reduction: str = "sum",
            percentile=None, gamma: float = 0.6, alpha: float = 0.85, bilinear: bool = False):
    """A relevance map blended onto a uint8 ``(H, W, 3)`` image, uint8 ``(H, W, 3)``.

    The map is normalised as in :func:`heatmap`, upsampled to the image, and blended with
    opacity ``alpha · |x|^gamma`` (``x`` the normalised value), as ``lrp explain --overlay``.

    >>> face = np.full((64, 64, 3), 128, np.uint8)
    >>> lrp.overlay(face, e.relevance[0]).shape
    (64, 64, 3)
    """
    return _lrp.overlay(image, relevance, colormap, reduction, percentile, gamma, alpha, bilinear)


def figure(images, maps, columns, row_labels=None, cell_labels=None,
           colormap: str = "black-firered", reduction: str = "sum", percentile=None,
           overlay: bool = False, cell_size=None, title=None):
    """A labelled grid of heatmaps as uint8 ``(H, W, 3)``: one row per image (uint8
    ``(H, W, 3)``), ``maps[i][j]`` the relevance (``(C, H, W)`` or ``(H, W)``) of row ``i``
    in column ``j``, headed ``columns[j]``; each map normalised on its own, with a colour bar.

    >>> fig = lrp.figure([face], [[e.relevance[0]]], ["gender ε+flat"], cell_labels=[["female"]])
    >>> fig.dtype
    dtype('uint8')
    """
    return _lrp.figure(images, maps, columns, row_labels, cell_labels, colormap, reduction,
                       percentile, overlay, cell_size, title)


def colormaps() -> list:
    """The names of the colour maps (append ``-r`` to reverse one).

    >>> "black-firered" in lrp.colormaps()
    True
    """
    return _lrp.colormaps()


def presets() -> list:
    """The presets as ``(name, description)`` pairs.

    >>> [name for name, _ in lrp.presets()][:2]
    ['epsilon', 'alpha2-beta1']
    """
    return _lrp.presets()


def set_precision(precision: str) -> None:
    """Sets the arithmetic of the large matrix products for the whole process (every
    :class:`Explainer` and thread): ``"f32"``, the default, or ``"bf16"`` (bfloat16 operands
    with float32 sums in the convolutions, the rules' normalisers and transposed products and
    the dense layers; the relevance sums and divisions stay float32). ``"bf16"`` needs a CPU
    with AVX512-BF16; elsewhere it raises :class:`UnsupportedError` and the precision stays
    as it was. The README's "Reduced precision" lists its error against float32 per model.

    >>> lrp.set_precision("f32")
    >>> lrp.precision()
    'f32'
    >>> lrp.set_precision("fp8")
    Traceback (most recent call last):
    lrp.InvalidError: unknown precision `fp8`; known: f32, bf16
    """
    _lrp.set_precision(precision)


def precision() -> str:
    """The precision :func:`set_precision` set: ``"f32"`` or ``"bf16"``."""
    return _lrp.precision()
