"""Valid JSON of the wrong shape, from every adapter, through its real SDK over loopback.

A frame that is not what the provider's API documents (``choices: [null]``, a ``delta`` that
is a string, ``content: 123``, a tool call's ``name: 5``, ``index: "0"``, Gemini's
``parts: [null]``, Ollama's ``message: "x"``, a number of 5,000 digits...) must be a
``ProviderResponseError``: before any content it is retryable, so an alias falls back to its
next model; after content it is a ``StreamInterruptedError`` holding exactly the text
delivered, caused by that ``ProviderResponseError``. Its chain holds only llmring's own
exceptions, and no message in it repeats the offending value. The CLI exits 4 (stream broken
after output), not 1 ("invalid request").

Each adapter names the frames before content, one content frame carrying ``"Hi"``, and its
injections; a new adapter adds its own :class:`Shapes`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, Message
from llmring._adapters import AdapterPool
from llmring._chain import ScrubbedCause
from llmring._stream import ChatStream
from llmring.exceptions import (
    LLMRingError,
    ProviderResponseError,
    StreamInterruptedError,
)
from llmring.providers.base import (
    ProviderAdapter,
    ProviderConfig,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallFragment,
)
from llmring.resolver import Candidate
from tests.helpers import run
from tests.loopback import LoopbackServer, Reply
from tests.wire_harness import PROVIDERS, lockfile_text, provider_ring, run_stream, user_request

#: values that must never be repeated by an error message
NUMBER = 918273645
WORD = "sentinel-value-xyz"
DIGITS = "7" * 5000  # more digits than int() converts: a plain ValueError, not a JSONDecodeError

Frame = Callable[[Any], bytes]


@dataclass(frozen=True)
class Shapes:
    """One adapter's wire format: what precedes content, a content frame, the injections."""

    provider: str
    opening: bytes
    content: bytes
    #: a complete end (finish and end marker): an adapter that let a wrong shape through
    #: would end the stream normally, or fail on it later, not report a cut stream
    closing: bytes
    injections: dict[str, bytes]
    #: the injection the CLI test sends after content
    cli_case: str
    content_type: str = "text/event-stream"


# -- openai ---------------------------------------------------------------------------------


def _openai(choice: Any = None, **fields: Any) -> bytes:
    chunk: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "model": "test-model"}
    chunk["choices"] = [choice] if choice is not None or not fields else []
    chunk.update(fields)
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _openai_delta(delta: Any) -> bytes:
    return _openai({"index": 0, "delta": delta, "finish_reason": None})


def _openai_call(index: Any, name: Any = "f", arguments: Any = "") -> bytes:
    call = {"index": index, "id": "call_1", "function": {"name": name, "arguments": arguments}}
    return _openai_delta({"tool_calls": [call]})


OPENAI = Shapes(
    "openai",
    opening=b"",
    content=_openai_delta({"content": "Hi"}),
    closing=_openai({"index": 0, "delta": {}, "finish_reason": "stop"}) + b"data: [DONE]\n\n",
    injections={
        "choices: [null]": b'data: {"id": "c", "choices": [null]}\n\n',
        "delta is a string": _openai_delta(WORD),
        "delta.content: 123": _openai_delta({"content": NUMBER}),
        "delta.reasoning: 123": _openai_delta({"reasoning": NUMBER}),
        "tool call name: 5": _openai_call(0, name=NUMBER),
        "tool call arguments: {}": _openai_call(0, arguments={}),
        'tool call index: "0" then 0': _openai_call("0") + _openai_call(0),
        "finish_reason: 5": _openai({"index": 0, "delta": {}, "finish_reason": NUMBER}),
        "usage is a string": _openai(usage=WORD),
        "5,000-digit number": f'data: {{"id": "c", "n": {DIGITS}}}\n\n'.encode(),
    },
    cli_case="delta.content: 123",
)


# -- openai-responses -----------------------------------------------------------------------


def _responses(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


def _responses_end(**response: Any) -> bytes:
    return _responses("response.completed", response={"status": "completed", **response})


def _responses_call(output_index: Any, **item: Any) -> bytes:
    item = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "", **item}
    return _responses("response.output_item.added", output_index=output_index, item=item)


