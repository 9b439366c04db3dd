"""How the Ollama and OpenAI doors start an answer: client task prompts recognised.

:func:`start_facade_answer` is the one entry of both doors. It also drops the Sources
footers Docent put under earlier answers from the history the model sees.

Open WebUI (0.12) sends its background tasks to the chat's own model as a user message
that begins with ``### Task:``: a title, tags, suggested follow-ups, search queries to
generate. They are not questions about the documents, and Open WebUI parses the answer
as JSON, so they skip retrieval and get no Sources footer. Its RAG template (used when a
file is attached in its UI) also begins with ``### Task:`` but carries the user's query
after its ``<context>``: that one is answered from the documents, searched for with the
user's query rather than with the whole template.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from api.facade import Conversation
from api.generation import Generation, start_generation
from api.services import Services
from retrieval.answer import AskRequest
from retrieval.types import ChatMessage, ChatOptions

TASK_MARKER = "### Task:"
_FOOTER = re.compile(r"\n\nSources:(?: none cited\.|(?:\n\[\d+\][^\n]*)+)\s*$")
_USER_QUERY = re.compile(r"<user_query>\s*(.*?)\s*</user_query>", re.DOTALL)
_CONTEXT_END = "</context>"


@dataclass(frozen=True)
class ClientTask:
    """A task prompt.

    Attributes:
        search_query: for a RAG template, the user's query inside it (answer it from the
            documents, searching for this); None for a task the chat model does alone.
    """

    search_query: str | None = None


def rag_user_query(prompt: str) -> str | None:
    """The user's query inside a RAG template (``<user_query>``, or after ``</context>``)."""
    tagged = _USER_QUERY.search(prompt)
    if tagged:
        return tagged.group(1).strip() or None
    if _CONTEXT_END not in prompt:
        return None
    return prompt.rsplit(_CONTEXT_END, 1)[1].strip() or None


def client_task(message: str) -> ClientTask | None:
    """The task ``message`` (the last user message) is, or None for an ordinary question."""
    if not message.lstrip().startswith(TASK_MARKER):
        return None
    return ClientTask(search_query=rag_user_query(message) if "<context>" in message else None)


def without_footer(history: Sequence[ChatMessage]) -> tuple[ChatMessage, ...]:
    """``history`` without the Sources footers Docent put under its earlier answers.

    Clients send the answers back as they got them; a small model shown footers in its
    history imitates them (and a copied ``[1]`` would count as a citation).
    """
    return tuple(
        ChatMessage(role=m.role, content=_FOOTER.sub("", m.content)) if m.role == "assistant" else m
        for m in history
    )


def conversation_messages(conversation: Conversation) -> list[ChatMessage]:
    """The conversation as the chat model's messages: system, history, the last message."""
    messages = [ChatMessage(role="system", content=conversation.system or "")]
    messages += [
        *without_footer(conversation.history),
        ChatMessage(role="user", content=conversation.question),
    ]
    return messages if conversation.system else messages[1:]


async def start_direct_generation(
    services: Services, messages: Sequence[ChatMessage], options: ChatOptions | None
) -> Generation:
    """Take a generation slot (or raise ``Busy``) and prepare the chat model alone.

    On failure the slot is freed.
    """
    slot = await services.limiter.acquire()
    try:
        prepared = await services.answerer.prepare_direct(messages, options)
    except BaseException:
        slot.release()
        raise
    return Generation(prepared, slot, services.metrics)


async def start_facade_answer(
    services: Services, request: AskRequest, conversation: Conversation
) -> tuple[Generation, bool]:
    """Start the answer to a facade chat request, task prompts recognised.

    An ordinary question is answered from the documents. A task prompt goes to the chat
    model alone. A RAG template is answered from the documents found for the user's
    query inside it, or, when they hold nothing relevant, by the chat model alone from
    the template's own context.

    Args:
        services: the app's services.
        request: the question, as an ordinary question would be asked.
        conversation: the request's messages (what a task prompt sends to the model).

    Returns:
        The generation, and whether it may carry a Sources footer (False for the model alone).

    Raises:
        CollectionNotFound: and whatever ``Answerer.prepare`` raises.
    """
    task = client_task(request.question)
    request = replace(request, history=without_footer(request.history))
    limiter, answerer, metrics = services.limiter, services.answerer, services.metrics
    if task is None:
        return await start_generation(limiter, answerer, metrics, request), True
    messages = conversation_messages(conversation)
    if task.search_query is None:
        # the collection must exist (its id: no count of its chunks)
        await asyncio.to_thread(services.store.collection_id, request.collection)
        return await start_direct_generation(services, messages, request.options), False
    grounded = replace(request, search_query=task.search_query)
    answer = await start_generation(limiter, answerer, metrics, grounded)
    if answer.prepared.found:
        return answer, True
    await answer.close()
    return await start_direct_generation(services, messages, request.options), False
