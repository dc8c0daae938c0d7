"""Shared fixtures of the Python tests.

References (the same files and tolerances as the Rust tests):
- ``../shared/reference`` (beside the checkout, or ``$LRP_SHARED/reference``): the
  astronaut inputs, onnxruntime 1.32.0 logits and Zennit 1.0.0 relevance of the shipped
  models (see its README); ``tests/onnx_models.rs`` and ``tests/zennit_reference.rs`` read them.
- The ``lrp`` command-line tool (``$LRP_BIN``, or ``cargo run --release`` in the checkout):
  the Rust results that the Python ones must equal bit for bit.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import lrp

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("LRP_SHARED", REPO.parent / "shared"))
REFERENCE = SHARED / "reference"
ASSETS = REPO / "assets"


def reference(name: str) -> np.ndarray:
    path = REFERENCE / name
    if not path.exists():
        pytest.fail(f"reference file {path} is missing (set LRP_SHARED to the shared folder)")
    return np.load(path)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Runs the Rust command-line tool of this checkout, failing the test on an error."""
    binary = os.environ.get("LRP_BIN")
    cmd = [binary] if binary else ["cargo", "run", "--release", "--quiet", "--bin", "lrp", "--"]
    proc = subprocess.run(cmd + list(args), cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd + list(args))} failed:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def gender() -> lrp.Model:
    return lrp.load(ASSETS / "gender-v1.onnx")


@pytest.fixture(scope="session")
def age() -> lrp.Model:
    return lrp.load(ASSETS / "age-v1.onnx")
