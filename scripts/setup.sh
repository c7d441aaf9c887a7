#!/usr/bin/env bash
# Create .venv (if missing) and install humanparse into it.
# PyTorch is installed first, on its own, so that the project's torch range is already
# satisfied and pip never swaps in a different (e.g. CUDA) build. Set HUMANPARSE_TORCH to
# choose the torch requirement (default torch==2.13.0), or PYTHON for the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PY=.venv/bin/python
"$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
if ! "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m pip install --quiet --disable-pip-version-check "${HUMANPARSE_TORCH:-torch==2.13.0}"
fi
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[test]"
"$PY" -c "import torch, humanparse; print(f'humanparse {humanparse.__version__} with torch {torch.__version__} in .venv')"
