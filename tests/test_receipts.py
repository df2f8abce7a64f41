"""Receipts (docs/receipts.md): exactly one per stream whatever ends it, stored by a background
writer in a real SQLite file, spilled (never dropped) when the store cannot take them, flushed
at interpreter exit, and free of keys."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring._adapters import AdapterPool
from llmring._receipts import Recorder
from llmring._receipts._receipt import COLUMNS, iso, uuid7
from llmring._receipts._sqlite import SQLiteStore
from llmring._receipts._store import ReceiptFilter, StoreError
from llmring._receipts._writer import ReceiptWriter, flush_all, writer_for
from llmring._stream import ChatStream
from llmring.exceptions import ConfigurationError, LockfileParseError, StreamInterruptedError
from llmring.resolver import Candidate
from llmring.schemas import StreamTimeouts
from tests.helpers import write_lockfile
from tests.hostile import TARGETS
from tests.serve_process import wait_until
from tests.test_hostile_keys import LeakyAdapter, _consume_stream, _echo_status, failures


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def stored(path: Path, where: ReceiptFilter | None = None) -> list[dict[str, Any]]:
    store = SQLiteStore(path, create=False)
    try:
        return store.query(where or ReceiptFilter())
    finally:
        store.close()


def ask(model: str, **fields: Any) -> LLMRequest:
    return LLMRequest(
        model=model, messages=[Message(role="user", content="Count to ten, please")], **fields
    )


# -- exactly one receipt per stream ----------------------------------------------------------------

#: mode → (status, usage source) its receipt must have; ``None``: no receipt at all
EXPECTED: dict[str, tuple[str, str | None] | None] = {
    "complete": ("ok", "reported"),
    "break": ("cancelled", "estimated"),
    "drop": ("cancelled", "estimated"),  # a bare break: the event loop closes the generator
    "aclose_other": ("cancelled", "estimated"),
    "cancel_task": ("cancelled", "estimated"),
    # cancelled once the request was sent, before any content: the prompt, estimated
    "cancel_before": ("cancelled", "estimated"),
    "cut": ("interrupted", "estimated"),
    "cut_before": ("error", None),
    "fail": ("error", None),
    "fail_after": ("interrupted", "estimated"),
    "deadline": ("deadline", "partial"),  # estimated when content came before the deadline
    "deadline_before": ("deadline", None),
    "never_read": None,
    "closed_unread": None,
}


async def one_stream(ring: LLMRing, mode: str, cid: str, k: int) -> int | None:
    """Run one stream of ``mode``; return how many content chunks its consumer received
    when that is exactly known (else ``None``)."""

    def stream(model: str = "mock:chatbot", **fields: Any) -> ChatStream:
        return ring.chat_stream(ask(model, **fields), conversation_id=cid)

    if mode == "complete":
        async with stream() as s:
            got = [c async for c in s if not c.is_terminal]
        return len(got)
    if mode == "break":
        async with stream() as s:
            async for position, _ in aenumerate(s):
                if position + 1 == k:
                    break
        return k
    if mode == "drop":
        async for position, _ in aenumerate(stream()):
            if position + 1 == k:
                break
        for _ in range(3):
            await asyncio.sleep(0)  # the loop's async-generator finaliser closes it
        return k
    if mode == "aclose_other":
        s = stream("mock:chatbot?delay=0.002")
        received = 0
        stoppers: list[asyncio.Future[None]] = []
        with pytest.raises(StreamInterruptedError):
            async for _ in s:
                received += 1
                if received == k:  # a Stop button: another task closes the stream
                    stoppers.append(asyncio.ensure_future(s.aclose()))
        await asyncio.gather(*stoppers)
        return received
    if mode == "cancel_task":
        s = stream("mock:chatbot?delay=0.002")
        first = asyncio.Event()

        async def read() -> None:
            async with s:
                async for _ in s:
                    first.set()

        task = asyncio.ensure_future(read())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return None
    if mode == "cancel_before":
        s = stream("mock:chatbot?delay=30")

        async def wait() -> None:
            async with s:
                async for _ in s:
                    pass

        task = asyncio.ensure_future(wait())
        await asyncio.sleep(0.01)  # the stream starts: the mock is asked, and waits
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return 0
    if mode in ("cut", "cut_before", "fail", "fail_after"):
        model = {
            "cut": f"mock:chatbot?cut_after={k}",
            "cut_before": "mock:chatbot?cut_after=0",
            "fail": "mock:chatbot?fail=server",
            "fail_after": f"mock:chatbot?fail=server&fail_after={k}",
        }[mode]
        with pytest.raises(Exception):  # noqa: B017 - the statuses are checked below
            async with stream(model) as s:
                async for _ in s:
                    pass
        return None if mode.startswith("fail") else (k if mode == "cut" else 0)
    if mode in ("deadline", "deadline_before"):
        model, timeouts = (
            ("mock:chatbot?delay=0.004", StreamTimeouts(total=0.01))
            if mode == "deadline"
            else ("mock:chatbot?stall_after=0", StreamTimeouts(first_chunk=0.005))
        )
        with pytest.raises(Exception):  # noqa: B017 - the statuses are checked below
            async with stream(model, timeout=timeouts) as s:
                async for _ in s:
                    pass
        return None
    if mode == "never_read":
        stream()
        return None
    assert mode == "closed_unread"
    await stream().aclose()
    return None


async def aenumerate(items: Any) -> Any:
    position = 0
    async for item in items:
        yield position, item
        position += 1


async def test_exactly_one_receipt_for_each_of_1000_streams(tmp_path: Path) -> None:
    path = tmp_path / "receipts.db"
    chooser = random.Random(1300)
    plan = [(f"s{i}", chooser.choice(sorted(EXPECTED)), chooser.randint(1, 3)) for i in range(1000)]
    ring = LLMRing(receipts=url(path))
    received: dict[str, int | None] = {}
    for start in range(0, len(plan), 100):
        batch = plan[start : start + 100]
        results = await asyncio.gather(*(one_stream(ring, m, cid, k) for cid, m, k in batch))
        received.update({cid: n for (cid, _, _), n in zip(batch, results, strict=True)})
    await ring.aclose()  # waits for the writer

    rows = stored(path)
    by_cid = Counter(row["conversation_id"] for row in rows)
    assert len({row["id"] for row in rows}) == len(rows)
    assert all(count == 1 for count in by_cid.values()), by_cid.most_common(3)
    expected = {cid: EXPECTED[mode] for cid, mode, _ in plan}
    assert set(by_cid) == {cid for cid, outcome in expected.items() if outcome is not None}
    assert {mode for _, mode, _ in plan} == set(EXPECTED)  # every ending was tried
    for row in rows:
        cid = row["conversation_id"]
        status, source = expected[cid]  # type: ignore[misc]
        if source == "partial":
            source = "estimated" if row["chunks"] else None
        assert (row["status"], row["usage_source"]) == (status, source), row
        assert row["candidates"] == '["mock:chatbot"]' or row["candidates"].startswith('["mock:')
        assert row["duration"] is not None and row["duration"] >= 0
        if received[cid] is not None:
            assert row["chunks"] == received[cid], row
        if source == "estimated":  # partial usage, marked as estimated, never 0 output
            assert row["prompt_tokens"] > 0
            assert row["completion_tokens"] > 0 or received[cid] == 0
            assert row["cost_status"] == "no_usage"
        if status == "ok":
            assert row["finish_reason"] == "stop" and row["error_class"] is None
            assert row["first_chunk_latency"] is not None
        if status in ("error", "interrupted", "deadline"):
            assert row["error_class"] and row["error_message"]
        if status == "deadline":
            assert "deadline" in row["error_message"] or "first chunk" in row["error_message"]
        assert row["lockfile_digest"].startswith("sha256:")
        assert row["prompt"] is None and row["response"] is None  # content logging is off


async def test_a_stream_never_read_makes_no_call_and_no_receipt(tmp_path: Path) -> None:
    path = tmp_path / "receipts.db"
    async with LLMRing(receipts=url(path)) as ring:
        ring.chat_stream(ask("mock:echo"))
        await ring.chat_stream(ask("mock:echo")).aclose()
        await ring.chat(ask("mock:echo"))
    assert [row["status"] for row in stored(path)] == ["ok"]


async def test_the_receipt_records_fallbacks_profile_and_content(
    tmp_path: Path, project: Path
) -> None:
    write_lockfile(
        project / "llmring.lock", {"pair": ["mock:first?fail=rate_limit", "mock:second"]}
    )
    path = tmp_path / "receipts.db"
    async with LLMRing(receipts=url(path), log_content=True) as ring:
        reply = await ring.chat(ask("pair"), conversation_id="c1")
    (row,) = stored(path)
    assert row["alias"] == "pair" and row["profile"] == "default"
    assert row["candidates"] == '["mock:first?fail=rate_limit", "mock:second"]'
    assert (row["provider"], row["model"], row["status"]) == ("mock", "second", "ok")
    assert '"error_class": "ProviderRateLimitError"' in row["attempts"]
    assert row["response"] == reply.content and '"Count to ten, please"' in row["prompt"]
    assert row["conversation_id"] == "c1"
    assert row["prompt_tokens"] == reply.usage["prompt_tokens"]  # type: ignore[index]
    assert row["cost_status"] == "unpriced" and row["cost_usd"] is None


def test_uuid7_has_the_version_and_variant_and_sorts_by_time() -> None:
    ids = [uuid7() for _ in range(50)]
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    millis = [u.int >> 80 for u in parsed]
    assert millis == sorted(millis)
    assert abs(millis[0] - datetime.now(UTC).timestamp() * 1000) < 60_000


# -- where receipts go -----------------------------------------------------------------------------


def test_receipts_are_off_unless_asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert LLMRing().receipts is None
    monkeypatch.setenv("LLMRING_RECEIPTS", url(tmp_path / "env.db"))
    assert LLMRing().receipts is writer_for(tmp_path / "env.db")
    assert LLMRing(receipts=url(tmp_path / "arg.db")).receipts is writer_for(tmp_path / "arg.db")
    assert LLMRing(receipts="off").receipts is None


def test_a_lockfile_receipts_table_is_read_relative_to_the_lockfile(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lockfile = write_lockfile(
        project / "llmring.lock", {}, '\n[receipts]\nurl = "sqlite:///logs/r.db"\ncontent = true\n'
    )
    monkeypatch.chdir(project.parent)
    ring = LLMRing(lockfile)
    assert ring.lockfile.receipts is not None and ring.lockfile.receipts.content
    assert ring.receipts is writer_for(project / "logs" / "r.db")
    assert ring._recorder is not None and ring._recorder.content


@pytest.mark.parametrize(
    ("table", "fragments"),
    [
        ('url = "mysql://db/llmring"', ["[receipts]", "postgresql://", "sqlite:///"]),
        ('url = "postgresql://gw:pw@db/llmring"', ["[receipts]", "holds a password", "gw:***@"]),
        ('url = "receipts.db"', ["[receipts]", "not a receipt store URL"]),
        ('url = "sqlite:///"', ["names no database file"]),
        ("content = true", ["needs url"]),
        ('url = "sqlite:///r.db"\ncontent = "yes"', ["content must be true or false"]),
        ('url = "sqlite:///r.db"\npath = "x"', ["unknown key 'path'"]),
    ],
)
def test_a_bad_receipts_table_is_a_clear_error(
    project: Path, table: str, fragments: list[str]
) -> None:
    lockfile = write_lockfile(project / "llmring.lock", {}, f"\n[receipts]\n{table}\n")
    with pytest.raises(LockfileParseError) as caught:
        LLMRing(lockfile)
    assert str(lockfile) in str(caught.value) and ":" in str(caught.value)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_a_bad_receipts_url_names_where_it_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match=r"LLMRing\(receipts=...\).*sqlite:///"):
        LLMRing(receipts="mysql://x")
    monkeypatch.setenv("LLMRING_RECEIPTS", "/tmp/r.db")
    with pytest.raises(ConfigurationError, match=r"\$LLMRING_RECEIPTS"):
        LLMRing()


# -- off the hot path: the writer, spilling, replay ------------------------------------------------


def a_row(number: int, **changes: Any) -> dict[str, Any]:
    """A stored receipt's row, as a finished ``mock:chatbot`` call would make it."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        id=uuid7(),
        started_at=iso(datetime.now(UTC)),
        profile="default",
        alias="chatbot",
        candidates='["mock:chatbot"]',
        attempts="[]",
        provider="mock",
        model="chatbot",
        status="ok",
        prompt_tokens=number,
        completion_tokens=1,
        total_tokens=number + 1,
        usage_source="reported",
        cost_status="unpriced",
        duration=0.002,
        chunks=1,
        conversation_id=f"c{number}",
    )
    row.update(changes)
    return row


