"""Grounded answers: the one streaming core every door (API, facades, CLI, notebooks) uses.

``Answerer.prepare`` retrieves and fits the prompt before anything is streamed, so its
errors can still become real HTTP statuses. ``PreparedAnswer.events`` then yields
``sources``, text ``delta``s and ``done`` (or ``error`` if the model fails mid-stream).
``Answerer.answer`` is that stream aggregated by :func:`retrieval.stream.collect`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any

from retrieval.citations import map_citations, uncited_sentences
from retrieval.errors import DocentError, InvalidRequest
from retrieval.events import (
    AnswerEvent,
    DeltaEvent,
    DoneEvent,
    ErrorEvent,
    SourceRef,
    SourcesEvent,
    Timings,
    Usage,
)
from retrieval.followup import search_in_conversation
from retrieval.prompt import BuiltPrompt, build_prompt
from retrieval.search import Searcher, SearchRequest, is_relevant
from retrieval.settings import RetrievalMode, Settings
from retrieval.stream import collect
from retrieval.tokens import count_tokens
from retrieval.types import ChatDelta, ChatDone, ChatMessage, ChatModel, ChatOptions, Hit

logger = logging.getLogger(__name__)

NOT_FOUND_ANSWER = "Not found in the documents."
"""The exact answer when nothing relevant is retrieved (the chat model is not called)."""
EXCERPT_CHARS = 240
FALLBACK_CONTEXT = 4096
"""num_ctx when neither settings nor ``/api/show`` tell the model's context length."""
MIN_NUM_CTX = 256


@dataclass(frozen=True)
class AskRequest:
    """One question.

    Attributes:
        question: what the user asks.
        collection: the collection to answer from.
        k: chunks to retrieve; None means ``settings.retrieval.k``.
        mode: retrieval mode; None means ``settings.retrieval.mode``.
        filters: metadata filters (see :class:`retrieval.search.SearchRequest`).
        options: model options; unset fields fall back to ``settings.answer``.
        system: replaces the instruction part of the system prompt (grounding rules stay).
        history: earlier turns, oldest first.
        search_query: what retrieval searches for instead of the question (e.g. the user's
            own query inside a client's prompt template); None: the question, with the
            previous user turn when it reads as a follow-up (:mod:`retrieval.followup`).
    """

    question: str
    collection: str = "default"
    k: int | None = None
    mode: RetrievalMode | None = None
    filters: Mapping[str, Any] | None = None
    options: ChatOptions | None = None
    system: str | None = None
    history: Sequence[ChatMessage] = ()
    search_query: str | None = None


def source_refs(hits: Sequence[Hit]) -> list[SourceRef]:
    """Number hits ``[1]..[n]`` as the prompt does."""
    return [
        SourceRef(
            n=n,
            id=hit.id,
            source=hit.source,
            page=hit.page,
            score=hit.score,
            excerpt=hit.text[:EXCERPT_CHARS],
            ocr=hit.metadata.get("ocr") is True,
        )
        for n, hit in enumerate(hits, start=1)
    ]