def _responses_arguments(output_index: Any, delta: Any) -> bytes:
    kind = "response.function_call_arguments.delta"
    return _responses(kind, output_index=output_index, delta=delta)


OPENAI_RESPONSES = Shapes(
    "openai-responses",
    opening=_responses("response.created", response={"model": "gpt-x", "status": "in_progress"}),
    content=_responses("response.output_text.delta", output_index=0, delta="Hi"),
    closing=_responses_end(),
    injections={
        "event is a list": b"data: [1, 2]\n\n",
        "type: 5": b'data: {"type": 918273645}\n\n',
        "output_text delta: 123": _responses(
            "response.output_text.delta", output_index=0, delta=NUMBER
        ),
        "refusal delta: 123": _responses("response.refusal.delta", output_index=0, delta=NUMBER),
        "reasoning summary delta: 123": _responses(
            "response.reasoning_summary_text.delta", output_index=0, delta=NUMBER
        ),
        "output_item.added item: a string": _responses(
            "response.output_item.added", output_index=0, item=WORD
        ),
        "function_call name: 5": _responses_call(1, name=NUMBER),
        'function_call output_index: "1"': _responses_call("1"),
        "function_call arguments: {}": _responses_call(1, arguments={}),
        "arguments for no function_call": _responses_arguments(NUMBER, "{"),
        "response: a string": _responses("response.completed", response=WORD),
        "usage: a string": _responses_end(usage=WORD),
        "incomplete_details.reason: 5": _responses(
            "response.incomplete", response={"incomplete_details": {"reason": NUMBER}}
        ),
        "5,000-digit number": f'data: {{"type": "x", "n": {DIGITS}}}\n\n'.encode(),
    },
    cli_case="function_call name: 5",
)


# -- anthropic ------------------------------------------------------------------------------


def _anthropic(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def _anthropic_delta(delta: Any, index: Any = 0) -> bytes:
    return _anthropic({"type": "content_block_delta", "index": index, "delta": delta})


_MESSAGE = {"id": "m", "model": "claude-x", "usage": {"input_tokens": 3, "output_tokens": 1}}

ANTHROPIC = Shapes(
    "anthropic",
    opening=_anthropic({"type": "message_start", "message": _MESSAGE})
    + _anthropic(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    ),
    content=_anthropic_delta({"type": "text_delta", "text": "Hi"}),
    closing=_anthropic({"type": "message_delta", "delta": {"stop_reason": "end_turn"}})
    + _anthropic({"type": "message_stop"}),
    injections={
        "delta is a string": _anthropic_delta(WORD),
        "text_delta text: 123": _anthropic_delta({"type": "text_delta", "text": NUMBER}),
        "message: a string": _anthropic({"type": "message_start", "message": WORD}),
        "tool_use name: 5": _anthropic(
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "t", "name": NUMBER, "input": {}},
            }
        ),
        'content block index: "1"': _anthropic(
            {
                "type": "content_block_start",
                "index": "1",
                "content_block": {"type": "tool_use", "id": WORD, "name": "f", "input": {}},
            }
        ),
        "partial_json: {}": _anthropic_delta({"type": "input_json_delta", "partial_json": {}}),
        "stop_reason: 5": _anthropic(
            {"type": "message_delta", "delta": {"stop_reason": NUMBER}, "usage": {}}
        ),
        "5,000-digit number": f"event: ping\ndata: {{'n': {DIGITS}}}\n\n".replace(
            "'", '"'
        ).encode(),
    },
    cli_case="tool_use name: 5",
)


# -- google ---------------------------------------------------------------------------------


def _gemini(candidate: Any) -> bytes:
    data = {"candidates": [candidate], "modelVersion": "gemini-x"}
    return b"data: " + json.dumps(data).encode() + b"\r\n\r\n"


def _gemini_parts(parts: Any) -> bytes:
    return _gemini({"content": {"role": "model", "parts": parts}, "index": 0})


