"""End to end: a scanned PDF, an image and a DOCX uploaded over HTTP to Docent (served by
uvicorn, its lifespan building the real reader pool, Chroma and Ollama clients, in front
of the Ollama under test) answer questions with citations to the right page or section;
OCR'd sources say so."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from api.app import create_app
from api.cli.ask import format_source
from api.schemas import AnswerPublic, HitsPublic
from api.streaming import sources_footer
from retrieval.settings import (
    AnswerSettings,
    ChromaSettings,
    ChunkingSettings,
    OllamaSettings,
    RetrievalSettings,
    Settings,
)
from tests.api.server import serve
from tests.ingest.ocr_fixtures import (
    AUDIT,
    BILLING,
    PUMP,
    image_bytes,
    make_docx,
    render_page,
    scanned_pdf,
)

pytestmark = pytest.mark.slow

COLLECTION = "scans"


@pytest.fixture(scope="module")
def docent(
    ollama_host: str, embed_model: str, chat_model: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    settings = Settings(
        ollama=OllamaSettings(host=ollama_host, embed_model=embed_model, chat_model=chat_model),
        chroma=ChromaSettings(path=tmp_path_factory.mktemp("ocr-e2e") / "chroma"),
        # small chunks, so that each DOCX section is a chunk of its own
        chunking=ChunkingSettings(size=48, overlap=0),
        retrieval=RetrievalSettings(mode="hybrid", k=3),
        answer=AnswerSettings(num_predict=32, temperature=0, max_num_ctx=2048),
    )
    with serve(create_app(settings)) as url:
        files = [
            ("files", ("scan.pdf", scanned_pdf(AUDIT, PUMP, BILLING), "application/pdf")),
            ("files", ("manual.docx", make_docx(), "application/octet-stream")),
            ("files", ("whiteboard.png", image_bytes(render_page(BILLING), "PNG"), "image/png")),
        ]
        response = httpx.post(
            f"{url}/v1/collections/{COLLECTION}/documents", files=files, timeout=600
        )
        assert response.status_code == 200, response.text
        assert response.json()["ingested"] == 3, response.text
        yield url


def search(url: str, query: str, **extra: object) -> HitsPublic:
    response = httpx.post(
        f"{url}/v1/search",
        json={"query": query, "collection": COLLECTION, "k": 3, **extra},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    return HitsPublic.model_validate(response.json())


def test_a_scanned_page_is_found_on_its_page_and_marked_ocr(docent: str) -> None:
    top = search(docent, "How do I prime the Zephyr pump before first use?").data[0]
    assert (top.source, top.page, top.ocr) == ("scan.pdf", 2, True)
    assert "two litres of clean water" in top.text


def test_a_docx_section_is_found_with_its_heading(docent: str) -> None:
    top = search(docent, "How often must the ceramic seal be replaced?").data[0]
    assert (top.source, top.page, top.ocr) == ("manual.docx", None, False)
    assert top.text.startswith("# Maintenance")
    assert "Seal | 18 months" in top.text


def test_an_image_is_searchable(docent: str) -> None:
    hits = search(docent, "billing complaints resolved working days", mode="lexical").data
    assert ("whiteboard.png", 1, True) in [(h.source, h.page, h.ocr) for h in hits]


def test_the_answers_sources_show_ocr(docent: str) -> None:
    response = httpx.post(
        f"{docent}/v1/query",
        json={
            "question": "How do I prime the Zephyr pump before first use?",
            "collection": COLLECTION,
            "stream": False,
            "options": {"temperature": 0, "seed": 1, "num_predict": 24},
        },
        timeout=300,
    )
    assert response.status_code == 200, response.text
    answer = AnswerPublic.model_validate(response.json())
    first = answer.sources[0]
    assert (first.source, first.page, first.ocr) == ("scan.pdf", 2, True)
    assert format_source(first).startswith("[1] scan.pdf, p. 2 (OCR) (score ")
    assert "[1] scan.pdf p.2 (OCR)" in sources_footer(answer.sources)
    for citation in answer.citations:
        source = next(s for s in answer.sources if s.n == citation.n)
        assert citation.ocr == source.ocr