class PreparedAnswer:
    """Retrieval done and prompt fitted; :meth:`events` streams the answer.

    Attributes:
        sources: the blocks handed to the model, numbered [1]..[n].
        found: False when nothing relevant was retrieved (the model will not be called).
        prompt: the fitted prompt (None when not found).
    """

    def __init__(
        self,
        *,
        chat: ChatModel,
        sources: list[SourceRef],
        prompt: BuiltPrompt | None,
        options: ChatOptions,
        started: float,
        retrieval_ms: float,
    ) -> None:
        self.sources = sources
        self.found = prompt is not None
        self.prompt = prompt
        self.options = options
        self._chat = chat
        self._started = started
        self._retrieval_ms = retrieval_ms

    def events(self) -> AsyncGenerator[AnswerEvent, None]:
        """``SourcesEvent``, ``DeltaEvent``s, then ``DoneEvent`` (or a final ``ErrorEvent``).

        Closing the generator early (``aclose``, a cancelled task, a client gone) closes
        the model's stream, so Ollama stops generating.
        """
        return self._events()

    async def _events(self) -> AsyncGenerator[AnswerEvent, None]:
        yield SourcesEvent(sources=self.sources)
        if self.prompt is None:
            yield DeltaEvent(text=NOT_FOUND_ANSWER)
            yield DoneEvent(answer=NOT_FOUND_ANSWER, found=False, timings=self._timings(None))
            return
        parts: list[str] = []
        first_token: float | None = None
        done: ChatDone | None = None
        try:
            async with aclosing(self._chat.stream(self.prompt.messages, self.options)) as stream:
                async for item in stream:
                    if isinstance(item, ChatDelta):
                        if first_token is None:
                            first_token = time.perf_counter()
                        parts.append(item.text)
                        yield DeltaEvent(text=item.text)
                    else:
                        done = item
        except DocentError as exc:
            logger.warning("event=answer_failed code=%s error=%s", exc.code, exc)
            yield ErrorEvent(code=exc.code, message=exc.message)
            return
        except Exception:
            logger.exception("event=answer_failed code=internal_error")
            yield ErrorEvent(
                code="internal_error",
                message="The answer failed unexpectedly. The server log has the details.",
            )
            return
        yield self._done("".join(parts), done, first_token)

    def _timings(self, first_token: float | None, done: ChatDone | None = None) -> Timings:
        now = time.perf_counter()
        return Timings(
            retrieval_ms=self._retrieval_ms,
            first_token_ms=None if first_token is None else (first_token - self._started) * 1e3,
            total_ms=(now - self._started) * 1e3,
            prompt_eval_ns=done.prompt_eval_duration if done else None,
            eval_ns=done.eval_duration if done else None,
        )

    def _done(self, answer: str, done: ChatDone | None, first_token: float | None) -> DoneEvent:
        assert self.prompt is not None
        prompt_count = done.prompt_eval_count if done else None
        truncated = prompt_count is not None and prompt_count >= self.prompt.num_ctx
        if prompt_count is not None and prompt_count > self.prompt.prompt_tokens:
            logger.warning(
                "event=prompt_estimate_low estimated=%d evaluated=%d num_ctx=%d",
                self.prompt.prompt_tokens,
                prompt_count,
                self.prompt.num_ctx,
            )
        if truncated:
            logger.warning(
                "event=prompt_truncated evaluated=%d num_ctx=%d", prompt_count, self.prompt.num_ctx
            )
        return DoneEvent(
            answer=answer,
            found=True,
            citations=map_citations(answer, self.sources),
            uncited_sentences=uncited_sentences(
                answer, [s.n for s in self.sources], ignore=[NOT_FOUND_ANSWER]
            ),
            done_reason=done.done_reason if done else None,
            truncated=truncated,
            usage=Usage(
                prompt_tokens=prompt_count,
                completion_tokens=done.eval_count if done else None,
                prompt_tokens_sent=self.prompt.prompt_tokens,
                num_ctx=self.prompt.num_ctx,
            ),
            timings=self._timings(first_token, done),
        )


