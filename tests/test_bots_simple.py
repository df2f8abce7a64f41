"""Bot messages, ChatMemory, AsyncSimpleBot and SimpleBot (all stream targets), offline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from llmring import LLMRing, Message
from llmring.bots import (
    AIMessage,
    AsyncSimpleBot,
    ChatMemory,
    DeveloperMessage,
    HumanMessage,
    SimpleBot,
    ToolCall,
    ToolMessage,
    system,
    to_messages,
    user,
)
from llmring.exceptions import StreamInterruptedError
from llmring.providers.mock import count_tokens, ledger
from llmring.schemas import ToolCallDict
from tests.helpers import write_lockfile
from tests.loopback import Reply
from tests.wire_harness import provider_ring

REPLY = "Streams arrive in pieces, and the bot hands them on."
CALL: ToolCallDict = {
    "id": "c1",
    "type": "function",
    "function": {"name": "f", "arguments": '{"x": 1}'},
}


# -- messages -----------------------------------------------------------------------------------


def test_inputs_are_flattened_in_order() -> None:
    messages = to_messages(
        "hi",
        [system("be kind"), ["nested", ("deeper",)]],
        Message(role="assistant", tool_calls=[CALL]),
        Message(role="tool", tool_call_id="c1", content="42"),
        DeveloperMessage(content="dev"),
    )
    assert [(type(m).__name__, m.content) for m in messages] == [
        ("HumanMessage", "hi"),
        ("SystemMessage", "be kind"),
        ("HumanMessage", "nested"),
        ("HumanMessage", "deeper"),
        ("AIMessage", ""),
        ("ToolMessage", "42"),
        ("DeveloperMessage", "dev"),
    ]
    assert messages[4].tool_calls == [ToolCall(id="c1", name="f", arguments={"x": 1})]  # type: ignore[attr-defined]


def test_json_message_dicts_are_accepted() -> None:
    assert to_messages(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    ) == [HumanMessage(content="hi"), AIMessage(content="yo")]


def test_bad_input_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not int"):
        to_messages("ok", 3)


def test_helpers_and_round_trip_to_facade_messages() -> None:
    assert user("a", "b") == HumanMessage(content="a\n\nb")
    assert system("s").to_message() == Message(role="system", content="s")
    reply = AIMessage(content="", tool_calls=[ToolCall(id="c1", name="f", arguments={"x": 1})])
    assert reply.to_message().model_dump(exclude_none=True) == {
        "role": "assistant",
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}
        ],
    }
    assert ToolMessage(content="42", tool_call_id="c1").to_message().tool_call_id == "c1"


# -- memory ---------------------------------------------------------------------------------------


def test_memory_window_and_orphan_tool_results() -> None:
    memory = ChatMemory(context_depth=3)
    memory.append(
        user("1"),
        AIMessage(content="", tool_calls=[ToolCall(id="c", name="f")]),
        ToolMessage(content="r", tool_call_id="c"),
        AIMessage(content="done"),
        user("2"),
    )
    # the window of 3 would start with a tool result whose call was cut off: dropped
    assert [m.content for m in memory.retrieve()] == ["done", "2"]
    assert [m.content for m in memory.retrieve(n_results=2)] == ["done", "2"]
    memory.reset()
    assert memory.retrieve() == [] and len(memory) == 0
    with pytest.raises(ValueError, match="context_depth"):
        ChatMemory(context_depth=-1)


# -- AsyncSimpleBot -------------------------------------------------------------------------------


async def test_stream_async_yields_non_empty_deltas_then_the_reply() -> None:
    bot = AsyncSimpleBot("Be brief.", mock_response=REPLY)
    deltas = [d async for d in bot.stream_async("hi")]
    assert "".join(deltas) == REPLY and all(deltas) and len(deltas) == 10
    reply = await bot("again")
    assert (reply.content, reply.finish_reason, reply.model) == (REPLY, "stop", "bot")
    assert reply.usage is not None and reply.usage["completion_tokens"] == count_tokens(REPLY) == 12
    assert bot.last_message == reply
    sent = ledger.last.request
    assert sent is not None and [m.role for m in sent.messages] == ["system", "user"]
    assert sent.temperature == 0.0


async def test_default_model_env_then_lockfile_alias(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:echo"]})
    assert AsyncSimpleBot().model_name == "chatbot"
    assert (await AsyncSimpleBot()("through the alias")).content == "through the alias"
    monkeypatch.setenv("LLMRING_BOT_MODEL", "mock:other")
    assert AsyncSimpleBot().model_name == "mock:other"
    assert AsyncSimpleBot(model_name="mock:echo").model_name == "mock:echo"


async def test_options_go_to_the_request_and_generation_parameters_to_extra_params() -> None:
    bot = AsyncSimpleBot(model_name="mock:echo", max_tokens=2, top_p=0.5, temperature=None)
    reply = await bot("one two three")
    assert (reply.content, reply.finish_reason) == ("one two", "length")
    sent = ledger.last.request
    assert sent is not None
    assert (sent.max_tokens, sent.temperature, sent.extra_params) == (2, None, {"top_p": 0.5})


async def test_stop_is_a_request_option() -> None:
    bot = AsyncSimpleBot(model_name="mock:echo", stop=["three"])
    reply = await bot("one two three four")
    assert (reply.content, reply.finish_reason) == ("one two ", "stop")
    sent = ledger.last.request
    assert (sent.stop, sent.extra_params) == (["three"], {})


async def test_memory_is_committed_only_when_a_reply_completes() -> None:
    memory = ChatMemory()
    bot = AsyncSimpleBot(model_name="mock:echo", memory=memory)
    await bot("first turn")
    assert [(m.role, m.content) for m in memory.messages] == [
        ("user", "first turn"),
        ("assistant", "first turn"),
    ]
    async for _delta in bot.stream_async("broken off early"):
        break
    await asyncio.sleep(0)
    with pytest.raises(StreamInterruptedError):
        await AsyncSimpleBot(model_name="mock:echo?cut_after=1", memory=memory)("cut stream")
    assert len(memory) == 2  # neither the break nor the failure left a half-turn
    await bot("second turn")
    sent = ledger.last.request
    assert sent is not None and [m.text for m in sent.messages] == [
        "first turn",
        "first turn",
        "second turn",
    ]


# -- SimpleBot ------------------------------------------------------------------------------------


def test_stream_target_is_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="stream_target must be one of stdout, panel, api, none"):
        SimpleBot("s", stream_target="web")  # type: ignore[arg-type]


def test_stdout_prints_deltas_and_returns_the_reply(capsys: pytest.CaptureFixture[str]) -> None:
    reply = SimpleBot("s", mock_response=REPLY)("hi")
    assert isinstance(reply, AIMessage) and reply.content == REPLY
    assert capsys.readouterr().out == REPLY + "\n"


def test_none_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    reply = SimpleBot(model_name="mock:echo", stream_target="none")("quiet please")
    assert reply.content == "quiet please" and capsys.readouterr().out == ""


def test_api_and_panel_targets_are_generators() -> None:
    api = SimpleBot(model_name="mock:echo", stream_target="api")
    assert list(api("a b c")) == ["a", " b", " c"]
    panel = SimpleBot(model_name="mock:echo", stream_target="panel")
    assert list(panel("a b c")) == ["a", "a b", "a b c"]


def test_leaving_a_sync_generator_early_closes_the_provider_stream() -> None:
    bot = SimpleBot(model_name="mock:echo?delay=0.01", stream_target="api")
    for delta in bot("one two three four"):
        assert delta == "one"
        break
    assert ledger.last.closed and not ledger.last.completed


async def test_sync_bot_works_inside_a_running_event_loop(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # what a notebook cell does: a blocking bot called while an event loop runs
    bot = SimpleBot(model_name="mock:echo", stream_target="none", memory=ChatMemory())
    assert bot("from a notebook").content == "from a notebook"
    assert bot.last_message is not None and len(bot.memory or []) == 2
    assert list(bot.stream("and streaming")) == ["and", " streaming"]


async def test_bot_over_a_recorded_stream_through_the_openai_adapter(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reply = Reply.wire("openai/chat-gpt-4o-mini-text-usage.sse")
    async with provider_ring("openai", reply, project, monkeypatch) as (ring, server):
        bot = AsyncSimpleBot("Answer.", model_name="openai:gpt-test", ring=ring)
        deltas = [d async for d in bot.stream_async("Capital of the UK?")]
    assert "".join(deltas) == "The capital of the UK is London."
    assert bot.last_message is not None and bot.last_message.usage == {
        "prompt_tokens": 78,
        "completion_tokens": 9,
        "total_tokens": 87,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
    }
    assert server.requests[0].json()["messages"] == [
        {"role": "system", "content": "Answer."},
        {"role": "user", "content": "Capital of the UK?"},
    ]


def test_bots_share_nothing_with_an_explicit_ring(project: Path) -> None:
    ring = LLMRing()
    assert AsyncSimpleBot(model_name="mock:echo", ring=ring).ring is ring