@dataclass
class Queued:
    """What a stream queues, reduced to its row (the writer needs nothing else)."""

    value: dict[str, Any]

    def row(self) -> dict[str, Any]:
        return self.value


def test_a_full_queue_spills_at_once_and_the_rest_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    spill = tmp_path / "r.db.spill.jsonl"
    # the writer waits 60 s for a batch to fill: only a flush makes it write before
    writer = ReceiptWriter(lambda: SQLiteStore(path), spill, max_queue=3, interval=60)
    for number in range(5):
        writer.put(Queued(a_row(number)))
    assert (writer.spilled, writer.pending) == (2, 3)
    assert len(spill.read_text().splitlines()) == 2
    assert writer.flush()
    assert (writer.written, writer.spilled, writer.lost, writer.pending) == (3, 2, 0, 0)
    # the store took the batch: the spilled two are replayed into it after it
    assert writer.replayed == 2 and not spill.exists()
    assert len(stored(path)) == 5


async def test_an_unwritable_store_spills_and_import_replays_it_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import run

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database\n" * 200)
    async with LLMRing(receipts=url(broken)) as ring:
        for _ in range(3):
            await ring.chat(ask("mock:echo"))
        with pytest.raises(StreamInterruptedError):
            async for _ in ring.chat_stream(ask("mock:echo?cut_after=1")):
                pass
    writer = ring.receipts
    assert writer is not None
    assert (writer.written, writer.spilled, writer.lost) == (0, 4, 0)
    assert "cannot write receipts" in caplog.text and "llmring logs import" in caplog.text
    spill = tmp_path / "broken.db.spill.jsonl"
    assert len(spill.read_text().splitlines()) == 4

    good = tmp_path / "good.db"
    monkeypatch.setenv("LLMRING_RECEIPTS", url(good))  # where the CLI imports to
    first = run("logs", "import", str(spill))
    assert first.exit_code == 0 and "imported 4 receipt(s)" in first.stderr
    again = run("logs", "import", str(spill))
    assert again.exit_code == 0 and "imported 0 receipt(s)" in again.stderr
    statuses = sorted(row["status"] for row in stored(good))
    assert statuses == ["interrupted", "ok", "ok", "ok"]


