"""OllamaEmbedder against a real Ollama API (the stand-in by default), plus the fake."""

from __future__ import annotations

import math

import pytest

from retrieval.embedder import OllamaEmbedder
from retrieval.errors import OllamaModelMissing, OllamaUnavailable
from retrieval.settings import OllamaSettings
from tests.fakes import FakeEmbedder


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def settings(host: str, embed_model: str, **extra) -> OllamaSettings:
    return OllamaSettings(host=host, embed_model=embed_model, **extra)


async def test_batches_keep_order_and_count_calls(ollama_host, embed_model):
    embedder = OllamaEmbedder(settings(ollama_host, embed_model, embed_batch_size=4))
    texts = [f"sentence number {i} about topic {i % 3}" for i in range(10)]
    try:
        vectors = await embedder.embed_documents(texts)
        assert embedder.calls == 3  # 4 + 4 + 2
        assert len(vectors) == 10
        assert all(len(v) == 384 for v in vectors)
        single = await embedder.embed_query(texts[7])
        assert embedder.calls == 4
        assert cosine(single, vectors[7]) == pytest.approx(1.0, abs=1e-3)
        assert await embedder.embed_documents([]) == []
        assert embedder.calls == 4
    finally:
        await embedder.aclose()


async def test_similar_sentences_are_closer(ollama_host, embed_model):
    embedder = OllamaEmbedder(settings(ollama_host, embed_model))
    try:
        food, bread, horse = await embedder.embed_documents(
            [
                "A man is eating food.",
                "A man is eating a piece of bread.",
                "A man is riding a horse.",
            ]
        )
        assert cosine(food, bread) > cosine(food, horse) + 0.2
    finally:
        await embedder.aclose()


async def test_info_reports_context_and_dimension(ollama_host, embed_model):
    embedder = OllamaEmbedder(settings(ollama_host, embed_model))
    try:
        info = await embedder.info()
        assert info.embedding_length == 384
        assert info.context_length == 256 or info.context_length == 512
        assert embedder.model == embed_model
    finally:
        await embedder.aclose()


async def test_missing_model_names_the_pull_command(ollama_host):
    embedder = OllamaEmbedder(settings(ollama_host, "all-minilm"), model="no-such-embedder")
    try:
        with pytest.raises(OllamaModelMissing, match="ollama pull no-such-embedder"):
            await embedder.info()
    finally:
        await embedder.aclose()


async def test_unreachable_host_fails_after_retries():
    embedder = OllamaEmbedder(
        settings("127.0.0.1:1", "all-minilm", max_retries=2, timeout_seconds=2)
    )
    try:
        with pytest.raises(OllamaUnavailable, match="ollama serve"):
            await embedder.embed_documents(["x"])
        assert embedder.calls == 3
    finally:
        await embedder.aclose()


async def test_fans_out_over_hosts_and_survives_a_dead_one(
    ollama_host, embed_model, standin_factory
):
    second = standin_factory()
    embedder = OllamaEmbedder(
        settings(
            ollama_host,
            embed_model,
            hosts=f"{ollama_host},{second},127.0.0.1:1",
            embed_batch_size=2,
            embed_concurrency=1,
            max_retries=6,
        )
    )
    try:
        assert len(embedder.urls) == 3
        texts = [f"text {i}" for i in range(12)]
        vectors = await embedder.embed_documents(texts)
        reference = await embedder.embed_query("text 5")
        assert cosine(vectors[5], reference) == pytest.approx(1.0, abs=1e-3)
        assert embedder.calls >= 7  # 6 batches + the query, plus retries off the dead host
    finally:
        await embedder.aclose()


async def test_retries_injected_server_errors(embed_model, standin_factory):
    flaky = standin_factory("--error-rate", "0.5", "--seed", "3")
    embedder = OllamaEmbedder(settings(flaky, embed_model, embed_batch_size=1, max_retries=10))
    try:
        vectors = await embedder.embed_documents([f"t{i}" for i in range(6)])
        assert len(vectors) == 6
        assert embedder.calls > 6  # some answered 500 and were retried
    finally:
        await embedder.aclose()


async def test_fake_embedder_is_deterministic_and_counts():
    fake = FakeEmbedder(dimension=8, batch_size=2)
    first = await fake.embed_documents(["a b", "c", "a b"])
    assert first[0] == first[2] != first[1]
    assert fake.calls == 2
    assert math.isclose(sum(x * x for x in first[0]), 1.0, rel_tol=1e-9)
    assert (await fake.info()).embedding_length == 8
