"""Type stubs of the lrp Python package (numpy in and out; see lrp/__init__.py)."""

import os
from typing import Literal, Optional, Sequence, TypedDict, Union

import numpy as np
import numpy.typing as npt

from . import compare as compare
from . import metrics as metrics

__version__: str

PathLike = Union[str, os.PathLike[str]]
F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
Target = Union[Literal["predicted", "all"], int, Sequence[int]]
Reduction = Literal["sum", "l2", "max-abs"]

class Error(Exception): ...
class ShapeError(Error): ...
class ParameterError(Error): ...
class GraphError(Error): ...
class InvalidError(Error): ...
class InputShapeError(Error): ...
class NonFiniteError(Error): ...
class IoError(Error): ...
class ParseError(Error): ...
class DecodeError(Error): ...
class FormatError(Error): ...
class NodeAttributeError(Error): ...
class ExportError(Error): ...
class WriteError(Error): ...
class ImageTooLargeError(Error): ...
class FaceBoxError(Error): ...
class PreprocessError(Error): ...
class HeatmapError(Error): ...
class CompareError(Error): ...
class UnknownNameError(Error): ...
class FileTooLargeError(Error): ...
class NonFiniteOutputError(Error): ...
class ImageError(Error): ...
class MemoryLimitError(Error): ...
class UnsupportedError(Error): ...

class Layer(TypedDict):
    name: str
    kind: str
    inputs: list[str]
    output_shape: list[int]
    params: int

class ModelInfo(TypedDict):
    name: str
    architecture: Optional[str]
    input_shape: list[int]
    output_shape: list[int]
    params: int
    classes: int
    labels: list[str]
    warnings: list[str]
    layers: list[Layer]

class Conservation(TypedDict):
    node: str
    kind: str
    relevance_out: F32
    relevance_in: F32

class Model:
    """A loaded model: canonised graph, preprocessing and labels."""
    @property
    def name(self) -> str: ...
    @property
    def input_shape(self) -> list[int]:
        """Per-sample input shape ``[C, H, W]``."""
    @property
    def classes(self) -> int: ...
    @property
    def labels(self) -> list[str]: ...
    @property
    def warnings(self) -> list[str]: ...
    @property
    def layers(self) -> list[Layer]: ...
    def info(self) -> ModelInfo: ...

class Explanation:
    """The result of :meth:`Explainer.explain`."""
    logits: F32
    """Pre-softmax logits, ``(N, classes)``."""
    relevance: F32
    """``(N, C, H, W)`` for "predicted" or one int; ``(N, K, C, H, W)`` for a list or "all"."""
    targets: list[list[int]]
    """The classes explained, per image."""
    @property
    def conservation(self) -> list[Conservation]:
        """Relevance entering and leaving each layer walked, per map (N·K values); built on
        first access."""

class Explainer:
    """A model prepared for LRP under a preset with optional per-layer overrides.

    >>> ex = lrp.Explainer(model, preset="epsilon-plus-flat", rules={"#1": "flat"}, epsilon=1e-6)
    """
    def __init__(
        self,
        model: Model,
        preset: str = "epsilon-plus-flat",
        rules: Optional[dict[str, str]] = None,
        epsilon: Optional[float] = None,
        stabilizer: Optional[float] = None,
        flat: Optional[int] = None,
    ) -> None: ...
    @property
    def model(self) -> Model: ...
    @property
    def preset(self) -> str: ...
    @property
    def rules(self) -> list[tuple[str, str]]:
        """``(layer, rule)`` for every layer on the path to the logits, in graph order."""
    def forward(self, x: F32) -> F32:
        """Pre-softmax logits ``(N, classes)`` of a float32 C-order ``(N, C, H, W)`` batch."""
    def explain(self, x: F32, target: Target = "predicted") -> Explanation:
        """LRP of a float32 C-order ``(N, C, H, W)`` batch for ``target``."""
    def _rust_explain_ms(self, x: F32, rounds: int = 1) -> list[float]:
        """Benchmark hook (benches/zennit/overhead.py): milliseconds of ``rounds`` Rust calls."""

class Attribution:
    """A model prepared for one baseline attribution method (``lrp explain --method NAME``):
    gradient, gradient-x-input, smoothgrad, integrated-gradients, occlusion, guided-backprop,
    excitation-backprop. Each keyword belongs to the methods named in its comment.

    >>> sg = lrp.Attribution(model, "smoothgrad", samples=8, noise_sigma="10%")
    """
    def __init__(
        self,
        model: Model,
        method: str,
        *,
        samples: Optional[int] = None,  # smoothgrad (50)
        noise_sigma: Optional[Union[float, str]] = None,  # smoothgrad: absolute or "P%" ("15%")
        noise_seed: Optional[int] = None,  # smoothgrad (0)
        noise: Optional[F32] = None,  # smoothgrad: (samples, C, H, W) added as it is
        steps: Optional[int] = None,  # integrated-gradients (50)
        quadrature: Optional[str] = None,  # integrated-gradients ("gausslegendre")
        baseline: Optional[Union[float, F32]] = None,  # integrated-gradients, occlusion (0.0)
        window: Optional[Union[int, tuple[int, int]]] = None,  # occlusion (16)
        stride: Optional[Union[int, tuple[int, int]]] = None,  # occlusion (8)
        batch: Optional[int] = None,  # smoothgrad, integrated-gradients, occlusion (16)
    ) -> None: ...
    @property
    def model(self) -> Model: ...
    @property
    def method(self) -> str: ...
    @staticmethod
    def methods() -> list[str]: ...
    def explain(self, x: F32, target: Target = "predicted") -> Explanation:
        """Attribution of a float32 C-order ``(N, C, H, W)`` batch for ``target``."""

def load(
    path: PathLike,
    weights: Optional[PathLike] = None,
    mean: Optional[PathLike] = None,
    labels: Optional[PathLike] = None,
) -> Model: ...
def shipped(
    name: Literal["gender-v1", "age-v1", "face-api-gender", "face-api-age", "gender", "age"],
) -> Model: ...
def preprocess(
    images: Union[PathLike, U8, Sequence[Union[PathLike, U8]]],
    model: Model,
    face_box: Optional[tuple[int, int, int, int]] = None,
) -> F32: ...
def heatmap(
    relevance: F32,
    colormap: str = "black-firered",
    reduction: Reduction = "sum",
    percentile: Optional[float] = None,
    size: Optional[tuple[int, int]] = None,
    bilinear: bool = False,
) -> U8: ...
def overlay(
    image: U8,
    relevance: F32,
    colormap: str = "black-firered",
    reduction: Reduction = "sum",
    percentile: Optional[float] = None,
    gamma: float = 0.6,
    alpha: float = 0.85,
    bilinear: bool = False,
) -> U8: ...
def figure(
    images: Sequence[U8],
    maps: Sequence[Sequence[F32]],
    columns: Sequence[str],
    row_labels: Optional[Sequence[str]] = None,
    cell_labels: Optional[Sequence[Sequence[str]]] = None,
    colormap: str = "black-firered",
    reduction: Reduction = "sum",
    percentile: Optional[float] = None,
    overlay: bool = False,
    cell_size: Optional[tuple[int, int]] = None,
    title: Optional[str] = None,
) -> U8: ...
def colormaps() -> list[str]: ...
def presets() -> list[tuple[str, str]]: ...
def set_precision(precision: Literal["f32", "bf16"]) -> None: ...
def precision() -> Literal["f32", "bf16"]: ...
