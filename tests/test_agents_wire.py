"""Agents over every real adapter and SDK: recorded streams replayed by the loopback server.

Round 1 is a recorded tool-call stream, round 2 a recorded text stream. The agent must run the
tool with the recorded arguments, send the call and its result back in the provider's own
format (checked on the request body the SDK sent for round 2), and end with the recording's
text. Expected values were read off the recordings in ``tests/wire``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmring.agents import Agent, ToolRoundLimitError
from llmring.bots.tools import Tool
from tests.loopback import RecordedRequest, Reply
from tests.wire_harness import provider_ring

Calls = list[dict[str, Any]]  # the arguments each tool call was run with


def in_order(*replies: Reply) -> Callable[[RecordedRequest], Reply]:
    """One reply per request, in order (the loopback server's routes take a function)."""
    queue = list(replies)
    return lambda request: queue.pop(0)


@dataclass(frozen=True)
class Case:
    model: str
    tool_call: str  # recording of round 1
    text: str  # recording of round 2
    tool_name: str
    make_tool: Callable[[Calls], Tool[..., Any]]
    arguments: dict[str, Any]  # as recorded
    final_text: str
    check_body: Callable[[dict[str, Any], str, str], None]  # (round-2 body, call id, result)


def openai_body(body: dict[str, Any], call_id: str, result: str) -> None:
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_capital", "arguments": '{"country":"UK"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": result},
    ]


def responses_body(body: dict[str, Any], call_id: str, result: str) -> None:
    assert body["input"][1:] == [
        {
            "type": "function_call",
            "call_id": call_id,
            "name": "multiply",
            "arguments": '{"a":1231,"b":2331}',
        },
        {"type": "function_call_output", "call_id": call_id, "output": result},
    ]
    assert call_id == "call_sVidsfFJ6zlzRpelrPkTPlpd" and result == "2869461"  # as recorded


def anthropic_body(body: dict[str, Any], call_id: str, result: str) -> None:
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": call_id, "name": "pelican_name_generator", "input": {}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call_id, "content": result}],
        },
    ]


def gemini_body(body: dict[str, Any], call_id: str, result: str) -> None:
    model_turn, results = body["contents"][1:]
    assert model_turn["role"] == "model"
    [part] = model_turn["parts"]
    assert part["functionCall"] == {"name": "weather", "args": {"location": "Florence,Italy"}}
    # the thought signature travelled back through provider_data
    assert part["thoughtSignature"].startswith("CiQBvj72+xCKZ6n2")
    assert len(part["thoughtSignature"]) == 400
    assert results == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "weather", "response": {"output": result}}}],
    }


def ollama_body(body: dict[str, Any], call_id: str, result: str) -> None:
    assistant, answer = body["messages"][1:]
    assert assistant["role"] == "assistant"
    assert [c["function"] for c in assistant["tool_calls"]] == [
        {"name": "weather", "arguments": {"city": "Detroit"}}
    ]
    assert answer == {
        "role": "tool",
        "content": result,
        "tool_name": "weather",
        "tool_call_id": call_id,
    }


def get_capital_tool(calls: Calls) -> Tool[..., Any]:
    def get_capital(country: str) -> str:
        """The capital of a country."""
        calls.append({"country": country})
        return "London"

    return Tool(get_capital)


def multiply_tool(calls: Calls) -> Tool[..., Any]:
    def multiply(a: int, b: int) -> int:
        """Multiply two numbers."""
        calls.append({"a": a, "b": b})
        return a * b

    return Tool(multiply)


def pelican_tool(calls: Calls) -> Tool[..., Any]:
    def pelican_name_generator() -> str:
        """Names for a pelican."""
        calls.append({})
        return "Pete"

    return Tool(pelican_name_generator)


def gemini_weather_tool(calls: Calls) -> Tool[..., Any]:
    def weather(location: str) -> str:
        """The weather at a location."""
        calls.append({"location": location})
        return "sunny, 24 C"

    return Tool(weather)


def ollama_weather_tool(calls: Calls) -> Tool[..., Any]:
    async def weather(city: str) -> str:
        """The weather in a city."""
        calls.append({"city": city})
        return "cloudy, 12 C"

    return Tool(weather)


GEMINI_TEXT = (
    'Of course!\n\nThe most common way to say "hi" in Portuguese is:\n\n**Oi**\n\n'
    'You can also say:\n\n**Olá** (This is a bit more like "Hello" and can be used in '
    "any situation.)"
)

CASES = {
    "openai": Case(
        "openai:gpt-test",
        "openai/chat-gpt-4o-mini-single-tool-call-usage.sse",
        "openai/chat-gpt-4o-mini-text-usage.sse",
        "get_capital",
        get_capital_tool,
        {"country": "UK"},
        "The capital of the UK is London.",
        openai_body,
    ),
    "openai-responses": Case(
        "openai-responses:gpt-test",
        "openai/responses-gpt-5.5-function-call.sse",
        "openai/responses-gpt-5.5-text-after-tool.sse",
        "multiply",
        multiply_tool,
        {"a": 1231, "b": 2331},
        "1231 × 2331 = **2,869,461**",
        responses_body,
    ),
    "anthropic": Case(
        "anthropic:test-model",
        "anthropic/claude-haiku-4-5-tool-use.sse",
        "anthropic/claude-sonnet-4-6-text.sse",
        "pelican_name_generator",
        pelican_tool,
        {},
        "**Pete** or **Scoop**",
        anthropic_body,
    ),
    "google": Case(
        "google:gemini-test",
        "gemini/gemini-2.5-flash-function-call.sse",
        "gemini/gemini-2.5-pro-text.sse",
        "weather",
        gemini_weather_tool,
        {"location": "Florence,Italy"},
        GEMINI_TEXT,
        gemini_body,
    ),
    "ollama": Case(
        "ollama:test-model",
        "ollama/qwen3-14b-single-tool-call.ndjson",
        "ollama/gemma3-1b-text-chunked.ndjson",
        "weather",
        ollama_weather_tool,
        {"city": "Detroit"},
        "Okay, here we go!\n\n1, 2, 3, 4, 5\n",
        ollama_body,
    ),
}