GOOGLE = Shapes(
    "google",
    opening=b"",
    content=_gemini_parts([{"text": "Hi"}]),
    closing=_gemini({"content": {"parts": []}, "finishReason": "STOP", "index": 0}),
    injections={
        "parts: [null]": _gemini_parts([None]),
        "candidates: [null]": b'data: {"candidates": [null]}\r\n\r\n',
        "content is a string": _gemini({"content": WORD, "index": 0}),
        "text: 123": _gemini_parts([{"text": NUMBER}]),
        "functionCall name: 5": _gemini_parts([{"functionCall": {"name": NUMBER, "args": {}}}]),
        "functionCall args: a list": _gemini_parts([{"functionCall": {"name": "f", "args": [1]}}]),
        "finishReason: 5": _gemini({"content": {"parts": []}, "finishReason": NUMBER}),
        "usageMetadata is a string": b'data: {"usageMetadata": "' + WORD.encode() + b'"}\r\n\r\n',
        "5,000-digit number": f'data: {{"n": {DIGITS}}}\r\n\r\n'.encode(),
    },
    cli_case="functionCall name: 5",
)


# -- ollama ---------------------------------------------------------------------------------


def _ollama(message: Any, **fields: Any) -> bytes:
    data = {"model": "test-model", "message": message, "done": False, **fields}
    return json.dumps(data).encode() + b"\n"


OLLAMA = Shapes(
    "ollama",
    opening=b"",
    content=_ollama({"role": "assistant", "content": "Hi"}),
    closing=_ollama({"role": "assistant", "content": ""}, done=True, done_reason="stop"),
    injections={
        'message: "x"': _ollama(WORD),
        "content: 123": _ollama({"role": "assistant", "content": NUMBER}),
        "thinking: 123": _ollama({"role": "assistant", "thinking": NUMBER}),
        "tool_calls: [null]": _ollama({"role": "assistant", "tool_calls": [None]}),
        "tool call name: 5": _ollama(
            {"role": "assistant", "tool_calls": [{"function": {"name": NUMBER, "arguments": {}}}]}
        ),
        "5,000-digit number": f'{{"n": {DIGITS}}}\n'.encode(),
    },
    cli_case="content: 123",
    content_type="application/x-ndjson",
)


ADAPTERS = [OPENAI, OPENAI_RESPONSES, ANTHROPIC, GOOGLE, OLLAMA]
CASES = [
    pytest.param(shapes, name, id=f"{shapes.provider}: {name}")
    for shapes in ADAPTERS
    for name in shapes.injections
]


def chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = error
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def assert_ours_and_quiet(error: BaseException) -> None:
    """Every link of the chain is llmring's, and none repeats an injected value."""
    for link in chain(error):
        assert isinstance(link, (LLMRingError, ScrubbedCause)), repr(link)
        told = f"{link} {link!r}"
        assert str(NUMBER) not in told and WORD not in told and "7777777777" not in told, told


def reply(shapes: Shapes, body: bytes) -> Reply:
    return Reply(body, headers={"content-type": shapes.content_type})