class Answerer:
    """Answers questions from a collection: search, fit the prompt, stream the model.

    Args:
        settings: the settings tree (retrieval threshold, answer defaults).
        searcher: finds the chunks.
        chat: writes the answer.
    """

    def __init__(self, settings: Settings, searcher: Searcher, chat: ChatModel) -> None:
        self._settings = settings
        self._searcher = searcher
        self._chat = chat

    @property
    def searcher(self) -> Searcher:
        return self._searcher

    @property
    def chat(self) -> ChatModel:
        return self._chat

    async def prepare(self, request: AskRequest) -> PreparedAnswer:
        """Retrieve and fit the prompt; nothing is generated yet.

        Raises:
            CollectionNotFound, EmbeddingModelMismatch, InvalidRequest: bad request.
            OllamaUnavailable, OllamaModelMissing, OllamaFailed: a model is unusable.
        """
        started = time.perf_counter()
        question = request.question.strip()
        if not question:
            raise InvalidRequest("Expected a non-empty question, got an empty string.")
        search = SearchRequest(
            query=(request.search_query or question).strip() or question,
            collection=request.collection,
            k=request.k,
            mode=request.mode,
            filters=request.filters,
        )
        history = () if request.search_query else request.history
        hits = await search_in_conversation(
            self._searcher, search, history, self._settings.retrieval.rrf_k
        )
        retrieval_ms = (time.perf_counter() - started) * 1e3
        relevant = [hit for hit in hits if is_relevant(hit, self._settings.retrieval.min_score)]
        options = await self._options(request.options, need_context=bool(relevant))
        prompt: BuiltPrompt | None = None
        if relevant:
            # tokenising every block (and loading the vocabulary once) is CPU work: off the loop
            prompt = await asyncio.to_thread(
                build_prompt,
                question,
                relevant,
                num_ctx=options.num_ctx or FALLBACK_CONTEXT,
                num_predict=options.num_predict or self._settings.answer.num_predict,
                not_found=NOT_FOUND_ANSWER,
                instructions=request.system,
                history=list(request.history),
            )
        logger.info(
            "event=answer_prepared collection=%s hits=%d relevant=%d blocks=%d retrieval_ms=%.1f",
            request.collection,
            len(hits),
            len(relevant),
            len(prompt.hits) if prompt else 0,
            retrieval_ms,
        )
        return PreparedAnswer(
            chat=self._chat,
            sources=source_refs(prompt.hits if prompt else []),
            prompt=prompt,
            options=options,
            started=started,
            retrieval_ms=retrieval_ms,
        )

    async def prepare_direct(
        self, messages: Sequence[ChatMessage], options: ChatOptions | None = None
    ) -> PreparedAnswer:
        """The chat model alone on ``messages``: no retrieval, no documents, no citations.

        For prompts that are not questions about the documents (a client's own background
        tasks: titles, tags, suggested follow-ups).

        Raises:
            InvalidRequest: no messages, or bad options.
            OllamaUnavailable, OllamaModelMissing, OllamaFailed: the chat model is unusable.
        """
        started = time.perf_counter()
        if not any(message.content.strip() for message in messages):
            raise InvalidRequest("Expected a non-empty message, got none.")
        resolved = await self._options(options, need_context=True)
        num_ctx = resolved.num_ctx or FALLBACK_CONTEXT
        prompt = BuiltPrompt(
            messages=list(messages),
            hits=[],
            prompt_tokens=await asyncio.to_thread(
                lambda: sum(count_tokens(message.content) for message in messages)
            ),
            num_ctx=num_ctx,
            num_predict=resolved.num_predict or self._settings.answer.num_predict,
        )
        logger.info("event=direct_prepared messages=%d num_ctx=%d", len(messages), num_ctx)
        return PreparedAnswer(
            chat=self._chat,
            sources=[],
            prompt=prompt,
            options=resolved,
            started=started,
            retrieval_ms=0.0,
        )

    async def answer(self, request: AskRequest) -> DoneEvent:
        """The whole answer (the stream aggregated).

        Raises:
            DocentError: whatever :meth:`prepare` raises, or the stream's error event.
        """
        prepared = await self.prepare(request)
        return (await collect(prepared.events(), sources=prepared.sources)).done

    async def _options(self, given: ChatOptions | None, *, need_context: bool) -> ChatOptions:
        answer = self._settings.answer
        options = given or ChatOptions()
        # a client's num_ctx is capped: a remote caller must not make Ollama allocate a
        # context (and KV cache) beyond what this server's operator allows
        requested = min(options.num_ctx, answer.max_num_ctx) if options.num_ctx else None
        num_ctx = requested or answer.num_ctx
        if num_ctx is None and need_context:
            info = await self._chat.info()
            num_ctx = min(info.context_length or FALLBACK_CONTEXT, answer.max_num_ctx)
        if num_ctx is not None and num_ctx < MIN_NUM_CTX:
            raise InvalidRequest(f"Expected num_ctx of at least {MIN_NUM_CTX}, got {num_ctx}.")
        # Ollama clients may send num_predict -1 ("no limit") or -2 ("fill the context"): an
        # answer budget of the whole window would leave no room for the documents.
        given_predict = options.num_predict
        num_predict = given_predict if given_predict and given_predict > 0 else answer.num_predict
        if num_ctx is not None and num_predict >= num_ctx:
            raise InvalidRequest(
                f"Expected num_predict below num_ctx, got num_predict={num_predict} "
                f"and num_ctx={num_ctx}."
            )
        return replace(
            options,
            num_ctx=num_ctx,
            num_predict=num_predict,
            temperature=answer.temperature if options.temperature is None else options.temperature,
        )
