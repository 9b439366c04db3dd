"""Grounded prompts within the chat model's context budget.

The prompt texts live in ``retrieval/prompts/*.txt``. Instructions go in the system
message; the retrieved chunks go in the last user message as numbered
``<document n=".." source=".." page="..">`` blocks, which the system prompt declares to be
data. Chunk text is first normalized (look-alikes of the tag's characters folded by NFKC,
format characters such as zero-width spaces removed), so a full-width ``<`` or a
zero-width space inside ``document`` still makes the plain tag, and then any
``<document``/``</document`` is escaped: a document cannot close
its block and smuggle in text that looks like ours.

Budget (tokens, estimated conservatively because the chat model's tokenizer is not ours):
``system + history + question + documents + num_predict + margin <= num_ctx``. The
lowest-ranked blocks are dropped first, then the last kept block is trimmed; the oldest
history turns go before any document does not fit at all.

Counting without encoding again: WordPiece tokens never span whitespace (BERT's
normaliser and pre-tokeniser act on each character alone, WordPiece on each word alone),
so a text's count is the sum of the counts of its whitespace-separated parts. A block's
count is its frame's (the tag, counted once per frame) plus its chunk's, stored at
ingestion (:func:`retrieval.records.stored_tokens`; a chunk without one, or whose text
the escaping changed, is encoded); the user message's is its frame's plus its blocks'.
The estimates are exactly those of encoding each message whole.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from importlib import resources

from retrieval.errors import InvalidRequest
from retrieval.records import stored_tokens
from retrieval.tokens import SPECIAL_TOKENS, count_tokens
from retrieval.types import ChatMessage, Hit

MESSAGE_OVERHEAD = 8
"""Tokens a chat template adds around each message (role markers, separators)."""
SAFETY_MARGIN = 32
"""Tokens kept free on top of the answer budget."""
MIN_BLOCK_TOKENS = 48
"""A trimmed last block shorter than this is dropped instead."""
CHARS_PER_TOKEN = 3.0
"""Lower bound of characters per token assumed for unknown tokenizers (conservative)."""

_DOC_TAG = re.compile(r"<(\s*/?\s*)(document)", re.IGNORECASE)
"""``<document``, ``</document`` and the spaced forms (``</ document``) a model reads alike."""


@dataclass(frozen=True)
class PromptTemplates:
    """The prompt files: ``system`` wraps ``instructions``, ``question`` wraps blocks."""

    system: str
    instructions: str
    context: str
    question: str

    @classmethod
    def load(cls) -> PromptTemplates:
        """The templates shipped in ``retrieval/prompts`` (read once)."""
        return _load_templates()


@lru_cache(maxsize=1)
def _load_templates() -> PromptTemplates:
    folder = resources.files("retrieval").joinpath("prompts")

    def read(name: str) -> str:
        return folder.joinpath(name).read_text(encoding="utf-8").strip()

    return PromptTemplates(
        system=read("system.txt"),
        instructions=read("instructions.txt"),
        context=read("context.txt"),
        question=read("question.txt"),
    )


def estimate_tokens(text: str) -> int:
    """A conservative token count: the larger of the WordPiece count and chars / 3."""
    return _estimate(_pieces(text), len(text))


def _estimate(pieces: int, chars: int) -> int:
    """:func:`estimate_tokens` of a text of ``chars`` characters and ``pieces`` word pieces."""
    if not chars:
        return 0
    return max(pieces + SPECIAL_TOKENS, math.ceil(chars / CHARS_PER_TOKEN))


def _pieces(text: str) -> int:
    """WordPiece tokens of ``text`` without [CLS] and [SEP]: additive over whitespace."""
    return count_tokens(text) - SPECIAL_TOKENS if text else 0


@lru_cache(maxsize=4096)
def _frame_pieces(frame: str) -> int:
    """:func:`_pieces` of a block's frame (a few per source and rank: counted once each)."""
    return _pieces(frame)


@lru_cache(maxsize=64)
def _spaced(template: str, field: str) -> bool:
    """Whether ``{field}`` appears once in ``template``, with whitespace (or an end) around.

    Then the pieces of the filled template are those of the template filled with ''
    plus those of the value (see the module docstring).
    """
    before, marker, after = template.partition("{" + field + "}")
    return (
        bool(marker)
        and marker not in after
        and (not before or before[-1].isspace())
        and (not after or after[0].isspace())
    )


@lru_cache(maxsize=256)
def _estimate_system(text: str) -> int:
    """:func:`estimate_tokens` of a system prompt: a few texts, counted once each."""
    return estimate_tokens(text)


def estimate_messages(messages: list[ChatMessage]) -> int:
    """Estimated prompt tokens of a chat request (template overhead included)."""
    return (
        sum(
            (_estimate_system(m.content) if m.role == "system" else estimate_tokens(m.content))
            + MESSAGE_OVERHEAD
            for m in messages
        )
        + MESSAGE_OVERHEAD
    )


