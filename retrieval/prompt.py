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
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

from retrieval.errors import InvalidRequest
from retrieval.tokens import count_tokens
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
    if not text:
        return 0
    return max(count_tokens(text), math.ceil(len(text) / CHARS_PER_TOKEN))


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
    return templates.context.format(
        n=n,
        source=_attribute(hit.source),
        page=hit.page if hit.page is not None else "",
        text=escape_document_text(hit.text if text is None else text),
    )


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
        return estimate_messages(self.messages([]))


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


def _pack_blocks(
    tpl: PromptTemplates, hits: list[Hit], room: int
) -> tuple[list[tuple[Hit, str]], bool]:
    """The best hits whose blocks fit in ``room`` (the last one trimmed if need be).

    Returns:
        The kept hits with their blocks (``hit, block``), and whether the last was trimmed.
    """
    packed: list[tuple[Hit, str]] = []
    for hit in hits:
        block = render_block(tpl, len(packed) + 1, hit)
        cost = estimate_tokens(block + "\n\n")
        if cost <= room:
            packed.append((hit, block))
            room -= cost
            continue
        cut = _trim_to_fit(tpl, len(packed) + 1, hit, room) if room >= MIN_BLOCK_TOKENS else None
        if cut is not None:
            packed.append((hit, cut))
        return packed, cut is not None
    return packed, False


def _shrink_to_fit(
    frame: _Frame, packed: list[tuple[Hit, str]], available: int
) -> tuple[list[ChatMessage], int]:
    """Drop the lowest blocks while the whole request is over budget.

    Estimates are not additive, hence this last pass; ``packed`` is shortened in place.

    Returns:
        The messages and their estimate (each counted once: tokenizing is the costly part).
    """
    messages = frame.messages([block for _, block in packed])
    estimate = estimate_messages(messages)
    while packed and estimate > available:
        packed.pop()
        messages = frame.messages([block for _, block in packed])
        estimate = estimate_messages(messages)
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
        hits=[hit for hit, _ in packed],
        prompt_tokens=prompt_tokens,
        num_ctx=num_ctx,
        num_predict=num_predict,
        dropped=len(hits) - len(packed),
        trimmed=trimmed,
        history_dropped=history_dropped,
    )


def _trim_to_fit(tpl: PromptTemplates, n: int, hit: Hit, room: int) -> str | None:
    """The longest prefix of the hit's text (cut at a space) whose block fits in ``room``."""
    low, high, best = 0, len(hit.text), None
    while low <= high:
        middle = (low + high) // 2
        text = hit.text[:middle]
        if middle < len(hit.text) and " " in text:
            text = text[: text.rindex(" ")]
        block = render_block(tpl, n, hit, text + " …")
        if estimate_tokens(block + "\n\n") <= room:
            best, low = block, middle + 1
        else:
            high = middle - 1
    return best
