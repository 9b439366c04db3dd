"""SmolLM2-135M-Instruct on llama.cpp: chat template, prompt truncation, streamed sampling."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

MAX_CTX = 8192
DEFAULT_CTX = 4096


@dataclass
class Sampling:
    """Ollama's options for one completion, with Ollama's defaults."""

    num_ctx: int = DEFAULT_CTX
    num_predict: int = -1
    num_keep: int = 4
    temperature: float = 0.8
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.0
    repeat_penalty: float = 1.1
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    stop: list[str] = field(default_factory=lambda: ["<|im_start|>", "<|im_end|>"])


@dataclass
class Completion:
    """What a finished completion reports."""

    text: str
    done_reason: str
    prompt_eval_count: int
    eval_count: int
    prompt_eval_ns: int
    eval_ns: int
    context: list[int]


def prompt_budget(sampling: Sampling) -> int:
    """Tokens a prompt may use: num_ctx less a reserve for the answer."""
    n_ctx = sampling.num_ctx
    if sampling.num_predict > 0:
        reserve = min(sampling.num_predict, n_ctx // 2)
    else:
        reserve = min(256, n_ctx // 4)
    return max(1, n_ctx - max(1, reserve))


def truncate_tokens(tokens: list[int], limit: int, keep: int) -> list[int]:
    """Drop the oldest tokens after the first ``keep`` so that at most ``limit`` remain."""
    if len(tokens) <= limit:
        return tokens
    keep = max(0, min(keep, limit - 1))
    return tokens[:keep] + tokens[len(tokens) - (limit - keep) :]


class SmolLMEngine:
    """One llama.cpp instance; calls are serialised (a Llama is not thread-safe)."""

    def __init__(self, model_path: Path, *, threads: int = 1, threads_batch: int = 2) -> None:
        self.model_path = model_path
        self.threads = threads
        self.threads_batch = threads_batch
        self.n_ctx = 0
        self._llm: llama_cpp.Llama | None = None
        self._formatter: Jinja2ChatFormatter | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory."""
        return self._llm is not None

    def load(self, n_ctx: int) -> None:
        """Load the model with a context of ``n_ctx`` tokens (reloads if it differs)."""
        n_ctx = max(64, min(n_ctx, MAX_CTX))
        with self._lock:
            if self._llm is not None and self.n_ctx == n_ctx:
                return
            self._close()
            self._llm = llama_cpp.Llama(
                model_path=str(self.model_path),
                n_ctx=n_ctx,
                n_batch=min(512, n_ctx),
                n_threads=self.threads,
                n_threads_batch=self.threads_batch,
                verbose=False,
            )
            self.n_ctx = n_ctx
            template = str(self._llm.metadata.get("tokenizer.chat_template", ""))
            self._formatter = Jinja2ChatFormatter(
                template=template, eos_token="<|im_end|>", bos_token="<|im_start|>"
            )

    def unload(self) -> None:
        """Free the weights."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._llm is not None:
            self._llm.close()
        self._llm = None
        self._formatter = None
        self.n_ctx = 0

    def _model(self) -> llama_cpp.Llama:
        if self._llm is None:
            raise RuntimeError("model is not loaded")
        return self._llm

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        """Apply the GGUF's chat template, with the assistant turn opened."""
        if self._formatter is None:
            raise RuntimeError("model is not loaded")
        result = self._formatter(messages=[dict(m) for m in messages])  # type: ignore[misc]
        return str(result.prompt)

    def tokenize(self, text: str) -> list[int]:
        """Tokens of a rendered prompt (special tokens parsed)."""
        return list(self._model().tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def detokenize(self, tokens: Sequence[int]) -> str:
        """Text of tokens."""
        return bytes(self._model().detokenize(list(tokens))).decode("utf-8", errors="replace")

    def chat_prompt(self, messages: Sequence[dict[str, str]], sampling: Sampling) -> list[int]:
        """Render messages, dropping the oldest ones and then the oldest tokens to fit num_ctx.

        Like Ollama, system messages and the latest message are never dropped whole.
        """
        limit = prompt_budget(sampling)
        kept = list(messages)
        tokens = self.tokenize(self.render(kept))
        while len(tokens) > limit:
            droppable = [i for i, m in enumerate(kept[:-1]) if m.get("role") != "system"]
            if not droppable:
                break
            del kept[droppable[0]]
            tokens = self.tokenize(self.render(kept))
        return truncate_tokens(tokens, limit, sampling.num_keep)

    def raw_prompt(self, text: str, sampling: Sampling) -> list[int]:
        """Tokenize a raw prompt and truncate it to fit num_ctx."""
        return truncate_tokens(self.tokenize(text), prompt_budget(sampling), sampling.num_keep)

    def complete(
        self,
        prompt: list[int],
        sampling: Sampling,
        *,
        fmt: Any = None,
        cancel: threading.Event,
        emit: Callable[[str], None],
    ) -> Completion:
        """Sample a completion, calling ``emit`` per piece; stop early once ``cancel`` is set."""
        with self._lock:
            llm = self._model()
            llm.reset()  # type: ignore[no-untyped-call]  # fresh KV: byte-reproducible runs
            sampled = 0
            first_token_at: list[float] = []

            def should_stop(_ids: Any, _logits: Any) -> bool:
                nonlocal sampled
                sampled += 1
                if not first_token_at:
                    first_token_at.append(time.perf_counter())
                return cancel.is_set()

            started = time.perf_counter()
            pieces: list[str] = []
            done_reason = "stop"
            stream = llm.create_completion(
                prompt=prompt,
                max_tokens=sampling.num_predict if sampling.num_predict > 0 else None,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k,
                min_p=sampling.min_p,
                repeat_penalty=sampling.repeat_penalty,
                presence_penalty=sampling.presence_penalty,
                frequency_penalty=sampling.frequency_penalty,
                seed=sampling.seed,
                stop=list(sampling.stop),
                grammar=_grammar(fmt),
                stopping_criteria=llama_cpp.StoppingCriteriaList([should_stop]),
                stream=True,
            )
            try:
                for chunk in stream:
                    choice: dict[str, Any] = dict(chunk["choices"][0])  # type: ignore[index,arg-type]
                    text = str(choice.get("text") or "")
                    if text:
                        pieces.append(text)
                        emit(text)
                    reason = choice.get("finish_reason")
                    if reason:
                        done_reason = "length" if reason == "length" else "stop"
                    if cancel.is_set():
                        break
            finally:
                stream.close()  # type: ignore[union-attr]
            ended = time.perf_counter()
            first = first_token_at[0] if first_token_at else ended
            text = "".join(pieces)
            answer = self.tokenize_plain(text)
            return Completion(
                text=text,
                done_reason=done_reason,
                prompt_eval_count=len(prompt),
                # llama-cpp-python consults the stopping criteria once more after the loop
                eval_count=max(0, sampled - 1),
                prompt_eval_ns=int((first - started) * 1e9),
                eval_ns=max(1, int((ended - first) * 1e9)),
                context=[*prompt, *answer],
            )

    def tokenize_plain(self, text: str) -> list[int]:
        """Tokens of generated text (no BOS, special tokens parsed)."""
        if not text:
            return []
        return list(self._model().tokenize(text.encode("utf-8"), add_bos=False, special=True))


def _grammar(fmt: Any) -> LlamaGrammar | None:
    """A grammar for Ollama's ``format``: "json" or a JSON schema; None otherwise."""
    if fmt == "json":
        return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
    if isinstance(fmt, dict) and fmt:
        return LlamaGrammar.from_json_schema(json.dumps(fmt), verbose=False)
    return None
