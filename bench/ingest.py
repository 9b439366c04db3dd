"""Ingestion speed: the tables of issue 12, measured through the real ``docent ingest``.

1. **Pipeline overhead** (``synthetic-hash-embed``: an instant embedding server, so only
   Docent's own work counts): first ingest of ``--docs`` SciFact abstracts, in chunks/s,
   against the raw Chroma add rate of the same chunks measured in the same run; then the
   unchanged re-ingest and the re-ingest after changing 1% of the files (CLI start-up
   included: wall time of the command); and the ingest's peak RSS. Then ``docent --help``
   (start-up) and the unchanged re-ingest of ``--unchanged-docs`` documents (10,000).
2. **At the model's limit** (``all-minilm``, the stand-in's real model, ``--model-docs``
   abstracts): Docent's first ingest against the best raw ``/api/embed`` throughput of the
   same chunk texts over batch sizes (that batch size timed again just before each
   ingest), and against the LangChain tutorial pipeline (:mod:`bench.tutorial`; needs the
   ``bench`` extra), both as commands (start-up included) and as their runs alone.

Every figure is the median of ``--repeats`` runs; ratios compare figures of the same run.
Usage: ``python -m bench ingest`` (``--quick``: a tiny run, for CI; ``--docent-root PATH``
runs ``docent`` from another checkout, e.g. an older commit, for "before" figures).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench import corpus, report
from bench.lexical import COLLECTION, Run, _docent, _env, standin, write_documents

SYNTHETIC = "synthetic-hash-embed"
REAL_MODEL = "all-minilm"
RAW_BATCHES = (8, 32, 128, 512)


@dataclass(frozen=True)
class IngestRun:
    """One ``docent ingest``, as measured from outside and as it reports itself."""

    wall: float
    """Seconds of the command, start-up included (until its output is closed)."""
    run: float
    """Seconds of the run itself, from its report (start-up and exit excluded)."""
    chunks: int
    """Chunks added."""
    peak_mb: float
    """Peak RSS of the largest child process so far, in MB."""


def timed_ingest(run: Run, folder: Path, model: str, tuning: Path | None = None) -> IngestRun:
    """``docent ingest FOLDER --json`` with ``model``, timed.

    ``tuning``: the embedding tuning file (``DOCENT_EMBED_TUNING_FILE``) the run reads
    and updates; None: a fresh one, so nothing is remembered.
    """
    env = _env(run) | {"DOCENT_EMBED_MODEL": model}
    env["DOCENT_EMBED_TUNING_FILE"] = str(tuning or run.store.parent / f"{uuid.uuid4().hex}.json")
    command = _docent(run, "ingest", str(folder), "--collection", COLLECTION, "--json")
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=run.repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"docent ingest failed ({process.returncode}): {err[-2000:]}")
    import resource

    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    summary: dict[str, Any] = json.loads(out)
    return IngestRun(seconds, float(summary["seconds"]), int(summary["chunks"]["added"]), peak_mb)


def stored_chunks(store: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """Ids, texts and metadata of the bench collection's chunks (read with this checkout)."""
    from retrieval.settings import ChromaSettings
    from retrieval.store import ChunkStore

    chunk_store = ChunkStore.from_settings(ChromaSettings(path=str(store)))
    try:
        return [(c.id, c.text, dict(c.metadata)) for c in chunk_store.iter_chunks(COLLECTION)]
    finally:
        chunk_store.close()


def raw_chroma_add(chunks: Sequence[tuple[str, str, dict[str, Any]]], folder: Path) -> float:
    """Seconds for plain Chroma to add these chunks with vectors, 128 per call."""
    import chromadb

    vectors = np.random.default_rng(0).random((len(chunks), 384), dtype=np.float32)
    client = chromadb.PersistentClient(path=str(folder))
    collection = client.create_collection("raw", metadata={"hnsw:space": "cosine"})
    started = time.perf_counter()
    for start in range(0, len(chunks), 128):
        part = chunks[start : start + 128]
        collection.add(
            ids=[c[0] for c in part],
            documents=[c[1] for c in part],
            metadatas=[c[2] for c in part],
            embeddings=vectors[start : start + 128],
        )
    return time.perf_counter() - started


def raw_embed(host: str, texts: Sequence[str], batch: int) -> float:
    """Seconds to embed ``texts`` with sequential ``/api/embed`` calls of ``batch`` texts."""
    with httpx.Client(base_url=host, timeout=600) as client:
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            body = {"model": REAL_MODEL, "input": list(texts[start : start + batch])}
            client.post("/api/embed", json=body).raise_for_status()
        return time.perf_counter() - started


@dataclass(frozen=True)
class TutorialRun:
    """One run of the LangChain tutorial's ingestion (:mod:`bench.tutorial`)."""

    wall: float
    """Seconds of the command, start-up and imports included (as ``docent ingest``'s)."""
    pipeline: float
    """Seconds of its pipeline alone, imports excluded."""
    chunks: int


