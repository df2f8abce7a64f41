"""Wire conformance for the ``openai`` adapter: every recorded Chat Completions stream (and the
OpenAI-compatible extras), replayed byte for byte to the real ``openai`` SDK. The recordings
run through the shared wire contract (``tests/wire_contract.py``); the cases around it are here.

The expectations below were read off the recorded files (``tests/wire/openai/*.sse``), not
from the adapter's output: the text is the concatenation of ``delta.content`` (and
``delta.refusal``) of choice 0, tool calls are joined by ``index``, usage is the final chunk's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llmring.exceptions import ProviderResponseError, StreamInterruptedError
from tests.loopback import Reply
from tests.wire_contract import Expected, WireContract, check_common
from tests.wire_harness import Outcome, provider_ring, run_stream, user_request


def usage(
    prompt: int, completion: int, total: int, *, cached: int | None = 0, reasoning: int | None = 0
) -> dict[str, int]:
    result = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
    if cached is not None:
        result["cached_tokens"] = cached
    if reasoning is not None:
        result["reasoning_tokens"] = reasoning
    return result


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


CHAT = {
    "chat-gpt-4o-length-max-tokens-usage": Expected(
        "Hello! How can I", "length", "length", usage(9, 5, 14), "gpt-4o-2024-08-06"
    ),
    "chat-gpt-4o-mini-single-tool-call-usage": Expected(
        "",
        "tool_calls",
        "tool_calls",
        usage(53, 15, 68),
        "gpt-4o-mini-2024-07-18",
        [call("call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", '{"country":"UK"}')],
    ),
    "chat-gpt-4o-mini-text-usage": Expected(
        "The capital of the UK is London.",
        "stop",
        "stop",
        usage(78, 9, 87),
        "gpt-4o-mini-2024-07-18",
    ),
    "chat-gpt-4o-parallel-tool-calls-args-split": Expected(
        "",
        "tool_calls",
        "tool_calls",
        usage(149, 60, 209, cached=None),
        "gpt-4o-2024-08-06",
        [
            call(
                "call_JMW1whyEaYG438VE1OIflxA2",
                "GetWeatherArgs",
                '{"city": "Edinburgh", "country": "GB", "units": "c"}',
            ),
            call(
                "call_DNYTawLBoN8fj3KN6qU9N1Ou",
                "get_stock_price",
                '{"ticker": "AAPL", "exchange": "NASDAQ"}',
            ),
        ],
    ),
    # A refusal streams as text; it is not an answer, so finish_reason says content_filter.
    "chat-gpt-4o-refusal-with-logprobs": Expected(
        "I'm very sorry, but I can't assist with that.",
        "content_filter",
        "stop",
        usage(79, 12, 91, cached=None),
        "gpt-4o-2024-08-06",
    ),
    "chat-gpt-4o-refusal": Expected(
        "I'm very sorry, but I can't assist with that request.",
        "content_filter",
        "stop",
        usage(64, 13, 77),
        "gpt-4o-2024-08-06",
    ),
    "chat-gpt-5-mini-length-during-reasoning": Expected(
        "", "length", "length", usage(13, 50, 63, reasoning=50), "gpt-5-mini-2025-08-07"
    ),
    "chat-gpt-5-parallel-tool-calls-usage": Expected(
        "",
        "tool_calls",
        "tool_calls",
        usage(190, 379, 569, reasoning=320),
        "gpt-5-2025-08-07",
        [
            call("call_8ElDxJj6u7IUDEwQIrwFbveM", "add", '{"a": 2, "b": 3}'),
            call("call_HEZOX3JzspqFubADMNdWn12E", "multiply", '{"a": 2, "b": 3}'),
        ],
    ),
    "chat-gpt-5-text-usage": Expected(
        "Olá!", "stop", "stop", usage(19, 75, 94, reasoning=64), "gpt-5-2025-08-07"
    ),
    "chat-o3-mini-reasoning-usage": Expected(
        "The sum of 1 and 2 is 3.", "stop", "stop", usage(12, 25, 37), "o3-mini-2025-01-31"
    ),
}


def check(outcome: Outcome, expected: Expected[dict[str, Any]]) -> None:
    # content chunk counts are not pinned for these recordings (``chunks`` is None)
    check_common(outcome, "openai", expected)
    assert outcome.terminal.tool_calls == (list(expected.calls) or None)


class TestOpenAIWire(WireContract):
    provider = "openai"
    path = "/v1/chat/completions"
    model = "gpt-test"
    folder = "openai"
    prefix = "chat-"  # the Responses API recordings are another API
    expected = CHAT
    tested_apart = frozenset({"chat-gpt-4o-mini-n2-multiple-choices"})
    byte_by_byte = ("chat-gpt-4o-mini-single-tool-call-usage",)
    check = staticmethod(check)


async def test_several_choices_are_refused_not_dropped(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # n=2 interleaves choice 0 and 1; llmring streams one choice and says so rather than
    # silently dropping the second answer. Choice 0's first delta ("I'm") came before.
    reply = Reply.wire("openai/chat-gpt-4o-mini-n2-multiple-choices.sse")
    async with provider_ring("openai", reply, project, monkeypatch) as (ring, _):
        outcome = await run_stream(ring, user_request("openai:gpt-test"))
    assert isinstance(outcome.error, StreamInterruptedError)
    assert outcome.error.partial_response == "I'm"
    assert "several choices" in str(outcome.error.__cause__)


async def test_groq_named_error_event_after_reasoning(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = Reply.wire("openai-compatible/groq-gpt-oss-120b-midstream-error.sse")
    async with provider_ring("openai", reply, project, monkeypatch) as (ring, _):
        outcome = await run_stream(ring, user_request("openai:gpt-test"))
    error = outcome.error
    assert isinstance(error, StreamInterruptedError)
    assert error.partial_response == ""  # only reasoning had arrived (93 deltas)
    assert len([c for c in outcome.chunks if c.reasoning]) == 93
    assert outcome.reasoning.startswith("We") and outcome.text == ""
    cause = error.__cause__
    assert isinstance(cause, ProviderResponseError) and cause.status_code == 400
    assert not cause.retryable
    assert "Tool call validation failed" in str(cause) and "tool_use_failed" in str(cause)


async def test_openrouter_comments_then_error_chunk_with_usage(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = Reply.wire("openai-compatible/openrouter-minimax-length-error.sse")
    async with provider_ring("openai", reply, project, monkeypatch) as (ring, _):
        outcome = await run_stream(ring, user_request("openai:gpt-test"))
    error = outcome.error
    assert isinstance(error, StreamInterruptedError)
    assert outcome.text == "" and outcome.reasoning  # reasoning deltas, no text
    assert error.usage == {
        "prompt_tokens": 43,
        "completion_tokens": 10,
        "total_tokens": 53,
        "cached_tokens": 0,
        "reasoning_tokens": 11,
    }
    assert isinstance(error.__cause__, ProviderResponseError)
    assert error.__cause__.status_code == 400 and "Token limit reached" in str(error.__cause__)
