"""The chat adapter reads each answer's stream to its end, so answers share a connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from retrieval.chat import END_OF_STREAM_SECONDS, OllamaChat
from retrieval.settings import OllamaSettings
from retrieval.types import ChatDelta, ChatDone, ChatMessage, ChatOptions

LINES = [
    {"model": "m", "message": {"role": "assistant", "content": "Hello"}, "done": False},
    {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True},
]


class ChatServer:
    """Just enough of Ollama's ``/api/chat`` over HTTP/1.1 keep-alive: counts connections.

    With ``hang`` it sends the ``done`` line and then never ends the body.
    """

    def __init__(self, *, hang: bool = False) -> None:
        self.hang = hang
        self.connections = 0
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"
                )
                for line in LINES:
                    data = json.dumps(line).encode() + b"\n"
                    writer.write(b"%x\r\n%s\r\n" % (len(data), data))
                    await writer.drain()
                if self.hang:
                    await asyncio.sleep(3600)
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def __aenter__(self) -> ChatServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    async with ChatServer() as running:
        yield running


async def answer(chat: OllamaChat) -> list[ChatDelta | ChatDone]:
    question = [ChatMessage(role="user", content="Hi?")]
    return [event async for event in chat.stream(question, ChatOptions(num_ctx=512))]


async def test_answers_in_a_row_use_one_connection(server: ChatServer) -> None:
    chat = OllamaChat(OllamaSettings(host=server.url, chat_model="m"))
    try:
        for _ in range(3):
            events = await answer(chat)
            assert events[0] == ChatDelta(text="Hello")
            assert isinstance(events[-1], ChatDone)
    finally:
        await chat.aclose()
    assert server.connections == 1


async def test_a_server_that_never_ends_the_body_still_gives_the_answer() -> None:
    async with ChatServer(hang=True) as hanging:
        chat = OllamaChat(OllamaSettings(host=hanging.url, chat_model="m"))
        try:
            events = await asyncio.wait_for(answer(chat), 20 * END_OF_STREAM_SECONDS + 5)
            assert isinstance(events[-1], ChatDone)
            assert isinstance((await answer(chat))[-1], ChatDone)  # on a new connection
        finally:
            await chat.aclose()
    assert hanging.connections == 2
