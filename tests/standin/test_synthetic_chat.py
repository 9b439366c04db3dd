"""synthetic-echo-chat: listed as a synthetic chat model, streams its fixed reply at once."""

from __future__ import annotations

import threading

import ollama

from standin.models.chat import Sampling
from standin.models.echo import REPLY, EchoChat, word_tokens

MODEL = "synthetic-echo-chat"


def test_listed_and_shown_as_a_synthetic_chat_model(own_standin: ollama.Client) -> None:
    names = [m.model for m in own_standin.list().models]
    assert f"{MODEL}:latest" in names
    shown = own_standin.show(MODEL)
    assert shown.capabilities == ["completion", "tools"]
    assert shown.modelinfo is not None
    assert shown.modelinfo["llama.context_length"] == 8192
    assert "SYNTHETIC" in shown.modelinfo["general.description"]


def test_chat_streams_the_fixed_reply_piece_by_piece(own_standin: ollama.Client) -> None:
    messages = [{"role": "user", "content": "What does the warranty cover?"}]
    parts = list(own_standin.chat(MODEL, messages=messages, stream=True))
    pieces = [p.message.content for p in parts if not p.done]
    assert pieces == list(REPLY)
    final = parts[-1]
    assert final.done
    assert final.done_reason == "stop"
    assert final.eval_count == len(REPLY)
    prompt = "user: What does the warranty cover?\nassistant:"
    assert final.prompt_eval_count == len(word_tokens(prompt))


def test_num_predict_cuts_the_reply_and_generate_works_too(own_standin: ollama.Client) -> None:
    answer = own_standin.generate(MODEL, prompt="hello there", options={"num_predict": 3})
    assert answer.response == "".join(REPLY[:3])
    assert answer.done_reason == "length"


def test_a_long_prompt_is_truncated_to_the_context() -> None:
    engine = EchoChat()
    engine.load(256)
    sampling = Sampling(num_ctx=256)
    tokens = engine.chat_prompt([{"role": "user", "content": "word " * 1000}], sampling)
    assert 0 < len(tokens) < 256


def test_cancel_stops_the_reply() -> None:
    engine = EchoChat()
    cancel = threading.Event()
    emitted: list[str] = []

    def emit(piece: str) -> None:
        emitted.append(piece)
        cancel.set()  # the client leaves after the first piece

    result = engine.complete([1, 2], Sampling(), cancel=cancel, emit=emit)
    assert emitted == [REPLY[0]]
    assert result.text == REPLY[0]
    assert result.eval_count == 1
