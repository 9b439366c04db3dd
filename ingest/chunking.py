"""Cutting page texts into chunks sized in tokens of the embedding model.

The algorithm is langchain-text-splitters' recursive character splitting (its
separators, Markdown-aware ones for Markdown) re-implemented on character spans: the
library's ``add_start_index`` guesses offsets with ``str.find`` and gets them wrong for
repeated passages and token-based overlap, and exact offsets are part of every chunk.

Sizes are counted with :mod:`retrieval.tokens` (exact for BERT-vocabulary embedders such
as all-minilm and nomic-embed-text, an estimate for others, which get a wider margin).
No chunk exceeds the model's context: the splitter's result is checked with exact
counts and anything too long is cut again at token boundaries.

Counting is done once per page: the page is encoded once, and a span that starts and ends
outside any word (as the page's encoding splits it into words) takes exactly the tokens
of the page that start inside it, because BERT's normaliser and pre-tokeniser act on each
character alone and WordPiece on each word alone. Any other span (a cut inside a word, by
the character separator) is encoded on its own, as before. The chunks are the same as
with a count of every span on its own, only far cheaper: one encoding per page instead of
one per word (tens of microseconds each).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ingest.loaders.base import LoadedDocument
from retrieval.settings import ChunkingSettings
from retrieval.tokens import SPECIAL_TOKENS, count_tokens, tokenizer
from retrieval.types import ModelInfo

CHUNKER_VERSION = "1"
"""Bump when the chunks of an unchanged text would change: forces re-chunking."""
BERT_FAMILIES = frozenset({"bert", "nomic-bert"})
DEFAULT_CONTEXT = 512


@dataclass(frozen=True)
class ChunkingPlan:
    """How to cut: ``size``/``overlap`` in text tokens, ``limit`` the model's hard cap.

    ``limit`` counts the special tokens too; ``size + 2 <= limit`` always.
    """

    size: int
    overlap: int
    limit: int

    @property
    def signature(self) -> str:
        return f"c{CHUNKER_VERSION}:{self.size}:{self.overlap}"


def plan_chunking(settings: ChunkingSettings, info: ModelInfo) -> ChunkingPlan:
    """Cap the configured size to what the embedding model accepts.

    Args:
        settings: configured size and overlap (tokens).
        info: the model's context length and family (``/api/show``).
    """
    context = info.context_length or DEFAULT_CONTEXT
    exact = (info.family or "").lower() in BERT_FAMILIES
    margin = 2 if exact else max(8, context // 10)
    limit = max(SPECIAL_TOKENS + 8, context - margin)
    size = max(8, min(settings.size, limit - SPECIAL_TOKENS))
    overlap = min(settings.overlap, size // 2)
    return ChunkingPlan(size=size, overlap=overlap, limit=limit)


@dataclass(frozen=True)
class TextPiece:
    """A chunk of a page: ``text == page_text[start:end]``."""

    text: str
    page: int
    start: int
    end: int
    tokens: int
    """Tokens the embedding model reads for ``text``, [CLS] and [SEP] included: exactly
    :func:`retrieval.tokens.count_tokens` of it, so the embedder need not count again."""


@lru_cache(maxsize=1 << 16)
def _text_tokens(text: str) -> int:
    """Tokens of ``text`` without the special tokens (cached: the splitter asks often)."""
    return count_tokens(text) - SPECIAL_TOKENS


class PageTokens:
    """Token counts of any span of one page, from a single encoding of the page."""

    def __init__(self, text: str) -> None:
        self.text = text
        encoding = tokenizer().encode_batch([text], add_special_tokens=False)[0]
        starts = [0] * (len(text) + 1)
        words: dict[int, tuple[int, int]] = {}
        for index, (word, (start, end)) in enumerate(
            zip(encoding.word_ids, encoding.offsets, strict=True)
        ):
            starts[start + 1] += 1
            key = -1 - index if word is None else word  # a special token is a word alone
            first, last = words.get(key, (start, end))
            words[key] = (min(first, start), max(last, end))
        self._before = list(itertools.accumulate(starts))
        """``_before[p]``: how many of the page's tokens start before ``p``."""
        self._inside = bytearray(len(text) + 1)
        """``_inside[p]``: a word of the page spans across ``p``."""
        for first, last in words.values():
            if last - first > 1:
                self._inside[first + 1 : last] = b"\x01" * (last - first - 1)

    def count(self, start: int, end: int) -> int:
        """Tokens of ``text[start:end]`` without the special tokens (exact)."""
        if self._inside[start] or self._inside[end]:
            return _text_tokens(self.text[start:end])
        return self._before[end] - self._before[start]


