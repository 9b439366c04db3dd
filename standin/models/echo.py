"""``synthetic-echo-chat``: an instant chat "model" for serving benchmarks only.

Not a language model: whatever it is asked, it streams the same short fixed reply
(:data:`REPLY`, a few pieces) at memory speed, with no weights. A benchmark that asks it
measures everything around the model — the server's own time before the first token —
without the model's time in the way. Its answers mean nothing.

It has the interface of :class:`standin.models.chat.SmolLMEngine` (load, prompt tokens
truncated to ``num_ctx``, ``complete`` with ``emit`` and ``cancel``), so the stand-in's
routes, queueing and metrics treat it like the real model. Its "tokens" are the prompt's
words, each hashed to an id: counts are plausible, not any real tokenizer's.
"""

from __future__ import annotations

import re
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from standin.models.chat import Completion, Sampling, prompt_budget, truncate_tokens

REPLY: tuple[str, ...] = ("This", " is", " a", " synthetic", " answer", " [1]", ".")
"""The pieces of the one reply, each emitted as one streamed token."""
VOCABULARY = 49_152
"""Token ids are word hashes below this (SmolLM2's vocabulary size, for plausibility)."""

_WORD = re.compile(r"\S+")


def word_tokens(text: str) -> list[int]:
    """One id per whitespace-separated word (CRC-32 of the word, modulo the vocabulary)."""
    return [zlib.crc32(word.encode("utf-8")) % VOCABULARY for word in _WORD.findall(text)]


def render(messages: Sequence[dict[str, str]]) -> str:
    """The messages as one prompt text: ``role: content`` per message, then ``assistant:``."""
    lines = [f"{m.get('role', '')}: {m.get('content', '')}" for m in messages]
    return "\n".join([*lines, "assistant:"])


class EchoChat:
    """The synthetic chat engine: nothing to load, one fixed reply, at memory speed."""

    def __init__(self) -> None:
        self.n_ctx = 0

    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` was called (there are no weights)."""
        return self.n_ctx > 0

    def load(self, n_ctx: int) -> None:
        """Remember the context length (nothing else to load)."""
        self.n_ctx = max(64, n_ctx)

    def unload(self) -> None:
        """Forget the context length."""
        self.n_ctx = 0

    def chat_prompt(self, messages: Sequence[dict[str, str]], sampling: Sampling) -> list[int]:
        """The messages' word tokens, the oldest dropped to fit ``num_ctx`` (as Ollama does)."""
        return truncate_tokens(
            word_tokens(render(messages)), prompt_budget(sampling), sampling.num_keep
        )

    def raw_prompt(self, text: str, sampling: Sampling) -> list[int]:
        """A raw prompt's word tokens, truncated to fit ``num_ctx``."""
        return truncate_tokens(word_tokens(text), prompt_budget(sampling), sampling.num_keep)

    def complete(
        self,
        prompt: list[int],
        sampling: Sampling,
        *,
        fmt: Any = None,
        cancel: threading.Event,
        emit: Callable[[str], None],
    ) -> Completion:
        """Emit :data:`REPLY` piece by piece (at most ``num_predict`` pieces); stop on cancel.

        ``fmt`` is accepted and ignored: the reply is fixed.
        """
        del fmt
        started = time.perf_counter()
        limit = sampling.num_predict if sampling.num_predict > 0 else len(REPLY)
        pieces: list[str] = []
        for piece in REPLY[:limit]:
            if cancel.is_set():
                break
            pieces.append(piece)
            emit(piece)
        ended = time.perf_counter()
        text = "".join(pieces)
        reason = "length" if limit < len(REPLY) and len(pieces) == limit else "stop"
        return Completion(
            text=text,
            done_reason=reason,
            prompt_eval_count=len(prompt),
            eval_count=len(pieces),
            prompt_eval_ns=0,
            eval_ns=max(1, int((ended - started) * 1e9)),
            context=[*prompt, *word_tokens(text)],
        )