def tutorial(host: str, folder: Path, store: Path) -> TutorialRun | None:
    """The LangChain tutorial pipeline as its own program (None: ``bench`` extra missing)."""
    command = [sys.executable, "-m", "bench.tutorial", host, REAL_MODEL, str(folder), str(store)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=corpus.REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode == 3:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"the tutorial pipeline failed: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout)
    return TutorialRun(wall, float(summary["seconds"]), int(summary["chunks"]))


def _median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f}"


def change_files(folder: Path, share: float) -> int:
    """Append a line to ``share`` of the files; how many were changed."""
    files = sorted(folder.glob("*.txt"))
    changed = files[:: max(1, round(1 / share))]
    for path in changed:
        path.write_text(path.read_text(encoding="utf-8") + "\n\nEdited.", encoding="utf-8")
    return len(changed)


def overhead_rows(args: argparse.Namespace, host: str, work: Path) -> list[tuple[str, str]]:
    """Part 1: instant embedder, Docent vs raw Chroma, re-ingests, peak RSS."""
    folder = work / "docs"
    write_documents(folder, args.docs)
    first, unchanged, edited, ratios = [], [], [], []
    chunks, peak = 0, 0.0
    for i in range(args.repeats):
        store = work / f"store-{i}"
        run = Run(repo=args.docent_root, store=store, ollama=host)
        ingested = timed_ingest(run, folder, SYNTHETIC)
        chunks, peak = ingested.chunks, ingested.peak_mb
        raw = raw_chroma_add(stored_chunks(store), work / f"raw-{i}")
        first.append(ingested.wall)
        ratios.append(raw / ingested.wall)
        unchanged.append(timed_ingest(run, folder, SYNTHETIC).wall)
        changed = change_files(folder, 0.01)
        edited.append(timed_ingest(run, folder, SYNTHETIC).wall)
        shutil.rmtree(store, ignore_errors=True)
        shutil.rmtree(work / f"raw-{i}", ignore_errors=True)
    docs = args.docs
    return [
        (
            f"first ingest, {docs} docs, {SYNTHETIC} (chunks/s, wall)",
            f"{chunks / statistics.median(first):.0f} ({chunks} chunks)",
        ),
        (
            "Docent / raw Chroma add rate, same run (target >= 0.6)",
            f"{statistics.median(ratios):.2f}",
        ),
        (
            f"unchanged re-ingest of {docs} docs, first after the ingest (s, CLI included)",
            f"{statistics.median(unchanged):.2f}",
        ),
        (f"re-ingest after changing {changed} docs (1%) (s)", f"{statistics.median(edited):.2f}"),
        ("peak RSS of the ingests (MB, largest child)", f"{peak:.0f}"),
    ]


