"""OpenAI's /v1/embeddings, over ASGI and through the ``openai`` SDK's own decoding."""

from __future__ import annotations

import base64
import json

import httpx
import numpy as np
import openai
import pytest

from api.routes.openai_embeddings import CreateEmbeddingResponse
from tests.api.conftest import COLLECTION, FakeUpstream
from tests.fakes import hash_vector


async def test_float_embeddings_in_openai_shape(
    client: httpx.AsyncClient, upstream: FakeUpstream
) -> None:
    response = await client.post(
        "/v1/embeddings", json={"model": "fake-embed", "input": ["one", "two"]}
    )
    assert response.status_code == 200
    body = CreateEmbeddingResponse.model_validate(response.json())
    assert [d.index for d in body.data] == [0, 1]
    assert body.data[1].embedding == pytest.approx(hash_vector("two", 32))
    assert json.loads(upstream.requests[-1].content) == {
        "model": "fake-embed",
        "input": ["one", "two"],
        "truncate": True,
        "keep_alive": "30m",
    }


async def test_base64_is_little_endian_float32(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/embeddings",
        json={"model": "fake-embed", "input": "one", "encoding_format": "base64"},
    )
    encoded = response.json()["data"][0]["embedding"]
    decoded = np.frombuffer(base64.b64decode(encoded), dtype="<f4")
    assert decoded.tolist() == pytest.approx(hash_vector("one", 32), abs=1e-6)


async def test_openai_sdk_decodes_its_default_base64(client: httpx.AsyncClient) -> None:
    sdk = openai.AsyncOpenAI(
        base_url="http://127.0.0.1:8000/v1", api_key="unused", http_client=client
    )
    result = await sdk.embeddings.create(model="fake-embed", input="one")
    assert result.data[0].embedding == pytest.approx(hash_vector("one", 32), abs=1e-6)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "nomic", "input": "a"}, 404, "model_not_found"),
        ({"model": "fake-embed", "input": ""}, 400, "invalid_request"),
        ({"model": "fake-embed", "input": [[1, 2, 3]]}, 422, "validation_error"),
        ({"model": f"docent/{COLLECTION}", "input": "a"}, 400, "invalid_request"),
    ],
)
async def test_errors_in_openai_shape(
    client: httpx.AsyncClient, body: dict[str, object], status: int, code: str
) -> None:
    response = await client.post("/v1/embeddings", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert error["message"]
