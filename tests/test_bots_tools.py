"""``@tool`` schemas, AsyncToolBot and ToolBot, offline (mock provider and a recorded wire
stream)."""

from __future__ import annotations

from contextlib import aclosing
from pathlib import Path
from typing import Literal, Optional

import pytest
from pydantic import BaseModel, ValidationError

from llmring.bots import (
    AIMessage,
    AsyncToolBot,
    ChatMemory,
    Tool,
    ToolBot,
    ToolCall,
    ToolMessage,
    tool,
)
from llmring.bots.tools import parse_docstring, tool_schema
from llmring.exceptions import StreamInterruptedError
from llmring.providers.mock import ledger
from llmring.schemas import ToolCallDict
from tests.loopback import Reply
from tests.wire_harness import provider_ring


class Point(BaseModel):
    x: int
    y: int = 0


@tool
def get_capital(country: str) -> str:
    """Look up the capital city of a country.

    Args:
        country: The country's English name.
    """
    return {"UK": "London"}.get(country, "unknown")


@tool
def plot(
    points: list[Point],
    style: Literal["line", "bar"] = "line",
    title: Optional[str] = None,  # noqa: UP045 - the Optional spelling must work too
    labels: list[str] | None = None,
    width: int = 80,
) -> str:
    """Draw points.

    Use it when the user wants to see data.

    Args:
        points (list[Point]): What to draw,
            in order.
        style: How to draw them.
        title: A heading. Not required.

    Returns:
        A description of the drawing.
    """
    return f"{style} of {len(points)} points from {points[0]!r}, {width} wide, {title}"


def add(a: int, b: int = 1) -> int:
    """Add two numbers.

    :param a: The first number.
    :param int b: The second
        number.
    :returns: The sum.
    """
    return a + b


CAPITAL_SCHEMA = {
    "type": "function",
    "function": {
        "name": "get_capital",
        "description": "Look up the capital city of a country.",
        "parameters": {
            "type": "object",
            "required": ["country"],
            "properties": {
                "country": {"type": "string", "description": "The country's English name."}
            },
        },
    },
}
CALL = ToolCall(id="call_mock_0", name="get_capital", arguments={"country": "mock"})


def sent_messages() -> list[tuple[str, str, list[ToolCallDict] | None]]:
    request = ledger.last.request
    assert request is not None
    return [(m.role, m.text, m.tool_calls) for m in request.messages]


# -- @tool ----------------------------------------------------------------------------------------


def test_schema_of_a_simple_tool() -> None:
    assert get_capital.json_schema == CAPITAL_SCHEMA
    assert isinstance(get_capital, Tool) and get_capital("UK") == "London"
    assert get_capital.__name__ == "get_capital" and "capital city" in (get_capital.__doc__ or "")


def test_schema_types_defaults_and_docstring_sections() -> None:
    assert plot.description == "Draw points.\n\nUse it when the user wants to see data."
    assert plot.parameters == {
        "type": "object",
        "required": ["points"],
        "$defs": {
            "Point": {
                "type": "object",
                "required": ["x"],
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}},
            }
        },
        "properties": {
            "points": {
                "type": "array",
                "items": {"$ref": "#/$defs/Point"},
                "description": "What to draw, in order.",
            },
            "style": {
                "type": "string",
                "enum": ["line", "bar"],
                "default": "line",
                "description": "How to draw them.",
            },
            # a *property* named title survives the removal of pydantic's title keys
            "title": {
                "anyOf": [{"type": "string"}, {"type": "null"}],
                "default": None,
                "description": "A heading. Not required.",
            },
            "labels": {
                "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
                "default": None,
            },
            "width": {"type": "integer", "default": 80},
        },
    }


def test_sphinx_params_and_missing_docstrings() -> None:
    assert Tool(add).json_schema == {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two numbers.",
            "parameters": {
                "type": "object",
                "required": ["a"],
                "properties": {
                    "a": {"type": "integer", "description": "The first number."},
                    "b": {"type": "integer", "default": 1, "description": "The second number."},
                },
            },
        },
    }

    def bare(thing, count: int):  # type: ignore[no-untyped-def]
        return thing

    assert Tool(bare, name="renamed").json_schema == {
        "type": "function",
        "function": {
            "name": "renamed",
            "parameters": {
                "type": "object",
                "required": ["thing", "count"],
                "properties": {"thing": {}, "count": {"type": "integer"}},
            },
        },
    }


