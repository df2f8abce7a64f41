"""Serve llmring streams over HTTP as Server-Sent Events.

Two encoders, neither of which imports a web framework (they yield plain values):

* :func:`sse_stream` turns a bot's reply into ``{"event", "data"}`` dicts, the shape
  ``sse_starlette.EventSourceResponse`` takes: one ``message`` event per text delta, then one
  ``done`` event with empty data; a failure becomes one ``error`` event instead of ``done``.
* :func:`openai_frames` turns a ``chat_stream`` into the bytes of an OpenAI
  ``chat.completion.chunk`` stream, for servers that want to look like OpenAI.

What reaches the client: an ``LLMRingError``'s message (already scrubbed of keys), or for any
other exception a fixed sentence (the exception is logged here, never sent: it may hold
anything). Cancellation is never caught, so a client that hangs up cancels the bot and with it
the provider stream. SSE cannot carry a carriage return (CR, CRLF and LF all end a ``data:``
line, and the client joins the lines with LF), so line breaks are sent as LF; a CRLF split
across two deltas stays one line break.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from llmring._resource import iterating
from llmring.exceptions import LLMRingError

if TYPE_CHECKING:
    from llmring.schemas import FinishReason, StreamChunk, Usage

__all__ = [
    "INTERNAL_ERROR",
    "StreamingBot",
    "openai_finish_reason",
    "openai_frames",
    "openai_usage",
    "public_error",
    "sse_stream",
]

logger = logging.getLogger("llmring.sse")

#: what a client is told about an exception that is not an ``LLMRingError``
INTERNAL_ERROR = "internal error while generating the reply"

_DONE_FRAME = b"data: [DONE]\n\n"


class StreamingBot(Protocol):
    """Anything with ``stream_async(*messages)`` yielding text deltas (``AsyncSimpleBot``...)."""

    def stream_async(self, *messages: Any, **request_options: Any) -> AsyncIterator[str]: ...


def public_error(exc: Exception) -> str:
    """The message a client may see for ``exc``; logs what it may not."""
    if isinstance(exc, LLMRingError):
        logger.warning("stream failed: %s", exc.message)
        return exc.message
    logger.error("stream failed", exc_info=exc)
    return INTERNAL_ERROR


class _LineBreaks:
    """CRLF and CR become LF, also when a CRLF is split between two pieces of text."""

    __slots__ = ("_after_cr",)

    def __init__(self) -> None:
        self._after_cr = False

    def __call__(self, text: str) -> str:
        if self._after_cr and text.startswith("\n"):
            text = text[1:]  # the LF of a CRLF whose CR ended the previous piece
        self._after_cr = text.endswith("\r")
        return text.replace("\r\n", "\n").replace("\r", "\n")


async def sse_stream(
    bot: StreamingBot,
    messages: Any,
    event_type: str = "message",
    done_event: str = "done",
    error_event: str = "error",
    **request_options: Any,
) -> AsyncGenerator[dict[str, str], None]:
    """The reply to ``messages`` as SSE event dicts for ``EventSourceResponse``.

    A list or tuple is unpacked, ``bot.stream_async(*messages)`` (LlamaBot's contract: a query
    bot takes ``[query]``, a chat bot its turns); anything else (a string, one message) is
    passed as the one argument. ``request_options`` go to ``bot.stream_async`` too. Yields
    ``{"event": event_type, "data": delta}`` per text delta, then ``{"event": done_event,
    "data": ""}``; or, when the reply fails, ``{"event": error_event, "data": <message>}`` and
    nothing after it.
    """
    arguments = tuple(messages) if isinstance(messages, (list, tuple)) else (messages,)
    normalise = _LineBreaks()
    try:
        async with iterating(bot.stream_async(*arguments, **request_options)) as deltas:
            async for delta in deltas:
                text = normalise(delta)
                if text:
                    yield {"event": event_type, "data": text}
    except Exception as exc:  # noqa: BLE001 - logged, and reported as one error event
        yield {"event": error_event, "data": _LineBreaks()(public_error(exc))}
        return
    yield {"event": done_event, "data": ""}


def _frame(payload: dict[str, Any]) -> bytes:
    # ensure_ascii=False: raw UTF-8 as OpenAI sends it; JSON escapes CR and LF, the only
    # characters that could end an SSE line
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return b"data: " + text.encode() + b"\n\n"


def _delta(chunk: StreamChunk) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if chunk.delta:
        delta["content"] = chunk.delta
    if chunk.reasoning:
        delta["reasoning_content"] = chunk.reasoning  # vLLM's, llama.cpp's and DeepSeek's name
    fragment = chunk.tool_call_delta
    if fragment is not None:
        call: dict[str, Any] = {"index": fragment.index}
        if fragment.id is not None:  # OpenAI sends id, type and name on a call's first fragment
            call.update(id=fragment.id, type="function")
        function = {"name": fragment.name} if fragment.name is not None else {}
        call["function"] = {**function, "arguments": fragment.arguments}
        delta["tool_calls"] = [call]
    return delta


#: llmring's finish reasons that OpenAI's vocabulary lacks. ``pause`` (a long server-side turn
#: paused: send the conversation back to continue) asks what ``length`` asks of a client, to
#: continue the reply; ``other`` (a provider value llmring does not know) is a reply that ended.
_OPENAI_FINISH_REASONS: dict[str, str] = {"pause": "length", "other": "stop"}


def openai_finish_reason(reason: FinishReason | None) -> str | None:
    """``reason`` in OpenAI's words (``stop``, ``length``, ``tool_calls``, ``content_filter``):
    strictly typed OpenAI clients refuse any other word."""
    if reason is None:
        return None
    return _OPENAI_FINISH_REASONS.get(reason, reason)


def openai_usage(usage: Usage) -> dict[str, Any]:
    """llmring's usage dict in OpenAI's shape (unknown fields are kept at the top level)."""
    result = dict(usage)
    cached, reasoning = result.pop("cached_tokens", None), result.pop("reasoning_tokens", None)
    if cached is not None:
        result["prompt_tokens_details"] = {"cached_tokens": cached}
    if reasoning is not None:
        result["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return result


def _error_frame(exc: Exception) -> bytes:
    # a top-level "error" object: the openai SDK raises APIError with its message
    kind = type(exc).__name__ if isinstance(exc, LLMRingError) else "server_error"
    code = getattr(exc, "status_code", None)
    return _frame({"error": {"message": public_error(exc), "type": kind, "code": code}})


async def openai_frames(
    chunks: AsyncIterable[StreamChunk],
    *,
    model: str | None = None,
    completion_id: str | None = None,
    created: int | None = None,
    include_usage: bool = True,
) -> AsyncGenerator[bytes, None]:
    """``chunks`` (a ``chat_stream``) as OpenAI ``chat.completion.chunk`` SSE frames.

    Frames: the assistant role (sent once the first chunk has arrived, so a failure before
    content is only an error frame), one per content chunk (``content``,
    ``reasoning_content``, ``tool_calls`` fragments), the ``finish_reason``, the usage with
    ``choices: []`` (when ``include_usage`` and the provider reported usage), then
    ``data: [DONE]``. A failure ends the stream with one ``{"error": {...}}`` frame and no
    ``[DONE]``. ``model`` defaults to the model that answered; ``completion_id`` and
    ``created`` to a fresh ``chatcmpl-`` id and the current time. Bytes pass unchanged through
    both ``StreamingResponse`` and ``EventSourceResponse``. ``chunks`` is closed on every exit.
    """
    head: dict[str, Any] = {
        "id": completion_id or f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()) if created is None else created,
        "model": model,
    }

    def choice(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _frame(
            {
                **head,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }
        )

    started = False
    try:
        async with iterating(chunks) as stream:
            async for chunk in stream:
                if not started:
                    started = True
                    head["model"] = head["model"] or chunk.model or ""
                    yield choice({"role": "assistant", "content": ""})
                if not chunk.is_terminal:
                    yield choice(_delta(chunk))
                    continue
                yield choice({}, openai_finish_reason(chunk.finish_reason))
                if include_usage and chunk.usage is not None:
                    yield _frame({**head, "choices": [], "usage": openai_usage(chunk.usage)})
                yield _DONE_FRAME
                return
        raise RuntimeError("the chunk stream ended without a terminal chunk")
    except Exception as exc:  # noqa: BLE001 - logged, and reported as one error frame
        yield _error_frame(exc)
