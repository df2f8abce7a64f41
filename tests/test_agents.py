"""Agents over the offline mock provider: rounds, tool execution, errors, limits, history.

The mock calls the first tool (arguments built from its schema: integers are 1, strings
"mock") when the request has tools and the last message is not a tool result; after a tool
result it answers "The tool returned: <result>". Usage is counted by its word tokenizer.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Annotated, Any

import pytest
from pydantic import Field

from llmring import LLMRing, Message, StreamChunk, tool
from llmring.agents import (
    Agent,
    AgentError,
    AgentResult,
    AgentStream,
    ToolOutcome,
    ToolRoundLimitError,
)
from llmring.exceptions import (
    LLMRingError,
    ProviderResponseError,
    StreamBusyError,
    StreamInterruptedError,
)
from llmring.providers.mock import ledger
from llmring.schemas import ToolCallDict, Usage

LATENCY_KEYS = {"first_chunk_latency", "duration"}


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def describe(chunk: StreamChunk) -> Any:
    """A chunk as a comparable value (timings dropped)."""
    if chunk.is_terminal:
        metadata = {k: v for k, v in chunk.metadata.items() if k not in LATENCY_KEYS}
        return ("terminal", chunk.finish_reason, chunk.usage, metadata)
    if chunk.metadata:
        return chunk.metadata
    if chunk.tool_call_delta is not None:
        return ("tool_call_delta", chunk.tool_call_delta.name, chunk.tool_call_delta.arguments)
    return chunk.content


async def collect(stream: AgentStream) -> list[StreamChunk]:
    async with stream:
        return [chunk async for chunk in stream]


ROUND_1 = {
    "round": 1,
    "provider": "mock",
    "model": "test",
    "finish_reason": "tool_calls",
    "usage": {"prompt_tokens": 9, "completion_tokens": 14, "total_tokens": 23},
}
ROUND_2 = {
    "round": 2,
    "provider": "mock",
    "model": "test",
    "finish_reason": "stop",
    "usage": {"prompt_tokens": 24, "completion_tokens": 5, "total_tokens": 29},
}
CALL: ToolCallDict = {
    "id": "call_mock_0",
    "type": "function",
    "function": {"name": "add", "arguments": '{"a": 1, "b": 1}'},
}


async def test_two_rounds_exact_chunk_sequence() -> None:
    agent = Agent("calc", model="mock:test", instructions="Be brief.", tools=[add])
    stream = agent.stream("What is 1+1?")
    chunks = await collect(stream)

    assert [describe(c) for c in chunks] == [
        ("tool_call_delta", "add", '{"a": 1,'),
        ("tool_call_delta", None, ' "b": 1}'),
        {
            "type": "tool_call",
            "tool_call": {"id": "call_mock_0", "name": "add", "arguments": {"a": 1, "b": 1}},
            "round": 1,
        },
        {
            "type": "tool_result",
            "tool_call_id": "call_mock_0",
            "name": "add",
            "result": "2",
            "round": 1,
        },
        "The",
        " tool",
        " returned:",
        " 2",
        (
            "terminal",
            "stop",
            {"prompt_tokens": 33, "completion_tokens": 19, "total_tokens": 52},
            {"round": 2, "rounds": [ROUND_1, ROUND_2]},
        ),
    ]
    assert sum(c.is_terminal for c in chunks) == 1
    turn = [
        Message(role="user", content="What is 1+1?"),
        Message(role="assistant", tool_calls=[CALL]),
        Message(role="tool", tool_call_id="call_mock_0", content="2"),
        Message(role="assistant", content="The tool returned: 2"),
    ]
    assert agent.history == turn
    assert stream.result.content == "The tool returned: 2"
    assert stream.result.messages == turn
    # round 2 sent the instructions, the prompt, the call and its result
    first, second = ledger.records
    assert second.request is not None and first.request is not None
    assert second.request.messages == [Message(role="system", content="Be brief."), *turn[:3]]
    assert second.request.tools == [tool(add).json_schema]
    assert all(r.completed and r.closed for r in ledger.records)


async def test_arun_returns_the_result_with_summed_usage() -> None:
    result = await Agent("calc", model="mock:test", instructions="Be brief.", tools=[add]).arun(
        "What is 1+1?"
    )
    assert isinstance(result, AgentResult)
    assert result.content == "The tool returned: 2"
    assert result.response.usage == ROUND_2["usage"]
    assert result.usage == {"prompt_tokens": 33, "completion_tokens": 19, "total_tokens": 52}
    assert result.rounds == [ROUND_1, ROUND_2]
    assert result.tool_outcomes == [ToolOutcome("call_mock_0", "add", {"a": 1, "b": 1}, "2")]


def test_summed_usage_has_a_cost_only_when_every_round_was_priced() -> None:
    from llmring.agents._agent import _sum_usage

    priced: Usage = {"prompt_tokens": 2, "cost": 0.5}
    unpriced: Usage = {"prompt_tokens": 3}
    assert _sum_usage([priced, priced]) == {"prompt_tokens": 4, "cost": 1.0}
    assert _sum_usage([priced, unpriced]) == {"prompt_tokens": 5}  # never a partial sum


async def test_without_tool_calls_one_round_is_the_whole_run() -> None:
    agent = Agent("plain", model="mock:echo", max_tokens=50)
    chunks = await collect(agent.stream("hello there"))
    assert [describe(c) for c in chunks][:-1] == ["hello", " there"]
    assert chunks[-1].metadata["round"] == 1
    assert ledger.last.request is not None and ledger.last.request.max_tokens == 50


async def test_an_async_tool_is_awaited_and_its_value_sent_as_json() -> None:
    seen: list[str] = []

    async def weather(city: str) -> dict[str, Any]:
        """The weather in a city."""
        await asyncio.sleep(0)
        seen.append(city)
        return {"city": city, "temp_c": 21}

    result = await Agent("w", model="mock:test", tools=[weather]).arun("weather?")
    assert seen == ["mock"]
    assert result.tool_outcomes[0].result == '{"city":"mock","temp_c":21}'
    assert result.content == 'The tool returned: {"city":"mock","temp_c":21}'


async def test_a_decorated_sync_tool_runs() -> None:
    @tool
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    result = await Agent("s", model="mock:test", tools=[shout]).arun("shout")
    assert result.content == "The tool returned: MOCK"


async def test_invalid_arguments_go_back_to_the_model_as_the_result() -> None:
    calls: list[int] = []

    def pick(n: Annotated[int, Field(ge=5)]) -> int:
        """Pick a number of at least five."""
        calls.append(n)
        return n

    agent = Agent("p", model="mock:test", tools=[pick])
    chunks = await collect(agent.stream("pick"))
    events = [c.metadata for c in chunks if c.metadata and "type" in c.metadata]
    assert calls == []  # the mock sent n=1, which fails validation
    assert events[1]["type"] == "tool_result" and "result" not in events[1]
    assert events[1]["error"].startswith("invalid arguments for pick: 1 validation error")
    assert "greater than or equal to 5" in events[1]["error"]
    tool_message = agent.history[2]
    assert tool_message.role == "tool" and tool_message.text == "Error: " + events[1]["error"]
    assert chunks[-1].is_terminal and agent.history[-1].text.startswith(
        "The tool returned: Error: invalid arguments for pick"
    )


async def test_a_raising_tool_does_not_end_the_run() -> None:
    def boom(x: int) -> int:
        """Always fails."""
        raise ValueError(f"cannot do {x}")

    result = await Agent("b", model="mock:test", tools=[boom]).arun("go")
    assert result.tool_outcomes[0].error == "boom raised ValueError: cannot do 1"
    assert result.content == "The tool returned: Error: boom raised ValueError: cannot do 1"


async def test_max_tool_rounds_raises_naming_the_agent_and_the_limit() -> None:
    calls: list[int] = []

    def counted(a: int) -> int:
        """Count calls."""
        calls.append(a)
        return a

    agent = Agent("limited", model="mock:test", tools=[counted], max_tool_rounds=0)
    agent.history.append(Message(role="user", content="earlier"))
    with pytest.raises(ToolRoundLimitError) as caught:
        await agent.arun("go")
    error = caught.value
    assert isinstance(error, AgentError) and isinstance(error, LLMRingError)
    assert error.agent == "limited" and error.max_tool_rounds == 0
    assert "'limited'" in str(error) and "max_tool_rounds=0" in str(error)
    assert "(counted)" in str(error)
    assert [c["function"]["name"] for c in error.tool_calls] == ["counted"]
    assert calls == []
    assert agent.history == [Message(role="user", content="earlier")]
    assert [r.closed for r in ledger.records] == [True]


def test_bad_construction_fails_early() -> None:
    with pytest.raises(ValueError, match="max_tool_rounds must be >= 0"):
        Agent("a", model="mock:test", max_tool_rounds=-1)
    with pytest.raises(TypeError, match=r"unknown request option\(s\) \['top_q'\]"):
        Agent("a", model="mock:test", top_q=1)
    with pytest.raises(TypeError, match="must be able to run it"):
        Agent("a", model="mock:test", tools=[tool(add).json_schema])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="two tools are named 'add'"):
        Agent("a", model="mock:test", tools=[add, tool(add)])
    with pytest.raises(TypeError, match="unknown request option"):
        Agent("a", model="mock:test").stream("x", tools=[])


# -- history ------------------------------------------------------------------------------


async def test_the_next_run_continues_the_conversation_and_reset_clears_it() -> None:
    agent = Agent("echo", model="mock:echo", instructions="Repeat.")
    assert (await agent.arun("one")).content == "one"
    await agent.arun("two")
    assert ledger.last.request is not None
    assert ledger.last.request.messages == [
        Message(role="system", content="Repeat."),
        Message(role="user", content="one"),
        Message(role="assistant", content="one"),
        Message(role="user", content="two"),
    ]
    agent.reset()
    assert agent.history == []


async def test_break_mid_run_commits_nothing_and_closes_the_provider_stream() -> None:
    agent = Agent("calc", model="mock:test", tools=[add])
    async with agent.stream("What is 1+1?") as stream:
        async for chunk in stream:
            if chunk.content == "The":  # round 2 has started
                break
    assert agent.history == []
    assert len(ledger.records) == 2
    assert ledger.records[1].closed and not ledger.records[1].completed
    assert ledger.open_streams == []
    with pytest.raises(RuntimeError, match="has not completed"):
        _ = stream.result
    await stream.aclose()  # idempotent


async def test_a_bare_break_closes_the_provider_stream_at_once() -> None:
    # No ``async with``: the run's generator never refers back to its AgentStream, so dropping
    # the stream lets the event loop close the generator on its next turns, not at a GC pass.
    agent = Agent("calc", model="mock:test", tools=[add])
    async for chunk in agent.stream("What is 1+1?"):
        if chunk.content == "The":
            break
    for _ in range(5):
        await asyncio.sleep(0)
    assert ledger.records[1].closed and not ledger.records[1].completed
    assert agent.history == []


async def test_one_consumer_at_a_time() -> None:
    stream = Agent("slow", model="mock:echo?delay=0.2").stream("hello there")
    first = asyncio.create_task(anext(stream))
    await asyncio.sleep(0.01)
    with pytest.raises(StreamBusyError, match="AgentStream has one consumer"):
        await anext(stream)
    assert (await first).content == "hello"
    await stream.aclose()


async def test_aclose_from_another_task_interrupts_the_run_with_its_text() -> None:
    # a first round of tool calls, then the answer stalls after two chunks
    agent = Agent("calc", model="mock:test?stall_after=2", tools=[add])
    received: list[StreamChunk] = []

    async def consume(stream: AgentStream) -> None:
        async for chunk in stream:
            received.append(chunk)

    stream = agent.stream("What is 1+1?")
    consumer = asyncio.create_task(consume(stream))
    while len(ledger.records) < 2 or ledger.last.chunks_sent < 2:
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.01)  # the consumer waits on the stalled second round
    await stream.aclose()
    assert ledger.last.closed and ledger.last.cancelled
    with pytest.raises(StreamInterruptedError) as caught:
        await consumer
    delivered = "".join(c.delta for c in received)
    assert delivered == "The tool" and caught.value.partial_response == delivered
    assert agent.history == []


async def test_stopping_at_the_terminal_chunk_still_completes_the_run() -> None:
    agent = Agent("calc", model="mock:test", tools=[add])
    async with agent.stream("1+1?") as stream:
        async for chunk in stream:
            if chunk.is_terminal:
                break
    assert stream.result.content == "The tool returned: 2"
    assert len(agent.history) == 4


async def test_a_provider_error_commits_nothing() -> None:
    agent = Agent("calc", model="mock:test?fail=bad_request", tools=[add])
    agent.history.append(Message(role="user", content="before"))
    with pytest.raises(ProviderResponseError, match="invalid request"):
        await agent.arun("go")
    assert agent.history == [Message(role="user", content="before")]
    assert ledger.open_streams == []


async def test_cancellation_while_streaming_commits_nothing() -> None:
    agent = Agent("slow", model="mock:test?delay=0.05")
    task = asyncio.create_task(agent.arun("hi"))
    while not ledger.records or not ledger.last.chunks_sent:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ledger.last.cancelled and ledger.last.closed
    assert agent.history == []


async def test_cancellation_inside_a_tool_is_not_a_tool_error() -> None:
    started = asyncio.Event()

    async def wait_forever(a: int) -> int:
        """Never returns."""
        started.set()
        await asyncio.Event().wait()
        return a

    agent = Agent("stuck", model="mock:test", tools=[wait_forever])
    task = asyncio.create_task(agent.arun("go"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert agent.history == []
    assert len(ledger.records) == 1 and ledger.open_streams == []


# -- capabilities and the surface -----------------------------------------------------------


async def test_get_provider_info_uses_the_rings_capabilities() -> None:
    assert Agent("a", model="chatbot").get_provider_info() == {
        "provider": "mock",
        "model": "chatbot",
        "supports_streaming": True,
        "supports_tools": True,
        "supports_reasoning": True,
    }
    async with LLMRing() as ring:
        agent = Agent("b", model="mock:other", ring=ring)
        assert agent.get_provider_info()["model"] == "other"
        assert agent.ring is ring


def test_the_agents_package_exports_its_surface_without_vendor_sdks() -> None:
    from llmring import agents

    for name in agents.__all__:
        assert getattr(agents, name).__name__ == name
    code = (
        "import sys, llmring.agents\n"
        "print([m for m in ('openai', 'anthropic', 'google.genai', 'ollama')"
        " if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
