"""Property tests of the splitter: coverage, size bounds, offsets and deterministic ids."""

from __future__ import annotations

import itertools
import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.chunking import (
    ChunkingPlan,
    PageTokens,
    TextPiece,
    chunk_version,
    plan_chunking,
    split_text,
)
from retrieval.settings import ChunkingSettings
from retrieval.tokens import SPECIAL_TOKENS, count_tokens, count_tokens_batch
from retrieval.types import ModelInfo
from tests.datasets import dataset, xquad

PROFILE = {
    "max_examples": int(os.environ.get("DOCENT_HYPOTHESIS_EXAMPLES", "60")),
    "deadline": None,
}

words = st.sampled_from(
    ["alpha", "beta", "gamma", "delta", "unbelievably", "x", "42", "naïve", "北京", "—", "#"]
)
paragraph = st.lists(words, min_size=1, max_size=40).map(" ".join)
documents = st.lists(
    st.one_of(paragraph, st.sampled_from(["# Heading", "## Sub", "```", "---", ""])),
    min_size=1,
    max_size=25,
).map("\n\n".join) | st.text(min_size=1, max_size=400)
plans = st.builds(
    lambda size, overlap: ChunkingPlan(size=size, overlap=min(overlap, size // 2), limit=size + 2),
    st.integers(8, 64),
    st.integers(0, 16),
)


@settings(**PROFILE)
@given(documents, plans, st.booleans())
def test_chunks_cover_the_text_within_bounds(text, plan, markdown):
    pieces = split_text(text, 3, plan, markdown=markdown)
    covered = [False] * len(text)
    for piece in pieces:
        assert text[piece.start : piece.end] == piece.text
        assert piece.text.strip()
        assert piece.page == 3
        assert count_tokens(piece.text) <= plan.limit
        for i in range(piece.start, piece.end):
            covered[i] = True
    missing = [c for c, seen in zip(text, covered, strict=True) if not seen and not c.isspace()]
    assert not missing, f"characters not in any chunk: {missing[:10]}"
    starts = [p.start for p in pieces]
    assert starts == sorted(starts)


@settings(**PROFILE)
@given(documents, plans)
def test_splitting_is_deterministic(text, plan):
    assert split_text(text, 0, plan, markdown=False) == split_text(text, 0, plan, markdown=False)


def test_overlap_repeats_text_between_neighbours():
    text = " ".join(f"word{i}" for i in range(300))
    pieces = split_text(text, 0, ChunkingPlan(size=40, overlap=10, limit=42), markdown=False)
    assert len(pieces) > 3
    for left, right in itertools.pairwise(pieces):
        assert right.start < left.end  # overlapping spans
        assert right.start > left.start


def test_size_is_capped_to_the_model_context():
    small = plan_chunking(
        ChunkingSettings(size=1000, overlap=900), ModelInfo("m", 256, 384, "bert")
    )
    assert small.limit <= 256
    assert small.size + 2 <= small.limit
    assert small.overlap <= small.size // 2
    other = plan_chunking(ChunkingSettings(size=1000), ModelInfo("m", 512, 768, "llama"))
    assert other.limit <= 512 - 51  # not our vocabulary: a 10% margin
    nomic = plan_chunking(ChunkingSettings(size=200), ModelInfo("n", 2048, 768, "nomic-bert"))
    assert nomic.size == 200


def test_version_depends_on_content_and_chunking():
    plan = ChunkingPlan(size=100, overlap=10, limit=254)
    other = ChunkingPlan(size=120, overlap=10, limit=254)
    assert chunk_version("abc", plan) == chunk_version("abc", plan)
    assert chunk_version("abc", plan) != chunk_version("abd", plan)
    assert chunk_version("abc", plan) != chunk_version("abc", other)


def test_pathological_long_word_is_cut_to_fit():
    text = "a" * 3000 + " tail"
    pieces = split_text(text, 0, ChunkingPlan(size=30, overlap=0, limit=32), markdown=False)
    assert all(count_tokens(p.text) <= 32 for p in pieces)
    assert [p.tokens for p in pieces] == [count_tokens(p.text) for p in pieces]
    assert "".join(p.text for p in pieces).replace(" ", "").startswith("a" * 3000)


def _span_by_span(text: str, plan: ChunkingPlan, markdown: bool) -> list[TextPiece]:
    """The splitter with every span encoded on its own (how chunks were counted before)."""
    real = PageTokens.count

    def alone(self: PageTokens, start: int, end: int) -> int:
        return count_tokens(self.text[start:end]) - SPECIAL_TOKENS

    PageTokens.count = alone  # type: ignore[method-assign]
    try:
        return split_text(text, 0, plan, markdown=markdown)
    finally:
        PageTokens.count = real  # type: ignore[method-assign]


any_text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=300
) | st.lists(
    st.sampled_from(
        [
            "word",
            "naïve",
            "e\u0301",
            "\u0301",
            "x\x00y",
            "\x07",
            "東京",
            "タワー",
            "😀",
            ",",
            "`",
            "```",
            "#",
            " ",
            "\n",
            "\n\n",
            "\t",
            "\u00a0",
            "İ",
            "ß",
            "a" * 120,
            "unbelievably",
            "[SEP]",
            "[MASK]",
            "[CLS",
        ]
    ),
    max_size=80,
).map("".join)


@settings(**PROFILE)
@given(any_text, st.data())
def test_page_counts_equal_counting_each_span_alone(text, data):
    tokens_of = PageTokens(text)
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    assert tokens_of.count(start, end) == count_tokens(text[start:end]) - SPECIAL_TOKENS


@settings(**PROFILE)
@given(documents | any_text, plans, st.booleans())
def test_chunks_are_those_of_counting_each_span_alone(text, plan, markdown):
    # chunk ids depend on the chunks: a store's re-ingest stays exact only if they are equal
    pieces = split_text(text, 0, plan, markdown=markdown)
    assert pieces == _span_by_span(text, plan, markdown)
    # each chunk carries the count the embedder would make of its text (sizes its requests)
    assert [p.tokens for p in pieces] == [count_tokens(p.text) for p in pieces]


def test_real_corpora_chunk_as_when_each_span_was_counted_alone():
    plan = plan_chunking(ChunkingSettings(), ModelInfo("m", 512, 384, "bert"))
    lines = dataset("scifact", "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    abstracts = [json.loads(line) for line in lines[::20]]  # 260 of the 5,183
    texts = [f"{a['title']}\n\n{a['text']}" for a in abstracts]
    for language in ("en", "zh", "ar"):
        docs, _questions = xquad(language, articles=3)
        texts += [d.text for d in docs]
    pieces = 0
    for text in texts:
        for markdown in (False, True):
            new = split_text(text, 0, plan, markdown=markdown)
            assert new == _span_by_span(text, plan, markdown)
            assert [p.tokens for p in new] == count_tokens_batch([p.text for p in new])
            pieces += len(new)
    assert pieces > len(texts) * 2  # the corpora were split, not passed whole