def cli_startup(repo: Path, repeats: int = 5) -> float:
    """Median wall seconds of ``docent --help`` (interpreter and CLI start-up)."""
    times = []
    for _ in range(repeats):
        run = Run(repo=repo, store=Path(tempfile.gettempdir()), ollama="http://127.0.0.1:9")
        started = time.perf_counter()
        subprocess.run(_docent(run, "--help"), env=_env(run), capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def unchanged_rows(args: argparse.Namespace, host: str, work: Path) -> list[tuple[str, str]]:
    """The unchanged re-ingest of ``--unchanged-docs`` documents, and the CLI's start-up."""
    rows = [("`docent --help` (s, median of 5)", f"{cli_startup(args.docent_root):.2f}")]
    if not args.unchanged_docs:
        return rows
    folder = work / "unchanged-docs"
    write_documents(folder, args.unchanged_docs)
    run = Run(repo=args.docent_root, store=work / "unchanged-store", ollama=host)
    timed_ingest(run, folder, SYNTHETIC)
    # the ingest left the collection settled: every re-ingest is answered from that mark
    # (ingest.unchanged) while nothing changes; the first one is shown apart all the same
    first = timed_ingest(run, folder, SYNTHETIC).wall
    seconds = [timed_ingest(run, folder, SYNTHETIC).wall for _ in range(args.repeats)]
    shutil.rmtree(run.store, ignore_errors=True)
    docs = args.unchanged_docs
    return [
        *rows,
        (f"unchanged re-ingest of {docs} docs, first after the ingest (s)", f"{first:.2f}"),
        (
            f"unchanged re-ingest of {docs} docs, later runs (s, CLI included; target <= 2)",
            f"{statistics.median(seconds):.2f}",
        ),
    ]


def model_rows(args: argparse.Namespace, host: str, work: Path) -> list[tuple[str, str]]:
    """Part 2: the real model, Docent vs best raw /api/embed vs the LangChain tutorial.

    Docent learns its best request plan once per server and model and remembers it
    (``DOCENT_EMBED_TUNING_FILE``): one untimed warm-up ingest learns it here, and the
    measured runs start from it, as a user's second and later ingests do. The warm-up's
    chunk texts (the same as every run's) are embedded raw at each batch size once, to
    find the best; then each repeat times the raw rate at that batch size just before
    Docent's ingest, and the tutorial just after, so each ratio compares runs minutes
    apart at most (this machine's load moves by 2x within minutes).
    """
    folder = work / "model-docs"
    write_documents(folder, args.model_docs)
    tuning = work / "embed-tuning.json"
    warm_up = Run(repo=args.docent_root, store=work / "model-warm-up", ollama=host)
    timed_ingest(warm_up, folder, REAL_MODEL, tuning)
    texts = [c[1] for c in stored_chunks(warm_up.store)]
    shutil.rmtree(warm_up.store, ignore_errors=True)
    sweep = {b: len(texts) / raw_embed(host, texts, b) for b in RAW_BATCHES}
    best_batch = max(sweep, key=lambda b: sweep[b])
    docent, best_raw, ratios_raw = [], [], []
    lang, lang_alone, ratios_lang, ratios_alone = [], [], [], []
    chunks, lang_chunks = 0, 0
    for i in range(args.repeats):
        store = work / f"model-store-{i}"
        run = Run(repo=args.docent_root, store=store, ollama=host)
        raw_rate = len(texts) / raw_embed(host, texts, best_batch)
        ingested = timed_ingest(run, folder, REAL_MODEL, tuning)
        chunks = ingested.chunks
        docent.append(chunks / ingested.wall)
        best_raw.append(raw_rate)
        ratios_raw.append(chunks / ingested.wall / raw_rate)
        result = tutorial(host, folder, work / f"tutorial-{i}")
        if result is not None:
            lang_chunks = result.chunks
            lang.append(result.wall)
            lang_alone.append(result.pipeline)
            ratios_lang.append(result.wall / ingested.wall)
            ratios_alone.append(result.pipeline / ingested.run)
        shutil.rmtree(store, ignore_errors=True)
    swept = ", ".join(f"{b}: {rate:.1f}" for b, rate in sweep.items())
    rows = [
        (f"raw /api/embed by batch size, once (chunks/s; {len(texts)} texts)", swept),
        (
            f"first ingest, {args.model_docs} docs, {REAL_MODEL} (chunks/s, wall)",
            f"{statistics.median(docent):.1f} ({chunks} chunks)",
        ),
        (
            f"best raw /api/embed, just before each ingest (chunks/s, batch {best_batch})",
            f"{statistics.median(best_raw):.1f}",
        ),
        ("Docent / best raw (target >= 0.95)", f"{statistics.median(ratios_raw):.2f}"),
    ]
    if lang:
        rows += [
            (
                "LangChain tutorial as a command (s, start-up included)",
                f"{statistics.median(lang):.1f} ({lang_chunks} chunks)",
            ),
            (
                "Docent speed / tutorial speed, both commands (target >= 1.2)",
                f"{statistics.median(ratios_lang):.2f}",
            ),
            ("the tutorial's pipeline alone (s, imports excluded)", _median(lang_alone)),
            (
                "Docent speed / tutorial speed, each run alone (Docent's report's seconds)",
                f"{statistics.median(ratios_alone):.2f}",
            ),
        ]
    else:
        rows.append(("LangChain tutorial", "not run: install the bench extra"))
    return rows


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench ingest", description=__doc__)
    parser.add_argument("--docs", type=int, default=5000, help="documents, instant model")
    parser.add_argument("--model-docs", type=int, default=300, help="documents, real model")
    parser.add_argument(
        "--unchanged-docs",
        type=int,
        default=10_000,
        help="documents, unchanged re-ingest (0: skip)",
    )
    parser.add_argument("--no-overhead", action="store_true", help="skip the instant-model part")
    parser.add_argument("--repeats", type=int, default=3, help="runs; medians are reported")
    parser.add_argument("--quick", action="store_true", help="a tiny run (CI smoke test)")
    parser.add_argument("--no-model", action="store_true", help="only the instant-model part")
    parser.add_argument("--docent-root", type=Path, default=corpus.REPO, help="checkout to measure")
    parser.add_argument("--label", default="", help="added to the result's name (e.g. before)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.docs, args.model_docs, args.unchanged_docs, args.repeats = 200, 20, 300, 1
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        with standin() as host:
            os.environ.pop("DOCENT_EMBED_BATCH_SIZE", None)
            rows = [] if args.no_overhead else overhead_rows(args, host, work)
            rows += unchanged_rows(args, host, work)
            if not args.no_model:
                rows += model_rows(args, host, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    name = f"ingest-{args.docs}" + (f"-{args.label}" if args.label else "")
    params = {
        "docs (instant model)": args.docs,
        "docs (real model)": args.model_docs,
        "docs (unchanged re-ingest)": args.unchanged_docs,
        "repeats": args.repeats,
        "docent from": str(args.docent_root),
        "command": "python -m bench ingest " + " ".join(argv),
    }
    _json_path, md_path = report.write(args.out, name, params, rows)
    print(md_path.read_text(encoding="utf-8"))  # noqa: T201
