"""``ChatSession``: history, window, one turn at a time, nothing kept from a failed turn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from llmring import LLMRequest, LLMRing, Message
from llmring.exceptions import LLMRingError, StreamInterruptedError
from llmring.providers.mock import ledger
from llmring.streaming import ChatSession, GenerationClosedError, GenerationThunk, SessionBusyError


@pytest.fixture
async def ring() -> AsyncIterator[LLMRing]:
    async with LLMRing() as ring:
        yield ring


def sent(index: int = -1) -> list[tuple[str, str]]:
    """The (role, text) messages the provider was sent by the ``index``-th stream."""
    request = ledger.records[index].request
    assert request is not None
    return [(m.role, m.text) for m in request.messages]


async def test_turns_build_a_history_that_is_sent_each_time(ring: LLMRing) -> None:
    session = ChatSession(ring, "mock:echo", system="Be brief.")
    assert await session.ask("hello") == "hello"
    thunk = session.send("again")
    assert isinstance(thunk, GenerationThunk)
    assert [d async for d in thunk] == ["again"]
    assert sent() == [
        ("system", "Be brief."),
        ("user", "hello"),
        ("assistant", "hello"),
        ("user", "again"),
    ]
    assert [(m.role, m.text) for m in session.history] == [
        ("user", "hello"),
        ("assistant", "hello"),
        ("user", "again"),
        ("assistant", "again"),
    ]
    assert session.messages[0].role == "system" and not session.busy


async def test_the_window_drops_the_oldest_and_keeps_the_system_prompt(ring: LLMRing) -> None:
    session = ChatSession(ring, "mock:echo", system="S", window=3)
    for word in ("a", "b", "c"):
        await session.ask(word)
    # [a, a', b, b', c, c'] keeps the last three, then never starts with an assistant reply
    assert [(m.role, m.text) for m in session.history] == [("user", "c"), ("assistant", "c")]
    await session.ask("d")
    assert sent() == [("system", "S"), ("user", "c"), ("assistant", "c"), ("user", "d")]
    four = ChatSession(ring, "mock:echo", window=4)
    for word in ("a", "b", "c"):
        await four.ask(word)
    assert [m.text for m in four.history] == ["b", "b", "c", "c"]


async def test_a_second_turn_while_the_first_runs_is_refused(ring: LLMRing) -> None:
    session = ChatSession(ring, "mock:echo?delay=0.02")
    first = session.send("first turn")
    assert session.busy
    with pytest.raises(SessionBusyError, match="still running") as caught:
        session.send("too soon")
    assert isinstance(caught.value, RuntimeError) and isinstance(caught.value, LLMRingError)
    with pytest.raises(SessionBusyError):
        await session.ask("too soon")
    with pytest.raises(SessionBusyError):
        session.clear()
    assert await first.avalue() == "first turn"
    assert await session.ask("now") == "now"  # free again once the turn finished
    assert len(ledger.records) == 2


async def test_a_failed_turn_leaves_no_orphan_user_message(ring: LLMRing) -> None:
    session = ChatSession(ring, "mock:echo")
    await session.ask("kept")
    session.model = "mock:echo?fail=server&fail_after=1"
    with pytest.raises(StreamInterruptedError):
        await session.ask("lost")
    assert [m.text for m in session.history] == ["kept", "kept"]
    session.model = "mock:echo"
    assert await session.ask("next") == "next"
    assert sent() == [("user", "kept"), ("assistant", "kept"), ("user", "next")]


async def test_a_closed_turn_leaves_no_orphan_and_frees_the_session(ring: LLMRing) -> None:
    session = ChatSession(ring, "mock:echo?delay=0.05")
    turn = session.send("one two three four")
    assert await turn.astream() == "one"
    await turn.aclose()
    assert ledger.last.closed and not ledger.last.completed
    assert session.history == [] and not session.busy
    with pytest.raises(GenerationClosedError):
        await turn.avalue()


async def test_cancelling_ask_cancels_the_turn(ring: LLMRing) -> None:
    session = ChatSession(ring, "mock:echo?delay=0.05")
    asking = asyncio.create_task(session.ask("one two three four"))
    await asyncio.sleep(0.07)
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    assert ledger.last.closed and ledger.last.cancelled and not ledger.last.completed
    assert session.history == [] and not session.busy


async def test_history_is_committed_before_the_reply_is_returned(ring: LLMRing) -> None:
    session = ChatSession(ring, "mock:echo")
    turn = session.send("hi")
    seen: list[int] = []

    async def watch() -> None:
        await turn.avalue()
        seen.append(len(session.history))

    await asyncio.gather(watch(), watch())
    assert seen == [2, 2]


async def test_independent_sessions_and_generations_run_in_parallel(ring: LLMRing) -> None:
    delay = 0.03  # five chunks: about 0.15 s a turn
    sessions = [ChatSession(ring, f"mock:echo?delay={delay}") for _ in range(3)]
    started = time.perf_counter()
    extra = ring.generate(
        LLMRequest(
            model=f"mock:echo?delay={delay}", messages=[Message(role="user", content="a b c d e")]
        )
    )
    replies = await asyncio.gather(*(s.ask(f"s{i} b c d e") for i, s in enumerate(sessions)))
    assert await extra.avalue() == "a b c d e"
    assert replies == [f"s{i} b c d e" for i in range(3)]
    assert time.perf_counter() - started < 2.5 * 5 * delay  # four in sequence: 4 x 5 x delay


async def test_request_options_are_used_and_checked_at_once(ring: LLMRing) -> None:
    session = ChatSession(
        ring, "mock:anything", max_tokens=2, extra_params={"mock_response": "alpha beta gamma"}
    )
    assert await session.ask("hi") == "alpha beta"
    assert ledger.last.request is not None and ledger.last.request.max_tokens == 2
    with pytest.raises(ValidationError):
        ChatSession(ring, "mock:echo", temperature=9)
    with pytest.raises(ValueError, match="window"):
        ChatSession(ring, "mock:echo", window=1)


async def test_clear_forgets_the_history_but_not_the_system_prompt(ring: LLMRing) -> None:
    session = ChatSession(ring, "mock:echo", system="S")
    await session.ask("x")
    session.clear()
    assert session.history == []
    await session.ask("y")
    assert sent() == [("system", "S"), ("user", "y")]
