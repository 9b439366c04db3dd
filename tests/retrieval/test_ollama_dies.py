"""Ollama dying in the middle of a streamed answer is ``ollama_unavailable`` (issue 10, item 12).

A real socket server plays an Ollama that sends the first line of an answer and then drops
the connection; the real client (:class:`retrieval.chat.OllamaChat`) reads it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from retrieval.chat import OllamaChat
from retrieval.errors import OllamaUnavailable
from retrieval.settings import OllamaSettings
from retrieval.types import ChatMessage, ChatOptions

FIRST_LINE = {
    "model": "dying",
    "created_at": "2026-01-01T00:00:00Z",
    "message": {"role": "assistant", "content": "Half an "},
    "done": False,
}


async def _dying_ollama(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")  # the request head; the body is not needed
    line = json.dumps(FIRST_LINE).encode() + b"\n"
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(line):x}\r\n".encode() + line + b"\r\n"
    )
    await writer.drain()
    writer.transport.abort()  # killed: no final chunk, the connection just goes


@pytest.fixture
async def dying_host() -> AsyncIterator[str]:
    server = await asyncio.start_server(_dying_ollama, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"127.0.0.1:{port}"


async def test_a_broken_stream_is_ollama_unavailable(dying_host: str) -> None:
    chat = OllamaChat(OllamaSettings(host=dying_host, chat_model="dying"))
    received: list[object] = []

    async def read() -> None:
        async for item in chat.stream([ChatMessage(role="user", content="hi")], ChatOptions()):
            received.append(item)

    try:
        with pytest.raises(OllamaUnavailable) as raised:
            await read()
    finally:
        await chat.aclose()
    assert len(received) == 1  # the first delta arrived before the connection broke
    assert raised.value.code == "ollama_unavailable"
    assert dying_host in raised.value.message
