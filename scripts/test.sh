#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. The stand-in Ollama and a Chroma
# server are started by the tests themselves unless OLLAMA_HOST / DOCENT_CHROMA_HOST
# point at running ones.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
