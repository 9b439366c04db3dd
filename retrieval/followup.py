"""Conversation-aware retrieval: what to search for when the question is a follow-up.

"And what phone number do I call?" after a question about the support line names
neither the support line nor anything else worth searching for. When the last user
message reads as a follow-up (a pronoun or demonstrative, a short fragment, an opener
like "and" / "what about"), the previous user turn is put in front of it, and the search
(dense and BM25 alike) sees both. No model rewrites the question: with small local chat
models a rewrite is slow and unreliable, and the concatenation is measured to work
(``scripts/bench_followup.py``; the figures are in the README).

The test is English-only; in other languages only short fragments count as follow-ups.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import replace

from retrieval.search import Searcher, SearchRequest, reciprocal_rank_fusion
from retrieval.types import ChatMessage, Hit

FOLLOWUP_WORDS = frozenset(
    {
        "it",
        "its",
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "they",
        "them",
        "their",
        "theirs",
        "this",
        "these",
        "those",
        "that",
        "there",
    }
)
"""Words that refer back to something named earlier."""
FOLLOWUP_OPENERS = ("and ", "also ", "what about ", "how about ", "then ", "so ")
"""Openings that continue the previous question."""
SHORT_WORDS = 3
"""A message of at most this many words is a fragment of the conversation."""
_WORD = re.compile(r"\w+", re.UNICODE)
_NOT_POINTING = re.compile(
    r"\b(?:(?:that|there)\s+(?:is|are|was|were|has|have|had)|(?:is|are|was|were)\s+there)\b"
)


def looks_like_followup(question: str) -> bool:
    """Whether ``question`` seems to lean on the conversation before it."""
    text = question.strip().lower()
    words = _WORD.findall(text)
    if not words:
        return False
    if len(words) <= SHORT_WORDS or text.startswith(FOLLOWUP_OPENERS):
        return True
    # "is there", "that are" introduce a clause or an existence; they do not point back
    cleaned = _NOT_POINTING.sub(" ", text)
    return any(word in FOLLOWUP_WORDS for word in _WORD.findall(cleaned))


def previous_user_turn(history: Sequence[ChatMessage]) -> str | None:
    """The latest user message in ``history`` (oldest first), if any."""
    for message in reversed(history):
        if message.role == "user" and message.content.strip():
            return message.content.strip()
    return None


def followup_queries(question: str, history: Sequence[ChatMessage]) -> tuple[str, ...]:
    """The searches whose results are fused for ``question``.

    ``(question,)`` for a question that stands alone; for a follow-up, the question and
    the previous user turn + the question (their results fused by reciprocal rank, so a
    change of topic that merely looks like a follow-up loses little).
    """
    combined = retrieval_query(question, history)
    return (question,) if combined == question else (question, combined)


def retrieval_query(question: str, history: Sequence[ChatMessage]) -> str:
    """What to search for: the question, preceded by the previous user turn for a follow-up.

    Args:
        question: the last user message.
        history: the earlier turns, oldest first.
    """
    previous = previous_user_turn(history)
    if previous is None or not looks_like_followup(question):
        return question
    return f"{previous}\n{question}"


async def search_in_conversation(
    searcher: Searcher, request: SearchRequest, history: Sequence[ChatMessage], rrf_k: int
) -> list[Hit]:
    """``searcher.search(request)``, seeing the conversation when the query is a follow-up.

    Args:
        searcher: the searcher.
        request: the search of the last user message.
        history: the earlier turns, oldest first.
        rrf_k: the reciprocal rank fusion constant.
    """
    queries = followup_queries(request.query, history)
    if len(queries) == 1:
        return await searcher.search(request)
    rankings = await asyncio.gather(
        *(searcher.search(replace(request, query=query)) for query in queries)
    )
    return reciprocal_rank_fusion(rankings, rrf_k)[: max(len(r) for r in rankings)]
