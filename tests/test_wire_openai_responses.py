"""Wire conformance for the ``openai-responses`` adapter: every recorded Responses API stream,
replayed byte for byte to the real ``openai`` SDK through the shared wire contract
(``tests/wire_contract.py``); the cases around it are here.

The expectations below were read off the recorded files (``tests/wire/openai/responses-*.sse``),
not from the adapter's output: the text is the ``response.output_text.delta`` (and
``response.refusal.delta``) deltas joined, reasoning the ``response.reasoning_summary_text.delta``
deltas; a function call's id and name come from its ``response.output_item.added`` item
(``call_id``, ``name``), its arguments are its ``response.function_call_arguments.delta`` deltas
joined; usage and model are the terminal event's ``response``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmring.exceptions import (
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    StreamInterruptedError,
)
from tests.loopback import Reply
from tests.wire_contract import Digest, Expected, WireContract, check_common
from tests.wire_harness import Outcome, provider_ring, run_stream, user_request


def usage(
    prompt: int, completion: int, total: int, *, cached: int = 0, reasoning: int = 0
) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "cached_tokens": cached,
        "reasoning_tokens": reasoning,
    }


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


STATES = Digest(
    152,
    "23217733cd421255198a9bd9b0a497233063ea800720eb0fdee3926ebb7810a1",
    "Sure! Here is a list of all 50 U.S. states:\n\n1. Alabama\n",
    "\n7. Connecticut\n8. Delaware\n9. Florida",
)
WEATHER_SUMMARY = Digest(
    424,
    "12941005859c3d10f688daa4fc4b7aba568e8c83044ba3e6b762c54645174575",
    "**Getting weather info**\n\nI need to respond",
    "for Florence and see what it returns!",
)

RESPONSES = {
    # response.incomplete, incomplete_details.reason max_output_tokens: 50 deltas, cut
    "responses-gpt-4o-max-output-tokens-incomplete": Expected(
        STATES,
        "length",
        "max_output_tokens",
        usage(14, 50, 64),
        "gpt-4o-2024-08-06",
        chunks=(50, 0, 0),
    ),
    # A refusal streams as text (response.refusal.delta); it is not an answer.
    "responses-gpt-4o-refusal": Expected(
        "I'm sorry, I can't assist with that.",
        "content_filter",
        "completed",
        usage(54, 11, 65),
        "gpt-4o-2024-08-06",
        chunks=(9, 0, 0),
    ),
    # a reasoning item with an empty summary at output_index 0, then calls at 1 and 2
    "responses-gpt-5-parallel-function-calls": Expected(
        "",
        "tool_calls",
        "completed",
        usage(109, 223, 332, reasoning=128),
        "gpt-5-2025-08-07",
        [
            call("call_inViAUr9eV0GDtyOywkCxp59", "add", '{"a":2,"b":3}'),
            call("call_Op66UUnzuOoKmgGeFJQJFTUY", "multiply", '{"a":2,"b":3}'),
        ],
        chunks=(0, 0, 4),
    ),
    "responses-gpt-5-reasoning-summary": Expected(
        "",
        "tool_calls",
        "completed",
        usage(63, 121, 184, reasoning=64),
        "gpt-5-2025-08-07",
        [call("call_zgUaIBRPTwxxOusyyKw5NVMH", "weather", '{"location":"Florence, Italy"}')],
        reasoning=WEATHER_SUMMARY,
        chunks=(0, 75, 9),
    ),
    "responses-gpt-5.5-function-call": Expected(
        "",
        "tool_calls",
        "completed",
        usage(58, 23, 81),
        "gpt-5.5-2026-04-23",
        [call("call_sVidsfFJ6zlzRpelrPkTPlpd", "multiply", '{"a":1231,"b":2331}')],
        chunks=(0, 0, 12),
    ),
    "responses-gpt-5.5-text-after-tool": Expected(
        "1231 × 2331 = **2,869,461**",
        "stop",
        "completed",
        usage(94, 18, 112),
        "gpt-5.5-2026-04-23",
        chunks=(14, 0, 0),
    ),
}


def check(outcome: Outcome, expected: Expected[dict[str, Any]]) -> None:
    check_common(outcome, "openai-responses", expected)
    assert outcome.terminal.tool_calls == (list(expected.calls) or None)


class TestOpenAIResponsesWire(WireContract):
    provider = "openai-responses"
    path = "/v1/responses"
    model = "gpt-test"
    folder = "openai"
    prefix = "responses-"  # the chat-* recordings are Chat Completions
    expected = RESPONSES
    tested_apart = frozenset({"responses-gpt-4o-rate-limit-error-midstream"})
    byte_by_byte = ("responses-gpt-4o-refusal",)
    check = staticmethod(check)


RATE_LIMITED = "openai/responses-gpt-4o-rate-limit-error-midstream.sse"


async def test_a_rate_limit_error_event_is_a_rate_limit_error(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HTTP 200, response.created, then an ``error`` event (code rate_limit_exceeded) and
    # response.failed: a 429 raised before any content, so retryable
    async with provider_ring(
        "openai-responses", Reply.wire(RATE_LIMITED), project, monkeypatch
    ) as (
        ring,
        server,
    ):
        outcome = await run_stream(ring, user_request("openai-responses:gpt-test"))
    error = outcome.error
    assert type(error) is ProviderRateLimitError, repr(error)
    assert (error.provider, error.model, error.status_code) == (
        "openai-responses",
        "gpt-test",
        429,
    )
    assert error.retryable and error.retry_after is None
    assert "Request too large for gpt-4o" in str(error) and "rate_limit_exceeded" in str(error)
    assert outcome.chunks == []
    assert server.requests[0].path == "/v1/responses"


async def test_an_alias_falls_back_from_the_rate_limit(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindings = {"chatbot": ["openai-responses:gpt-test", "mock:echo"]}
    async with (
        provider_ring(
            "openai-responses", Reply.wire(RATE_LIMITED), project, monkeypatch, bindings
        ) as (ring, _),
        ring.chat_stream(user_request("chatbot")) as stream,
    ):
        text = "".join([chunk.delta async for chunk in stream])
    assert text == "hello" and stream.provider == "mock"
    ((ref, failed),) = stream.failed_attempts
    assert ref == "openai-responses:gpt-test" and type(failed) is ProviderRateLimitError


# -- what the recordings do not show: synthetic events through the same SDK ---------------------


def _event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


def _response_event(kind: str, **fields: Any) -> bytes:
    response = {"id": "resp_1", "object": "response", "model": "gpt-x", "output": [], **fields}
    return _event({"type": kind, "response": response})


CREATED = _response_event("response.created", status="in_progress")
COMPLETED = _response_event(
    "response.completed",
    status="completed",
    usage={"input_tokens": 5, "output_tokens": 3, "total_tokens": 8},
)


def _text(delta: str, output_index: int = 0) -> bytes:
    return _event(
        {"type": "response.output_text.delta", "output_index": output_index, "delta": delta}
    )


def _call_added(output_index: int, call_id: str, name: str, arguments: str = "") -> bytes:
    item = {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments}
    return _event(
        {"type": "response.output_item.added", "output_index": output_index, "item": item}
    )


async def _run(body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    reply = Reply(body, headers={"content-type": "text/event-stream"})
    async with provider_ring("openai-responses", reply, project, monkeypatch) as (ring, _):
        return await run_stream(ring, user_request("openai-responses:gpt-test"))


async def test_arguments_sent_whole_are_taken_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # call 0: its arguments only in function_call_arguments.done; call 1: in the added item,
    # then repeated by .done (never twice)
    done = {"type": "response.function_call_arguments.done"}
    body = (
        CREATED
        + _call_added(3, "call_a", "add")
        + _event({**done, "output_index": 3, "arguments": '{"a":1}'})
        + _call_added(5, "call_b", "mul", '{"b":2}')
        + _event({**done, "output_index": 5, "arguments": '{"b":2}'})
        + COMPLETED
    )
    outcome = await _run(body, project, monkeypatch)
    assert outcome.terminal.tool_calls == [
        call("call_a", "add", '{"a":1}'),
        call("call_b", "mul", '{"b":2}'),
    ]
    assert outcome.terminal.finish_reason == "tool_calls"
    assert [c.tool_call_delta.index for c in outcome.chunks[:-1] if c.tool_call_delta] == [
        0,
        0,
        1,
    ]


async def test_reasoning_summaries_are_kept_apart(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def summary(text: str, index: int) -> bytes:
        part = {"type": "response.reasoning_summary_part.added", "output_index": 0}
        delta = {"type": "response.reasoning_summary_text.delta", "output_index": 0}
        return _event({**part, "summary_index": index}) + _event(
            {**delta, "summary_index": index, "delta": text}
        )

    body = CREATED + summary("**One**", 0) + summary("**Two**", 1) + _text("Hi") + COMPLETED
    outcome = await _run(body, project, monkeypatch)
    assert outcome.reasoning == "**One**\n\n**Two**"
    assert outcome.text == "Hi" and outcome.terminal.finish_reason == "stop"


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("content_filter", "content_filter"), ("max_output_tokens", "length"), ("steered", "other")],
)
async def test_incomplete_reasons(
    reason: str, finish: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    incomplete = _response_event(
        "response.incomplete", status="incomplete", incomplete_details={"reason": reason}
    )
    outcome = await _run(CREATED + _text("Hi") + incomplete, project, monkeypatch)
    terminal = outcome.terminal
    assert (terminal.finish_reason, terminal.finish_reason_raw) == (finish, reason)
    assert terminal.usage is None and terminal.model == "gpt-x"


async def test_unknown_events_are_skipped(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    others = b"".join(
        _event({"type": kind, "output_index": 0, "anything": [1, {"x": None}]})
        for kind in (
            "response.output_text.annotation.added",
            "response.web_search_call.searching",
            "response.some_event_added_next_year",
        )
    )
    outcome = await _run(
        CREATED + _text("Hi") + others + _text("!") + COMPLETED, project, monkeypatch
    )
    assert outcome.text == "Hi!" and outcome.terminal.usage == {
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "total_tokens": 8,
    }


FAILURES = [
    # response.failed alone: its error's code decides whether the next model may try
    ({"code": "invalid_prompt", "message": "flagged"}, ProviderResponseError, 400, False),
    ({"code": "image_parse_error", "message": "bad image"}, ProviderResponseError, 400, False),
    ({"code": "server_error", "message": "oops"}, ProviderResponseError, 500, True),
    ({"code": "vector_store_timeout", "message": "slow"}, ProviderResponseError, 504, True),
    ({"code": "rate_limit_exceeded", "message": "slow down"}, ProviderRateLimitError, 429, True),
    (None, ProviderResponseError, None, True),
]


@pytest.mark.parametrize(("error", "kind", "status", "retryable"), FAILURES)
async def test_response_failed(
    error: dict[str, Any] | None,
    kind: type[ProviderError],
    status: int | None,
    retryable: bool,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failed = _response_event("response.failed", status="failed", error=error)
    outcome = await _run(CREATED + failed, project, monkeypatch)
    assert type(outcome.error) is kind, repr(outcome.error)
    assert outcome.error.status_code == status and outcome.error.retryable is retryable
    assert (error or {"message": "the response failed"})["message"] in str(outcome.error)


async def test_an_error_event_after_content_interrupts(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the error event as the SDK's types spell it: code and message on the event itself
    error = {"type": "error", "code": "rate_limit_exceeded", "message": "TPM", "param": None}
    outcome = await _run(CREATED + _text("Hel") + _event(error) + COMPLETED, project, monkeypatch)
    assert isinstance(outcome.error, StreamInterruptedError)
    assert outcome.error.partial_response == "Hel"
    cause = outcome.error.__cause__
    assert type(cause) is ProviderRateLimitError and cause.status_code == 429
    assert "in-stream error: TPM (rate_limit_exceeded)" in str(cause)