def test_parse_docstring_continuations_and_other_sections() -> None:
    doc = """Summary line.

    Args:
        first (int, optional): One
            and more.
        second: Two.

    Raises:
        ValueError: never a parameter.
    """
    assert parse_docstring(doc) == ("Summary line.", {"first": "One and more.", "second": "Two."})
    assert parse_docstring(None) == ("", {})


def test_tools_the_schema_cannot_describe_are_refused() -> None:
    def spread(*values: int) -> None: ...

    def unknown(x: NotDefinedAnywhere) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match=r"tool spread: a model cannot fill \*values"):
        tool(spread)
    with pytest.raises(TypeError, match="tool unknown: cannot resolve an annotation"):
        tool(unknown)


def test_invoke_validates_and_converts_the_model_arguments() -> None:
    call = ToolCall(id="c1", name="plot", arguments={"points": [{"x": "3"}], "style": "bar"})
    assert plot.invoke(call) == "bar of 1 points from Point(x=3, y=0), 80 wide, None"
    assert get_capital.invoke({"country": "UK"}) == "London"
    with pytest.raises(ValidationError):
        plot.invoke({"points": [{"x": "three"}]})


def test_tool_specs_decorated_plain_or_raw_dicts() -> None:
    raw = {"type": "function", "function": {"name": "raw", "parameters": {"type": "object"}}}
    assert tool_schema(raw) == raw
    assert tool_schema(get_capital) == CAPITAL_SCHEMA
    assert tool_schema(add) == Tool(add).json_schema
    with pytest.raises(ValueError, match="OpenAI function format"):
        tool_schema({"name": "flat"})
    with pytest.raises(TypeError, match="not int"):
        tool_schema(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one tool"):
        AsyncToolBot("S", "mock:x")
    with pytest.raises(ValueError, match=r"unique, got \['get_capital', 'get_capital'\]"):
        AsyncToolBot("S", "mock:x", tools=[get_capital, CAPITAL_SCHEMA])


# -- AsyncToolBot ---------------------------------------------------------------------------------


async def test_the_bot_returns_the_selected_calls_without_running_them() -> None:
    bot = AsyncToolBot("Pick a tool.", "mock:x", tools=[get_capital, add])
    assert await bot("Capital of the UK?") == [CALL]
    request = ledger.last.request
    assert request is not None and request.tools == [CAPITAL_SCHEMA, Tool(add).json_schema]
    assert bot.last_tool_calls == [CALL] and bot.last_message is not None
    assert bot.last_message.finish_reason == "tool_calls"
    choose_add = {"type": "function", "function": {"name": "add"}}
    assert await bot("1 + 1?", tool_choice=choose_add) == [
        ToolCall(id="call_mock_0", name="add", arguments={"a": 1})
    ]


async def test_stream_events_gives_text_then_the_complete_calls() -> None:
    bot = AsyncToolBot("S", "mock:x", tools=[get_capital])
    assert [e async for e in bot.stream_events("Capital?")] == [CALL]
    talker = AsyncToolBot("S", tools=[get_capital], mock_response="No tool needed.")
    assert [e async for e in talker.stream_events("Hi")] == ["No", " tool", " needed."]
    assert talker.last_tool_calls == [] and await talker("Hi") == []


async def test_stream_async_text_then_last_tool_calls_when_complete() -> None:
    bot = AsyncToolBot("S", "mock:x", tools=[get_capital])
    assert [d async for d in bot.stream_async("Capital?")] == []
    assert bot.last_tool_calls == [CALL]
    seen: list[object] = []
    async for delta in bot.stream_async("Hi", extra_params={"mock_response": "a b"}):
        seen.append((delta, bot.last_tool_calls))  # the earlier calls are gone: never stale
    assert seen == [("a", None), (" b", None)] and bot.last_tool_calls == []


async def test_execution_history_follows_the_new_messages() -> None:
    call = ToolCall(id="call_1", name="get_capital", arguments={"country": "UK"})
    history = [AIMessage(tool_calls=[call]), ToolMessage(content="London", tool_call_id="call_1")]
    bot = AsyncToolBot("S", "mock:x", tools=[get_capital])
    assert await bot("Capital of the UK?", execution_history=history) == []
    assert bot.last_message is not None
    assert bot.last_message.content == "The tool returned: London"
    assert sent_messages() == [
        ("system", "S", None),
        ("user", "Capital of the UK?", None),
        ("assistant", "", [call.to_openai()]),
        ("tool", "London", None),
    ]


async def test_memory_keeps_the_turn_and_recalls_unanswered_calls_as_text() -> None:
    memory = ChatMemory()
    bot = AsyncToolBot("S", "mock:x", tools=[get_capital], memory=memory)
    await bot("Capital of the UK?")
    assert memory.messages[0].content == "Capital of the UK?"
    assert memory.messages[1] == bot.last_message and len(memory) == 2
    await bot("And France?")
    # providers refuse a recalled tool call without its result: it is sent as text
    assert sent_messages() == [
        ("system", "S", None),
        ("user", "Capital of the UK?", None),
        ("assistant", 'Selected tool calls:\n- get_capital({"country": "mock"})', None),
        ("user", "And France?", None),
    ]


async def test_memory_and_last_calls_untouched_by_a_break_or_a_cut_stream() -> None:
    memory = ChatMemory()
    bot = AsyncToolBot(
        "S", "mock:x?delay=0.01", tools=[get_capital], memory=memory, mock_response="one two three"
    )
    async with aclosing(bot.stream_async("Hi")) as deltas:
        async for delta in deltas:
            assert delta == "one"
            break
    assert ledger.last.closed and not ledger.last.completed
    cut = AsyncToolBot("S", "mock:x?cut_after=2", tools=[get_capital], memory=memory)
    with pytest.raises(StreamInterruptedError):
        await cut("Capital?")
    assert ledger.last.chunks_sent == 2 and not ledger.last.completed
    assert len(memory) == 0 and bot.last_tool_calls is None and cut.last_tool_calls is None


# -- ToolBot --------------------------------------------------------------------------------------


def test_sync_tool_bot() -> None:
    bot = ToolBot("S", "mock:x", tools=[get_capital], memory=ChatMemory())
    assert bot("Capital?") == [CALL] and bot.last_tool_calls == [CALL]
    assert bot.last_message is not None and len(bot.memory or []) == 2
    assert list(bot.stream_events("Again?")) == [CALL]
    assert list(bot.stream("And again?")) == [] and bot.last_tool_calls == [CALL]
    assert repr(bot) == "<ToolBot model='mock:x'>"


# -- through a real adapter -----------------------------------------------------------------------


async def test_tool_bot_over_a_recorded_stream_through_the_openai_adapter(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = ToolCall(
        id="call_ZR5UUuTt3pf61kjwAJIYdVMj", name="get_capital", arguments={"country": "UK"}
    )
    reply = Reply.wire("openai/chat-gpt-4o-mini-single-tool-call-usage.sse")
    async with provider_ring("openai", reply, project, monkeypatch) as (ring, server):
        bot = AsyncToolBot("Pick a tool.", "openai:gpt-test", tools=[get_capital], ring=ring)
        assert await bot("What is the capital of the UK?") == [expected]
        assert [e async for e in bot.stream_events("Again?")] == [expected]
        assert [d async for d in bot.stream_async("Once more?")] == []
        assert bot.last_tool_calls == [expected]
    sent = server.requests[-1].json()
    assert sent["tools"] == [CAPITAL_SCHEMA]
    assert sent["messages"] == [
        {"role": "system", "content": "Pick a tool."},
        {"role": "user", "content": "Once more?"},
    ]
    assert bot.last_message is not None and bot.last_message.usage == {
        "prompt_tokens": 53,
        "completion_tokens": 15,
        "total_tokens": 68,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
    }