@pytest.mark.parametrize("provider", list(CASES))
async def test_two_round_tool_conversation(
    provider: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[provider]
    calls: Calls = []
    tool = case.make_tool(calls)
    async with provider_ring(provider, Reply(), project, monkeypatch) as (ring, server):
        server.routes["/"] = in_order(Reply.wire(case.tool_call), Reply.wire(case.text))
        agent = Agent("wire", model=case.model, tools=[tool], ring=ring)
        async with agent.stream("hi") as stream:
            chunks = [chunk async for chunk in stream]
        result = stream.result

    assert calls == [case.arguments]
    [outcome] = result.tool_outcomes
    assert outcome.name == case.tool_name and outcome.arguments == case.arguments
    assert outcome.error is None
    assert result.content == case.final_text
    assert "".join(c.content for c in chunks) == case.final_text
    assert [c.is_terminal for c in chunks].count(True) == 1 and chunks[-1].is_terminal
    events = [c.metadata["type"] for c in chunks if c.metadata and "type" in c.metadata]
    assert events == ["tool_call", "tool_result"]
    assert len(server.requests) == 2
    case.check_body(server.requests[1].json(), outcome.tool_call_id, outcome.output)
    assert [m.role for m in agent.history] == ["user", "assistant", "tool", "assistant"]


OPENAI_TOOL = "openai/chat-gpt-4o-mini-single-tool-call-usage.sse"
OPENAI_PARALLEL = "openai/chat-gpt-4o-parallel-tool-calls-args-split.sse"
OPENAI_TEXT = "openai/chat-gpt-4o-mini-text-usage.sse"


def get_capital(country: str) -> str:
    """The capital of a country."""
    return {"UK": "London"}.get(country, "?")


def GetWeatherArgs(city: str, country: str, units: str) -> str:  # the recorded name
    """The weather."""
    return f"12 {units} in {city}, {country}"


def get_stock_price(ticker: str, exchange: str) -> float:
    """A stock price."""
    return 189.5


async def test_three_rounds_with_parallel_calls_within_the_limit(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools: list[Callable[..., Any]] = [get_capital, GetWeatherArgs, get_stock_price]
    async with provider_ring("openai", Reply(), project, monkeypatch) as (ring, server):
        server.routes["/"] = in_order(
            Reply.wire(OPENAI_TOOL), Reply.wire(OPENAI_PARALLEL), Reply.wire(OPENAI_TEXT)
        )
        agent = Agent("three", model="openai:gpt-test", tools=tools, max_tool_rounds=2, ring=ring)
        result = await agent.arun("go")
    assert [o.result for o in result.tool_outcomes] == ["London", "12 c in Edinburgh, GB", "189.5"]
    assert [r["round"] for r in result.rounds] == [1, 2, 3]
    third = server.requests[2].json()["messages"]
    assert [m["role"] for m in third] == ["user", "assistant", "tool", "assistant", "tool", "tool"]
    assert [m.get("tool_call_id") for m in third[-2:]] == [
        "call_JMW1whyEaYG438VE1OIflxA2",
        "call_DNYTawLBoN8fj3KN6qU9N1Ou",
    ]
    # usage: 68 + 209 + 87 tokens over the three recordings
    assert result.usage is not None and result.usage["total_tokens"] == 68 + 209 + 87


async def test_a_second_tool_round_past_the_limit_raises(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools: list[Callable[..., Any]] = [get_capital, GetWeatherArgs, get_stock_price]
    async with provider_ring("openai", Reply(), project, monkeypatch) as (ring, server):
        server.routes["/"] = in_order(Reply.wire(OPENAI_TOOL), Reply.wire(OPENAI_PARALLEL))
        agent = Agent(
            "one-round", model="openai:gpt-test", tools=tools, max_tool_rounds=1, ring=ring
        )
        with pytest.raises(ToolRoundLimitError, match="'one-round' reached max_tool_rounds=1"):
            await agent.arun("go")
    assert len(server.requests) == 2 and agent.history == []


async def test_an_unknown_tool_name_is_answered_with_an_error(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with provider_ring("openai", Reply(), project, monkeypatch) as (ring, server):
        server.routes["/"] = in_order(Reply.wire(OPENAI_TOOL), Reply.wire(OPENAI_TEXT))
        agent = Agent("other", model="openai:gpt-test", tools=[get_stock_price], ring=ring)
        result = await agent.arun("go")
    error = "there is no tool named 'get_capital' (tools: get_stock_price)"
    assert result.tool_outcomes[0].error == error
    assert server.requests[1].json()["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_ZR5UUuTt3pf61kjwAJIYdVMj",
        "content": "Error: " + error,
    }
    assert result.content == "The capital of the UK is London."
