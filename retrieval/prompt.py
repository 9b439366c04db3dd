"""Grounded prompts within the chat model's context budget.

The prompt texts live in ``retrieval/prompts/*.txt``. Instructions go in the system
message; the retrieved chunks go in the last user message as numbered
``<document n=".." source=".." page="..">`` blocks, which the system prompt declares to be
data. Any ``<document``/``</document`` inside chunk text is escaped, so a document cannot
close its block and smuggle in text that looks like ours.

Budget (tokens, estimated conservatively because the chat model's tokenizer is not ours):
``system + history + question + documents + num_predict + margin <= num_ctx``. The
lowest-ranked blocks are dropped first, then the last kept block is trimmed; the oldest
history turns go before any document does not fit at all.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
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


def estimate_messages(messages: list[ChatMessage]) -> int:
    """Estimated prompt tokens of a chat request (template overhead included)."""
    return sum(estimate_tokens(m.content) + MESSAGE_OVERHEAD for m in messages) + MESSAGE_OVERHEAD


def escape_document_text(text: str) -> str:
    """Neutralise ``<document`` / ``</document`` inside chunk text."""
    return _DOC_TAG.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}", text)


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
    turns = list(history)
    available = num_ctx - num_predict - SAFETY_MARGIN

    def fixed_cost(kept_turns: list[ChatMessage]) -> int:
        empty_user = tpl.question.format(documents="", question=question)
        return estimate_messages([system, *kept_turns, ChatMessage("user", empty_user)])

    history_dropped = 0
    while turns and fixed_cost(turns) + MIN_BLOCK_TOKENS > available:
        turns.pop(0)
        history_dropped += 1
    room = available - fixed_cost(turns)
    if room < MIN_BLOCK_TOKENS and hits:
        raise InvalidRequest(
            f"Expected the question and instructions to leave room in the model's context, "
            f"got about {fixed_cost(turns)} tokens plus a {num_predict}-token answer budget "
            f"for a {num_ctx}-token context (num_ctx). Shorten the question, lower "
            "num_predict or raise num_ctx."
        )

    blocks: list[str] = []
    kept: list[Hit] = []
    trimmed = False
    for hit in hits:
        block = render_block(tpl, len(kept) + 1, hit)
        cost = estimate_tokens(block + "\n\n")
        if cost <= room:
            blocks.append(block)
            kept.append(hit)
            room -= cost
            continue
        if room >= MIN_BLOCK_TOKENS:
            cut = _trim_to_fit(tpl, len(kept) + 1, hit, room)
            if cut is not None:
                blocks.append(cut)
                kept.append(hit)
                trimmed = True
        break

    def assemble(parts: list[str]) -> list[ChatMessage]:
        user = tpl.question.format(documents="\n\n".join(parts), question=question)
        return [system, *turns, ChatMessage(role="user", content=user)]

    messages = assemble(blocks)
    while blocks and estimate_messages(messages) > available:  # estimates are not additive
        blocks.pop()
        kept.pop()
        messages = assemble(blocks)
    return BuiltPrompt(
        messages=messages,
        hits=kept,
        prompt_tokens=estimate_messages(messages),
        num_ctx=num_ctx,
        num_predict=num_predict,
        dropped=len(hits) - len(kept),
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
