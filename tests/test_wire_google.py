"""Wire conformance for the ``google`` adapter: every recorded Gemini stream (Gemini API and
Vertex AI), replayed byte for byte to the real ``google-genai`` SDK by the shared wire contract
(``tests/wire_contract.py``).

The expectations were read off the recorded files (``tests/wire/gemini/*.sse``), not from
the adapter's output: text is the concatenation of the non-thought ``text`` parts (plus code
execution rendered as Markdown blocks, the adapter's documented rule), reasoning that of the
``thought: true`` parts, tool calls are the ``functionCall`` parts in order, usage is the last
chunk's ``usageMetadata`` (prompt = prompt + toolUsePrompt, completion = candidates +
thoughts, total = totalTokenCount), the model is ``modelVersion``. Texts longer than a few
lines are pinned by length, SHA-256, head and tail.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmring.exceptions import (
    ProviderAuthenticationError,
    ProviderRateLimitError,
    ProviderResponseError,
    StreamInterruptedError,
)
from llmring.schemas import ToolCallDict
from tests.loopback import WIRE, Reply
from tests.wire_contract import Digest, Expected, WireContract, check_common
from tests.wire_harness import PROVIDERS, Outcome, provider_ring, run_stream, user_request

PATH = "/v1/models/gemini-test:streamGenerateContent?alt=sse"
MODEL = "google:gemini-test"


@dataclass(frozen=True)
class Call:
    name: str
    arguments: str  # the exact JSON text (json.dumps of the recorded args, key order kept)
    signature: tuple[str, int] | None = None  # (prefix, length) of thoughtSignature
    call_id: str | None = None  # Gemini's own id, when it sent one


def usage(prompt: int, completion: int, total: int, reasoning: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "reasoning_tokens": reasoning,
    }


CODE_EXECUTION_TEXT = (
    "```python\nresult = 65465 - 6544 * 65464 - 6 + 1.02255\nprint(result)\n```\n"
    "```output\n-428330955.97745\n```\n"
    "The result of $65465 - 6544 \\times 65464 - 6 + 1.02255$ is **-428,330,955.97745**."
)

GEMINI = {
    "gemini-2.5-flash-function-call": Expected(
        "",
        "tool_calls",
        "STOP",
        usage(54, 15 + 43, 112, 43),
        "gemini-2.5-flash",
        [Call("weather", '{"location": "Florence,Italy"}', ("CiQBvj72+xCKZ6n2", 400))],
        chunks=(0, 0, 1),
    ),
    "gemini-2.5-flash-max-tokens": Expected(
        "Here are all 50 U.S.",
        "length",
        "MAX_TOKENS",
        usage(9, 10 + 38, 57, 38),
        "gemini-2.5-flash",
        chunks=(1, 0, 0),
    ),
    "gemini-2.5-flash-parallel-function-calls": Expected(
        "",
        "tool_calls",
        "STOP",
        usage(121, 36 + 38, 195, 38),
        "gemini-2.5-flash",
        [
            Call("add", '{"b": 3, "a": 2}', ("CloBvj72+4/aTlye", 304)),
            Call("multiply", '{"a": 2, "b": 3}'),
        ],
        chunks=(0, 0, 2),
    ),
    "gemini-2.5-flash-thinking-function-call": Expected(
        "",
        "tool_calls",
        "STOP",
        usage(54, 14 + 62, 130, 62),
        "gemini-2.5-flash",
        [Call("weather", '{"location": "Florence, Italy"}', ("CiQBvj72+y6VX8BA", 508))],
        reasoning=Digest(
            327,
            "144b58076c73f5663ac37923c48a662717f7ec31ab16622fd585ccffa31edd47",
            "**Determining the Weather Inquiry**\n\n",
            "The query seems straightforward and easily resolved.\n\n\n",
        ),
        chunks=(0, 1, 1),
    ),
    "gemini-2.5-pro-text": Expected(
        'Of course!\n\nThe most common way to say "hi" in Portuguese is:\n\n**Oi**\n\n'
        'You can also say:\n\n**Olá** (This is a bit more like "Hello" and can be used in any '
        "situation.)",
        "stop",
        "STOP",
        usage(11, 49 + 603, 663, 603),
        "gemini-2.5-pro",
        chunks=(3, 0, 0),
    ),
    "gemini-2.5-pro-thought-parts": Expected(
        Digest(
            1938,
            "8c4308d5109d741f711e414af671ed9e2f61492c45fb0d3e99e5c81007336546",
            "This is a great question! Safely crossing the street is all about",
            "**stay alert and be predictable**. Always assume a driver might not see you.",
        ),
        "stop",
        "STOP",
        usage(34, 469 + 787, 1290, 787),
        "gemini-2.5-pro",
        reasoning=Digest(
            1575,
            "1bf501f690cde7d3a87b3ba1a0dd9061cccb49abc397f46fbfec08abfa507dd6",
            "**Clarifying User Goals**\n\n",
            "regardless of specific circumstances or locations.\n\n\n",
        ),
        chunks=(19, 4, 0),
    ),
    # code execution: executableCode and codeExecutionResult become Markdown blocks; the
    # final usage counts 360 tool-use prompt tokens (prompt 147 + 360 = 507)
    "gemini-3-flash-preview-code-execution": Expected(
        CODE_EXECUTION_TEXT,
        "stop",
        "STOP",
        usage(147 + 360, 108 + 168, 783, 168),
        "gemini-3-flash-preview",
        chunks=(5, 0, 0),
    ),
    "gemini-3-pro-preview-function-call-thought-signature": Expected(
        "",
        "tool_calls",
        "STOP",
        usage(29, 10 + 202, 241, 202),
        "gemini-3-pro-preview",
        [Call("get_country", "{}", ("EpwICpkIAXLI2nxl", 1408))],
        chunks=(0, 0, 1),
    ),
    "gemini-3.1-pro-preview-parallel-function-calls": Expected(
        "",
        "tool_calls",
        "STOP",
        usage(157, 32 + 438, 627, 438),
        "gemini-3.1-pro-preview",
        [
            Call("add", '{"a": 2, "b": 3}', ("EsINCr8NAb4+9vve", 2312), "8hd01vsf"),
            Call("multiply", '{"b": 3, "a": 2}', None, "k0srpqrc"),
        ],
        chunks=(0, 0, 2),
    ),
    "vertex-gemini-2.5-flash-text": Expected(
        Digest(
            1564,
            "7726269545e933ceb2ca18573e2aa97edac54b4f76456a2f0d0652b8e39129e2",
            "When systems hum, a silent, complex art,\nWith hidden errors playing their part,",
            "OpenTelemetry, a guiding light,\nMakes complex software shine so bright.",
        ),
        "stop",
        "STOP",
        usage(8, 388 + 2193, 2589, 2193),
        "gemini-2.5-flash",
        chunks=(6, 0, 0),
    ),
}


def check(outcome: Outcome, expected: Expected[Call]) -> None:
    check_common(outcome, "google", expected)
    check_calls(outcome.terminal.tool_calls, expected.calls)


def check_calls(calls: list[ToolCallDict] | None, expected: Sequence[Call]) -> None:
    if not expected:
        assert calls is None
        return
    assert calls is not None and len(calls) == len(expected)
    for index, (call, want) in enumerate(zip(calls, expected, strict=True)):
        assert call["type"] == "function"
        assert call["function"]["name"] == want.name
        assert call["function"]["arguments"] == want.arguments
        assert json.loads(call["function"]["arguments"]) == json.loads(want.arguments)
        data = call.get("provider_data") or {}
        if want.call_id:
            assert call["id"] == want.call_id and data["call_id"] == want.call_id
        else:
            assert call["id"].startswith(f"call_{index}_") and "call_id" not in data
        if want.signature:
            prefix, length = want.signature
            signature = data["thought_signature"]
            assert signature.startswith(prefix) and len(signature) == length
        else:
            assert "thought_signature" not in data


class TestGoogleWire(WireContract):
    provider = "google"
    path = PATH
    model = "gemini-test"
    folder = "gemini"
    expected = GEMINI
    byte_by_byte = ("gemini-2.5-flash-parallel-function-calls", "gemini-2.5-pro-text")
    check = staticmethod(check)


def _events(name: str) -> list[bytes]:
    body = (WIRE / f"gemini/{name}.sse").read_bytes()
    return [event + b"\r\n\r\n" for event in body.split(b"\r\n\r\n") if event]


@pytest.mark.parametrize("name", sorted(n for n in GEMINI if len(_events(n)) > 1))
async def test_body_ending_cleanly_before_the_finish_chunk_is_an_interruption(
    name: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Gemini has no end marker: without the finishReason chunk the reply is not complete,
    # even though the HTTP body itself ended cleanly.
    body = b"".join(_events(name)[:-1])
    async with provider_ring("google", Reply(body), project, monkeypatch) as (ring, server):
        outcome = await run_stream(ring, user_request(MODEL))
    assert server.completed == [PATH]
    error = outcome.error
    if outcome.text:
        assert isinstance(error, StreamInterruptedError)
        assert error.partial_response == outcome.text
        if name.startswith("vertex"):  # Vertex sends counts only on the finish chunk
            assert error.usage is None
        else:
            assert error.usage is not None and error.usage["prompt_tokens"] > 0
    else:
        assert isinstance(error, (StreamInterruptedError, ProviderResponseError)), error
    cause = error.__cause__ if isinstance(error, StreamInterruptedError) else error
    assert "end-of-stream" in str(cause)


async def test_error_400_api_key_invalid_recorded_body(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recorded: HTTP 400, content-type text/event-stream, a pretty-printed JSON error body.
    body = (WIRE / "gemini/error-400-api-key-invalid.body.json").read_bytes()
    reply = Reply(body, status=400, headers={"content-type": "text/event-stream"}, chunked=False)
    async with provider_ring("google", reply, project, monkeypatch) as (ring, server):
        outcome = await run_stream(ring, user_request(MODEL))
    error = outcome.error
    assert type(error) is ProviderAuthenticationError, error
    assert (error.provider, error.model, error.status_code) == ("google", "gemini-test", 400)
    assert not error.retryable  # a rejected key raises: no quiet fallback to the next model
    assert "API key not valid. Please pass a valid API key." in str(error)
    assert "INVALID_ARGUMENT" in str(error) and "API_KEY_INVALID" in str(error)
    key = PROVIDERS["google"][1]
    assert key is not None and key not in str(error) and key not in repr(error.args)
    assert outcome.chunks == [] and len(server.requests) == 1


# -- constructed streams: cases the recordings do not hold (see wire/README "Not found") --------


def _chunk(parts: list[dict[str, Any]] | None = None, **fields: Any) -> bytes:
    data: dict[str, Any] = {"modelVersion": "gemini-x"}
    candidate: dict[str, Any] = {"index": 0}
    if parts is not None:
        candidate["content"] = {"parts": parts, "role": "model"}
    if "finishReason" in fields:
        candidate["finishReason"] = fields.pop("finishReason")
    if parts is not None or "finishReason" in candidate:
        data["candidates"] = [candidate]
    data.update(fields)
    return b"data: " + json.dumps(data).encode() + b"\r\n\r\n"


async def _run(body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    async with provider_ring("google", Reply(body), project, monkeypatch) as (ring, _):
        return await run_stream(ring, user_request(MODEL))


@pytest.mark.parametrize(
    ("raw", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"),
        ("CONTINUATION", "pause"),
        ("MALFORMED_FUNCTION_CALL", "other"),
        ("OTHER", "other"),
        ("SOME_FUTURE_REASON", "other"),
    ],
)
async def test_finish_reasons(
    raw: str, finish: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = await _run(
        _chunk([{"text": "Hi"}]) + _chunk([{"text": ""}], finishReason=raw), project, monkeypatch
    )
    assert (outcome.terminal.finish_reason, outcome.terminal.finish_reason_raw) == (finish, raw)
    assert outcome.text == "Hi" and outcome.terminal.model == "gemini-x"


async def test_usage_after_the_finish_chunk_is_kept(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}
    late = {
        "promptTokenCount": 5,
        "candidatesTokenCount": 3,
        "totalTokenCount": 12,
        "thoughtsTokenCount": 4,
        "cachedContentTokenCount": 2,
    }
    body = _chunk([{"text": "Hi"}], finishReason="STOP", usageMetadata=meta) + _chunk(
        usageMetadata=late
    )
    outcome = await _run(body, project, monkeypatch)
    outcome.check_contract()
    assert outcome.terminal.usage == {
        "prompt_tokens": 5,
        "completion_tokens": 7,
        "total_tokens": 12,
        "reasoning_tokens": 4,
        "cached_tokens": 2,
    }


async def test_usage_is_last_value_wins_with_omitted_zero_counts(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # proto3 JSON omits zero counts: a later chunk without thoughtsTokenCount means 0, so the
    # earlier reasoning_tokens must not survive the merge.
    first = {"promptTokenCount": 5, "thoughtsTokenCount": 9, "totalTokenCount": 14}
    last = {"promptTokenCount": 5, "candidatesTokenCount": 1, "totalTokenCount": 6}
    body = _chunk([{"text": "a"}], usageMetadata=first) + _chunk(
        [{"text": "b"}], finishReason="STOP", usageMetadata=last
    )
    outcome = await _run(body, project, monkeypatch)
    assert outcome.terminal.usage == {
        "prompt_tokens": 5,
        "completion_tokens": 1,
        "total_tokens": 6,
        "reasoning_tokens": 0,
    }


async def test_blocked_prompt_is_a_content_filter_finish(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _chunk(
        promptFeedback={"blockReason": "PROHIBITED_CONTENT"},
        usageMetadata={"promptTokenCount": 8, "totalTokenCount": 8},
    )
    outcome = await _run(body, project, monkeypatch)
    assert outcome.error is None and outcome.chunks == [outcome.terminal]
    terminal = outcome.terminal
    assert (terminal.finish_reason, terminal.finish_reason_raw) == (
        "content_filter",
        "PROHIBITED_CONTENT",
    )
    assert terminal.usage == {"prompt_tokens": 8, "completion_tokens": 0, "total_tokens": 8}


async def test_code_execution_after_text_starts_on_its_own_line(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (
        _chunk([{"text": "Let me compute."}])
        + _chunk([{"executableCode": {"language": "PYTHON", "code": "print(1)"}}])
        + _chunk([{"codeExecutionResult": {"outcome": "OUTCOME_FAILED", "output": "boom"}}])
        + _chunk([{"text": "Done."}], finishReason="STOP")
    )
    outcome = await _run(body, project, monkeypatch)
    assert outcome.text == (
        "Let me compute.\n```python\nprint(1)\n```\n```output OUTCOME_FAILED\nboom\n```\nDone."
    )


async def test_binary_parts_are_refused_not_dropped(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _chunk([{"text": "Here:"}]) + _chunk(
        [{"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}], finishReason="STOP"
    )
    outcome = await _run(body, project, monkeypatch)
    assert isinstance(outcome.error, StreamInterruptedError)
    assert outcome.error.partial_response == "Here:"
    assert "inlineData" in str(outcome.error.__cause__)


async def test_several_candidates_are_refused_not_dropped(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    two = {
        "candidates": [
            {"index": 0, "content": {"parts": [{"text": "A"}]}},
            {"index": 1, "content": {"parts": [{"text": "B"}]}},
        ]
    }
    body = b"data: " + json.dumps(two).encode() + b"\r\n\r\n"
    outcome = await _run(body, project, monkeypatch)
    assert isinstance(outcome.error, ProviderResponseError)
    assert "several candidates" in str(outcome.error) and outcome.chunks == []


async def test_inband_rate_limit_error_before_content(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
        }
    }
    outcome = await _run(b"data: " + json.dumps(error).encode() + b"\r\n\r\n", project, monkeypatch)
    assert isinstance(outcome.error, ProviderRateLimitError), outcome.error
    assert outcome.error.retry_after == 12 and outcome.error.status_code == 429
    assert "Resource has been exhausted (RESOURCE_EXHAUSTED)" in str(outcome.error)


async def test_streamed_function_call_arguments_are_refused(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Vertex can stream a call's arguments (partialArgs + willContinue) when asked to; a
    # fragment of such a call must not be taken for a whole call.
    part = {
        "functionCall": {
            "name": "add",
            "partialArgs": [{"jsonPath": "$.a", "numberValue": 2}],
            "willContinue": True,
        }
    }
    outcome = await _run(
        _chunk([part]) + _chunk([{"text": ""}], finishReason="STOP"), project, monkeypatch
    )
    assert isinstance(outcome.error, ProviderResponseError) and outcome.chunks == []
    assert "partialArgs" in str(outcome.error)