class Flaky:
    """A SQLite store that fails every write while ``down`` (a store that went away)."""

    down = False

    def __init__(self, path: Path) -> None:
        self.store = SQLiteStore(path)

    def write(self, rows: Sequence[dict[str, Any]]) -> int:
        if Flaky.down:
            raise StoreError("the receipt store: writing receipts: not reachable")
        return self.store.write(rows)

    def close(self) -> None:
        self.store.close()


def test_spilled_receipts_are_replayed_once_the_store_is_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the spill file's directory does not exist yet (a user data dir never used): made
    path, spill = tmp_path / "r.db", tmp_path / "data" / "llmring" / "r.db.spill.jsonl"
    opened: Any = Flaky  # writes only
    writer = ReceiptWriter(lambda: opened(path), spill, interval=0.01, retry=0.05)
    monkeypatch.setattr(Flaky, "down", True)
    rows = [a_row(n) for n in range(6)]
    for row in rows[:3]:
        writer.put(Queued(row))
    assert writer.flush()
    assert (writer.written, writer.spilled) == (0, 3) and len(spill.read_text().splitlines()) == 3
    # back, and nothing new queued: the writer tries again by itself
    monkeypatch.setattr(Flaky, "down", False)
    wait_until(lambda: writer.replayed == 3, "the spill file replayed")
    assert not spill.exists() and len(stored(path)) == 3
    assert "replayed 3 receipt(s)" in caplog.text
    # away again; back with a new receipt: replayed after its batch
    monkeypatch.setattr(Flaky, "down", True)
    writer.put(Queued(rows[3]))
    writer.put(Queued(rows[4]))
    assert writer.flush() and writer.spilled == 5
    monkeypatch.setattr(Flaky, "down", False)
    writer.put(Queued(rows[5]))
    assert writer.flush()
    assert (writer.written, writer.replayed, writer.lost) == (1, 5, 0)
    assert sorted(r["id"] for r in stored(path)) == sorted(r["id"] for r in rows)
    assert caplog.text.count("cannot write receipts") == 2  # told once per outage


