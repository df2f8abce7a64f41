"""Synthetic streaming bodies in each provider's wire format, and the recorded ones.

A synthetic stream of ``n`` chunks carries the text ``"w0 w1 w2 ..."`` (one word per content
event) and ends the way the real provider ends: usage and ``[DONE]`` (OpenAI), the output item's
``done`` events and ``response.completed`` with usage (OpenAI's Responses API), ``message_delta``
and ``message_stop`` (Anthropic), a last chunk with ``finishReason`` (Gemini, CRLF framing),
a ``done: true`` line (Ollama). Every contender must receive exactly :func:`expected_text`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

PROVIDERS = ("openai", "openai-responses", "anthropic", "google", "ollama")


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


def responses_events(n: int) -> Iterator[str]:
    """As the API sends them: every event numbered, each text delta with its item, indexes,
    empty ``logprobs`` and an ``obfuscation`` pad; the response repeated whole at both ends."""
    sequence = iter(range(n + 10))
    item = "msg_bench"

    def event(kind: str, **fields: object) -> str:
        return _sse({"type": kind, "sequence_number": next(sequence), **fields}, kind)

    response: dict[str, object] = {
        "id": "resp_bench",
        "object": "response",
        "created_at": 1,
        "status": "in_progress",
        "error": None,
        "incomplete_details": None,
        "model": "gpt-bench",
        "output": [],
        "parallel_tool_calls": True,
        "reasoning": {"effort": None, "summary": None},
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "usage": None,
    }
    where = {"item_id": item, "output_index": 0, "content_index": 0}
    yield event("response.created", response=response)
    yield event("response.in_progress", response=response)
    message: dict[str, Any] = {
        "id": item,
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
    }
    yield event("response.output_item.added", output_index=0, item={**message, "content": []})
    part = {"type": "output_text", "annotations": [], "text": ""}
    yield event("response.content_part.added", **where, part=part)
    for i in range(n):
        yield event(
            "response.output_text.delta", **where, delta=word(i), logprobs=[], obfuscation="Xq9z"
        )
    text = expected_text(n)
    done = {**part, "text": text}
    yield event("response.output_text.done", **where, text=text, logprobs=[])
    yield event("response.content_part.done", **where, part=done)
    message = {**message, "status": "completed", "content": [done]}
    yield event("response.output_item.done", output_index=0, item=message)
    usage = {
        "input_tokens": 5,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": n,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": n + 5,
    }
    completed = {**response, "status": "completed", "output": [message], "usage": usage}
    yield event("response.completed", response=completed)


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
    "openai-responses": responses_events,
    "anthropic": anthropic_events,
    "google": google_events,
    "ollama": ollama_events,
}
CONTENT_TYPES = {
    "openai": "text/event-stream",
    "openai-responses": "text/event-stream",
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
