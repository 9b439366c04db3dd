"""SQuAD-format data (XQuAD) converted to BEIR files that ``docent eval retrieval`` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from ingest.eval_squad import convert_squad, parse_squad
from retrieval.errors import InvalidRequest
from retrieval.evaluation import load_beir
from tests.datasets import dataset


def _squad(*paragraphs: list[tuple[str, str]]) -> dict[str, object]:
    """One article whose paragraphs hold the given (question id, question) pairs."""
    return {
        "version": "1.1",
        "data": [
            {
                "title": "Article",
                "paragraphs": [
                    {
                        "context": f"Paragraph {n} text.",
                        "qas": [{"id": i, "question": q, "answers": []} for i, q in qas],
                    }
                    for n, qas in enumerate(paragraphs)
                ],
            }
        ],
    }


def test_each_question_is_judged_against_its_own_paragraph(tmp_path: Path) -> None:
    source = tmp_path / "squad.json"
    source.write_text(json.dumps(_squad([("q1", "First?")], [("q2", "Second?"), ("q3", "Third?")])))
    data, files = convert_squad(source, tmp_path / "out")
    assert [p.text for p in data.paragraphs] == ["Paragraph 0 text.", "Paragraph 1 text."]
    beir = load_beir(files["corpus"], files["queries"], files["qrels"])
    assert {d: doc.text for d, doc in beir.corpus.items()} == {
        "a0p0": "Paragraph 0 text.",
        "a0p1": "Paragraph 1 text.",
    }
    assert beir.queries == {"q1": "First?", "q2": "Second?", "q3": "Third?"}
    assert beir.qrels == {"q1": {"a0p0": 1}, "q2": {"a0p1": 1}, "q3": {"a0p1": 1}}
    assert not list((tmp_path / "out").rglob("*.partial"))


def test_xquad_languages_share_their_ids(tmp_path: Path) -> None:
    converted = {
        language: convert_squad(dataset("xquad", f"xquad.{language}.dev.json"), tmp_path / language)
        for language in ("en", "zh")
    }
    (en, _), (zh, files) = converted["en"], converted["zh"]
    assert (len(en.paragraphs), len(en.questions)) == (120, 632)
    assert [q.id for q in en.questions] == [q.id for q in zh.questions]
    assert [q.paragraph for q in en.questions] == [q.paragraph for q in zh.questions]
    beir = load_beir(files["corpus"], files["queries"], files["qrels"])
    assert len(beir.queries) == 632
    assert all(len(judged) == 1 for judged in beir.qrels.values())


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "Expected a JSON object with 'data' in x."),
        ({"data": {}}, "Expected x: data to be a list, got dict."),
        (
            {"data": [{"paragraphs": [{"qas": []}]}]},
            "Expected x: data[0].paragraphs[0] to have 'context' as str, got NoneType.",
        ),
        (
            {"data": [{"paragraphs": [{"context": "c", "qas": [{"id": "q"}]}]}]},
            "Expected x: data[0].paragraphs[0].qas[0] to have 'question' as str, got NoneType.",
        ),
        (
            {"data": [{"paragraphs": [{"context": "c", "qas": []}]}]},
            "Expected at least one question in x, got none.",
        ),
        (_squad([("q", "a?")], [("q", "b?")]), "Expected unique question ids, got 'q' twice."),
    ],
)
def test_malformed_input_is_refused_with_where(document: object, message: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_squad(document, "x")
    assert raised.value.message == message


def test_cli_converts_and_reports_bad_json(tmp_path: Path) -> None:
    source = tmp_path / "squad.json"
    source.write_text(json.dumps(_squad([("q1", "First?")])))
    out = tmp_path / "beir"
    result = CliRunner().invoke(app, ["eval", "convert-squad", str(source), str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 paragraphs, 1 questions -> ")
    assert (out / "qrels" / "test.tsv").read_text() == "query-id\tcorpus-id\tscore\nq1\ta0p0\t1\n"
    source.write_text("{not json")
    bad = CliRunner().invoke(app, ["eval", "convert-squad", str(source), str(tmp_path / "b")])
    assert bad.exit_code != 0
    assert "invalid JSON" in bad.output
    assert not (tmp_path / "b").exists()
