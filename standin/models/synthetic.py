"""``synthetic-hash-embed``: a deterministic embedding "model" for scale work only.

Not a language model: each word (lower-cased letters and digits) is hashed (CRC-32) to one
of ``dimension`` buckets with a sign; a text's vector is the L2-normalised sum. Texts that
share words get similar vectors, which is enough to exercise vector search at a million
chunks, at memory speed. Its retrieval quality means nothing.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1 << 18)
def _bucket(word: str, dimension: int) -> tuple[int, float]:
    digest = zlib.crc32(word.encode("utf-8"))
    return digest % dimension, 1.0 if (digest >> 31) & 1 else -1.0


class HashEmbedder:
    """Vectors from hashed words; same interface as the real embedder of the stand-in."""

    def __init__(self, dimension: int, max_tokens: int) -> None:
        self.dimension = dimension
        self.max_tokens = max_tokens

    def count_tokens(self, text: str) -> int:
        """Words, plus the two special tokens a BERT model would add."""
        return len(_WORD.findall(text)) + 2

    def embed(self, texts: Sequence[str], *, truncate: bool = True) -> tuple[FloatArray, int]:
        """Embed texts in order; return (unit vectors, words counted)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        tokens = 0
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())[: self.max_tokens]
            tokens += len(words) + 2
            for word in words:
                bucket, sign = _bucket(word, self.dimension)
                out[row, bucket] += sign
            norm = float(np.linalg.norm(out[row]))
            if norm > 0.0:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out, tokens
