"""Wire conformance for the ``ollama`` adapter: every recorded ``/api/chat`` stream in
``tests/wire/ollama/`` replayed byte for byte to the adapter (and the SDK's httpx client) by
the shared wire contract (``tests/wire_contract.py``).

The expectations were read off the recorded files, not from the adapter's output: the text
is the concatenation of ``message.content``, the reasoning that of ``message.thinking``
(and, for qwen3, the ``<think>`` block that opens ``content``), the usage the ``done: true``
line's ``prompt_eval_count`` / ``eval_count``, the model the lines' ``model``. Chunk counts
are the numbers of lines with non-empty ``thinking`` / ``content`` / ``tool_calls``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmring.exceptions import ProviderResponseError
from llmring.providers.base import ReasoningDelta, TextDelta
from llmring.providers.ollama._events import ThinkTagSplitter
from tests.loopback import WIRE, Reply
from tests.wire_contract import Digest, Expected, WireContract, check_common, check_text
from tests.wire_harness import Outcome, provider_ring, run_stream, user_request

MODEL = "ollama:test-model"
GENERATED_ID = re.compile(r"call_(\d+)_[0-9a-f]{12}")


@dataclass(frozen=True)
class Call:
    name: str
    arguments: str  # exactly as llmring hands it on (json.dumps of the wire's object)
    parsed: dict[str, Any]
    id: str | None = None  # the wire's id; None: llmring generates a stable one


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


WEATHER_DETROIT = Call("weather", '{"city": "Detroit"}', {"city": "Detroit"})

EXPECTED: dict[str, Expected[Call]] = {
    "cloud-gpt-oss-120b-thinking": Expected(
        "1  \n2  \n3  \n4  \n5",
        "stop",
        "stop",
        usage(74, 57),
        "gpt-oss:120b",
        chunks=(9, 37, 0),
        reasoning='User asks: "Count from 1 to 5". Simple. Respond with numbers: 1 2 3 4 5. '
        "Possibly each on separate line. Provide answer.",
    ),
    "gemma3-1b-length-stop": Expected(
        "Hello there! I’m doing well, thanks for asking. As an AI, I don’t really *feel* in the "
        "same way humans do, but I’m functioning perfectly and ready to help you with whatever "
        "you need. 😊 ",
        "length",
        "length",
        usage(15, 50),
        "gemma3:1b",
        chunks=(50, 0, 0),
    ),
    "gemma3-1b-long-text": Expected(
        Digest(
            677,
            "b791e770127e83aa1af9d4ab0e3185158b77cd534637bfa4f26360f3f95b1431",
            "Okay, this is a surprisingly tricky question! Here's how we can figure",
            " of a nautical mile varies slightly depending on the specific route.\n\n",
        ),
        "stop",
        "stop",
        usage(18, 203),
        "gemma3:1b",
        chunks=(202, 0, 0),
    ),
    "gemma3-1b-text-chunked": Expected(
        "Okay, here we go!\n\n1, 2, 3, 4, 5\n",
        "stop",
        "stop",
        usage(16, 22),
        "gemma3:1b",
        chunks=(21, 0, 0),
    ),
    "gpt-oss-thinking": Expected(
        "Sure thing! Let me know what you'd like to test or if there's anything specific you need.",
        "stop",
        "stop",
        usage(69, 76),
        "gpt-oss",
        chunks=(19, 47, 0),
        reasoning='The user says "Test prompt". Likely they are just testing the system. We should '
        'respond with a simple acknowledgment. Possibly "Sure, how can I help?" or '
        '"Testing successful." We can respond politely. No special instructions.',
    ),
    # Ollama says done_reason=stop after tool calls; llmring says tool_calls, raw stays stop.
    "granite3-dense-8b-tool-call": Expected(
        "",
        "tool_calls",
        "stop",
        usage(149, 15),
        "granite3-dense:8b",
        chunks=(0, 0, 1),
        calls=(WEATHER_DETROIT,),
    ),
    "llama3-text": Expected(
        "Why did the OpenTelemetry agent go to therapy?\n\nBecause it was feeling traced out and "
        "needed some instrumentation in its life!\n\n(Sorry, I know it's a bit of a stretch, but "
        "I hope it brought a smile to your face!)",
        "stop",
        "stop",
        usage(17, 50),
        "llama3",
        chunks=(49, 0, 0),
    ),
    "qwen3-14b-single-tool-call": Expected(
        "",
        "tool_calls",
        "stop",
        usage(263, 152),
        "qwen3:14b",
        chunks=(0, 0, 1),
        calls=(WEATHER_DETROIT,),
    ),
    # One done:true line whose content opens with <think>...</think>: the block is reasoning
    # (whitespace next to the tags dropped), the rest is the answer.
    "qwen3-14b-think-tags-in-content": Expected(
        "The Detroit Tigers game is today at 3pm, and the weather in Detroit will be 75° and "
        "sunny. You shouldn't need a coat for the game!",
        "stop",
        "stop",
        usage(306, 188),
        "qwen3:14b",
        chunks=(1, 1, 0),
        reasoning=Digest(
            645,
            "db99f74aa04f1c15ca0f4cf1936306f20e4f8f0df74c38d05b920f976446d782",
            "Okay, let me figure out how to answer the user's question. T",
            "at. I should present this information clearly and concisely.",
        ),
    ),
    # The first call has no function.index on the wire, the second has index 1.
    "qwen3-14b-two-tool-calls": Expected(
        "",
        "tool_calls",
        "stop",
        usage(218, 306),
        "qwen3:14b",
        chunks=(0, 0, 2),
        calls=(
            WEATHER_DETROIT,
            Call(
                "search",
                '{"query": "Detroit Tigers game time today"}',
                {"query": "Detroit Tigers game time today"},
            ),
        ),
    ),
}

#: the recorded response headers where they matter: ollama.com sends application/json and a
#: Content-Length (HTTP/2), not chunked x-ndjson
SERVED_AS = {
    "cloud-gpt-oss-120b-thinking": {
        "headers": {"content-type": "application/json"},
        "chunked": False,
    }
}


def reply(name: str, **kwargs: Any) -> Reply:
    return Reply.wire(f"ollama/{name}.ndjson", **{**SERVED_AS.get(name, {}), **kwargs})


def check(outcome: Outcome, expected: Expected[Call]) -> list[str]:
    """Compare everything; return the tool call ids (to compare runs)."""
    check_common(outcome, "ollama", expected)
    return check_calls(outcome, expected.calls)


def check_calls(outcome: Outcome, calls: Sequence[Call]) -> list[str]:
    terminal = outcome.terminal
    if not calls:
        assert terminal.tool_calls is None
        return []
    assert terminal.tool_calls is not None and len(terminal.tool_calls) == len(calls)
    fragments = [c.tool_call_delta for c in outcome.chunks if c.tool_call_delta]
    ids = []
    for index, (call, want, fragment) in enumerate(
        zip(terminal.tool_calls, calls, fragments, strict=True)
    ):
        assert call["type"] == "function"
        assert call["function"] == {"name": want.name, "arguments": want.arguments}
        assert json.loads(call["function"]["arguments"]) == want.parsed
        if want.id is not None:
            assert call["id"] == want.id
        else:
            match = GENERATED_ID.fullmatch(call["id"])
            assert match and int(match.group(1)) == index, call["id"]
        assert fragment is not None
        assert (fragment.index, fragment.id, fragment.name, fragment.arguments) == (
            index,
            want.id,
            want.name,
            want.arguments,
        )
        ids.append(call["id"])
    assert len(set(ids)) == len(ids)
    return ids


class TestOllamaWire(WireContract):
    provider = "ollama"
    path = "/api/chat"
    folder = "ollama"
    suffix = ".ndjson"
    expected = EXPECTED
    byte_by_byte = ("qwen3-14b-two-tool-calls",)
    check = staticmethod(check)

    def reply(self, name: str, **kwargs: Any) -> Reply:
        return reply(name, **kwargs)


@pytest.mark.parametrize("name", ["granite3-dense-8b-tool-call", "qwen3-14b-two-tool-calls"])
async def test_generated_ids_are_the_same_in_a_new_ring(
    name: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = []
    for _ in range(2):
        async with provider_ring("ollama", reply(name), project, monkeypatch) as (ring, _):
            runs.append(check(await run_stream(ring, user_request(MODEL)), EXPECTED[name]))
    assert runs[0] == runs[1] and all(runs)


async def test_error_400_model_does_not_support_tools(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (WIRE / "ollama/error-400-model-does-not-support-tools.body.json").read_bytes()
    recorded = Reply(
        body, status=400, chunked=False, headers={"content-type": "application/json; charset=utf-8"}
    )
    async with provider_ring("ollama", recorded, project, monkeypatch) as (ring, server):
        outcome = await run_stream(ring, user_request(MODEL))
    error = outcome.error
    assert type(error) is ProviderResponseError, error
    assert (error.provider, error.model, error.status_code) == ("ollama", "test-model", 400)
    assert not error.retryable  # the request is wrong for this model: no fallback
    assert error.message == "registry.ollama.ai/library/gemma3:1b does not support tools"
    assert outcome.chunks == [] and len(server.requests) == 1


async def test_current_tool_call_shape_from_the_nonstream_reference(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A one-object body (stream:false), no trailing newline: thinking and a tool call with the
    # current shape (id, function.index 0) on the done line itself.
    recorded = Reply.wire("ollama/cloud-gpt-oss-120b-tool-call.nonstream.body.json", chunked=False)
    async with provider_ring("ollama", recorded, project, monkeypatch) as (ring, _):
        outcome = await run_stream(ring, user_request(MODEL))
    check(
        outcome,
        Expected(
            "",
            "tool_calls",
            "stop",
            usage(145, 44),
            "gpt-oss:120b",
            chunks=(0, 1, 1),
            reasoning="User asks about weather in San Francisco. Use function getWeather.",
            calls=(
                Call(
                    "getWeather",
                    '{"location": "San Francisco, CA"}',
                    {"location": "San Francisco, CA"},
                    id="call_mo1wm122",
                ),
            ),
        ),
    )


# -- translation details on bodies derived from the recordings -----------------------------------


def ndjson(*objects: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o, ensure_ascii=False).encode() + b"\n" for o in objects)


def line(content: str = "", **message: Any) -> dict[str, Any]:
    return {
        "model": "qwen3:14b",
        "message": {"role": "assistant", "content": content, **message},
        "done": False,
    }


def done(**fields: Any) -> dict[str, Any]:
    return {
        "model": "qwen3:14b",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        **fields,
    }


async def serve(body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    reply = Reply(body, headers={"content-type": "application/x-ndjson"})
    async with provider_ring("ollama", reply, project, monkeypatch) as (ring, _):
        return await run_stream(ring, user_request(MODEL))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
async def test_think_block_streamed_in_small_deltas(
    size: int, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The recorded qwen3 content re-sent as many deltas (tags cut anywhere): same split.
    recorded = json.loads((WIRE / "ollama/qwen3-14b-think-tags-in-content.ndjson").read_text())
    content = recorded["message"]["content"]
    pieces = [line(content[i : i + size]) for i in range(0, len(content), size)]
    outcome = await serve(
        ndjson(*pieces, done(done_reason="stop", eval_count=188, prompt_eval_count=306)),
        project,
        monkeypatch,
    )
    expected = EXPECTED["qwen3-14b-think-tags-in-content"]
    check_text(outcome.text, expected.text)
    check_text(outcome.reasoning, expected.reasoning)
    assert outcome.terminal.usage == expected.usage


@pytest.mark.parametrize(
    ("deltas", "reasoning", "text"),
    [
        # only a tag that opens the content counts
        (
            ["Use the <think> tag ", "like <think>this</think>."],
            "",
            "Use the <think> tag like <think>this</think>.",
        ),
        (["\n\n", "Hello"], "", "\n\nHello"),  # leading whitespace of a plain answer is kept
        (["<", "b>bold</b>"], "", "<b>bold</b>"),
        (["<thi"], "", "<thi"),  # ended while it could still have been a tag: it was text
        (["<think>\n", "cut by num_predict  "], "cut by num_predict  ", ""),  # no </think>
        (["<think>", "</think>", "\n\nAnswer"], "", "Answer"),  # empty block (/no_think)
        (["  <think>a", " </", "b c</th", "ink>  ", " x </think> y"], "a </b c", "x </think> y"),
    ],
)
def test_think_tag_splitter(deltas: list[str], reasoning: str, text: str) -> None:
    splitter = ThinkTagSplitter()
    events = [e for d in deltas for e in splitter.feed(d)] + splitter.flush()
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == reasoning
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text


async def test_line_breaks_only_at_newline(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # U+2028, U+0085 and a CR may sit raw inside a JSON string; they never end an NDJSON line.
    content = "a\u2028b\x85c\u2029d\re"
    body = ndjson(line(content), done(done_reason="stop", eval_count=3, prompt_eval_count=2))
    assert "\u2028".encode() in body and "\x85".encode() in body
    outcome = await serve(body, project, monkeypatch)
    assert outcome.text == content and outcome.terminal.usage == usage(2, 3)


async def test_blank_lines_are_skipped(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = (
        ndjson(line("Hi"))
        + b"\n  \n"
        + ndjson(done(done_reason="stop", eval_count=1, prompt_eval_count=4))
    )
    outcome = await serve(body, project, monkeypatch)
    assert outcome.text == "Hi" and outcome.terminal.finish_reason == "stop"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # Ollama's counts are Go ints with omitempty: a cached prompt's 0 is simply left out
        ({"eval_count": 5}, usage(0, 5)),
        ({"prompt_eval_count": 9}, usage(9, 0)),
        ({}, None),  # nothing reported: no usage, not zeros
    ],
)
async def test_usage_from_the_done_line(
    fields: dict[str, int],
    expected: dict[str, int] | None,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcome = await serve(
        ndjson(line("Hi"), done(done_reason="stop", **fields)), project, monkeypatch
    )
    assert outcome.terminal.usage == expected


@pytest.mark.parametrize(
    ("done_reason", "with_call", "finish"),
    [
        ("stop", False, "stop"),
        ("length", False, "length"),
        ("length", True, "length"),
        ("load", False, "other"),
        (None, False, "other"),
        (None, True, "tool_calls"),
    ],
)
async def test_finish_reasons(
    done_reason: str | None,
    with_call: bool,
    finish: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = (
        line("", tool_calls=[{"function": {"name": "f", "arguments": {}}}])
        if with_call
        else line("Hi")
    )
    last = (
        done(eval_count=1) if done_reason is None else done(done_reason=done_reason, eval_count=1)
    )
    outcome = await serve(ndjson(first, last), project, monkeypatch)
    assert (outcome.terminal.finish_reason, outcome.terminal.finish_reason_raw) == (
        finish,
        done_reason,
    )
    if with_call:
        assert outcome.terminal.tool_calls is not None
        assert outcome.terminal.tool_calls[0]["function"] == {"name": "f", "arguments": "{}"}
