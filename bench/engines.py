"""SQLite FTS5 against tantivy as the lexical engine: build time, size, query latency.

Both engines get the same pre-analyzed terms (Docent's :class:`Analyzer`: English stemming
and stopwords, CJK bigrams) of SciFact abstracts repeated with a copy marker up to
``--size`` passages, and answer the 809 train queries (top 20, OR of the query terms,
BM25 with k1=1.2, b=0.75 in both), unfiltered and with a ``source`` filter.

Usage: ``python -m bench engines --size 100000 [--out bench-results]``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import apsw
import tantivy

from bench import corpus, report
from retrieval.lexical import default_analyzer

Search = Callable[[list[str], str | None], list[str]]


def build_fts5(folder: Path, docs: Sequence[tuple[str, str, str]]) -> Search:
    db = apsw.Connection(str(folder / "fts5.sqlite"))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE VIRTUAL TABLE terms USING fts5(body, content='', contentless_delete=1, "
        "tokenize='unicode61 remove_diacritics 0')"
    )
    db.execute("CREATE TABLE chunks(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE, source TEXT)")
    db.execute("CREATE INDEX chunks_source ON chunks(source)")
    with db:
        db.executemany(
            "INSERT INTO chunks(rowid, id, source) VALUES (?, ?, ?)",
            ((n, d[0], d[1]) for n, d in enumerate(docs, start=1)),
        )
        db.executemany(
            "INSERT INTO terms(rowid, body) VALUES (?, ?)",
            ((n, d[2]) for n, d in enumerate(docs, start=1)),
        )

    def search(terms: list[str], source: str | None) -> list[str]:
        match = " OR ".join(f'"{t}"' for t in dict.fromkeys(terms))
        if source is None:
            sql = (
                "SELECT c.id FROM terms JOIN chunks c ON c.rowid = terms.rowid "
                "WHERE terms MATCH ? ORDER BY bm25(terms) LIMIT 20"
            )
            return [row[0] for row in db.execute(sql, (match,))]
        sql = (
            "SELECT c.id FROM terms JOIN chunks c ON c.rowid = terms.rowid "
            "WHERE terms MATCH ? AND c.source = ? ORDER BY bm25(terms) LIMIT 20"
        )
        return [row[0] for row in db.execute(sql, (match, source))]

    return search


def build_tantivy(folder: Path, docs: Sequence[tuple[str, str, str]]) -> Search:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("source", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
    schema = builder.build()
    index = tantivy.Index(schema, path=str(folder))
    writer = index.writer(heap_size=128_000_000, num_threads=1)
    for doc_id, source, body in docs:
        writer.add_document(tantivy.Document(id=doc_id, source=source, body=body))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()

    def search(terms: list[str], source: str | None) -> list[str]:
        should = [
            (tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", t))
            for t in dict.fromkeys(terms)
        ]
        query = tantivy.Query.boolean_query(should)
        if source is not None:
            query = tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Must, query),
                    (tantivy.Occur.Must, tantivy.Query.term_query(schema, "source", source)),
                ]
            )
        hits = searcher.search(query, limit=20, count=False).hits
        return [searcher.doc(address)["id"][0] for _, address in hits]

    return search


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(size: int, out: Path, query_limit: int) -> Path:
    analyzer = default_analyzer()
    base = corpus.abstracts()
    terms = {a.doc_id: " ".join(analyzer.terms(a.text)) for a in base}  # copies: same terms
    docs = []
    for a in corpus.copies(base, size):
        original, _, copy = a.doc_id.partition("-copy")
        body = terms[original] + (f" copy {copy}" if copy else "")
        docs.append((a.doc_id, f"{original}.txt", body))
    questions = [analyzer.terms(q) for q in corpus.queries()[:query_limit]]
    sources = [docs[(i * 7919) % len(docs)][1] for i in range(len(questions))]
    rows: list[tuple[str, str]] = []
    for name, build in (("fts5", build_fts5), ("tantivy", build_tantivy)):
        folder = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        try:
            start = time.perf_counter()
            search = build(folder, docs)
            built = time.perf_counter() - start
            rows.append((f"{name}: build", f"{built:.1f} s, {_folder_size(folder) / 1e6:.0f} MB"))
            for label, filtered in (("query", False), ("query + source filter", True)):
                times = []
                for query_terms, source in zip(questions, sources, strict=True):
                    start = time.perf_counter()
                    search(query_terms, source if filtered else None)
                    times.append(time.perf_counter() - start)
                p = report.percentiles_ms(times)
                rows.append((f"{name}: {label} p50 / p99", f"{p['p50']} / {p['p99']} ms"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    params = {
        "size": size,
        "queries": len(questions),
        "command": f"python -m bench engines --size {size}",
    }
    json_path, _ = report.write(out, f"engines-{size}", params, rows)
    return json_path


def main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench engines", description=__doc__)
    parser.add_argument("--size", type=int, default=100_000, help="passages indexed")
    parser.add_argument("--queries", type=int, default=809, help="queries run (at most 809)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    path = run(args.size, args.out, args.queries)
    print(path.with_suffix(".md").read_text(encoding="utf-8"))  # noqa: T201
