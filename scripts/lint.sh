#!/usr/bin/env bash
# One lint script for CI and humans: ruff (lint + format), mypy strict, stripped notebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin
"$PY/ruff" check .
"$PY/ruff" format --check .
"$PY/mypy"
if compgen -G "notebooks/*.ipynb" > /dev/null; then
  "$PY/nbstripout" --verify notebooks/*.ipynb
fi
echo "lint: ok"
