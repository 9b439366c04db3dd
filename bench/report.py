"""Benchmark results: percentiles, and one JSON file plus one Markdown table per run."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / max of ``seconds``, in milliseconds (rounded to 0.1 ms)."""
    if not seconds:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    values = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "p50": round(float(np.percentile(values, 50)), 1),
        "p99": round(float(np.percentile(values, 99)), 1),
        "max": round(float(values.max()), 1),
    }


def write(
    out: Path, name: str, params: Mapping[str, Any], rows: Sequence[tuple[str, str]]
) -> tuple[Path, Path]:
    """Write ``<out>/<name>.json`` and ``<out>/<name>.md`` (a two-column table).

    Args:
        out: folder (created).
        name: file stem, e.g. ``lexical-100000``.
        params: how the run was made (sizes, command); stored in both files.
        rows: (what, result) pairs, in table order.

    Returns:
        The JSON and Markdown paths.
    """
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "name": name,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": _cpus(), "python": platform.python_version()},
        "params": dict(params),
        "results": dict(rows),
    }
    json_path = out / f"{name}.json"
    json_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    lines = [f"# {name}", "", *(f"- {k}: {v}" for k, v in params.items()), ""]
    lines += ["| what | result |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows), ""]
    md_path = out / f"{name}.md"
    md_path.write_text("\n".join(lines), encoding="utf-8")
    return json_path, md_path


def _cpus() -> int:
    import os

    return os.cpu_count() or 0
