"""How the gateway answers one chat request: the streamed or whole reply, the error before
content, the headers, and the watch for a client that hangs up (see :mod:`llmring.serve._app`
for the order of a request). Functions of the request alone: no gateway state here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from llmring.serve._body import CoalescedBody
from llmring.serve._errors import APIError, api_error
from llmring.serve._frames import DONE, ChunkFrames, error_frame, json_bytes
from llmring.serve._openai_api import completion_body

if TYPE_CHECKING:
    from llmring._stream import ChatStream

__all__ = [
    "JSON_HEADER",
    "Exchange",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "gateway_headers",
    "header",
    "respond",
    "send_error",
    "stream_reply",
    "watched",
    "whole_reply",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON_HEADER = (b"content-type", b"application/json")
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each frame through at once
]


def header(scope: Scope, name: bytes) -> bytes | None:
    """The request's header ``name`` (lower case, as ASGI gives them), or ``None``."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


class Exchange:
    """One chat request's bookkeeping, for its receipt, its metrics and its headers."""

    __slots__ = ("alias", "finished", "gone", "key_id", "request_id", "started", "started_at")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.started = time.perf_counter()
        self.started_at = datetime.now(UTC)
        self.key_id: str | None = None
        self.alias: str | None = None
        self.finished = False  # the last byte is being sent: a disconnect now is the end
        self.gone = False  # the client hung up


async def respond(
    send: Send, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    """A JSON answer (the small routes, the refusals)."""
    extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": [JSON_HEADER, *extra]})
    await send({"type": "http.response.body", "body": json_bytes(body)})


async def watched(work: Coroutine[Any, Any, int], receive: Receive, exchange: Exchange) -> int:
    """Run ``work`` (the response) and cancel it the moment the client disconnects;
    499 (nginx's "client closed request") when it did."""
    task = asyncio.current_task()
    assert task is not None

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if not exchange.finished:
            exchange.gone = True
            task.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if exchange.gone and task.uncancel() == 0:
            return 499
        raise
    finally:
        watcher.cancel()


async def stream_reply(
    stream: ChatStream, include_usage: bool, send: Send, exchange: Exchange
) -> int:
    async with stream:
        try:
            first = await stream.__anext__()
        except Exception as exc:  # noqa: BLE001 - answered (an unexpected one is logged)
            error = api_error(exc)
            await send_error(send, exchange, error, stream)
            return error.status
        headers = [*_SSE_HEADERS, *gateway_headers(exchange, stream)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        frames = ChunkFrames(
            "chatcmpl-" + exchange.request_id,
            int(time.time()),
            first.model or stream.model or "",
        )
        body = CoalescedBody(send)
        try:
            chunk = first
            if chunk.is_terminal:
                await body.write(frames.role())
            else:  # the first content goes out at once, whatever follows it
                await body.write(frames.role() + frames.chunk(chunk), now=True)
                chunk = await stream.__anext__()
            while not chunk.is_terminal:
                await body.write(frames.chunk(chunk))
                chunk = await stream.__anext__()
            tail = frames.finish(chunk)
            if include_usage and chunk.usage is not None:
                tail += frames.usage(chunk.usage)
            exchange.finished = True
            await body.close(tail + DONE)
            return 200
        except Exception as exc:  # noqa: BLE001 - answered (an unexpected one is logged)
            error = api_error(exc)
            exchange.finished = True
            await body.close(error_frame(error.body))
            return error.status
        finally:
            await body.abort()  # a no-op once closed; else (cancelled) the sender stops


async def whole_reply(stream: ChatStream, send: Send, exchange: Exchange) -> int:
    async with stream:
        try:
            async for _ in stream:
                pass
        except Exception as exc:  # noqa: BLE001 - answered (an unexpected one is logged)
            error = api_error(exc)
            await send_error(send, exchange, error, stream)
            return error.status
        body = completion_body(
            stream.response,
            completion_id="chatcmpl-" + exchange.request_id,
            created=int(time.time()),
        )
        headers = [JSON_HEADER, *gateway_headers(exchange, stream)]
        exchange.finished = True
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": json_bytes(body)})
        return 200


def gateway_headers(exchange: Exchange, stream: ChatStream | None) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-llmring-request-id", exchange.request_id.encode())]
    if stream is not None and stream.provider is not None:
        headers.append((b"x-llmring-model", f"{stream.provider}:{stream.model}".encode()))
    total = (time.perf_counter() - exchange.started) * 1000
    upstream = (stream.first_chunk_latency or 0.0) * 1000 if stream is not None else 0.0
    if stream is not None and stream.duration is not None:
        upstream = stream.duration * 1000
    timing = f"gateway;dur={max(total - upstream, 0.0):.3f}, upstream;dur={upstream:.3f}"
    headers.append((b"server-timing", timing.encode()))
    return headers


async def send_error(
    send: Send, exchange: Exchange, error: APIError, stream: ChatStream | None = None
) -> None:
    headers = [JSON_HEADER, *gateway_headers(exchange, stream)]
    headers += [(k.encode(), v.encode()) for k, v in error.headers.items()]
    exchange.finished = True
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": json_bytes(error.body)})
