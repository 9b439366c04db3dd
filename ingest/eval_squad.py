"""SQuAD-format question answering data (XQuAD, SQuAD v1.1) as a BEIR retrieval set.

Each paragraph becomes a document (its text only: an article's title is shared by all its
paragraphs, and XQuAD keeps it in English in every language), each question a query
whose one relevant document is the paragraph it was asked about. The output is what
``docent eval retrieval`` reads: ``corpus.jsonl``, ``queries.jsonl`` and
``qrels/test.tsv``.

Ids are positional (``a<article>p<paragraph>``), so the same file converts to the same
ids every time, and the translations of one data set (XQuAD's languages) share them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.errors import InvalidRequest

QRELS_NAME = "test.tsv"
"""The qrels file written under ``OUT_DIR/qrels/``."""


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    text: str
    paragraph: str


@dataclass(frozen=True)
class SquadParagraph:
    id: str
    text: str


@dataclass(frozen=True)
class SquadRetrievalSet:
    """Paragraphs (the corpus) and questions (the queries, one gold paragraph each)."""

    paragraphs: list[SquadParagraph]
    questions: list[SquadQuestion]


def _field(row: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = row.get(key)
    if not isinstance(value, kind):
        raise InvalidRequest(
            f"Expected {where} to have {key!r} as {kind.__name__}, got {type(value).__name__}."
        )
    return value


def _rows(value: Any, where: str) -> Iterator[Mapping[str, Any]]:
    if not isinstance(value, list):
        raise InvalidRequest(f"Expected {where} to be a list, got {type(value).__name__}.")
    for i, row in enumerate(value):
        if not isinstance(row, dict):
            raise InvalidRequest(f"Expected {where}[{i}] to be an object.")
        yield row


def parse_squad(document: Any, name: str = "the file") -> SquadRetrievalSet:
    """The paragraphs and questions of a parsed SQuAD JSON document.

    Raises:
        InvalidRequest: not SQuAD's shape (``{"data": [{"title", "paragraphs": [{"context",
            "qas": [{"id", "question"}]}]}]}``) or no question at all; the message says
            where.
    """
    if not isinstance(document, dict):
        raise InvalidRequest(f"Expected a JSON object with 'data' in {name}.")
    paragraphs: list[SquadParagraph] = []
    questions: list[SquadQuestion] = []
    seen: set[str] = set()
    for a, article in enumerate(_rows(document.get("data"), f"{name}: data")):
        where = f"{name}: data[{a}]"
        for p, paragraph in enumerate(_rows(article.get("paragraphs"), f"{where}.paragraphs")):
            place = f"{where}.paragraphs[{p}]"
            doc_id = f"a{a}p{p}"
            paragraphs.append(SquadParagraph(doc_id, _field(paragraph, "context", str, place)))
            for q, qa in enumerate(_rows(paragraph.get("qas"), f"{place}.qas")):
                spot = f"{place}.qas[{q}]"
                query_id = str(_field(qa, "id", str, spot))
                if query_id in seen:
                    raise InvalidRequest(f"Expected unique question ids, got {query_id!r} twice.")
                seen.add(query_id)
                questions.append(SquadQuestion(query_id, _field(qa, "question", str, spot), doc_id))
    if not questions:
        raise InvalidRequest(f"Expected at least one question in {name}, got none.")
    return SquadRetrievalSet(paragraphs, questions)


def load_squad(path: Path) -> SquadRetrievalSet:
    """Read and parse a SQuAD-format JSON file (see :func:`parse_squad`)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequest(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"Expected SQuAD JSON in {path}, got invalid JSON.") from exc
    return parse_squad(document, str(path))


def write_beir(data: SquadRetrievalSet, out_dir: Path) -> dict[str, Path]:
    """Write ``data`` as BEIR files under ``out_dir``; returns their paths by role.

    Each file is written to a temporary name first and renamed, so an interrupted run
    never leaves a half-written file under its real name.
    """
    files = {
        "corpus": out_dir / "corpus.jsonl",
        "queries": out_dir / "queries.jsonl",
        "qrels": out_dir / "qrels" / QRELS_NAME,
    }
    corpus = "".join(
        json.dumps({"_id": p.id, "title": "", "text": p.text}, ensure_ascii=False) + "\n"
        for p in data.paragraphs
    )
    queries = "".join(
        json.dumps({"_id": q.id, "text": q.text}, ensure_ascii=False) + "\n" for q in data.questions
    )
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(
        f"{q.id}\t{q.paragraph}\t1\n" for q in data.questions
    )
    for role, text in (("corpus", corpus), ("queries", queries), ("qrels", qrels)):
        target = files[role]
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            partial.write_text(text, encoding="utf-8")
            partial.replace(target)
        except OSError as exc:
            raise InvalidRequest(f"Cannot write {target}: {exc.strerror or exc}.") from exc
    return files


def convert_squad(source: Path, out_dir: Path) -> tuple[SquadRetrievalSet, dict[str, Path]]:
    """Convert one SQuAD-format file to BEIR files under ``out_dir``."""
    data = load_squad(source)
    return data, write_beir(data, out_dir)
