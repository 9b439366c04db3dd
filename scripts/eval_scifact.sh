#!/usr/bin/env bash
# Retrieval quality on SciFact (train split): nDCG@10, Recall@10/100, MRR@10 per mode.
# Needs Ollama (or the stand-in: `python -m standin`) with the embedding model pulled.
# Extra arguments are passed on, e.g. `--limit-queries 50 --limit-corpus 500` or `--json`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="${SCIFACT_DIR:-$here/../shared/datasets/scifact}"
exec "${DOCENT:-docent}" eval retrieval \
  --corpus "$data/corpus.jsonl" \
  --queries "$data/queries.jsonl" \
  --qrels "$data/qrels/train.tsv" \
  --collection "${SCIFACT_COLLECTION:-scifact}" \
  "$@"
