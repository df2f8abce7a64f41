"""Hostile bodies through every adapter's real SDK: a corrupt compressed body, requests for
several choices, several choices sent anyway, and token counts no provider can mean."""

from __future__ import annotations

import dataclasses
import json
import logging
import zlib
from pathlib import Path
from typing import Any, cast

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring._assembler import MAX_TOKEN_COUNT, StreamAssembler
from llmring.exceptions import (
    ConfigurationError,
    ProviderResponseError,
    StreamInterruptedError,
)
from llmring.providers.base import UsageReport, add_counts
from llmring.schemas import Usage
from tests.hostile import TARGETS, target_ring
from tests.loopback import Reply
from tests.wire_harness import run_stream

BUILTIN = ["openai", "openai-responses", "anthropic", "google", "ollama"]

# -- a body that says content-encoding: gzip and is not gzip (all the way, or after a while) --

GARBAGE = b"\xff" * 16  # a deflate block of the reserved type 3: "invalid block type"


def gzip_then_garbage(body: bytes, keep: int) -> tuple[bytes, int]:
    """``body[:keep]`` gzip-compressed and flushed (a reader can decode it alone), then bytes
    that are not deflate data; and where the garbage starts."""
    compressor = zlib.compressobj(wbits=31)  # 31: the gzip container
    head = compressor.compress(body[:keep]) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return head + GARBAGE, len(head)


