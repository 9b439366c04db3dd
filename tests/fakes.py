"""Fakes shared by the unit tests (no network): a deterministic hash-based embedder."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

from retrieval.types import ModelInfo

_WORD = re.compile(r"\w+")


def hash_vector(text: str, dimension: int) -> list[float]:
    """A deterministic unit vector for ``text``: a bag of hashed words (plus a text hash).

    Texts sharing words get a positive cosine similarity, so the fake is usable for
    retrieval tests; identical texts get identical vectors.
    """
    vector = [0.0] * dimension
    words = _WORD.findall(text.lower()) or [text]
    for word in words:
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        slot = int.from_bytes(digest[:4], "little") % dimension
        sign = 1.0 if digest[4] & 1 else -1.0
        vector[slot] += sign
    whole = hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest()
    vector[int.from_bytes(whole, "little") % dimension] += 0.01
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class FakeEmbedder:
    """Implements :class:`retrieval.types.Embedder` with hash-based unit vectors.

    Attributes:
        calls: number of embed requests (one per batch of ``batch_size`` documents, one
            per query), like ``OllamaEmbedder.calls``.
        inputs: every text embedded, in order.
    """

    def __init__(
        self,
        *,
        model: str = "fake-embed",
        dimension: int = 32,
        context_length: int | None = 256,
        batch_size: int = 32,
    ) -> None:
        self._model = model
        self.dimension = dimension
        self.context_length = context_length
        self.batch_size = batch_size
        self.calls = 0
        self.inputs: list[str] = []

    @property
    def model(self) -> str:
        return self._model

    async def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        texts = list(texts)
        if not texts:
            return []
        self.calls += math.ceil(len(texts) / self.batch_size)
        self.inputs.extend(texts)
        return [hash_vector(text, self.dimension) for text in texts]

    async def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        self.inputs.append(text)
        return hash_vector(text, self.dimension)

    async def info(self) -> ModelInfo:
        return ModelInfo(
            name=self._model,
            context_length=self.context_length,
            embedding_length=self.dimension,
            family="bert",
        )

    async def aclose(self) -> None:
        return None
