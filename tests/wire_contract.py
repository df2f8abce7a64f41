"""One wire contract for every adapter: each recorded stream of a provider, replayed through
its real SDK, must give what was read off the recording, however its bytes arrive.

A provider's test module subclasses :class:`WireContract`, names its recordings and the
expectation for each (text, reasoning, finish reason, usage, model, content chunk counts, tool
calls), and gives its ``check``; pytest then runs every test below for every recording:

* replayed as recorded, twice in one ring: both runs pass ``check`` and yield the same content
  chunks and tool-call ids;
* split at random byte boundaries (a split can fall inside a line, a CRLF, a UTF-8 character):
  every run passes ``check`` and yields exactly the chunks of the run in one piece;
* a few short recordings, one byte per write;
* no recording is left without an expectation.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import pytest

from llmring.schemas import ToolCallDelta
from tests.loopback import WIRE, Reply
from tests.wire_harness import Outcome, provider_ring, run_stream, user_request

#: random-split runs per recording, and splits per run (fewer for a shorter body)
SPLIT_RUNS = 4
SPLITS = 60

CallT = TypeVar("CallT")


@dataclass(frozen=True)
class Digest:
    """A text too long to spell out in a test, pinned exactly: its length, SHA-256, both ends."""

    length: int
    sha256: str
    head: str
    tail: str

    def check(self, actual: str) -> None:
        assert actual.startswith(self.head) and actual.endswith(self.tail), actual[:80]
        assert len(actual) == self.length
        assert hashlib.sha256(actual.encode()).hexdigest() == self.sha256


def check_text(actual: str, expected: str | Digest) -> None:
    if isinstance(expected, Digest):
        expected.check(actual)
    else:
        assert actual == expected


@dataclass(frozen=True)
class Expected(Generic[CallT]):
    """What was read off one recording (the tool calls' shape is each provider module's)."""

    text: str | Digest
    finish: str  # llmring's finish_reason
    raw: str  # the provider's own word
    usage: dict[str, int] | None
    model: str
    calls: Sequence[CallT] = ()
    reasoning: str | Digest = ""
    #: content chunks with text, with reasoning, with a tool-call fragment (None: not pinned)
    chunks: tuple[int, int, int] | None = None


def chunk_counts(outcome: Outcome) -> tuple[int, int, int]:
    content = outcome.chunks[:-1]
    return (
        sum(1 for c in content if c.delta),
        sum(1 for c in content if c.reasoning),
        sum(1 for c in content if c.tool_call_delta),
    )


def check_common(outcome: Outcome, provider: str, expected: Expected[Any]) -> None:
    """The part of a provider's ``check`` that is the same for all: the contract's shape, the
    text and reasoning, finish reasons, usage, provider and model, chunk counts."""
    outcome.check_contract()
    terminal = outcome.terminal
    check_text(outcome.text, expected.text)
    check_text(outcome.reasoning, expected.reasoning)
    assert (terminal.finish_reason, terminal.finish_reason_raw) == (expected.finish, expected.raw)
    assert terminal.usage == expected.usage
    assert (terminal.provider, terminal.model) == (provider, expected.model)
    if expected.chunks is not None:
        assert chunk_counts(outcome) == expected.chunks


def content(outcome: Outcome) -> list[tuple[str, str | None, ToolCallDelta | None]]:
    """The content chunks as compared between runs."""
    return [(c.delta, c.reasoning, c.tool_call_delta) for c in outcome.chunks[:-1]]


def tool_call_ids(outcome: Outcome) -> list[str]:
    return [call["id"] for call in outcome.terminal.tool_calls or []]


class WireContract:
    provider: ClassVar[str]
    #: the request path the SDK calls, as the server records it
    path: ClassVar[str]
    model: ClassVar[str] = "test-model"
    #: the provider's folder in tests/wire, and which of its files are this adapter's streams
    folder: ClassVar[str]
    prefix: ClassVar[str] = ""
    suffix: ClassVar[str] = ".sse"
    #: recording name (file name without suffix) → what was read off it
    expected: ClassVar[Mapping[str, Expected[Any]]]
    #: recordings of the folder that other tests of the module cover (not a normal reply)
    tested_apart: ClassVar[frozenset[str]] = frozenset()
    #: short recordings also sent one byte per write
    byte_by_byte: ClassVar[tuple[str, ...]] = ()

    @staticmethod
    def check(outcome: Outcome, expected: Any) -> object:
        """The module's full check of one outcome against one expectation (each module sets
        its own: ``check = staticmethod(check)``)."""
        raise NotImplementedError

    def reply(self, name: str, **kwargs: Any) -> Reply:
        return Reply.wire(f"{self.folder}/{name}{self.suffix}", **kwargs)

    def body(self, name: str) -> bytes:
        return (WIRE / self.folder / f"{name}{self.suffix}").read_bytes()

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "recording" in metafunc.fixturenames:
            metafunc.parametrize("recording", sorted(self.expected))
        if "short_recording" in metafunc.fixturenames:
            metafunc.parametrize("short_recording", self.byte_by_byte)

    async def run(self, ring: Any) -> Outcome:
        return await run_stream(ring, user_request(f"{self.provider}:{self.model}"))

    # -- the contract ----------------------------------------------------------------------

    def test_every_recording_has_an_expectation(self) -> None:
        files = (WIRE / self.folder).glob(f"{self.prefix}*{self.suffix}")
        recorded = {path.name.removesuffix(self.suffix) for path in files}
        assert recorded - self.tested_apart == set(self.expected)
        assert self.tested_apart <= recorded

    async def test_recorded_stream(
        self, recording: str, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        expected = self.expected[recording]
        async with provider_ring(self.provider, self.reply(recording), project, monkeypatch) as (
            ring,
            server,
        ):
            first = await self.run(ring)
            second = await self.run(ring)
        self.check(first, expected)
        self.check(second, expected)
        assert content(second) == content(first)
        assert tool_call_ids(second) == tool_call_ids(first)  # stable ids across runs
        assert server.completed == [self.path, self.path]

    async def test_recorded_stream_split_at_random_boundaries(
        self, recording: str, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        expected = self.expected[recording]
        body = self.body(recording)
        rng = random.Random(recording)
        async with provider_ring(self.provider, self.reply(recording), project, monkeypatch) as (
            ring,
            server,
        ):
            whole = await self.run(ring)
            self.check(whole, expected)
            for _ in range(SPLIT_RUNS):
                splits = sorted(rng.sample(range(1, len(body)), min(SPLITS, len(body) - 1)))
                server.reply = self.reply(recording, splits=splits, delay=0.0005)
                outcome = await self.run(ring)
                self.check(outcome, expected)
                # the same content chunks, in the same order, however the bytes arrived
                assert content(outcome) == content(whole), splits
                assert tool_call_ids(outcome) == tool_call_ids(whole)

    async def test_recorded_stream_one_byte_at_a_time(
        self, short_recording: str, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        reply = self.reply(short_recording, splits=range(1, len(self.body(short_recording))))
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, _):
            self.check(await self.run(ring), self.expected[short_recording])
