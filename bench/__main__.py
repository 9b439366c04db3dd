"""``python -m bench NAME [options]``: run one benchmark (``--help`` on each for options)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "dense-filter": "bench.dense_filter",
    "engines": "bench.engines",
    "ingest": "bench.ingest",
    "lexical": "bench.lexical",
    "serving": "bench.serving",
    "write-path": "bench.write_path",
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in BENCHMARKS:
        names = ", ".join(sorted(BENCHMARKS))
        sys.stderr.write(f"usage: python -m bench NAME [options]; NAME is one of: {names}\n")
        return 2
    module = importlib.import_module(BENCHMARKS[argv[0]])
    module.main(argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