@pytest.mark.parametrize(("shapes", "name"), CASES)
async def test_a_wrong_shaped_frame_is_a_provider_response_error(
    shapes: Shapes, name: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    injection = shapes.injections[name]
    before = shapes.opening + injection + shapes.closing
    after = shapes.opening + shapes.content + injection + shapes.closing
    ref = f"{shapes.provider}:test-model"
    bindings = {"chatbot": [ref, "mock:echo"]}
    async with provider_ring(
        shapes.provider, reply(shapes, before), project, monkeypatch, bindings
    ) as (ring, server):
        # before any content: a retryable ProviderResponseError naming the provider...
        outcome = await run_stream(ring, user_request(ref))
        error = outcome.error
        assert type(error) is ProviderResponseError, repr(error)
        assert error.retryable and (error.provider, error.model) == (shapes.provider, "test-model")
        assert str(error).startswith(f"{ref}: ") and "end-of-stream" not in str(error)
        assert outcome.chunks == []
        assert_ours_and_quiet(error)
        # ...so the alias falls back to its next model
        async with ring.chat_stream(user_request("chatbot")) as stream:
            text = "".join([chunk.delta async for chunk in stream])
        assert text == "hello" and stream.provider == "mock"  # the user message, echoed
        ((failed_ref, failed),) = stream.failed_attempts
        assert failed_ref == ref and type(failed) is ProviderResponseError
        # after content: an interruption with exactly the text delivered
        server.reply = reply(shapes, after)
        outcome = await run_stream(ring, user_request(ref))
    error = outcome.error
    assert isinstance(error, StreamInterruptedError), repr(error)
    assert error.partial_response == "Hi" == outcome.text
    assert type(error.__cause__) is ProviderResponseError
    assert "end-of-stream" not in str(error.__cause__)
    assert_ours_and_quiet(error)


# -- the CLI: exit 4 (broken after output), not 1 (invalid request) ---------------------------


@contextmanager
def server_in_a_thread(body: Reply) -> Iterator[LoopbackServer]:
    """The loopback server on an event loop of its own, for a CLI that runs its own loop."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = LoopbackServer(body)
    asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(5)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.mark.parametrize("shapes", ADAPTERS, ids=[s.provider for s in ADAPTERS])
def test_the_cli_exits_4_after_content(
    shapes: Shapes, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    injection = shapes.injections[shapes.cli_case]
    body = reply(shapes, shapes.opening + shapes.content + injection + shapes.closing)
    env, key, path = PROVIDERS[shapes.provider]
    if env and key:
        monkeypatch.setenv(env, key)
    with server_in_a_thread(body) as server:
        lockfile = lockfile_text({shapes.provider: server.base_url + path})
        (project / "llmring.lock").write_text(lockfile, encoding="utf-8")
        result = run("chat", f"{shapes.provider}:test-model", "hello")
    assert result.exit_code == 4, result.stderr
    assert result.stdout.rstrip("\n") == "Hi"
    assert result.stderr.startswith(f"error: {shapes.provider}:")
    assert "invalid request" not in result.stderr and str(NUMBER) not in result.stderr


# -- the facade's own net: events no adapter should send -------------------------------------


class WrongEvents(ProviderAdapter):
    """Yields ``events`` as a hand-written adapter might, wrong types included."""

    def __init__(self, events: list[StreamEvent]) -> None:
        super().__init__(ProviderConfig("hand", "hand"))
        self.events = events

    async def stream(self, request: LLMRequest, model: str) -> AsyncGenerator[StreamEvent, None]:
        for event in self.events:
            yield event


BAD_EVENTS: dict[str, list[Any]] = {
    "text that is a number": [TextDelta(NUMBER)],  # type: ignore[arg-type]
    "a tool call name that is a number": [ToolCallFragment(0, id="c", name=NUMBER)],  # type: ignore[arg-type]
    'tool call index "0" then 0': [
        ToolCallFragment("0", id="c", name="f"),  # type: ignore[arg-type]
        ToolCallFragment(0, id="d", name="g"),
        StreamEnd(),
    ],
}


async def consume(adapter: ProviderAdapter) -> tuple[str, BaseException]:
    """Stream from ``adapter`` alone; the text delivered and the error."""
    text, caught = "", None
    request = LLMRequest(model="hand:m", messages=[Message(role="user", content="hi")])
    candidates = [Candidate("hand", "m", config=adapter.config)]
    stream = ChatStream(request, candidates, AdapterPool(lambda _: adapter))
    try:
        async for chunk in stream:
            text += chunk.delta
    except Exception as exc:  # noqa: BLE001 - the test asserts on it
        caught = exc
    assert caught is not None
    return text, caught


#: the bad events that come after a content chunk was delivered (a tool call's first fragment)
AFTER_CONTENT = {'tool call index "0" then 0'}


@pytest.mark.parametrize("name", list(BAD_EVENTS))
@pytest.mark.parametrize("content_first", [False, True])
async def test_events_the_assembler_cannot_use_are_a_provider_response_error(
    name: str, content_first: bool
) -> None:
    events = ([TextDelta("Hi")] if content_first else []) + BAD_EVENTS[name]
    text, error = await consume(WrongEvents(events))
    if content_first or name in AFTER_CONTENT:
        assert isinstance(error, StreamInterruptedError), repr(error)
        assert error.partial_response == text == ("Hi" if content_first else "")
        assert type(error.__cause__) is ProviderResponseError
    else:
        assert type(error) is ProviderResponseError and error.retryable, repr(error)
        assert error.provider == "hand"
    assert_ours_and_quiet(error)
