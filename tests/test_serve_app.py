"""The gateway's response code in-process: the frames it writes, and what a client sees when
something llmring did not expect goes wrong (no traceback, no internals, never a [DONE])."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Self

import pytest

from llmring import StreamChunk
from llmring.schemas import ToolCallDelta
from llmring.serve._app import Gateway, _Exchange
from llmring.serve._frames import ChunkFrames
from llmring.serve._settings import ServeSettings
from llmring.sse import INTERNAL_ERROR, openai_frames


class FakeStream:
    """What the gateway reads of a ``ChatStream``: chunks, then ``fail`` (if any)."""

    provider = "mock"
    model = "m"
    first_chunk_latency = 0.001
    duration = None

    def __init__(self, chunks: list[StreamChunk], fail: BaseException | None = None) -> None:
        self._chunks = iter(chunks)
        self._fail = fail

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StreamChunk:
        for chunk in self._chunks:
            return chunk
        if self._fail is not None:
            raise self._fail
        raise StopAsyncIteration


async def respond(stream: FakeStream, streamed: bool = True) -> tuple[int, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    gateway = Gateway(ServeSettings(no_auth=True))
    exchange = _Exchange("01a2-test")
    if streamed:
        status = await gateway._stream(stream, False, send, exchange)  # type: ignore[arg-type]
    else:
        status = await gateway._complete(stream, send, exchange)  # type: ignore[arg-type]
    return status, sent


def body(sent: list[dict[str, Any]]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def test_an_unexpected_failure_after_content_is_one_error_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = FakeStream([StreamChunk(delta="Hello")], RuntimeError("secret internals at 0x7f"))
    status, sent = await respond(stream)
    text = body(sent).decode()
    assert status == 500
    assert sent[0]["status"] == 200  # the content had started
    assert text.startswith("data: ") and "Hello" in text
    last = json.loads(text.strip().split("\n\n")[-1].removeprefix("data: "))
    assert last == {
        "error": {
            "message": INTERNAL_ERROR,
            "type": "server_error",
            "param": None,
            "code": "internal_error",
        }
    }
    assert "[DONE]" not in text and "secret internals" not in text
    assert "secret internals" in caplog.text  # logged for the operator


@pytest.mark.parametrize("streamed", [True, False])
async def test_an_unexpected_failure_before_content_is_a_500(streamed: bool) -> None:
    status, sent = await respond(FakeStream([], RuntimeError("boom")), streamed)
    assert status == 500 and sent[0]["status"] == 500
    assert json.loads(body(sent))["error"]["code"] == "internal_error"


async def chunks_of(items: list[StreamChunk]) -> AsyncIterator[StreamChunk]:
    for item in items:
        yield item


async def test_the_frames_are_the_json_openai_frames_makes() -> None:
    items = [
        StreamChunk(delta='Hi \u00e9\n"quoted"', model="m"),
        StreamChunk(reasoning="thinking", model="m"),
        StreamChunk(
            tool_call_delta=ToolCallDelta(index=0, id="call_1", name="f", arguments='{"a"'),
            model="m",
        ),
        StreamChunk(tool_call_delta=ToolCallDelta(index=0, arguments=": 1}"), model="m"),
        StreamChunk(
            finish_reason="tool_calls",
            usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
            model="m",
        ),
    ]
    expected = [
        f
        async for f in openai_frames(
            chunks_of(items), model="m", completion_id="chatcmpl-x", created=7
        )
    ]
    frames = ChunkFrames("chatcmpl-x", 7, "m")
    ours = [frames.role(), *(frames.chunk(c) for c in items[:-1]), frames.finish(items[-1])]
    ours += [frames.usage(items[-1].usage or {}), b"data: [DONE]\n\n"]
    assert [_decoded(f) for f in ours] == [_decoded(f) for f in expected]


def _decoded(frame: bytes) -> Any:
    assert frame.startswith(b"data: ") and frame.endswith(b"\n\n")
    data = frame[len(b"data: ") : -2]
    return data.decode() if data == b"[DONE]" else json.loads(data)
