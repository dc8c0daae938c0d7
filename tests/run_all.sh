#!/usr/bin/env bash
# The README's test command: the Rust tests, then the Python bindings' tests.
#
#   tests/run_all.sh
#
# 1. `cargo test --release` (every Rust test, as before the bindings).
# 2. A virtual environment under the target directory (target/python-venv, made once with
#    `python3 -m venv`; PYTHON=/path/to/python picks another CPython ≥ 3.9), with maturin,
#    pytest and numpy from PyPI.
# 3. `pip install ./python`: maturin builds the native module in release mode into the same
#    target directory, so the engine's dependencies built in step 1 are reused.
# 4. pytest on python/tests, against the shared reference files (../shared/reference, or
#    $LRP_SHARED/reference) and the command-line tool built in step 1 ($LRP_BIN).
#
# Extra arguments go to pytest (e.g. `tests/run_all.sh -k threads`); LRP_SKIP_CARGO_TEST=1
# skips step 1 (it still builds the tool), for a quick rerun of the Python side.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${LRP_SKIP_CARGO_TEST:-0}" = 1 ]; then
    cargo build --release --bin lrp
else
    cargo test --release
fi

rust_done=$SECONDS
target="${CARGO_TARGET_DIR:-$PWD/target}"
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
venv="$target/python-venv"
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
# maturin's build hook runs `maturin` from PATH.
export PATH="$venv/bin:$PATH"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.8,<2" "pytest>=7" "numpy>=1.21"
# The installed maturin builds the wheel (no isolated build environment to download again).
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-build-isolation --force-reinstall --no-deps ./python

export LRP_BIN="$target/release/lrp"
# From the repository root, so that `import lrp` finds the installed package, not python/lrp.
"$venv/bin/python" -m pytest -q python/tests "$@"
echo "tests/run_all.sh: Rust step ${rust_done} s, Python step $((SECONDS - rust_done)) s" >&2
