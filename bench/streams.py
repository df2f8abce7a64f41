"""Synthetic streaming bodies in each provider's wire format, and the recorded ones.

A synthetic stream of ``n`` chunks carries the text ``"w0 w1 w2 ..."`` (one word per content
event) and ends the way the real provider ends: usage and ``[DONE]`` (OpenAI), ``message_delta``
and ``message_stop`` (Anthropic), a last chunk with ``finishReason`` (Gemini, CRLF framing),
a ``done: true`` line (Ollama). Every contender must receive exactly :func:`expected_text`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

PROVIDERS = ("openai", "anthropic", "google", "ollama")


def word(i: int) -> str:
    return f"w{i} "


def expected_text(n: int) -> str:
    return "".join(word(i) for i in range(n))


def _sse(data: object, event: str | None = None, sep: str = "\n") -> str:
    head = f"event: {event}{sep}" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}{sep}{sep}"


def openai_events(n: int) -> Iterator[str]:
    base = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-bench",
        "system_fingerprint": None,
    }
    yield _sse(
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
            "usage": None,
        }
    )
    for i in range(n):
        yield _sse(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"content": word(i)},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
                "usage": None,
            }
        )
    yield _sse(
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
            "usage": None,
        }
    )
    yield _sse(
        {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": n + 5},
        }
    )
    yield "data: [DONE]\n\n"


def anthropic_events(n: int) -> Iterator[str]:
    yield _sse(
        {
            "type": "message_start",
            "message": {
                "id": "msg_bench",
                "type": "message",
                "role": "assistant",
                "model": "claude-bench",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 1},
            },
        },
        "message_start",
    )
    yield _sse(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        "content_block_start",
    )
    for i in range(n):
        yield _sse(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": word(i)},
            },
            "content_block_delta",
        )
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    yield _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {
                "input_tokens": 5,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": n,
            },
        },
        "message_delta",
    )
    yield _sse({"type": "message_stop"}, "message_stop")


def google_events(n: int) -> Iterator[str]:
    for i in range(n):
        chunk: dict[str, object] = {
            "candidates": [
                {"content": {"parts": [{"text": word(i)}], "role": "model"}, "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": 5,
                "candidatesTokenCount": i + 1,
                "totalTokenCount": i + 6,
            },
            "modelVersion": "gemini-bench",
            "responseId": "bench",
        }
        if i == n - 1:
            chunk["candidates"][0]["finishReason"] = "STOP"  # type: ignore[index]
        yield _sse(chunk, sep="\r\n")


def ollama_events(n: int) -> Iterator[str]:
    for i in range(n):
        yield (
            json.dumps(
                {
                    "model": "llama-bench",
                    "created_at": "2025-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": word(i)},
                    "done": False,
                }
            )
            + "\n"
        )
    yield (
        json.dumps(
            {
                "model": "llama-bench",
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "total_duration": 1,
                "prompt_eval_count": 5,
                "eval_count": n,
            }
        )
        + "\n"
    )


EVENTS = {
    "openai": openai_events,
    "anthropic": anthropic_events,
    "google": google_events,
    "ollama": ollama_events,
}
CONTENT_TYPES = {
    "openai": "text/event-stream",
    "anthropic": "text/event-stream",
    "google": "text/event-stream",
    "ollama": "application/x-ndjson",
}


def body(provider: str, n: int) -> tuple[bytes, list[int]]:
    """The whole body and the byte offsets where its events end (to send them one by one)."""
    pieces = [event.encode() for event in EVENTS[provider](n)]
    offsets, position = [], 0
    for piece in pieces:
        position += len(piece)
        offsets.append(position)
    return b"".join(pieces), offsets[:-1]