@pytest.mark.parametrize("after_content", [False, True], ids=["before-content", "after-content"])
@pytest.mark.parametrize("name", BUILTIN)
async def test_a_corrupt_gzip_body_is_a_response_error(
    name: str, after_content: bool, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = TARGETS[name]
    recorded = Reply.wire(target.contract.text_wire)
    headers = {**recorded.headers, "content-encoding": "gzip"}
    if after_content:
        body, garbage_at = gzip_then_garbage(recorded.body, len(recorded.body) * 2 // 3)
        # the garbage comes in a later read than the good part, so the good part is delivered
        reply = Reply(body, headers=headers, splits=[garbage_at], delay=0.05)
    else:
        reply = Reply(GARBAGE, headers=headers)
    async with target_ring(target, project, monkeypatch) as (ring, server):
        server.reply = reply
        outcome = await run_stream(ring, target.request())
    error = outcome.error
    if after_content:
        assert isinstance(error, StreamInterruptedError), error
        assert error.partial_response == outcome.text and outcome.text
        assert target.contract.expected_text.startswith(outcome.text)
        error = error.__cause__
    else:
        assert outcome.chunks == []
    assert type(error) is ProviderResponseError, error
    assert error.retryable and error.provider == name
    assert "could not be decoded" in str(error)
    assert getattr(error.__cause__, "type_name", "").endswith("DecodingError")


# -- several choices: refused before any request; sent anyway: never mixed in ----------------

SEVERAL = [
    ("openai", {"n": 2}, "n=2"),
    ("openai", {"n": True}, "n=True"),  # JSON true: not the 1 it equals in Python
    ("openai-responses", {"n": 2}, "n=2"),
    ("corp", {"n": 3}, "n=3"),
    ("anthropic", {"n": 2}, "n=2"),
    ("google", {"candidate_count": 2}, "candidate_count=2"),
    ("google", {"candidateCount": True}, "candidateCount=True"),
    ("ollama", {"n": 2}, "n=2"),
]


@pytest.mark.parametrize(("name", "extra", "named"), SEVERAL)
async def test_several_choices_are_refused_before_any_request(
    name: str, extra: dict[str, Any], named: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = TARGETS[name]
    async with target_ring(target, project, monkeypatch) as (ring, server):
        outcome = await run_stream(ring, target.request(extra_params=extra))
    assert isinstance(outcome.error, ConfigurationError), outcome.error
    assert f"extra_params {named}" in str(outcome.error)
    assert "one choice" in str(outcome.error)
    assert server.requests == []


async def test_the_mock_refuses_several_choices_too() -> None:
    request = LLMRequest(
        model="mock:echo", messages=[Message(role="user", content="hi")], extra_params={"n": 2}
    )
    async with LLMRing() as ring:
        outcome = await run_stream(ring, request)
    assert isinstance(outcome.error, ConfigurationError) and "extra_params n=2" in str(
        outcome.error
    )


@pytest.mark.parametrize("name", ["openai", "google"])
async def test_one_choice_asked_for_explicitly_is_fine(
    name: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = TARGETS[name]
    field = "n" if name == "openai" else "candidate_count"
    async with target_ring(target, project, monkeypatch) as (ring, server):
        server.reply = Reply.wire(target.contract.text_wire)
        outcome = await run_stream(ring, target.request(extra_params={field: 1}))
    assert outcome.text == target.contract.expected_text


def _gemini_chunk(text: str, index: int) -> bytes:
    data = {
        "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": index}],
        "modelVersion": "test-model",
    }
    return b"data: " + json.dumps(data).encode() + b"\r\n\r\n"


async def test_a_second_gemini_candidate_sent_anyway_ends_the_stream(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as docs/stream-contract.md says: never dropped in silence, never mixed into the text
    target = TARGETS["google"]
    body = _gemini_chunk("Hello", 0) + _gemini_chunk("Bonjour", 1) + _gemini_chunk(" there", 0)
    async with target_ring(target, project, monkeypatch) as (ring, server):
        server.reply = Reply(body)
        outcome = await run_stream(ring, target.request())
    error = outcome.error
    assert isinstance(error, StreamInterruptedError) and error.partial_response == "Hello"
    assert isinstance(error.__cause__, ProviderResponseError)
    assert "several candidates" in str(error.__cause__)


# -- token counts: negative, absurd or not integers are not passed on ------------------------


def _openai_body(usage: dict[str, Any]) -> bytes:
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": usage},
    ]
    return (
        b"".join(
            b"data: " + json.dumps({"id": "c", "model": "test-model", **c}).encode() + b"\n\n"
            for c in chunks
        )
        + b"data: [DONE]\n\n"
    )


def _responses_body(usage: dict[str, Any]) -> bytes:
    events: list[dict[str, Any]] = [
        {"type": "response.output_text.delta", "output_index": 0, "delta": "Hi"},
        {"type": "response.completed", "response": {"status": "completed", "usage": usage}},
    ]
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def _anthropic_body(usage: dict[str, Any]) -> bytes:
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": "test-model",
                "content": [],
                "usage": usage,
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 1},
        },
        {"type": "message_stop"},
    ]
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def _google_body(usage: dict[str, Any]) -> bytes:
    data = {
        "candidates": [
            {
                "content": {"parts": [{"text": "Hi"}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": usage,
        "modelVersion": "test-model",
    }
    return b"data: " + json.dumps(data).encode() + b"\r\n\r\n"


def _ollama_body(usage: dict[str, Any]) -> bytes:
    lines = [
        {"model": "test-model", "message": {"role": "assistant", "content": "Hi"}, "done": False},
        {
            "model": "test-model",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            **usage,
        },
    ]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


HOSTILE_USAGE = [
    ("openai", _openai_body({"prompt_tokens": -5, "completion_tokens": 1, "total_tokens": -4})),
    (
        "openai",
        _openai_body({"prompt_tokens": 10**30, "completion_tokens": 1, "total_tokens": 10**30 + 1}),
    ),
    (
        "openai",
        _openai_body(
            {
                "prompt_tokens": 5,
                "completion_tokens": 1,
                "total_tokens": 6,
                "completion_tokens_details": {"reasoning_tokens": -1},
            }
        ),
    ),
    ("corp", _openai_body({"prompt_tokens": True, "completion_tokens": 1})),
    ("openai-responses", _responses_body({"input_tokens": -5, "output_tokens": 1})),
    ("openai-responses", _responses_body({"input_tokens": 3, "output_tokens": 10**30})),
    (
        "openai-responses",
        _responses_body(
            {
                "input_tokens": 5,
                "output_tokens": 1,
                "total_tokens": 6,
                "input_tokens_details": {"cached_tokens": -1},
            }
        ),
    ),
    # a negative part must not hide in a plausible sum (input + cache read = prompt)
    (
        "anthropic",
        _anthropic_body({"input_tokens": -5, "cache_read_input_tokens": 100, "output_tokens": 1}),
    ),
    ("anthropic", _anthropic_body({"input_tokens": 10**30, "output_tokens": 1})),
    (
        "google",
        _google_body(
            {
                "promptTokenCount": -5,
                "toolUsePromptTokenCount": 10,
                "candidatesTokenCount": 1,
                "totalTokenCount": 6,
            }
        ),
    ),
    ("google", _google_body({"promptTokenCount": 3, "candidatesTokenCount": 10**30})),
    ("ollama", _ollama_body({"prompt_eval_count": -5, "eval_count": 1})),
    ("ollama", _ollama_body({"prompt_eval_count": 3, "eval_count": 10**30})),
]


@pytest.mark.parametrize(("name", "body"), HOSTILE_USAGE)
async def test_implausible_token_counts_make_the_usage_unreported(
    name: str,
    body: bytes,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = TARGETS[name]
    caplog.set_level(logging.WARNING, logger="llmring")
    async with target_ring(target, project, monkeypatch) as (ring, server):
        server.reply = target.stream_reply(body)
        async with ring.chat_stream(target.request()) as stream:
            chunks = [chunk async for chunk in stream]
    assert "".join(c.delta for c in chunks) == "Hi"
    assert chunks[-1].is_terminal and chunks[-1].usage is None
    assert stream.response.usage is None
    assert "usage is treated as unreported" in caplog.text


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        (
            "openai",
            _openai_body({"prompt_tokens": 0, "completion_tokens": 10**9, "total_tokens": 10**9}),
            {"prompt_tokens": 0, "completion_tokens": 10**9, "total_tokens": 10**9},
        ),
        (
            "openai-responses",
            _responses_body(
                {
                    "input_tokens": 105,
                    "input_tokens_details": {"cached_tokens": 100},
                    "output_tokens": 10**9,
                    "output_tokens_details": {"reasoning_tokens": 7},
                }
            ),
            {
                "prompt_tokens": 105,
                "completion_tokens": 10**9,
                "total_tokens": 10**9 + 105,
                "cached_tokens": 100,
                "reasoning_tokens": 7,
            },
        ),
        (
            "anthropic",
            _anthropic_body(
                {"input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 1}
            ),
            {
                "prompt_tokens": 105,
                "completion_tokens": 1,
                "total_tokens": 106,
                "cached_tokens": 100,
            },
        ),
    ],
)
async def test_plausible_token_counts_pass_as_they_are(
    name: str,
    body: bytes,
    expected: dict[str, int],
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = TARGETS[name]
    async with target_ring(target, project, monkeypatch) as (ring, server):
        server.reply = target.stream_reply(body)
        outcome = await run_stream(ring, target.request())
    assert outcome.terminal.usage == expected


async def test_implausible_usage_is_not_kept_by_an_interrupted_stream(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = TARGETS["anthropic"]
    body = _anthropic_body({"input_tokens": -5, "output_tokens": 1})
    cut = body.index(b"event: content_block_stop")
    async with target_ring(target, project, monkeypatch) as (ring, server):
        server.reply = dataclasses.replace(target.stream_reply(body), cut_after=cut)
        outcome = await run_stream(ring, target.request())
    assert isinstance(outcome.error, StreamInterruptedError)
    assert outcome.error.partial_response == "Hi" and outcome.error.usage is None


M = MAX_TOKEN_COUNT


@pytest.mark.parametrize(
    ("reports", "expected"),
    [
        (
            [{"prompt_tokens": 0, "completion_tokens": M}],
            {"prompt_tokens": 0, "completion_tokens": M, "total_tokens": M},
        ),
        ([{"prompt_tokens": M + 1, "completion_tokens": 1}], None),
        ([{"prompt_tokens": -1, "completion_tokens": 1}], None),
        ([{"prompt_tokens": True, "completion_tokens": 1}], None),
        ([{"prompt_tokens": 1.0, "completion_tokens": 1}], None),
        ([{"prompt_tokens": "7", "completion_tokens": 1}], None),
        ([{"prompt_tokens": 1, "completion_tokens": 1, "cached_tokens": -1}], None),
        ([{"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 10**30}], None),
        # cumulative reports: the last value of each field is the one judged
        (
            [{"prompt_tokens": -5, "completion_tokens": 1}, {"prompt_tokens": 5}],
            {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
        ),
    ],
)
def test_the_usage_rule(
    reports: list[dict[str, Any]], expected: dict[str, int] | None, caplog: pytest.LogCaptureFixture
) -> None:
    assembler = StreamAssembler("p", "m")
    for report in reports:
        assembler.feed(UsageReport(cast(Usage, report)))  # hostile values, on purpose
    assert assembler.usage == expected
    assert assembler.terminal().usage == expected and assembler.response().usage == expected
    warnings = [r for r in caplog.records if r.name == "llmring" and r.levelno == logging.WARNING]
    assert len(warnings) == (0 if expected is not None else 1)  # once, however often it is read


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((1, 2, 0), 3),
        ((-5, 100), -5),
        ((100, -5), -5),
        ((True, 1), True),
        ((2, 1.5), 1.5),
        ((10**30, 1), 10**30 + 1),
    ],
)
def test_add_counts_keeps_a_bad_part_visible(parts: tuple[Any, ...], expected: Any) -> None:
    result = add_counts(*parts)
    assert result == expected and type(result) is type(expected)
