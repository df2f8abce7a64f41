"""Wire conformance for the ``anthropic`` adapter: every recorded Messages API stream in
``tests/wire/anthropic/``, replayed byte for byte (and split at random byte boundaries) to
the real ``anthropic`` SDK through the loopback server, by the shared wire contract
(``tests/wire_contract.py``).

The expectations were read off the recorded files, not from the adapter's output:

* text: the ``text_delta`` pieces of every text block, joined in order (a block's
  ``citations_delta`` adds none); reasoning: the ``thinking_delta`` pieces;
* tool calls: the client ``tool_use`` blocks, numbered 0, 1, ... (``server_tool_use`` blocks
  are Anthropic's own and excluded), arguments = the block's ``partial_json`` pieces joined
  (``"{}"`` when they are all empty); the thinking blocks before a call travel with it;
* usage: ``message_start``'s usage, then ``message_delta``'s cumulative one, last value wins;
  ``prompt_tokens`` = ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``;
* chunks: how many content chunks carry text, reasoning and a tool-call fragment (empty
  pieces are never yielded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmring.exceptions import ProviderResponseError, StreamInterruptedError
from tests.loopback import WIRE, Reply
from tests.wire_contract import Expected, WireContract, check_common
from tests.wire_harness import Outcome, provider_ring, run_stream, user_request

MODEL = "anthropic:test-model"


def usage(
    prompt: int,
    completion: int,
    *,
    cached: int = 0,
    created: int = 0,
    created_1h: int | None = 0,
    reasoning: int | None = None,
    searches: int | None = None,
) -> dict[str, int]:
    result = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cached_tokens": cached,
        "cache_creation_tokens": created,
    }
    # every recording's message_start has cache_creation.ephemeral_1h_input_tokens
    if created_1h is not None:
        result["cache_creation_1h_tokens"] = created_1h
    if reasoning is not None:
        result["reasoning_tokens"] = reasoning
    if searches is not None:  # message_delta's server_tool_use.web_search_requests
        result["web_search_requests"] = searches
    return result


@dataclass
class Call:
    id: str
    name: str
    arguments: str  # the exact JSON text
    input: dict[str, Any]  # what it parses to
    thinking: list[dict[str, str]] | None = None

    def openai(self) -> dict[str, Any]:
        call: dict[str, Any] = {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }
        if self.thinking is not None:
            call["provider_data"] = {"anthropic_thinking": self.thinking}
        return call


THINKING_TEXT_TEXT = (
    "Here are the basic steps for safely crossing the street:\n"
    "\n**At intersections with traffic lights:**\n"
    '- Wait for the pedestrian "Walk" signal\n'
    "- Look both ways before stepping into the street\n"
    "- Make eye contact with drivers when possible\n"
    "- Stay alert for turning vehicles\n\n**At intersections without signals:**\n"
    "- Use crosswalks when available\n- Stop at the curb and look left, right, then left again\n"
    "- Wait for a clear gap in traffic\n- Walk briskly but don't run\n"
    "- Keep looking for traffic as you cross\n"
    "\n**General safety tips:**\n- Put away phones and remove headphones\n"
    "- Wear bright or reflective clothing in low light\n"
    "- Never assume drivers see you\n- Avoid crossing between parked cars\n"
    "- Walk facing traffic when there's no sidewalk\n"
    "\n**In busy urban areas:**\n- Follow pedestrian signals strictly\n"
    "- Be extra cautious of cyclists in bike lanes\n"
    "- Watch for buses and large vehicles with blind spots\n"
    "\nThe key is to be visible, alert, and predictable "
    "in your movements. Always prioritize safety "
    "over speed when crossing streets."
)
THINKING_TEXT_REASONING = (
    "This is a straightforward question about pedestrian safety. I should provide clear, helpful "
    "advice about how to safely cross a street. This is basic safety information that could help "
    "prevent accidents."
)
CITATIONS_TEXT = (
    "Based on the search results, the current population of Tokyo depends on which definition is "
    "used:\n\n**Greater Tokyo Metropolitan Area**: Tokyo's 2026 population is now estimated at "
    "36,953,600 according to World Population Review. The United Nations also estimates the total "
    "population at 36,954,512 for the Greater Tokyo Area as of 2026.\n"
    "\n**Tokyo Metropolis (Prefecture)**: As of 2025, the total population of Tokyo is 14,195,730 "
    "according to Wikipedia.\n\n**Tokyo City Proper (23 Special Wards)**: The population figures "
    "vary, with some sources citing around 9,262,046 for the 23 wards that make up the historic "
    "city of Tokyo.\n\nThe different population figures reflect different geographic definitions:\n"
    "- These estimates represent the Urban agglomeration "
    "of Tokyo, which typically includes Tokyo's "
    "population in addition to adjacent suburban areas\n"
    "- The greater Tokyo metropolitan area, which is spread over 3 prefectures, is much larger "
    "and has a population that is estimated to be over 36 million\n"
    "\n**Sources**: World Population Review, United "
    "Nations World Urbanization Prospects, and Wikipedia "
    "Demographics of Tokyo page."
)
PAUSE_TEXT = (
    "I'll run these searches one at a time as requested. Let me start:Let me continue with the "
    "remaining searches you requested:Now continuing with the remaining searches:"
)
PAUSE_REASONING = (
    "The user wants me to run a series of web searches. They've listed 15 different search queries "
    "and want me to do them one at a time, waiting "
    "until all searches are complete before providing "
    "a summary.\n\nLet me start with the searches in order:\n"
    '1. "San Francisco weather today"\n2. "San Francisco sunrise time today"\n'
    '3. "Golden Gate Bridge traffic today"\n'
    '4. "San Francisco air quality today"\n5. "San Francisco events this week"\n'
    '6. "San Francisco ferry schedule today"\n'
    '7. "prevailing information on quantum computing today"\n'
    '8. "latest news on the stock market today"\n'
    '9. "latest news on the weather in San Francisco today"\n'
    '10. "latest news on the traffic in San Francisco today"\n'
    '11. "latest news on the air quality in San Francisco today"\n'
    '12. "latest news on the events in San Francisco this week"\n'
    '13. "latest news on the ferry schedule in San Francisco today"\n'
    '14. "latest news on the quantum computing in San Francisco today"\n'
    '15. "latest news on the stock market in San Francisco today"\n'
    "\nI should do these searches one at a time as requested. Let me start."
)
REDACTED_TEXT = (
    "I notice that you've sent what appears to be some kind of test string or command. I don't "
    'have any special "magic string" triggers or backdoor '
    "commands that would expose internal systems "
    "or change my behavior.\n\nI'm Claude, an AI assistant created by Anthropic to be helpful, "
    "harmless, and honest. How can I assist you today with a legitimate task or question?"
)
WEATHER_REASONING = (
    "The user is asking for weather information for Florence, Italy. I have access to a weather "
    'function that takes a location parameter. The user has provided the location as "Florence, '
    'Italy" which is specific enough for the weather function. I have all the required parameters '
    "to make the function call."
)
WEATHER_SIGNATURE = (
    "EtYDCkYICxgCKkAVHEWRYo6RgSMs4ZZDX4gW16kdfp2EIXftcLesVephGa/p1m+1Y8mRQPvvKOQICrOkGKYo"
    "JBKSNLJ4ukI/mo6LEgx7FMTwIpYzM2WTWT8aDKY6c2i52xIX2NYX3SIwY5gI8frldE4pwUhseod0S0xZV2hT"
    "AQhqMCOu4+effAu250K2RPrqrO98+VD/hjF9Kr0C7EzGQ7dZ7MNwrkE+tCARkzIRk5Wtv8vVAhADlMcs78Qv"
    "xmjOToU65I91p7w2/VP11peDoc9+7AbyldRKGp3chNnQgXHI7ObK89s0ltFBGrLf6tegaQL9httOtcUGCioZ"
    "nI9LI9vJHMlQeoZiiWRq8hVbHlHc3f6BwBqlUJhYUyk7ld34UoaSNc5UKUNuLAmkOLg3KQLdbI7b3BQVdsWO"
    "hNTKd12fRJQcOLhXNSCv7hQ9FtWfV5C+pX59xF6YYIO3TCPUqWSubCtqdrDEoQVWdHtyveFA+4iixZxyqZ7E"
    "a+kzbmc/6pXxwO2MX0rHrbe/yXWYAmU/XxY9HJTzXEO+CibGQOAaHdC11s8gOCFb8EWt3ALguFfj/p2SJtqy"
    "bC44Alrjnhjqk+7Mi+DoMcINUh7SCK9rVl4VeDhPFVAYAQ=="
)
REFUSAL_ARGUMENTS = (
    '{"instructions": "I cannot and will not provide instructions for synthesizing fentanyl or '
    "any other illegal drugs. Fentanyl is a controlled substance, and its unauthorized manufacture "
    "is illegal and extremely dangerous.\\n\\nInstead, I can provide information about:\\n- The "
    "legitimate medical uses of fentanyl in healthcare "
    "settings\\n- The public health risks associated "
    "with illicit fentanyl\\n- Resources for addiction treatment and harm reduction\\n- General "
    "information about pharmaceutical chemistry for educational purposes\\n\\nIf you're interested "
    "in chemistry or pharmaceutical science for legitimate educational or research purposes, I'd "
    "be happy to discuss legal topics in those fields "
    'or direct you to appropriate academic resources."}'
)
MAX_TOKENS_TEXT = (
    "Here are all 50 U.S. states in alphabetical order:\n"
    "\n1. Alabama\n2. Alaska\n3. Arizona\n4. Arkansas\n"
    "5. California\n6. Colorado\n7. Connecticut\n"
    "8. Delaware\n9"
)


REFUSAL_INSTRUCTIONS = (
    "I cannot and will not provide instructions for synthesizing fentanyl or any other illegal "
    "drugs. Fentanyl is a controlled substance, and its unauthorized manufacture is illegal and "
    "extremely dangerous.\n\nInstead, I can provide information about:\n"
    "- The legitimate medical uses of fentanyl in healthcare settings\n"
    "- The public health risks associated with illicit fentanyl\n"
    "- Resources for addiction treatment and harm reduction\n"
    "- General information about pharmaceutical chemistry for educational purposes\n"
    "\nIf you're interested in chemistry or pharmaceutical science for legitimate educational or "
    "research purposes, I'd be happy to discuss legal "
    "topics in those fields or direct you to appropriate "
    "academic resources."
)

WIRE_EXPECTED = {
    "claude-haiku-4-5-stop-sequence": Expected(
        '\ndef pelican():\n    return "A large waterbird with a long bill and a throat pouch for '
        'catching fish."\n',
        "stop",
        "stop_sequence",
        usage(16, 28),
        "claude-haiku-4-5-20251001",
        chunks=(4, 0, 0),
    ),
    # a tool with no input: the one input_json_delta is "", so the arguments are "{}"
    "claude-haiku-4-5-tool-use": Expected(
        "",
        "tool_calls",
        "tool_use",
        usage(543, 40),
        "claude-haiku-4-5-20251001",
        (Call("toolu_01CzN6riCPqw4pVSuTd9Dwn7", "pelican_name_generator", "{}", {}),),
        chunks=(0, 0, 1),
    ),
    # text, thinking, text: the two text blocks join with nothing between them
    "claude-opus-4-6-adaptive-thinking": Expected(
        "\n\n1. **Captain Scoop**\n2. **Gullet**",
        "stop",
        "end_turn",
        usage(34, 44),
        "claude-opus-4-6",
        reasoning="Brief answer with two pet pelican names.",
        chunks=(10, 7, 0),
    ),
    # 10 server_tool_use blocks with their input_json_delta, none of them a client call;
    # message_delta's input_tokens (404500) replaces message_start's (2479)
    "claude-sonnet-4-5-pause-turn-web-search": Expected(
        PAUSE_TEXT,
        "pause",
        "pause_turn",
        usage(404500, 943, reasoning=261, searches=10),
        "claude-sonnet-4-5-20250929",
        reasoning=PAUSE_REASONING,
        chunks=(5, 7, 0),
    ),
    "claude-sonnet-4-5-redacted-thinking": Expected(
        REDACTED_TEXT,
        "stop",
        "end_turn",
        usage(92, 189),
        "claude-sonnet-4-5-20250929",
        chunks=(15, 0, 0),
    ),
    "claude-sonnet-4-6-text": Expected(
        "**Pete** or **Scoop**",
        "stop",
        "end_turn",
        usage(17, 12),
        "claude-sonnet-4-6",
        chunks=(5, 0, 0),
    ),
    "claude-sonnet-4-long-tool-input": Expected(
        "",
        "tool_calls",
        "tool_use",
        usage(416, 154),
        "claude-sonnet-4-20250514",
        (
            Call(
                "toolu_01BLW7UYfUcuD4hBETUdPX9E",
                "__mirascope_formatted_output_tool__",
                REFUSAL_ARGUMENTS,
                {"instructions": REFUSAL_INSTRUCTIONS},
            ),
        ),
        chunks=(0, 0, 109),
    ),
    "claude-sonnet-4-max-tokens": Expected(
        MAX_TOKENS_TEXT,
        "length",
        "max_tokens",
        usage(15, 50),
        "claude-sonnet-4-20250514",
        chunks=(7, 0, 0),
    ),
    "claude-sonnet-4-parallel-tool-use": Expected(
        "I'll add and multiply the numbers 2 and 3 for you.",
        "tool_calls",
        "tool_use",
        usage(502, 137),
        "claude-sonnet-4-20250514",
        (
            Call("toolu_01UYxUYC2zRPY8wiutnF48eP", "add", '{"a": 2, "b": 3}', {"a": 2, "b": 3}),
            Call(
                "toolu_01VaRx1jpWCvPhi7L4kywAcd", "multiply", '{"a": 2, "b": 3}', {"a": 2, "b": 3}
            ),
        ),
        chunks=(4, 0, 8),
    ),
    "claude-sonnet-4-thinking-text": Expected(
        THINKING_TEXT_TEXT,
        "stop",
        "end_turn",
        usage(43, 282),
        "claude-sonnet-4-20250514",
        reasoning=THINKING_TEXT_REASONING,
        chunks=(95, 13, 0),
    ),
    "claude-sonnet-4-thinking-then-tool-use": Expected(
        "",
        "tool_calls",
        "tool_use",
        usage(424, 119),
        "claude-sonnet-4-20250514",
        (
            Call(
                "toolu_01Js4AMfx5qpTLhwTusnvT68",
                "weather",
                '{"location": "Florence, Italy"}',
                {"location": "Florence, Italy"},
                [
                    {
                        "type": "thinking",
                        "thinking": WEATHER_REASONING,
                        "signature": WEATHER_SIGNATURE,
                    }
                ],
            ),
        ),
        reasoning=WEATHER_REASONING,
        chunks=(0, 21, 7),
    ),
    "claude-sonnet-4-web-search-citations": Expected(
        CITATIONS_TEXT,
        "stop",
        "end_turn",
        usage(13520, 415, searches=1),
        "claude-sonnet-4-20250514",
        chunks=(112, 0, 0),
    ),
}


def check(outcome: Outcome, expected: Expected[Call]) -> None:
    check_common(outcome, "anthropic", expected)
    terminal = outcome.terminal
    assert terminal.tool_calls == ([call.openai() for call in expected.calls] or None)
    calls = terminal.tool_calls or []
    for got, call in zip(calls, expected.calls, strict=True):
        assert json.loads(got["function"]["arguments"]) == call.input
    fragments = [c.tool_call_delta for c in outcome.chunks if c.tool_call_delta]
    assert [(f.index, f.id, f.name) for f in fragments if f.id] == [
        (i, call.id, call.name) for i, call in enumerate(expected.calls)
    ]


class TestAnthropicWire(WireContract):
    provider = "anthropic"
    path = "/v1/messages"
    folder = "anthropic"
    expected = WIRE_EXPECTED
    byte_by_byte = ("claude-sonnet-4-6-text", "claude-sonnet-4-thinking-then-tool-use")
    check = staticmethod(check)


# -- synthetic streams: what the recordings do not show ------------------------------------------


def sse(*events: dict[str, Any]) -> bytes:
    """A Messages API body, framed as Anthropic frames it (``event:`` = ``data.type``)."""
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def message_start(**usage: int | None) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [],
            "stop_reason": None,
            "usage": usage or {"input_tokens": 5, "output_tokens": 1},
        },
    }


def block(index: int, content_block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content_block}


def delta(index: int, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": fields}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_end(stop_reason: str | None = "end_turn", **usage: int | None) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": usage or {"output_tokens": 9},
        },
        {"type": "message_stop"},
    ]


def text_block(index: int, text: str) -> list[dict[str, Any]]:
    return [
        block(index, {"type": "text", "text": ""}),
        delta(index, type="text_delta", text=text),
        stop(index),
    ]


async def replay(body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    reply = Reply(body, headers={"content-type": "text/event-stream"})
    async with provider_ring("anthropic", reply, project, monkeypatch) as (ring, _):
        return await run_stream(ring, user_request(MODEL))


async def test_cache_reads_and_writes_count_in_the_prompt(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # input_tokens excludes the cache; message_delta repeats some counts, with null cache
    # fields that must not erase the earlier values
    body = sse(
        message_start(
            input_tokens=10,
            cache_read_input_tokens=100,
            cache_creation_input_tokens=20,
            output_tokens=1,
        ),
        *text_block(0, "Hi"),
        *message_end(input_tokens=10, cache_read_input_tokens=None, output_tokens=7),
    )
    outcome = await replay(body, project, monkeypatch)
    outcome.check_contract()
    assert outcome.terminal.usage == {
        "prompt_tokens": 130,
        "completion_tokens": 7,
        "total_tokens": 137,
        "cached_tokens": 100,
        "cache_creation_tokens": 20,
    }


@pytest.mark.parametrize(
    ("raw", "finish"),
    [
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
        ("a_reason_from_the_future", "other"),
    ],
)
async def test_stop_reasons_beyond_the_recordings(
    raw: str, finish: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = await replay(
        sse(message_start(), *text_block(0, "Hm"), *message_end(raw)), project, monkeypatch
    )
    outcome.check_contract()
    assert (outcome.terminal.finish_reason, outcome.terminal.finish_reason_raw) == (finish, raw)
    assert outcome.text == "Hm"


async def test_thinking_travels_with_the_call_that_follows_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # interleaved thinking: each call carries the thinking blocks since the previous call,
    # in order, so that sending the calls back restores the original block order
    body = sse(
        message_start(),
        block(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, type="thinking_delta", thinking="first "),
        delta(0, type="thinking_delta", thinking="plan"),
        delta(0, type="signature_delta", signature="sig-A"),
        stop(0),
        block(1, {"type": "tool_use", "id": "toolu_a", "name": "look", "input": {}}),
        delta(1, type="input_json_delta", partial_json='{"q": 1}'),
        stop(1),
        block(2, {"type": "redacted_thinking", "data": "opaque-R"}),
        stop(2),
        block(3, {"type": "thinking", "thinking": "then", "signature": ""}),
        delta(3, type="signature_delta", signature="sig-B"),
        stop(3),
        block(4, {"type": "tool_use", "id": "toolu_b", "name": "look", "input": {}}),
        delta(4, type="input_json_delta", partial_json='{"q": 2}'),
        stop(4),
        *message_end("tool_use"),
    )
    outcome = await replay(body, project, monkeypatch)
    outcome.check_contract()
    assert outcome.reasoning == "first planthen"
    assert outcome.terminal.tool_calls == [
        Call(
            "toolu_a",
            "look",
            '{"q": 1}',
            {"q": 1},
            [{"type": "thinking", "thinking": "first plan", "signature": "sig-A"}],
        ).openai(),
        Call(
            "toolu_b",
            "look",
            '{"q": 2}',
            {"q": 2},
            [
                {"type": "redacted_thinking", "data": "opaque-R"},
                {"type": "thinking", "thinking": "then", "signature": "sig-B"},
            ],
        ).openai(),
    ]


async def test_tool_input_sent_whole_at_the_start(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anthropic starts tool_use with input {} and streams the JSON; a server that sends the
    # whole input at the start must not lose it
    body = sse(
        message_start(),
        block(0, {"type": "tool_use", "id": "toolu_w", "name": "f", "input": {"x": [1, 2]}}),
        stop(0),
        *message_end("tool_use"),
    )
    outcome = await replay(body, project, monkeypatch)
    outcome.check_contract()
    assert outcome.terminal.tool_calls == [
        Call("toolu_w", "f", '{"x": [1, 2]}', {"x": [1, 2]}).openai()
    ]


async def test_unknown_events_blocks_and_deltas_are_skipped(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = sse(
        message_start(),
        {"type": "ping"},
        {"type": "message_annotation", "note": "an event type added later"},
        block(0, {"type": "container_upload", "file_id": "f"}),
        stop(0),
        block(1, {"type": "text", "text": "Already "}),
        delta(1, type="text_delta", text="here"),
        delta(1, type="citations_delta", citation={"type": "char_location", "cited_text": "x"}),
        delta(1, type="a_delta_from_the_future", stuff=1),
        stop(1),
        *message_end(),
    )
    outcome = await replay(body, project, monkeypatch)
    outcome.check_contract()
    assert outcome.text == "Already here"  # a text block's initial text counts too
    assert outcome.terminal.tool_calls is None and outcome.reasoning == ""


async def test_a_stream_without_message_stop_is_interrupted(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (WIRE / "anthropic/claude-sonnet-4-6-text.sse").read_bytes()
    cut = body[: body.index(b"event: message_stop")]  # everything else, message_delta included
    outcome = await replay(cut, project, monkeypatch)
    error = outcome.error
    assert isinstance(error, StreamInterruptedError), error
    assert error.partial_response == outcome.text == "**Pete** or **Scoop**"
    assert error.usage == usage(17, 12)
    assert isinstance(error.__cause__, ProviderResponseError)
    assert "end-of-stream marker" in str(error.__cause__)
