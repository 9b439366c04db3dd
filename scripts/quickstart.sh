#!/usr/bin/env bash
# The newcomer's path, end to end on embedded defaults: install, start the stand-in Ollama
# (real small models), check with `docent doctor`, ingest the sample corpus into embedded
# Chroma, start `docent serve`, and stream a cited answer from it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

WORK=".docent/quickstart"
mkdir -p "$WORK"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for_line() {  # FILE PATTERN: wait up to 60 s for a line, print it
  for _ in $(seq 600); do
    if line=$(grep -m1 -E "$2" "$1" 2>/dev/null); then echo "$line"; return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

if [ -z "${OLLAMA_HOST:-}" ]; then
  .venv/bin/python -m standin --host 127.0.0.1 --port 0 > "$WORK/standin.log" 2>&1 &
  PIDS+=($!)
  OLLAMA_HOST=$(wait_for_line "$WORK/standin.log" "listening on" | awk '{print $NF}')
  export OLLAMA_HOST
  export DOCENT_EMBED_MODEL="${DOCENT_EMBED_MODEL:-all-minilm}"
  export DOCENT_CHAT_MODEL="${DOCENT_CHAT_MODEL:-smollm2:135m}"
fi
export DOCENT_CHROMA_PATH="${DOCENT_CHROMA_PATH:-$WORK/chroma}"
echo "== Ollama at $OLLAMA_HOST, Chroma at $DOCENT_CHROMA_PATH"

.venv/bin/docent doctor
.venv/bin/docent ingest api/sample_corpus --collection quickstart --sync

PORT=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/docent serve --host 127.0.0.1 --port "$PORT" > "$WORK/serve.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && break
  sleep 0.2
done

QUESTION="${1:-When is the customer support line open?}"
echo "== POST /v1/query: $QUESTION"
.venv/bin/python scripts/stream_answer.py "http://127.0.0.1:$PORT" quickstart "$QUESTION"
