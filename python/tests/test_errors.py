"""Every error of the library arrives as the Python class of its kind, a subclass of
lrp.Error, carrying the library's message (the messages of src/error.rs's catalogue)."""

from __future__ import annotations

import numpy as np
import pytest

import lrp
from conftest import ASSETS, run_cli

KINDS = [
    "ShapeError", "ParameterError", "GraphError", "InvalidError", "InputShapeError",
    "NonFiniteError", "IoError", "ParseError", "DecodeError", "FormatError",
    "NodeAttributeError", "ExportError", "WriteError", "ImageTooLargeError", "FaceBoxError",
    "PreprocessError", "HeatmapError", "CompareError", "UnknownNameError",
    "FileTooLargeError", "NonFiniteOutputError", "ImageError", "MemoryLimitError",
    "UnsupportedError",
]


def test_one_class_per_kind_under_lrp_error():
    assert issubclass(lrp.Error, Exception)
    for k in KINDS:
        cls = getattr(lrp, k)
        assert issubclass(cls, lrp.Error) and cls is not lrp.Error, k
    assert len({getattr(lrp, k) for k in KINDS}) == len(KINDS)


def test_missing_file_is_io_error():
    with pytest.raises(lrp.IoError) as e:
        lrp.load("missing.onnx")
    assert str(e.value) == "missing.onnx: cannot read: No such file or directory (os error 2)"


def test_errors_are_named_and_pickled_as_lrp():
    # The classes live in module `lrp` (where users import them from): a traceback says
    # `lrp.IoError`, and pickle, which multiprocessing uses to send an error back to the
    # parent, finds the class again and keeps the message.
    import pickle

    for k in ["Error"] + KINDS:
        assert getattr(lrp, k).__module__ == "lrp", k
    with pytest.raises(lrp.IoError) as e:
        lrp.load("missing.onnx")
    back = pickle.loads(pickle.dumps(e.value))
    assert type(back) is lrp.IoError and str(back) == str(e.value)


def test_truncated_model_is_decode_error(tmp_path):
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes((ASSETS / "gender-v1.onnx").read_bytes()[:1000])
    with pytest.raises(lrp.DecodeError, match="cannot decode onnx.ModelProto"):
        lrp.load(bad)


def test_unknown_extension_is_format_error(tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(b"x")
    with pytest.raises(lrp.FormatError, match="unknown model format"):
        lrp.load(f)


def test_messages_equal_the_command_line_tool(gender):
    # The CLI prints `lrp: error: <message>`; Python raises the same message.
    with pytest.raises(lrp.InvalidError) as e:
        lrp.Explainer(gender, preset="epsilon-plux")
    proc_msg = _cli_error("info", str(ASSETS / "gender-v1.onnx"), "--preset", "epsilon-plux")
    assert proc_msg == f"lrp: error: {e.value}"


def _cli_error(*args):
    import os
    import subprocess
    from conftest import REPO
    binary = os.environ.get("LRP_BIN")
    cmd = [binary] if binary else ["cargo", "run", "--release", "--quiet", "--bin", "lrp", "--"]
    proc = subprocess.run(cmd + list(args), cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1
    return proc.stderr.strip().splitlines()[-1]


def test_option_errors(gender):
    with pytest.raises(lrp.InvalidError, match="matches no layer|no layer"):
        lrp.Explainer(gender, rules={"no-such-layer": "flat"})
    with pytest.raises(lrp.InvalidError):
        lrp.Explainer(gender, rules={"conv": "no-such-rule"})
    x = np.zeros((1, 3, 32, 32), np.float32)
    ex = lrp.Explainer(gender)
    with pytest.raises(lrp.InvalidError, match="target class 7 does not exist"):
        ex.explain(x, target=7)
    with pytest.raises(lrp.InvalidError, match="target class -1"):
        ex.explain(x, target=-1)
    with pytest.raises(lrp.InvalidError, match="target `best`"):
        ex.explain(x, target="best")
    with pytest.raises(TypeError):
        ex.explain(x, target=1.5)


def test_input_errors(gender):
    ex = lrp.Explainer(gender)
    with pytest.raises(lrp.InputShapeError) as e:
        ex.explain(np.zeros((1, 3, 64, 64), np.float32))
    assert "expected shape [1, 3, 32, 32] (batch first), got [1, 3, 64, 64]" in str(e.value)
    x = np.zeros((1, 3, 32, 32), np.float32)
    x[0, 1, 2, 3] = np.nan
    with pytest.raises(lrp.NonFiniteError, match=r"non-finite value \(NaN\) at flat index 1091"):
        ex.explain(x)


def test_heatmap_and_compare_errors():
    with pytest.raises(lrp.UnknownNameError, match="unknown colour map `firered-black`"):
        lrp.heatmap(np.ones((4, 4), np.float32), colormap="firered-black")
    with pytest.raises(lrp.UnknownNameError, match="reduction"):
        lrp.heatmap(np.ones((3, 4, 4), np.float32), reduction="mean")
    with pytest.raises(lrp.HeatmapError, match="clip percentile"):
        lrp.heatmap(np.ones((4, 4), np.float32), percentile=150.0)
    with pytest.raises(lrp.CompareError):
        lrp.compare.similarity(np.ones((4, 4), np.float32), np.ones((8, 8), np.float32))
    with pytest.raises(lrp.CompareError):
        lrp.compare.spectral_clustering([np.ones((4, 4), np.float32)], clusters=2)


def test_face_box_error(gender):
    with pytest.raises(lrp.FaceBoxError, match="the box lies outside the image"):
        lrp.preprocess(ASSETS / "astronaut.png", gender, face_box=(600, 600, 700, 700))


def test_image_error(gender, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(lrp.Error) as e:
        lrp.preprocess(bad, gender)
    assert type(e.value) is lrp.ImageError and "broken.png" in str(e.value)