def test_a_replay_loses_no_receipt_appended_while_it_reads(tmp_path: Path) -> None:
    from llmring._receipts._spill import SpillFile

    path = tmp_path / "r.db.spill.jsonl"
    replayer, other = SpillFile(path), SpillFile(path)  # as two processes of one host
    replayer.append(json.dumps(a_row(1)) + "\n")
    late = a_row(2)
    written: list[str] = []

    def write(rows: Sequence[dict[str, Any]]) -> int:
        if not written:
            other.append(json.dumps(late) + "\n")  # another process spills meanwhile
        written.extend(row["id"] for row in rows)
        return len(rows)

    assert replayer.replay(write, 500) == 1
    assert replayer.waiting() and not replayer.replaying.exists()
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == [late["id"]]
    # a replay that fails keeps the rows, and the next one starts with them
    with pytest.raises(StoreError):
        replayer.replay(lambda rows: (_ for _ in ()).throw(StoreError("away")), 500)
    assert replayer.replaying.exists() and not path.exists()
    other.append(json.dumps(a_row(3)) + "\n")
    assert replayer.replay(write, 500) == 2
    assert len(written) == 3 and not replayer.waiting()


def test_receipts_are_flushed_at_interpreter_exit(tmp_path: Path, project: Path) -> None:
    path = tmp_path / "exit.db"
    script = """
import asyncio, sys
from llmring import LLMRing, LLMRequest, Message

async def main():
    ring = LLMRing(receipts=sys.argv[1])  # never closed: the atexit hook must flush
    ask = LLMRequest(model="mock:chatbot", messages=[Message(role="user", content="hi")])
    async for _ in ring.chat_stream(ask):
        pass
    async for _ in ring.chat_stream(ask):
        break

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script, url(path)],
        check=False,
        cwd=project,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(row["status"] for row in stored(path)) == ["cancelled", "ok"]


def test_the_store_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    SQLiteStore(path).close()
    with SQLiteStore(path)._open() as db:
        db.execute("INSERT INTO schema_version (version) VALUES (99)")
    with pytest.raises(ConfigurationError, match="schema version 99"):
        SQLiteStore(path)


# -- no keys in receipts ---------------------------------------------------------------------------


def everything_stored(path: Path) -> str:
    flush_all()
    return "\n".join(str(value) for row in stored(path) for value in row.values())


@pytest.mark.parametrize("text", ["Hello", ""])
async def test_a_key_an_adapter_leaks_is_not_in_the_receipt(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"sentinel{uuid.uuid4().hex}"
    monkeypatch.setenv("LEAKY_API_KEY", key)
    adapter = LeakyAdapter(key, text, wrap=False)
    path = tmp_path / "r.db"
    recorder = Recorder(writer_for(path), content=True, digest="")
    request = LLMRequest(model="leaky:m", messages=[Message(role="user", content="hi")])
    candidates = [Candidate("leaky", "m", config=adapter.config)]
    stream = ChatStream(request, candidates, AdapterPool(lambda _: adapter), recorder=recorder)
    await _consume_stream(stream)
    flush_all()
    (row,) = stored(path)
    assert row["status"] == ("interrupted" if text else "error")
    assert "RuntimeError" in row["error_message"] or row["error_class"] == "RuntimeError"
    assert key not in everything_stored(path)


@pytest.mark.parametrize("name", sorted(TARGETS))
async def test_an_echoed_key_is_not_in_the_receipts_of_a_fallback(
    name: str,
    tmp_path: Path,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "r.db"
    monkeypatch.setenv("LLMRING_RECEIPTS", url(path))
    target = TARGETS[name]
    key, _ = await failures(
        target, _echo_status(target, 503), project, monkeypatch, caplog, fallback=True
    )
    flush_all()
    (row,) = stored(path)
    assert row["status"] == "error" and row["error_class"] and row["error_message"]
    assert row["attempts"].count('"error_class"') == 1  # the first model's failure
    assert key not in everything_stored(path)


async def test_a_receipt_that_cannot_even_be_spilled_is_counted_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    async with LLMRing(receipts=url(blocker / "r.db")) as ring:
        reply = await ring.chat(ask("mock:echo"))  # the stream itself is unaffected
    assert reply.content == "Count to ten, please"
    assert ring.receipts is not None
    assert (ring.receipts.written, ring.receipts.spilled, ring.receipts.lost) == (0, 0, 1)
    assert "they are lost" in caplog.text


def test_the_writer_thread_ends_when_idle_and_starts_again(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    writer = ReceiptWriter(lambda: SQLiteStore(path), tmp_path / "spill", idle=0.01)
    writer.put(Queued(a_row(1)))
    assert writer.flush()
    while writer._running:
        time.sleep(0.01)
    writer.put(Queued(a_row(2)))
    assert writer.flush()
    assert writer.written == 2 and len(stored(path)) == 2


def test_the_writer_thread_keeps_its_store_open_until_it_goes_idle(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    opened: list[SQLiteStore] = []

    def open_store() -> SQLiteStore:
        opened.append(SQLiteStore(path))
        return opened[-1]

    writer = ReceiptWriter(open_store, tmp_path / "spill", idle=0.5)
    for number in range(3):  # three batches, each flushed: one store for all of them
        writer.put(Queued(a_row(number)))
        assert writer.flush()
    assert len(opened) == 1 and opened[0]._db is not None
    wait_until(lambda: opened[0]._db is None, "the store closed when the thread ended")
    assert not writer._running
    assert writer.written == 3 and len(stored(path)) == 3


async def test_a_finished_stream_is_not_held_by_its_queued_receipt(tmp_path: Path) -> None:
    # the row is made when the stream ends: the queue holds no stream, whose objects would
    # otherwise live on until the writer's next batch (here a minute away)
    async with LLMRing(receipts=url(tmp_path / "r.db")) as ring:
        assert ring.receipts is not None
        ring.receipts._interval = 60.0
        stream = ring.chat_stream(ask("mock:echo"))
        async for _ in stream:
            pass
        run = weakref.ref(stream._run)
        del stream
        gc.collect()
        assert run() is None
        assert ring.receipts.pending == 1
    (row,) = stored(tmp_path / "r.db")
    assert row["status"] == "ok" and row["response"] is None


async def test_chunks_count_reasoning_and_tool_call_fragments(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    tool = {
        "type": "function",
        "function": {
            "name": "add",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}},
        },
    }
    async with LLMRing(receipts=url(path), log_content=True) as ring:
        delivered = 0
        async for chunk in ring.chat_stream(ask("mock:x?reasoning=one+two+three", tools=[tool])):
            delivered += not chunk.is_terminal
    (row,) = stored(path)
    assert row["chunks"] == delivered > 3
    assert row["reasoning"] == "one two three" and '"name": "add"' in row["tool_calls"]
    assert row["finish_reason"] == "tool_calls"


# -- llmring serve's side: its request ids, key ids and refusals -----------------------------------


async def test_the_request_id_and_key_id_given_to_a_stream_land_in_its_receipt(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.db"
    ids = [uuid7() for _ in range(3)]
    async with LLMRing(receipts=url(path)) as ring:
        async with ring.chat_stream(ask("mock:echo"), receipt_id=ids[0], key_id="key_a") as s:
            async for _ in s:
                pass
        async with ring.chat_stream(ask("mock:echo"), receipt_id=ids[1], key_id="key_b") as s:
            async for _ in s:
                break  # a client gone mid-stream: cancelled, under the same id
        await ring.chat(ask("mock:echo"), receipt_id=ids[2], key_id="key_c")
        await ring.chat(ask("mock:echo"))  # a library call: its own id, no key
    rows = {row["id"]: row for row in stored(path)}
    assert [(rows[i]["status"], rows[i]["key_id"]) for i in ids] == [
        ("ok", "key_a"),
        ("cancelled", "key_b"),
        ("ok", "key_c"),
    ]
    (library,) = (row for row in rows.values() if row["id"] not in ids)
    assert library["key_id"] is None and uuid.UUID(library["id"]).version == 7


def test_a_rejection_is_the_row_of_a_call_that_never_started(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmring._receipts import Rejection
    from llmring.serve._errors import APIError

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    async def never_started() -> None:  # no key: it fails before any request is sent
        async with LLMRing(receipts=url(path)) as ring:
            with pytest.raises(Exception, match="ANTHROPIC_API_KEY is not set"):
                await ring.chat(ask("anthropic:claude-x"))

    path = tmp_path / "r.db"
    asyncio.run(never_started())
    (normal,) = stored(path)
    started = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    refusal = APIError(401, "authentication_error", "the API key sent is not valid")
    rejection = Rejection(uuid7(), started, "chatbot", "default", refusal, "key_x", "sha256:ab")
    writer = ReceiptWriter(lambda: SQLiteStore(path), tmp_path / "spill")
    writer.put(rejection)
    assert writer.flush() and writer.written == 1
    (row,) = stored(path, ReceiptFilter(status="rejected"))
    assert list(row) == list(COLUMNS)
    assert row["id"] == rejection.receipt_id and row["started_at"] == iso(started)
    assert (row["alias"], row["profile"], row["key_id"]) == ("chatbot", "default", "key_x")
    assert (row["candidates"], row["attempts"], row["duration"]) == ("[]", "[]", None)
    assert row["error_class"] == "llmring.serve._errors.APIError"
    assert row["error_message"] == "the API key sent is not valid"
    assert row["lockfile_digest"] == "sha256:ab"
    apart = {"id", "started_at", "alias", "status", "error_class", "error_message"}
    apart |= {"candidates", "duration", "lockfile_digest", "key_id"}
    assert {c: row[c] for c in COLUMNS if c not in apart} == {
        c: normal[c] for c in COLUMNS if c not in apart
    }


def test_a_rejection_records_its_error_without_keys(tmp_path: Path) -> None:
    from llmring._receipts import Rejection

    leaked = "sk-ant-api03-" + "Q" * 40
    error = ValueError(f"upstream said: bad key {leaked}")
    row = Rejection(uuid7(), datetime.now(UTC), None, None, error, None, "", 0.002).row()
    assert row["error_class"] == "ValueError" and row["status"] == "rejected"
    assert leaked not in row["error_message"] and "***" in row["error_message"]
    assert (row["alias"], row["lockfile_digest"], row["duration"]) == (None, None, 0.002)
    gone = Rejection(uuid7(), datetime.now(UTC), "chatbot", None, error, "key_x", "", None)
    gone.status = "cancelled"  # the client hung up before the gateway called upstream
    assert gone.row()["status"] == "cancelled" and gone.row()["chunks"] == 0
