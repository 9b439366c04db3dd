"""Adaptive, token-sized embedding requests: over mock hosts, and against the real API."""

from __future__ import annotations

import asyncio
import json

import httpx
import ollama
import pytest

from retrieval.embedder import OllamaEmbedder
from retrieval.settings import OllamaSettings
from retrieval.tokens import count_tokens_batch


def adaptive_settings(tmp_path, **extra) -> OllamaSettings:
    return OllamaSettings(
        host="127.0.0.1:11000",
        embed_model="m",
        embed_tuning_file=tmp_path / "tuning.json",
        **extra,
    )


async def test_requests_are_sized_in_tokens_grow_and_are_remembered(tmp_path):
    sizes: list[int] = []

    async def per_request_overhead(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["input"]
        sizes.append(sum(count_tokens_batch(inputs)))
        await asyncio.sleep(0.03)  # a server whose cost is per request: bigger is faster
        return httpx.Response(
            200, json={"model": "m", "embeddings": [[float(len(t))] for t in inputs]}
        )

    settings = adaptive_settings(tmp_path, embed_batch_tokens=256, embed_max_batch_tokens=2048)
    embedder = OllamaEmbedder(settings)
    embedder._hosts[0].client = ollama.AsyncClient(
        host=embedder.urls[0], transport=httpx.MockTransport(per_request_overhead)
    )
    texts = [f"text number {i} " + "word " * (i % 7) for i in range(2000)]
    for _ in range(3):
        vectors = await embedder.embed_documents(texts)
        assert vectors == [[float(len(t))] for t in texts]  # input order kept
    await embedder.aclose()

    assert max(sizes) <= 2048
    assert sizes[0] <= 256
    best = embedder._hosts[0].tuner.best
    assert best is not None
    assert best.plan.batch_tokens > 256  # it grew
    # what is remembered is the best plan measured (the current plan may be a trial of a
    # bigger one, not yet measured, when the run ends)
    remembered = json.loads((tmp_path / "tuning.json").read_text())
    assert remembered[f"{embedder.urls[0]} m"]["batch_tokens"] == best.plan.batch_tokens


async def test_a_text_longer_than_the_budget_goes_alone(tmp_path):
    seen: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["input"]
        seen.append(inputs)
        return httpx.Response(200, json={"model": "m", "embeddings": [[1.0]] * len(inputs)})

    settings = adaptive_settings(tmp_path, embed_batch_tokens=64, embed_max_batch_tokens=64)
    embedder = OllamaEmbedder(settings)
    embedder._hosts[0].client = ollama.AsyncClient(
        host=embedder.urls[0], transport=httpx.MockTransport(handler)
    )
    long_text = "word " * 500
    assert len(await embedder.embed_documents(["a", long_text, "b"])) == 3
    await embedder.aclose()
    assert [long_text] in seen
    assert sorted(t for batch in seen for t in batch) == sorted(["a", long_text, "b"])


async def test_adaptive_and_fixed_batches_give_the_same_vectors(ollama_host, embed_model, tmp_path):
    texts = [f"Sentence {i} about {'cats' if i % 2 else 'the stock market'}." for i in range(40)]
    fixed = OllamaEmbedder(
        OllamaSettings(host=ollama_host, embed_model=embed_model, embed_batch_size=7)
    )
    adaptive = OllamaEmbedder(
        OllamaSettings(
            host=ollama_host,
            embed_model=embed_model,
            embed_batch_tokens=128,
            embed_tuning_file=tmp_path / "tuning.json",
        )
    )
    try:
        a = await fixed.embed_documents(texts)
        b = await adaptive.embed_documents(texts)
    finally:
        await fixed.aclose()
        await adaptive.aclose()
    assert len(a) == len(b) == 40
    for x, y in zip(a, b, strict=True):
        assert max(abs(p - q) for p, q in zip(x, y, strict=True)) < 1e-4
    assert adaptive.calls > 1  # 40 sentences do not fit 128 tokens: several requests


async def test_given_token_counts_size_the_requests_and_nothing_is_counted(tmp_path, monkeypatch):
    seen: list[list[str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["input"]
        seen.append(inputs)
        return httpx.Response(
            200, json={"model": "m", "embeddings": [[float(len(t))] for t in inputs]}
        )

    def no_counting(texts: list[str]) -> list[int]:
        raise AssertionError("counted again")

    monkeypatch.setattr("retrieval.embedder.count_tokens_batch", no_counting)
    settings = adaptive_settings(tmp_path, embed_batch_tokens=64, embed_max_batch_tokens=64)
    embedder = OllamaEmbedder(settings)
    embedder._hosts[0].client = ollama.AsyncClient(
        host=embedder.urls[0], transport=httpx.MockTransport(handler)
    )
    texts = ["a", "bb", "ccc", "dddd"]  # 3-6 tokens each: one request if counted
    vectors = await embedder.embed_counted(texts, [40, 30, 40, 30])
    with pytest.raises(ValueError, match="3 token counts for 4 texts"):
        await embedder.embed_counted(texts, [1, 2, 3])
    await embedder.aclose()
    assert vectors == [[1.0], [2.0], [3.0], [4.0]]  # input order kept
    # sized by the given counts (64 a request), shortest first
    assert seen == [["bb", "dddd"], ["a"], ["ccc"]]
