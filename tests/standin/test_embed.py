"""Embeddings: the real all-MiniLM-L6-v2 through the official clients."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import ollama
import pytest
from langchain_ollama import OllamaEmbeddings

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "minilm_reference.json"


@pytest.fixture(scope="module")
def client(ollama_host: str) -> ollama.Client:
    return ollama.Client(host=ollama_host)


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))["items"]


def cosine(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_embed_single_and_batch(client: ollama.Client, embed_model: str) -> None:
    single = client.embed(embed_model, input="hello world")
    assert single.model == embed_model
    assert len(single.embeddings) == 1
    assert len(single.embeddings[0]) == 384
    assert abs(np.linalg.norm(single.embeddings[0]) - 1) < 1e-3
    assert single.prompt_eval_count
    assert single.prompt_eval_count >= 2
    assert single.total_duration
    assert single.load_duration is not None

    texts = ["first text", "hello world", "a third, much longer text about embeddings"]
    batch = client.embed(embed_model, input=texts)
    assert len(batch.embeddings) == 3
    assert cosine(batch.embeddings[1], single.embeddings[0]) > 0.999  # order preserved


def test_similarity_order_and_reference_cosines(client: ollama.Client, embed_model: str) -> None:
    food, bread, horse, movie1, movie2 = client.embed(
        embed_model,
        input=[
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "A man is riding a horse.",
            "The new movie is awesome",
            "The new movie is so great",
        ],
    ).embeddings
    assert cosine(food, bread) > cosine(food, horse)
    assert cosine(food, bread) == pytest.approx(0.755, abs=0.02)
    assert cosine(food, horse) == pytest.approx(0.247, abs=0.02)
    assert cosine(movie1, movie2) == pytest.approx(0.894, abs=0.02)


def test_agrees_with_independent_reference(
    client: ollama.Client, embed_model: str, reference: list[dict]
) -> None:
    vectors = client.embed(embed_model, input=[item["text"] for item in reference]).embeddings
    for item, vector in zip(reference, vectors, strict=True):
        assert cosine(item["embedding"], vector) >= 0.99, item["text"][:40]


def test_truncate_false_over_context_is_400(ollama_host: str, embed_model: str, reference) -> None:
    long_text = max(reference, key=lambda item: item["tokens"])["text"]
    response = httpx.post(
        f"{ollama_host}/api/embed",
        json={"model": embed_model, "input": long_text, "truncate": False},
        timeout=60,
    )
    assert response.status_code == 400
    assert response.json() == {"error": "the input length exceeds the context length"}
    truncated = httpx.post(
        f"{ollama_host}/api/embed", json={"model": embed_model, "input": long_text}, timeout=60
    )
    assert truncated.status_code == 200
    assert len(truncated.json()["embeddings"][0]) == 384


def test_dimensions_and_empty_input(ollama_host: str, embed_model: str) -> None:
    small = httpx.post(
        f"{ollama_host}/api/embed",
        json={"model": embed_model, "input": "hello", "dimensions": 64},
        timeout=60,
    ).json()["embeddings"][0]
    assert len(small) == 64
    assert abs(np.linalg.norm(small) - 1) < 1e-3
    empty = httpx.post(f"{ollama_host}/api/embed", json={"model": embed_model, "input": []}).json()
    assert empty["embeddings"] == []


def test_legacy_embeddings(client: ollama.Client, embed_model: str) -> None:
    legacy = client.embeddings(model=embed_model, prompt="hello world").embedding
    current = client.embed(embed_model, input="hello world").embeddings[0]
    assert cosine(legacy, current) > 0.999


async def test_async_client_embed(ollama_host: str, embed_model: str) -> None:
    response = await ollama.AsyncClient(host=ollama_host).embed(embed_model, input=["a", "b"])
    assert len(response.embeddings) == 2


def test_langchain_embeddings(ollama_host: str, embed_model: str) -> None:
    embeddings = OllamaEmbeddings(model=embed_model, base_url=ollama_host)
    documents = embeddings.embed_documents(["The cat sits outside", "The cat plays in the garden"])
    query = embeddings.embed_query("The cat sits outside")
    assert len(documents) == 2
    assert cosine(documents[0], query) > 0.999
    assert cosine(documents[0], documents[1]) == pytest.approx(0.679, abs=0.02)