_TAG_CHARS = frozenset("<>/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
"""What a fence is written with; a character whose NFKC form is one of these is folded."""


@lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    if unicodedata.category(ch) == "Cf":
        return ""
    folded = unicodedata.normalize("NFKC", ch)
    return folded if folded in _TAG_CHARS else ch


def normalize_document_text(text: str) -> str:
    """``text`` with look-alikes of a tag's characters folded and format characters gone.

    A character whose NFKC form is an ASCII letter, ``<``, ``/`` or ``>`` (full-width
    and small forms) becomes that character, and format characters (category ``Cf``:
    zero-width spaces and joiners, soft hyphens) disappear, so no
    look-alike of a fence survives to be read as one. Other text is kept as written
    (``…``, ``m²``), so quotes still match the document.
    """
    if text.isascii():
        return text
    return "".join(ch if ch.isascii() else _fold(ch) for ch in text)


def escape_document_text(text: str) -> str:
    """Neutralise ``<document`` / ``</document`` (and their look-alikes) inside chunk text."""
    normalized = normalize_document_text(text)
    return _DOC_TAG.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}", normalized)


def _attribute(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def render_block(templates: PromptTemplates, n: int, hit: Hit, text: str | None = None) -> str:
    """One numbered ``<document>`` block for ``hit`` (``text`` overrides a trimmed text)."""
    return _fill_block(templates, n, hit, escape_document_text(hit.text if text is None else text))


def _fill_block(templates: PromptTemplates, n: int, hit: Hit, escaped: str) -> str:
    return templates.context.format(
        n=n,
        source=_attribute(hit.source),
        page=hit.page if hit.page is not None else "",
        text=escaped,
    )


@dataclass(frozen=True)
class _Block:
    """A rendered block and its word pieces (:func:`_pieces` of ``text``)."""

    hit: Hit
    text: str
    pieces: int

    def cost(self) -> int:
        """Its estimate as a part of the documents (followed by a blank line)."""
        return _estimate(self.pieces, len(self.text) + 2)


def _block(templates: PromptTemplates, n: int, hit: Hit) -> _Block:
    """The whole block of ``hit``, counted from its stored tokens when it has them.

    Encoded instead when the chunk has no stored count, when escaping changed its text,
    or when a custom context template does not set the text apart with whitespace.
    """
    escaped = escape_document_text(hit.text)
    block = _fill_block(templates, n, hit, escaped)
    stored = stored_tokens(hit.metadata)
    if stored is None or escaped != hit.text or not _spaced(templates.context, "text"):
        return _Block(hit, block, _pieces(block))
    frame = _frame_pieces(_fill_block(templates, n, hit, ""))
    return _Block(hit, block, frame + stored - SPECIAL_TOKENS)


@dataclass(frozen=True)
class BuiltPrompt:
    """Messages ready for the chat model, and how they were fitted.

    Attributes:
        messages: system, history, then the user message with the documents.
        hits: the chunks that made it into the prompt, as blocks [1]..[n].
        prompt_tokens: the conservative estimate of the prompt size.
        num_ctx: the context window to request.
        num_predict: the answer budget.
        dropped: retrieved chunks left out for lack of room.
        trimmed: whether the last block was cut short.
        history_dropped: earlier turns left out for lack of room.
    """

    messages: list[ChatMessage]
    hits: list[Hit]
    prompt_tokens: int
    num_ctx: int
    num_predict: int
    dropped: int = 0
    trimmed: bool = False
    history_dropped: int = 0


def system_prompt(templates: PromptTemplates, not_found: str, instructions: str | None) -> str:
    """The system message; ``instructions`` replaces only the overridable part."""
    return templates.system.format(
        instructions=(instructions or templates.instructions).strip(),
        not_found=not_found,
    )


@dataclass(frozen=True)
class _Frame:
    """What surrounds the documents: the system message, the kept history, the question."""

    templates: PromptTemplates
    system: ChatMessage
    turns: tuple[ChatMessage, ...]
    question: str

    def messages(self, blocks: list[str]) -> list[ChatMessage]:
        """The whole request with ``blocks`` as its documents."""
        documents = "\n\n".join(blocks)
        user = self.templates.question.format(documents=documents, question=self.question)
        return [self.system, *self.turns, ChatMessage(role="user", content=user)]

    def cost(self) -> int:
        """Estimated tokens of the request without any document."""
        return self.estimate([])[1]

    def estimate(self, blocks: list[_Block]) -> tuple[list[ChatMessage], int]:
        """The request with ``blocks`` as its documents, and :func:`estimate_messages` of it.

        The user message is not encoded again: its pieces are its frame's plus the blocks'
        (unless a custom question template does not set the documents apart).
        """
        messages = self.messages([block.text for block in blocks])
        user = messages[-1].content
        if _spaced(self.templates.question, "documents"):
            pieces = self._user_frame_pieces + sum(block.pieces for block in blocks)
            user_tokens = _estimate(pieces, len(user))
        else:
            user_tokens = estimate_tokens(user)
        return messages, self._head_cost + user_tokens + MESSAGE_OVERHEAD

    @cached_property
    def _head_cost(self) -> int:
        """:func:`estimate_messages` of the system message and the turns (no user message)."""
        return estimate_messages([self.system, *self.turns])

    @cached_property
    def _user_frame_pieces(self) -> int:
        """Word pieces of the user message without documents."""
        return _pieces(self.messages([])[-1].content)


def _fit_history(frame: _Frame, available: int) -> tuple[_Frame, int]:
    """Drop the oldest turns until one document block fits; return the frame and the count.

    Linear in the number of turns: each turn's estimate is computed once (a request's
    estimate is the sum of its messages'), and the oldest are dropped from that sum.
    """
    if not frame.turns:
        return frame, 0
    costs = [estimate_tokens(turn.content) + MESSAGE_OVERHEAD for turn in frame.turns]
    total = frame.cost()
    dropped = 0
    while dropped < len(costs) and total + MIN_BLOCK_TOKENS > available:
        total -= costs[dropped]
        dropped += 1
    return replace(frame, turns=frame.turns[dropped:]), dropped


def _pack_blocks(tpl: PromptTemplates, hits: list[Hit], room: int) -> tuple[list[_Block], bool]:
    """The best hits whose blocks fit in ``room`` (the last one trimmed if need be).

    Returns:
        The kept blocks, and whether the last was trimmed.
    """
    packed: list[_Block] = []
    for hit in hits:
        block = _block(tpl, len(packed) + 1, hit)
        cost = block.cost()
        if cost <= room:
            packed.append(block)
            room -= cost
            continue
        cut = _trim_to_fit(tpl, len(packed) + 1, hit, room) if room >= MIN_BLOCK_TOKENS else None
        if cut is not None:
            packed.append(cut)
        return packed, cut is not None
    return packed, False


def _shrink_to_fit(
    frame: _Frame, packed: list[_Block], available: int
) -> tuple[list[ChatMessage], int]:
    """Drop the lowest blocks while the whole request is over budget.

    Estimates are not additive (the chars / 3 bound is taken of each message whole),
    hence this last pass; ``packed`` is shortened in place.

    Returns:
        The messages and their estimate (from the counts already known: nothing is encoded).
    """
    messages, estimate = frame.estimate(packed)
    while packed and estimate > available:
        packed.pop()
        messages, estimate = frame.estimate(packed)
    return messages, estimate


def build_prompt(
    question: str,
    hits: list[Hit],
    *,
    num_ctx: int,
    num_predict: int,
    not_found: str,
    instructions: str | None = None,
    history: tuple[ChatMessage, ...] | list[ChatMessage] = (),
    templates: PromptTemplates | None = None,
) -> BuiltPrompt:
    """Build the messages for ``question`` over ``hits`` (best first) within ``num_ctx``.

    The stages: fit the history, check there is room for documents, pack the blocks
    (trimming the last), then shrink until the whole estimate fits.

    Args:
        question: the user's question.
        hits: retrieved chunks, best first.
        num_ctx: the context window that will be requested.
        num_predict: tokens reserved for the answer.
        not_found: the exact reply for an answer the documents do not hold.
        instructions: replaces the default instructions (not the grounding rules).
        history: earlier turns, oldest first.
        templates: the prompt texts (default: the shipped files).

    Raises:
        InvalidRequest: the question, instructions and answer budget alone overflow num_ctx.
    """
    tpl = templates or PromptTemplates.load()
    system = ChatMessage(role="system", content=system_prompt(tpl, not_found, instructions))
    available = num_ctx - num_predict - SAFETY_MARGIN
    frame, history_dropped = _fit_history(_Frame(tpl, system, tuple(history), question), available)
    room = available - frame.cost()
    if room < MIN_BLOCK_TOKENS and hits:
        raise InvalidRequest(
            f"Expected the question and instructions to leave room in the model's context, "
            f"got about {frame.cost()} tokens plus a {num_predict}-token answer budget "
            f"for a {num_ctx}-token context (num_ctx). Shorten the question, lower "
            "num_predict or raise num_ctx."
        )
    packed, trimmed = _pack_blocks(tpl, hits, room)
    messages, prompt_tokens = _shrink_to_fit(frame, packed, available)
    return BuiltPrompt(
        messages=messages,
        hits=[block.hit for block in packed],
        prompt_tokens=prompt_tokens,
        num_ctx=num_ctx,
        num_predict=num_predict,
        dropped=len(hits) - len(packed),
        trimmed=trimmed,
        history_dropped=history_dropped,
    )


def _trim_to_fit(tpl: PromptTemplates, n: int, hit: Hit, room: int) -> _Block | None:
    """The longest prefix of the hit's text (cut at a space) whose block fits in ``room``."""
    low, high, best = 0, len(hit.text), None
    while low <= high:
        middle = (low + high) // 2
        text = hit.text[:middle]
        if middle < len(hit.text) and " " in text:
            text = text[: text.rindex(" ")]
        rendered = render_block(tpl, n, hit, text + " …")
        block = _Block(hit, rendered, _pieces(rendered))
        if block.cost() <= room:
            best, low = block, middle + 1
        else:
            high = middle - 1
    return best
