"""``docent eval``: score retrieval on a BEIR data set, convert SQuAD-format data to one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.errors import reports_docent_errors

if TYPE_CHECKING:
    from ingest.eval_beir import EvalReport
    from retrieval.evaluation import BeirData
    from retrieval.settings import RetrievalMode

eval_app = typer.Typer(help="Measure Docent's quality.", no_args_is_help=True)


async def evaluate(
    data: BeirData, modes: list[RetrievalMode], collection: str, k: int
) -> EvalReport:
    """:func:`ingest.eval_beir.evaluate_retrieval` with the composition root's parts."""
    from ingest.eval_beir import evaluate_retrieval
    from ingest.runtime import open_runtime

    async with open_runtime() as runtime:
        return await evaluate_retrieval(runtime, data, modes=modes, collection=collection, k=k)


@eval_app.command("retrieval")
@reports_docent_errors
def eval_retrieval_command(
    corpus: Annotated[Path, typer.Option("--corpus", help="BEIR corpus.jsonl.")],
    queries: Annotated[Path, typer.Option("--queries", help="BEIR queries.jsonl.")],
    qrels: Annotated[Path, typer.Option("--qrels", help="BEIR qrels TSV (e.g. qrels/test.tsv).")],
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", help="dense, lexical or hybrid; repeatable (default: all three)."),
    ] = None,
    k: Annotated[
        int, typer.Option("--k", min=1, max=100, help="Cut-off of nDCG@k, Recall@k and MRR@k.")
    ] = 10,
    collection: Annotated[
        str, typer.Option("--collection", "-c", help="Collection to fill or reuse.")
    ] = "beir",
    limit_queries: Annotated[
        int | None, typer.Option("--limit-queries", min=1, help="Only the first N queries.")
    ] = None,
    limit_corpus: Annotated[
        int | None,
        typer.Option(
            "--limit-corpus",
            min=1,
            help="About N documents: every document judged for a kept query, plus others.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print {"mode": {"ndcg@10": x, ...}} (stdout).')
    ] = False,
) -> None:
    """Score retrieval on a BEIR data set: nDCG@10, Recall@10, Recall@100, MRR@10 per mode."""
    import asyncio
    import json

    from api.cli.options import parse_modes
    from retrieval.evaluation import limit, load_beir
    from retrieval.search import MODES

    modes = parse_modes(mode) if mode else list(MODES)
    data = limit(load_beir(corpus, queries, qrels), queries=limit_queries, corpus=limit_corpus)
    report = asyncio.run(evaluate(data, modes, collection, k))
    typer.echo(json.dumps(report.metrics()) if as_json else report.table())


@eval_app.command("convert-squad")
@reports_docent_errors
def convert_squad_command(
    source: Annotated[Path, typer.Argument(help="SQuAD-format JSON (e.g. xquad.zh.dev.json).")],
    out_dir: Annotated[Path, typer.Argument(help="Folder for the BEIR files (created).")],
) -> None:
    """Convert SQuAD-format data to BEIR: paragraphs are documents, questions queries.

    Writes OUT_DIR/corpus.jsonl, OUT_DIR/queries.jsonl and OUT_DIR/qrels/test.tsv, for
    `docent eval retrieval --corpus ... --queries ... --qrels ...`.
    """
    from ingest.eval_squad import convert_squad

    data, files = convert_squad(source, out_dir)
    typer.echo(
        f"{len(data.paragraphs)} paragraphs, {len(data.questions)} questions -> "
        + ", ".join(str(path) for path in files.values())
    )