@lru_cache(maxsize=2)
def _separators(markdown: bool) -> tuple[re.Pattern[str], ...]:
    """Langchain's recursive separators (Markdown-aware ones for Markdown), as regexes."""
    if markdown:
        from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

        found = RecursiveCharacterTextSplitter.get_separators_for_language(Language.MARKDOWN)
        return tuple(re.compile(sep) for sep in found)
    return tuple(re.compile(re.escape(sep)) for sep in ("\n\n", "\n", " ", ""))


Span = tuple[int, int]


def _pieces(text: str, start: int, end: int, separator: re.Pattern[str]) -> list[Span]:
    """Cut ``text[start:end]`` before every separator match.

    The separator stays with the piece it starts; the empty separator cuts characters.
    """
    if not separator.pattern:
        return [(i, i + 1) for i in range(start, end)]
    cuts = [m.start() for m in separator.finditer(text, start, end) if m.start() > start]
    bounds = [start, *dict.fromkeys(cuts), end]
    return [(x, y) for x, y in itertools.pairwise(bounds) if y > x]


def _merge(tokens_of: PageTokens, spans: list[Span], plan: ChunkingPlan) -> list[Span]:
    """Join neighbouring pieces up to ``plan.size`` tokens.

    Up to ``plan.overlap`` tokens of a chunk's end start the next chunk again.
    """
    chunks: list[Span] = []
    window: deque[tuple[int, int, int]] = deque()
    total = 0
    for a, b in spans:
        tokens = tokens_of.count(a, b)
        if window and total + tokens > plan.size:
            chunks.append((window[0][0], window[-1][1]))
            while window and (total > plan.overlap or total + tokens > plan.size):
                total -= window.popleft()[2]
        window.append((a, b, tokens))
        total += tokens
    if window:
        chunks.append((window[0][0], window[-1][1]))
    return chunks


def _split(
    tokens_of: PageTokens,
    start: int,
    end: int,
    separators: Sequence[re.Pattern[str]],
    plan: ChunkingPlan,
) -> list[Span]:
    """Recursive character splitting (langchain's algorithm) that keeps exact offsets."""
    text = tokens_of.text
    index = next(
        (i for i, sep in enumerate(separators) if not sep.pattern or sep.search(text, start, end)),
        len(separators) - 1,
    )
    rest = separators[index + 1 :]
    out: list[Span] = []
    fitting: list[Span] = []
    for a, b in _pieces(text, start, end, separators[index]):
        if tokens_of.count(a, b) <= plan.size:
            fitting.append((a, b))
            continue
        if fitting:
            out.extend(_merge(tokens_of, fitting, plan))
            fitting = []
        out.extend(_split(tokens_of, a, b, rest, plan) if rest else [(a, b)])
    if fitting:
        out.extend(_merge(tokens_of, fitting, plan))
    return out


def _hard_cut(text: str, limit: int) -> list[Span]:
    """Spans of ``text`` of at most ``limit`` tokens each (specials included)."""
    encoding = tokenizer().encode(text, add_special_tokens=False)
    window = max(1, limit - SPECIAL_TOKENS)
    offsets = encoding.offsets
    spans: list[Span] = []
    for i in range(0, len(offsets), window):
        group = offsets[i : i + window]
        spans.append((group[0][0], group[-1][1]))
    return spans or [(0, len(text))]


def _strip(text: str, a: int, b: int) -> Span:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def split_text(text: str, page: int, plan: ChunkingPlan, *, markdown: bool) -> list[TextPiece]:
    """Cut one page's text into chunks of at most ``plan.size`` tokens (with overlap).

    Every chunk is ``text[start:end]``, stripped of surrounding whitespace; together they
    cover all non-whitespace text; none exceeds ``plan.limit`` tokens with specials.
    """
    pieces: list[TextPiece] = []
    tokens_of = PageTokens(text)
    for a, b in _split(tokens_of, 0, len(text), _separators(markdown), plan):
        a, b = _strip(text, a, b)
        if a == b:
            continue
        chunk = text[a:b]
        tokens = tokens_of.count(a, b) + SPECIAL_TOKENS
        if tokens <= plan.limit:
            pieces.append(TextPiece(chunk, page, a, b, tokens))
            continue
        for x, y in _hard_cut(chunk, plan.limit):
            pieces.append(TextPiece(chunk[x:y], page, a + x, a + y, count_tokens(chunk[x:y])))
    return pieces


def split_document(doc: LoadedDocument, plan: ChunkingPlan) -> list[TextPiece]:
    """Chunks of every page, in page order; chunks never span pages."""
    markdown = doc.markdown_headings
    return [
        piece
        for page in doc.pages
        if page.text.strip()
        for piece in split_text(page.text, page.number, plan, markdown=markdown)
    ]


def chunk_version(content_hash: str, plan: ChunkingPlan) -> str:
    """Short hash of the content and the chunking: part of every chunk id."""
    return hashlib.sha256(f"{content_hash}|{plan.signature}".encode()).hexdigest()[:12]
