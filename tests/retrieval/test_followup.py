"""When the last message is a follow-up, retrieval also sees the previous user turn."""

from __future__ import annotations

import pytest

from retrieval.followup import (
    followup_queries,
    looks_like_followup,
    retrieval_query,
    search_in_conversation,
)
from retrieval.search import SearchRequest
from retrieval.types import ChatMessage, Hit

HISTORY = [
    ChatMessage("user", "When is the customer support line open?"),
    ChatMessage("assistant", "Monday to Friday."),
]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("And what phone number do I call?", True),
        ("What year did he die?", True),
        ("Where did they settle?", True),
        ("What was its population in 1901?", True),
        ("Why?", True),
        ("what about weekends", True),
        ("How long is the kettle warranty?", False),
        ("Are there any fees for returns after 30 days?", False),
        ("Which law is it that governs returns?", True),
        ("", False),
    ],
)
def test_looks_like_followup(question: str, expected: bool) -> None:
    assert looks_like_followup(question) is expected


def test_follow_up_is_searched_with_the_previous_user_turn() -> None:
    question = "And what phone number do I call?"
    combined = f"When is the customer support line open?\n{question}"
    assert retrieval_query(question, HISTORY) == combined
    assert followup_queries(question, HISTORY) == (question, combined)


def test_standalone_question_or_no_history_is_searched_alone() -> None:
    assert followup_queries("How long is the kettle warranty?", HISTORY) == (
        "How long is the kettle warranty?",
    )
    assert followup_queries("And what about it?", []) == ("And what about it?",)
    only_assistant = [ChatMessage("assistant", "Hi, ask me anything.")]
    assert retrieval_query("What does it cost?", only_assistant) == "What does it cost?"


class ListSearcher:
    """A searcher that answers each query with a fixed ranking of chunk ids."""

    def __init__(self, rankings: dict[str, list[str]]) -> None:
        self.rankings = rankings
        self.queries: list[str] = []

    async def search(self, request: SearchRequest) -> list[Hit]:
        self.queries.append(request.query)
        ids = self.rankings[request.query][: request.k]
        return [Hit(id=i, text=i, score=1.0 / (n + 1)) for n, i in enumerate(ids)]


async def test_follow_up_results_are_fused_from_both_searches() -> None:
    question = "And what phone number do I call?"
    combined = f"{HISTORY[0].content}\n{question}"
    searcher = ListSearcher({question: ["phones", "hours", "fax"], combined: ["hours", "phones"]})
    request = SearchRequest(question, "docs", k=2)
    hits = await search_in_conversation(searcher, request, HISTORY, rrf_k=60)  # type: ignore[arg-type]
    assert sorted(searcher.queries) == sorted([question, combined])
    assert {hit.id for hit in hits} == {"phones", "hours"}  # both lists agree on these two
    assert len(hits) == 2


async def test_standalone_question_is_one_search() -> None:
    searcher = ListSearcher({"How long is the warranty?": ["warranty", "returns"]})
    request = SearchRequest("How long is the warranty?", "docs", k=5)
    hits = await search_in_conversation(searcher, request, HISTORY, rrf_k=60)  # type: ignore[arg-type]
    assert searcher.queries == ["How long is the warranty?"]
    assert [hit.id for hit in hits] == ["warranty", "returns"]
