#!/usr/bin/env bash
# Side-by-side benchmark: lrp against Zennit 1.0 on identical weights (see side_by_side.py).
# Not run by CI. Usage: benches/zennit/run.sh [--threads N] [--models a,b] [--batches 1,8] [--json F]
#                                            [--seconds S] [--python]
#        benches/zennit/run.sh --vit [--threads N] [--models deit_tiny,vit_b_16] [--batches 1,8]
#          [--dir target/vit-full] [--json F]: full-size vision transformers against LXT 2.1
#          (see vit_side_by_side.py; make the models first with tests/vit/generate.py --full).
#        benches/zennit/run.sh --captum [--threads N] [--models vgg16,age] [--batches 1,8]
#          [--methods smoothgrad,integrated-gradients] [--seconds S] [--min-rounds N]
#          [--captum-batching matched|default] [--json F]: lrp's SmoothGrad and integrated
#          gradients against Captum 0.9 (captum_side_by_side.py; installs captum if missing).
#        benches/zennit/run.sh --quantus [--images N] [--threads N] [--json F]: `lrp evaluate`
#          against Quantus 0.6 on generated face images (evaluate_side_by_side.py; installs
#          quantus and captum if missing; builds the lrp command line).
# --python also installs the Python bindings (pip install ./python, built by maturin) into the
# venv and times Explainer.explain from Python against the Rust worker and Zennit.
#        benches/zennit/run.sh --overhead [--models gender,age] [--batches 1,8] [--seconds S]: the
#          bindings against the Rust worker alone, without torch in the process (overhead.py).
#        benches/zennit/run.sh --flops [--threads N] [--models a,b] [--batches 1,8]: Zennit's
#          multiply-adds per explanation counted by torch's flop formulas, beside ours from
#          examples/profile.rs (flops.py).
# Environment: LRP_BENCH_VENV (default target/zennit-venv), LRP_BENCH_PYTHON (a Python ≥ 3.11.11;
# default: the first python3.13 / python3.12 found, including pyenv's versions).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${LRP_BENCH_VENV:-$root/target/zennit-venv}"
if [ ! -x "$venv/bin/python" ]; then
  py="${LRP_BENCH_PYTHON:-}"
  if [ -z "$py" ]; then
    # A pyenv shim is on PATH even when its version is not selected, so each candidate must
    # actually run and be new enough.
    for c in python3.13 python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python3 "$HOME"/.pyenv/versions/3.12*/bin/python3; do
      if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11, 11))' >/dev/null 2>&1; then
        py="$(command -v "$c")"; break
      fi
    done
  fi
  [ -n "$py" ] || { echo "no Python ≥ 3.11.11 found; set LRP_BENCH_PYTHON" >&2; exit 1; }
  "$py" -m venv "$venv"
  "$venv/bin/pip" install --quiet "torch>=2.4" "torchvision>=0.19" "zennit==1.0.0" "onnx>=1.16" "onnxruntime>=1.18" "pillow>=10" "numpy>=1.26"
fi
script="$root/benches/zennit/side_by_side.py"
if [ "${1:-}" = "--overhead" ]; then
  # The bindings against the worker alone (no torch in the process): overhead.py.
  shift
  script="$root/benches/zennit/overhead.py"
  set -- --python "$@"
fi
if [ "${1:-}" = "--vit" ]; then
  shift
  script="$root/benches/zennit/vit_side_by_side.py"
  # LXT 2.1 imports only with transformers >= 4.51, < 5 beside it.
  "$venv/bin/python" -c 'import timm, lxt, transformers' >/dev/null 2>&1 ||
    "$venv/bin/pip" install --quiet "timm>=1.0" "lxt==2.1" "transformers>=4.51,<5"
fi
if [ "${1:-}" = "--flops" ]; then
  shift
  script="$root/benches/zennit/flops.py"
  cargo build --release --example profile --manifest-path "$root/Cargo.toml"
  set -- --lrp-profile "${CARGO_TARGET_DIR:-$root/target}/release/examples/profile" "$@"
fi
if [ "${1:-}" = "--captum" ]; then
  shift
  script="$root/benches/zennit/captum_side_by_side.py"
  "$venv/bin/python" -c 'import captum' >/dev/null 2>&1 ||
    "$venv/bin/pip" install --quiet "captum==0.9.*"
fi
if [ "${1:-}" = "--quantus" ]; then
  shift
  # Quantus 0.6 with Captum for its explain_func; the lrp command line instead of the worker.
  "$venv/bin/python" -c 'import quantus, captum' >/dev/null 2>&1 ||
    "$venv/bin/pip" install --quiet "quantus==0.6.*" "captum==0.9.*"
  cargo build --release --bin lrp --manifest-path "$root/Cargo.toml"
  exec "$venv/bin/python" "$root/benches/zennit/evaluate_side_by_side.py" \
    --lrp "${CARGO_TARGET_DIR:-$root/target}/release/lrp" "$@"
fi
cargo build --release --example side_by_side --manifest-path "$root/Cargo.toml"
for a in "$@"; do
  if [ "$a" = --python ]; then
    export PATH="$venv/bin:$PATH"   # maturin's build hook runs `maturin` from PATH
    "$venv/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.8,<2"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-build-isolation \
      --force-reinstall --no-deps "$root/python"
  fi
done
exec "$venv/bin/python" "$script" \
  --worker "${CARGO_TARGET_DIR:-$root/target}/release/examples/side_by_side" "$@"
