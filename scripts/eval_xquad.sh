#!/usr/bin/env bash
# Retrieval quality on XQuAD dev (en, zh, ar): converts each language's SQuAD JSON to BEIR
# form (under .eval-data/, gitignored) and prints nDCG@10, Recall@10/100, MRR@10 per mode.
# Needs Ollama (or the stand-in: `python -m standin`) with the embedding model pulled.
# Extra arguments are passed on, e.g. `--mode hybrid` or `--json`.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
data="${XQUAD_DIR:-$here/../shared/datasets/xquad}"
out="$here/.eval-data"
for language in ${XQUAD_LANGUAGES:-en zh ar}; do
  "${DOCENT:-docent}" eval convert-squad "$data/xquad.$language.dev.json" "$out/xquad-$language" >&2
  echo "xquad-$language"
  "${DOCENT:-docent}" eval retrieval \
    --corpus "$out/xquad-$language/corpus.jsonl" \
    --queries "$out/xquad-$language/queries.jsonl" \
    --qrels "$out/xquad-$language/qrels/test.tsv" \
    --collection "xquad-$language" \
    "$@"
done
