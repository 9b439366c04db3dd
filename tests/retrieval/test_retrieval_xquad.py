"""Retrieval with the real embedding model (stand-in or Ollama) on XQuAD paragraphs,
in English, Chinese and Arabic: the gold paragraph ranks in the top k for most questions.
"""

from __future__ import annotations

import pytest

from retrieval.embedder import OllamaEmbedder
from retrieval.search import Searcher, SearchRequest
from retrieval.settings import RetrievalMode, Settings
from retrieval.store import ChunkStore
from tests.datasets import xquad
from tests.retrieval.fixtures_retrieval import fill_store

ARTICLES = 2
"""Articles used per language (about ten paragraphs, a few dozen questions)."""
QUESTIONS_PER_PARAGRAPH = 2
K = 5


@pytest.fixture(scope="module")
async def xquad_searcher(ollama_host, embed_model, tmp_path_factory):
    settings = Settings()
    settings.ollama.host = ollama_host
    settings.ollama.embed_model = embed_model
    settings.chroma.path = tmp_path_factory.mktemp("chroma")
    store = ChunkStore.ephemeral()
    embedder = OllamaEmbedder(settings.ollama)
    questions = {}
    for language in ("en", "zh", "ar"):
        docs, questions[language] = xquad(
            language, articles=ARTICLES, per_paragraph=QUESTIONS_PER_PARAGRAPH
        )
        await fill_store(store, f"xquad-{language}", docs, embedder)
    yield Searcher(settings, store, embedder), questions
    await embedder.aclose()


async def _hit_rate(searcher: Searcher, collection: str, questions, mode: RetrievalMode) -> float:
    found = 0
    for question, gold in questions:
        hits = await searcher.search(SearchRequest(question, collection, k=K, mode=mode))
        found += gold in {hit.source for hit in hits}
    return found / len(questions)


@pytest.mark.parametrize(
    ("language", "mode", "at_least"),
    [
        ("en", "dense", 0.8),
        ("en", "lexical", 0.8),
        ("en", "hybrid", 0.85),
        ("zh", "lexical", 0.8),  # character bigrams
        ("zh", "hybrid", 0.8),
        ("ar", "lexical", 0.7),
        ("ar", "hybrid", 0.7),
    ],
)
async def test_gold_paragraph_in_top_k(xquad_searcher, language, mode, at_least):
    searcher, questions = xquad_searcher
    assert len(questions[language]) >= 20
    rate = await _hit_rate(searcher, f"xquad-{language}", questions[language], mode)
    assert rate >= at_least, f"{language}/{mode}: gold paragraph in top {K} for {rate:.0%}"
