"""all-MiniLM-L6-v2 on onnxruntime: WordPiece, mean pooling over the mask, L2 normalisation."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from standin.errors import CONTEXT_LENGTH_MESSAGE, OllamaError

FloatArray = npt.NDArray[np.float32]


class MiniLMEmbedder:
    """A loaded all-MiniLM-L6-v2: one instance, used by one request at a time."""

    def __init__(
        self,
        model_path: Path,
        tokenizer_path: Path,
        *,
        max_tokens: int = 256,
        threads: int = 2,
        sub_batch: int = 16,
    ) -> None:
        self.max_tokens = max_tokens
        self.sub_batch = sub_batch
        self._lock = threading.Lock()
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}

    def count_tokens(self, text: str) -> int:
        """Number of tokens of a text, special tokens included, before truncation."""
        return len(self._tokenizer.encode(text).ids)

    def embed(self, texts: Sequence[str], *, truncate: bool = True) -> tuple[FloatArray, int]:
        """Embed texts in order; return (unit vectors, tokens evaluated).

        Raises:
            OllamaError: 400 when ``truncate`` is false and a text is over the context.
        """
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
            if not truncate and any(len(e.ids) > self.max_tokens for e in encodings):
                raise OllamaError(400, CONTEXT_LENGTH_MESSAGE)
            for encoding in encodings:
                encoding.truncate(self.max_tokens)
            out = np.zeros((len(texts), self._dim()), dtype=np.float32)
            order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
            for start in range(0, len(order), self.sub_batch):
                chunk = order[start : start + self.sub_batch]
                out[chunk] = self._forward([encodings[i] for i in chunk])
            return out, sum(len(e.ids) for e in encodings)

    def _dim(self) -> int:
        shape = self._session.get_outputs()[0].shape
        last = shape[-1]
        return last if isinstance(last, int) else 384

    def _forward(self, encodings: list[Encoding]) -> FloatArray:
        longest = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), longest), dtype=np.int64)
        mask = np.zeros_like(ids)
        types = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = encoding.attention_mask
            types[row, :n] = encoding.type_ids
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = types
        token_vectors = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (token_vectors * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: FloatArray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return unit
