"""The gateway's response code in-process: the frames it writes, and what a client sees when
something llmring did not expect goes wrong (no traceback, no internals, never a [DONE])."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, Self

import pytest

from llmring import StreamChunk
from llmring.schemas import ToolCallDelta
from llmring.serve._body import BATCH, HIGH_WATER, CoalescedBody
from llmring.serve._frames import ChunkFrames
from llmring.serve._respond import Exchange, stream_reply, whole_reply
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

    exchange = Exchange("01a2-test")
    if streamed:
        status = await stream_reply(stream, False, send, exchange)  # type: ignore[arg-type]
    else:
        status = await whole_reply(stream, send, exchange)  # type: ignore[arg-type]
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


# -- the coalescing body -------------------------------------------------------------------------


class Client:
    """An ASGI ``send`` that records messages; ``gate`` (when set) makes each send wait."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bool]] = []
        self.gate: asyncio.Event | None = None

    async def send(self, message: Any) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.messages.append((message["body"], message["more_body"]))


async def test_frames_received_together_leave_in_one_message() -> None:
    client = Client()
    body = CoalescedBody(client.send)
    for n in range(BATCH - 1):  # a burst: no await suspends in between
        await body.write(b"%d," % n)
    await body.close(b"end")
    assert client.messages == [(b"".join(b"%d," % n for n in range(BATCH - 1)) + b"end", False)]


async def test_a_frame_that_arrives_alone_is_sent_at_once() -> None:
    client = Client()
    body = CoalescedBody(client.send)
    await body.write(b"a")
    await asyncio.sleep(0.01)  # the stream waits for the network: the sender runs
    assert client.messages == [(b"a", True)]
    await body.write(b"b")
    await asyncio.sleep(0.01)
    await body.close(b"c")
    assert client.messages == [(b"a", True), (b"b", True), (b"c", False)]


async def test_closing_during_a_slow_send_loses_and_reorders_nothing() -> None:
    client = Client()
    client.gate = asyncio.Event()
    body = CoalescedBody(client.send)
    await body.write(b"1")
    await asyncio.sleep(0)  # the sender takes "1" and waits in send
    await body.write(b"2")
    closing = asyncio.ensure_future(body.close(b"3"))
    await asyncio.sleep(0.01)
    client.gate.set()
    await closing
    assert b"".join(m for m, _ in client.messages) == b"123"
    assert client.messages[-1][1] is False and all(more for _, more in client.messages[:-1])


async def test_a_slow_client_makes_the_writer_wait_past_the_high_water_mark() -> None:
    client = Client()
    client.gate = asyncio.Event()
    body = CoalescedBody(client.send)
    await body.write(b"x")
    await asyncio.sleep(0)  # the sender is stuck sending "x"
    frame = b"y" * 1024
    writes = 0

    async def writer() -> None:
        nonlocal writes
        while True:
            await body.write(frame)
            writes += 1
            await asyncio.sleep(0)  # a stream waits for its provider now and then

    task = asyncio.ensure_future(writer())
    await asyncio.sleep(0.05)
    assert writes * len(frame) <= HIGH_WATER + len(frame)  # it waits for the client
    client.gate.set()
    await asyncio.sleep(0.05)
    assert writes * len(frame) > HIGH_WATER  # and goes on when the client reads
    task.cancel()
    await body.abort()


async def test_a_send_that_fails_is_raised_to_the_writer() -> None:
    async def broken(message: Any) -> None:
        raise OSError("the connection is gone")

    body = CoalescedBody(broken)
    await body.write(b"a")
    await asyncio.sleep(0)
    with pytest.raises(OSError, match="gone"):
        await body.write(b"b")
    await body.abort()


async def test_a_long_burst_goes_out_in_batches_and_flush_sends_at_once() -> None:
    client = Client()
    body = CoalescedBody(client.send)
    await body.write(b"first")
    await body.flush()  # the first frame of a response does not wait for the burst
    assert client.messages == [(b"first", True)]
    for n in range(BATCH * 2 + 3):
        await body.write(b"x")
    await body.close(b"!")
    sizes = [len(m) for m, _ in client.messages]
    assert sizes == [5, BATCH, BATCH, 3 + 1]


async def test_a_body_whose_frames_all_go_out_at_once_starts_no_sender_task() -> None:
    """An idle stream (its first frame sent at once, then a long wait for the provider) must
    not hold a sender task and its events: a thousand idle streams would pay for them all."""
    client = Client()
    before = asyncio.all_tasks()
    body = CoalescedBody(client.send)
    await body.write(b"first", now=True)
    await asyncio.sleep(0.01)  # the stream waits for the network
    assert asyncio.all_tasks() == before
    assert client.messages == [(b"first", True)]
    await body.write(b"second")  # a frame that is not sent at once needs the sender
    assert len(asyncio.all_tasks() - before) == 1
    await asyncio.sleep(0.01)
    await body.close(b"end")
    assert client.messages == [(b"first", True), (b"second", True), (b"end", False)]
    assert asyncio.all_tasks() == before


async def test_abort_before_any_sender_is_a_no_op() -> None:
    client = Client()
    body = CoalescedBody(client.send)
    await body.write(b"only", now=True)
    await body.abort()
    assert client.messages == [(b"only", True)]
