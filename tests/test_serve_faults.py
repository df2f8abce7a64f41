"""A real ``llmring serve`` under faults: clients that hang up at random moments, providers
that fail before or after content, a lockfile replaced under load, and SIGTERM mid-stream.

The providers are loopback servers (tests/loopback.py) in a thread of this process, so the
moment the gateway closes a provider stream (``LoopbackServer.disconnects[].at``) and the
moment a test's client hung up are read off one clock (``time.monotonic``). Every request's
receipt is read back from the gateway's SQLite store.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import signal
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.loopback import WIRE, LoopbackServer, RecordedRequest, Reply
from tests.serve_process import (
    ServeProcess,
    ThreadedLoopback,
    gateway_env,
    receipts,
    wait_until,
)
from tests.wire_harness import lockfile_text

#: the backup's answer, and a different one for the first candidate (a splice would show)
BACKUP = "openai/chat-gpt-4o-mini-text-usage.sse"
BACKUP_TEXT = "The capital of the UK is London."
BACKUP_MODEL = "gpt-4o-mini-2024-07-18"
PRIMARY = "openai/chat-o3-mini-reasoning-usage.sse"
PRIMARY_TEXT = "The sum of 1 and 2 is 3."
GEMINI = "gemini/gemini-2.5-pro-text.sse"
HELLO = [{"role": "user", "content": "hello"}]
#: seconds the slow provider may take to its first chunk, before the alias falls back
FIRST_CHUNK_DEADLINE = 1.0
#: a pause longer than any test: a provider that has stopped but kept the stream open
FOREVER = 60.0
SLOW_DEADLINES = f"first_chunk_timeout = {FIRST_CHUNK_DEADLINE}\nidle_timeout = 1.0\n"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def events(recording: str, separator: bytes = b"\n\n") -> list[bytes]:
    """A recorded SSE body's events, each with its separator."""
    body = (WIRE / recording).read_bytes()
    return [event + separator for event in body.split(separator) if event]


def sse_payloads(body: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE response body, in order."""
    text = body.decode()
    assert text.endswith("\n\n"), text[-80:]
    return [frame.removeprefix("data: ") for frame in text.split("\n\n")[:-1]]


def streamed_text(payloads: list[str]) -> str:
    chunks = [json.loads(p) for p in payloads if p != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def chat_body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": HELLO, "stream": True, **extra}


# -- raw HTTP/1.1 clients that can hang up at any byte -------------------------------------------


async def open_chat(url: str, body: dict[str, Any]) -> tuple[asyncio.StreamReader, Any]:
    """A connection that has sent one chat request in full; ``(reader, writer)``."""
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = json.dumps(body).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n"
        b"content-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(payload), payload)
    )
    await writer.drain()
    return reader, writer


def dechunk(raw: bytes) -> tuple[str, dict[str, str], bytes]:
    """A whole HTTP/1.1 response: status line, headers, the body with chunked framing removed."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    if headers.get("transfer-encoding") != "chunked":
        return status, headers, rest
    body = b""
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return status, headers, body
        body += rest[:size]
        rest = rest[size + 2 :]


# -- one gateway for the disconnect and fallback tests ---------------------------------------------


@dataclass
class Upstreams:
    """The module's loopback providers and which recorded paths they answer."""

    loopback: ThreadedLoopback
    gateway: ServeProcess

    @property
    def server(self) -> LoopbackServer:
        return self.loopback.server


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    root = tmp_path_factory.mktemp("gateway")
    with ThreadedLoopback() as loopback:
        base = loopback.server.base_url
        key = "OPENAI_API_KEY"
        tables = "".join(
            f'[providers.{name}]\ntype = "openai"\nbase_url = "{url}"\napi_key_env = "{key}"\n'
            + extra
            + "\n"
            for name, url, extra in (
                ("primary", base + "/a/v1", ""),
                ("backup", base + "/b/v1", ""),
                ("refused", f"http://127.0.0.1:{closed_port()}/v1", ""),
                ("slow", base + "/s/v1", SLOW_DEADLINES),
            )
        )
        bindings = {
            "pair": ["primary:gpt-4o-mini", "backup:gpt-4o-mini"],
            "refused-pair": ["refused:gpt-4o-mini", "backup:gpt-4o-mini"],
            "slow-pair": ["slow:gpt-4o-mini", "backup:gpt-4o-mini"],
        }
        lockfile = root / "llmring.lock"
        text = lockfile_text({"google": loopback.url("google")}, bindings, tables=tables)
        lockfile.write_text(text, encoding="utf-8")
        env = gateway_env(["google", "openai"], root)
        with ServeProcess(lockfile, "--no-auth", env=env) as gateway:
            served = Upstreams(loopback, gateway)
            # the first call to a provider imports its SDK in the gateway: done here, once
            loopback.server.routes = {"/b/": Reply.wire(BACKUP)}
            loopback.server.reply = Reply.wire(GEMINI)
            for model in ("pair", "google:warm-up"):
                answer = httpx.post(
                    gateway.base_url + "/chat/completions", json=chat_body(model), timeout=60
                )
                assert answer.status_code == 200, answer.text
            yield served


@pytest.fixture
def upstream(upstreams: Upstreams) -> LoopbackServer:
    server = upstreams.server
    server.requests.clear()
    server.disconnects.clear()
    server.completed.clear()
    server.routes = {}
    server.reply = Reply(status=599)  # a test that forgets to set its reply fails loudly
    return server


# -- client disconnects at random points -----------------------------------------------------------

RUNS = 200
CONCURRENCY = 5
PHASES = ("before the upstream answered", "waiting for the first chunk", "mid-stream", "finished")
#: the issue's bound: the provider sees its client go within this many seconds of the hang-up
DISCONNECT_BOUND = 0.1


@dataclass
class Run:
    number: int
    phase: str
    reply: Reply
    #: what the provider had sent when it saw the gateway go (by the phase)
    expected_sent: int | None
    #: content frames the client reads before it hangs up (mid-stream)
    frames: int = 0
    pause: float = 0.0  # the random moment, after the run's phase is reached
    closed_at: float = 0.0
    received: bytes = b""

    @property
    def model(self) -> str:
        """The model asked for: the Gemini API's path names it, so the provider knows the run."""
        return f"run-{self.number}"


def plan_runs(rng: random.Random) -> list[Run]:
    gemini = events(GEMINI, b"\r\n\r\n")
    first = gemini[0]
    runs = []
    for number in range(RUNS):
        phase = PHASES[number % len(PHASES)]
        if phase == "before the upstream answered":  # headers sent, no body byte yet
            run = Run(number, phase, Reply.wire(GEMINI, first_delay=FOREVER), 0)
        elif phase == "waiting for the first chunk":  # half an event: no chunk for the gateway
            half = len(first) // 2
            reply = Reply.wire(GEMINI, splits=[half], delay=FOREVER)
            run = Run(number, phase, reply, half)
        elif phase == "mid-stream":  # one or two events delivered, then the provider pauses
            frames = rng.choice((1, 2))
            sent = sum(len(e) for e in gemini[:frames])
            run = Run(number, phase, Reply.wire(GEMINI, stall_after=sent), sent, frames)
        else:
            run = Run(number, phase, Reply.wire(GEMINI), None)
        run.pause = rng.uniform(0.0, 0.05)
        runs.append(run)
    rng.shuffle(runs)
    return runs


def run_of(path: str) -> int:
    found = re.search(r"/models/run-(\d+):", path)
    assert found is not None, path
    return int(found.group(1))


async def one_run(run: Run, gateway: ServeProcess, arrived: dict[int, asyncio.Event]) -> None:
    reader, writer = await open_chat(gateway.url, chat_body("google:" + run.model))
    try:
        if run.phase == "finished":
            run.received = await reader.read()  # the gateway ends the response, the client too
            return
        await arrived[run.number].wait()  # the gateway has called the provider
        if run.phase == "mid-stream":
            while run.received.count(b'{"content":') < run.frames:
                data = await reader.read(65536)
                assert data, f"run {run.number}: the response ended early"
                run.received += data
        try:  # the random moment; nothing more may arrive meanwhile
            data = await asyncio.wait_for(reader.read(65536), run.pause)
            run.received += data
        except TimeoutError:
            pass
        run.closed_at = time.monotonic()
    finally:
        writer.transport.abort()


def test_disconnects_at_random_points(upstreams: Upstreams, upstream: LoopbackServer) -> None:
    gateway = upstreams.gateway
    rng = random.Random(14)
    runs = plan_runs(rng)
    by_number = {run.number: run for run in runs}

    async def all_runs() -> None:
        loop = asyncio.get_running_loop()
        arrived = {run.number: asyncio.Event() for run in runs}

        def route(request: RecordedRequest) -> Reply:  # in the loopback's thread
            number = run_of(request.path)
            loop.call_soon_threadsafe(arrived[number].set)
            return by_number[number].reply

        upstream.routes = {"/": route}
        for start in range(0, RUNS, CONCURRENCY):
            batch = runs[start : start + CONCURRENCY]
            await asyncio.wait_for(
                asyncio.gather(*(one_run(run, gateway, arrived) for run in batch)), 20
            )

    asyncio.run(all_runs())

    cut = [run for run in runs if run.phase != "finished"]
    wait_until(lambda: len(upstream.disconnects) >= len(cut), "a disconnect for every cut run")
    seen = {run_of(d.path): d for d in upstream.disconnects}
    assert len(upstream.disconnects) == len(seen) == len(cut)  # one each, none for the others
    lags = {run.number: seen[run.number].at - run.closed_at for run in cut}
    late = {
        n: f"{by_number[n].phase} @{runs.index(by_number[n])}: {lag * 1000:.1f} ms"
        for n, lag in lags.items()
        if not 0 <= lag < DISCONNECT_BOUND
    }
    assert not late, f"runs seen late (load average {os.getloadavg()}): {late}"
    for run in cut:
        gone = seen[run.number]
        assert gone.bytes_sent == run.expected_sent, (run.phase, gone, run.expected_sent)
        if run.phase == "mid-stream":
            assert run.received.startswith(b"HTTP/1.1 200")
            assert b"[DONE]" not in run.received
        else:  # no content yet: the gateway had not even answered
            assert run.received == b"", (run.phase, run.received[:200])
    finished = [run for run in runs if run.phase == "finished"]
    for run in finished:
        status, _, body = dechunk(run.received)
        assert status == "HTTP/1.1 200 OK"
        assert sse_payloads(body)[-1] == "[DONE]"
    assert sorted(run_of(path) for path in upstream.completed) == sorted(
        run.number for run in finished
    )

    # exactly one receipt per request: cancelled for the cut ones, ok for the others
    def mine() -> list[dict[str, Any]]:
        return [row for row in receipts(gateway.receipts) if row["alias"].startswith("google:run-")]

    wait_until(lambda: len(mine()) >= RUNS, "a receipt for every request")
    time.sleep(0.5)  # a second receipt for one request would be written by now
    rows = mine()
    assert sorted(row["alias"] for row in rows) == sorted("google:" + run.model for run in runs)
    of_run = {int(row["alias"].removeprefix("google:run-")): row for row in rows}
    for run in runs:
        row = of_run[run.number]
        expected = "ok" if run.phase == "finished" else "cancelled"
        assert row["status"] == expected, (run.phase, run.number)
        if run.phase in ("mid-stream", "finished"):  # Gemini reports usage with each event
            assert row["usage_source"] == "reported" and row["prompt_tokens"] == 11, row
        else:  # gone before any usage: the prompt the provider read, estimated; no output
            assert row["usage_source"] == "estimated" and row["prompt_tokens"] > 0, row
            assert row["completion_tokens"] == 0, row


def test_a_client_gone_before_its_body_arrived_has_one_receipt(
    upstreams: Upstreams, upstream: LoopbackServer
) -> None:
    gateway = upstreams.gateway

    def unparsed() -> list[dict[str, Any]]:
        return [r for r in receipts(gateway.receipts) if r["alias"] is None]

    before = len(unparsed())

    async def hang_up_mid_body() -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b'content-type: application/json\r\ncontent-length: 1000\r\n\r\n{"model": '
        )
        await writer.drain()
        await asyncio.sleep(0.2)  # the gateway is waiting for the rest of the body
        writer.transport.abort()

    asyncio.run(hang_up_mid_body())
    wait_until(lambda: len(unparsed()) > before, "a receipt for the request cut mid-body")
    time.sleep(0.3)
    rows = unparsed()[before:]
    assert [r["status"] for r in rows] == ["cancelled"]
    assert upstream.requests == []


def test_a_first_request_to_a_provider_stalls_no_other_stream(tmp_path: Path) -> None:
    # A fresh gateway: one stream waits on OpenAI while the first request for Anthropic
    # arrives. Had the gateway to import Anthropic's SDK then, its loop would be held for a
    # second or more, and the OpenAI client's hang-up would go unseen for that long.
    with ThreadedLoopback() as loopback:
        server = loopback.server
        server.routes = {
            "/v1/chat/completions": Reply.wire(BACKUP, first_delay=FOREVER),
            "/v1/messages": Reply.wire("anthropic/claude-sonnet-4-6-text.sse"),
        }
        lockfile = tmp_path / "llmring.lock"
        providers = {name: loopback.url(name) for name in ("openai", "anthropic")}
        lockfile.write_text(
            lockfile_text(providers, {"a": ["openai:gpt-4o-mini"], "b": ["anthropic:c"]}),
            encoding="utf-8",
        )
        env = gateway_env(["openai", "anthropic"], tmp_path)
        with ServeProcess(lockfile, "--no-auth", env=env) as gateway:

            async def scenario() -> float:
                _, writer = await open_chat(gateway.url, chat_body("a"))
                while not server.requests:  # the OpenAI stream is waiting on its provider
                    await asyncio.sleep(0.005)
                _, other = await open_chat(gateway.url, chat_body("b"))
                await asyncio.sleep(0.05)  # the gateway is taking the Anthropic request
                closed_at = time.monotonic()
                writer.transport.abort()
                await asyncio.to_thread(
                    wait_until, lambda: bool(server.disconnects), "the OpenAI stream closed"
                )
                other.transport.abort()
                return server.disconnects[0].at - closed_at

            lag = asyncio.run(scenario())
        assert server.disconnects[0].path == "/v1/chat/completions"
        assert 0 <= lag < DISCONNECT_BOUND, f"{lag * 1000:.1f} ms"


# -- fallback: before content it is invisible, after content it is an error frame ----------------


def text_events(recording: str) -> list[tuple[int, int]]:
    """``(start, end)`` byte offsets of each event with text in an OpenAI Chat Completions
    recording (the events before the first carry the role and metadata only)."""
    spans, offset = [], 0
    for event in events(recording):
        payload = event.decode().removeprefix("data: ").strip()
        if payload != "[DONE]":
            choices = json.loads(payload)["choices"]
            if choices and choices[0]["delta"].get("content"):
                spans.append((offset, offset + len(event)))
        offset += len(event)
    return spans


#: how the first candidate fails before any content: the alias, its reply (None: no route)
BEFORE_CONTENT: dict[str, tuple[str, Reply | None]] = {
    "429": (
        "pair",
        Reply.error(
            429,
            {"error": {"message": "Rate limit reached", "type": "requests", "code": None}},
            {"retry-after": "7"},
        ),
    ),
    "500": ("pair", Reply.error(500, {"error": {"message": "oops", "type": "server_error"}})),
    "503": ("pair", Reply.error(503, {"error": {"message": "busy", "type": "server_error"}})),
    "refused": ("refused-pair", None),
    "stall before any byte": ("slow-pair", Reply.wire(PRIMARY, stall_after=0)),
    "stall after the role": (
        "slow-pair",
        Reply.wire(PRIMARY, stall_after=text_events(PRIMARY)[0][0]),
    ),
}
#: the first candidate of each alias
FIRST = {
    "pair": "primary:gpt-4o-mini",
    "refused-pair": "refused:gpt-4o-mini",
    "slow-pair": "slow:gpt-4o-mini",
}
#: where each first candidate is served on the loopback
ROUTE = {"pair": "/a/", "slow-pair": "/s/"}


def stream_chat(gateway: ServeProcess, model: str) -> tuple[httpx.Response, list[str]]:
    """One streamed chat request: the response (its headers) and its SSE payloads."""
    with httpx.stream(
        "POST",
        gateway.base_url + "/chat/completions",
        json=chat_body(model, stream_options={"include_usage": True}),
        timeout=30,
    ) as response:
        body = response.read()
    return response, sse_payloads(body) if response.status_code == 200 else [body.decode()]


def receipts_of(gateway: ServeProcess, alias: str, count: int = 0) -> list[dict[str, Any]]:
    """The receipts of ``alias`` once there are ``count``, read again a moment later (the
    gateway flushes receipts in the background: one written late would show)."""

    def rows() -> list[dict[str, Any]]:
        return [row for row in receipts(gateway.receipts) if row["alias"] == alias]

    wait_until(lambda: len(rows()) >= count, f"{count} receipt(s) for {alias}")
    time.sleep(0.3)
    return rows()


@pytest.mark.parametrize("fault", sorted(BEFORE_CONTENT))
def test_fallback_before_content_is_invisible(
    fault: str, upstreams: Upstreams, upstream: LoopbackServer
) -> None:
    alias, failing = BEFORE_CONTENT[fault]
    upstream.routes = {"/b/": Reply.wire(BACKUP)}
    if failing is not None:
        upstream.routes[ROUTE[alias]] = failing
    before = len(receipts_of(upstreams.gateway, alias))
    response, payloads = stream_chat(upstreams.gateway, alias)

    assert response.status_code == 200, payloads
    assert response.headers["x-llmring-model"] == f"backup:{BACKUP_MODEL}"
    assert payloads[-1] == "[DONE]"
    assert streamed_text(payloads) == BACKUP_TEXT  # the second candidate's answer, whole
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert {c["model"] for c in chunks} == {BACKUP_MODEL}
    assert chunks[-1]["usage"]["total_tokens"] == 87
    assert all("error" not in c for c in chunks)
    paths = [r.path.split("/")[1] for r in upstream.requests]
    assert paths == (["b"] if failing is None else [paths[0], "b"])
    if fault.startswith("stall"):  # the stalled stream was closed, not left open
        wait_until(lambda: bool(upstream.disconnects), "the stalled provider saw the gateway go")
        assert upstream.disconnects[0].path.startswith("/s/")

    rows = receipts_of(upstreams.gateway, alias, before + 1)
    assert len(rows) == before + 1
    row = rows[-1]
    assert (row["status"], row["provider"], row["model"]) == ("ok", "backup", BACKUP_MODEL)
    (attempt,) = json.loads(row["attempts"])
    assert attempt["model"] == FIRST[alias]


@pytest.mark.parametrize("fault", ["cut", "stall"])
def test_a_failure_after_content_is_an_error_frame_never_a_splice(
    fault: str, upstreams: Upstreams, upstream: LoopbackServer
) -> None:
    delivered = text_events(PRIMARY)[1][1]  # two text events reach the client
    if fault == "cut":
        alias, prefix, reply = "pair", "/a/", Reply.wire(PRIMARY, cut_after=delivered)
    else:  # the provider stops sending for longer than the idle deadline
        alias, prefix, reply = "slow-pair", "/s/", Reply.wire(PRIMARY, stall_after=delivered)
    upstream.routes = {prefix: reply, "/b/": Reply.wire(BACKUP)}
    before = len(receipts_of(upstreams.gateway, alias))
    response, payloads = stream_chat(upstreams.gateway, alias)

    assert response.status_code == 200
    assert response.headers["x-llmring-model"].startswith("primary:" if fault == "cut" else "slow:")
    *frames, last = payloads
    assert "[DONE]" not in payloads
    error = json.loads(last)
    assert set(error) == {"error"} and error["error"]["message"]
    text = streamed_text(frames)
    assert text and PRIMARY_TEXT.startswith(text) and text != PRIMARY_TEXT
    assert all(json.loads(f)["model"] == "o3-mini-2025-01-31" for f in frames)
    assert not any(r.path.startswith("/b/") for r in upstream.requests)  # never asked

    rows = receipts_of(upstreams.gateway, alias, before + 1)
    assert len(rows) == before + 1
    expected = "interrupted" if fault == "cut" else "deadline"
    assert rows[-1]["status"] == expected


# -- reload under load -----------------------------------------------------------------------------

STREAMS = 20
#: seconds between the events of a slow stream: a stream of the backup recording (12 events)
#: cannot end sooner than 11 of these after it began, whatever the machine's load
SLOW_GAP = 0.3


def two_targets(loopback: ThreadedLoopback, target: str) -> str:
    """A lockfile with the providers ``first`` (/a/) and ``second`` (/b/), ``chat`` bound to
    ``target``."""
    base = loopback.server.base_url
    tables = "".join(
        f'[providers.{name}]\ntype = "openai"\nbase_url = "{base}{prefix}v1"\n'
        'api_key_env = "OPENAI_API_KEY"\n\n'
        for name, prefix in (("first", "/a/"), ("second", "/b/"))
    )
    return lockfile_text({}, {"chat": [f"{target}:gpt-4o-mini"]}, tables=tables)


def replace_file(path: Path, text: str) -> None:
    """Write ``path`` as an editor or a deploy does: a new file renamed over the old one."""
    fresh = path.with_suffix(".new")
    fresh.write_text(text, encoding="utf-8")
    os.replace(fresh, path)


def readyz(gateway: ServeProcess) -> dict[str, Any]:
    answer = httpx.get(gateway.url + "/readyz", timeout=10)
    assert answer.status_code == 200
    lockfile: dict[str, Any] = answer.json()["lockfile"]
    return lockfile


def slow_reply(recording: str) -> Reply:
    """``recording`` event by event, ``SLOW_GAP`` apart."""
    body = (WIRE / recording).read_bytes()
    ends = list(itertools.accumulate(len(e) for e in events(recording)))
    return Reply(
        body=body, splits=ends, delay=SLOW_GAP, headers={"content-type": "text/event-stream"}
    )


@dataclass
class Flight:
    """One streamed request read by a raw client: when its first text came, all it received."""

    started: asyncio.Event
    raw: bytes = b""

    async def run(self, gateway: ServeProcess, model: str) -> None:
        reader, writer = await open_chat(gateway.url, chat_body(model))
        try:
            while data := await reader.read(65536):
                self.raw += data
                if b'{"content":' in self.raw:
                    self.started.set()
        finally:
            writer.close()
            self.started.set()  # a request that failed must not leave the test waiting

    def outcome(self) -> tuple[str, str, list[str]]:
        """Status line, ``x-llmring-model``, the SSE payloads."""
        status, headers, body = dechunk(self.raw)
        return status, headers.get("x-llmring-model", ""), sse_payloads(body)


def test_reload_under_20_streams(tmp_path: Path) -> None:
    with ThreadedLoopback() as loopback:
        loopback.server.routes = {"/a/": slow_reply(BACKUP), "/b/": Reply.wire(PRIMARY)}
        lockfile = tmp_path / "llmring.lock"
        lockfile.write_text(two_targets(loopback, "first"), encoding="utf-8")
        env = gateway_env(["openai"], tmp_path)
        with ServeProcess(lockfile, "--no-auth", "--watch", "0", env=env) as gateway:
            old = readyz(gateway)["digest"]

            async def scenario() -> tuple[list[Flight], str]:
                flights = [Flight(asyncio.Event()) for _ in range(STREAMS)]
                tasks = [asyncio.create_task(f.run(gateway, "chat")) for f in flights]
                for flight in flights:  # every stream is under way on the old lockfile
                    await asyncio.wait_for(flight.started.wait(), 30)
                replace_file(lockfile, two_targets(loopback, "second"))
                gateway.signal(signal.SIGHUP)
                digest = old
                while digest == old:
                    digest = (await asyncio.to_thread(readyz, gateway))["digest"]
                    await asyncio.sleep(0.02)
                # the swap is done while all 20 are still streaming
                assert not any(task.done() for task in tasks)
                await asyncio.wait_for(asyncio.gather(*tasks), 60)
                return flights, digest

            flights, new = asyncio.run(scenario())
            for flight in flights:  # each finished on the lockfile it started with, in full
                status, model, payloads = flight.outcome()
                assert status == "HTTP/1.1 200 OK"
                assert model == f"first:{BACKUP_MODEL}"
                assert payloads[-1] == "[DONE]"
                assert streamed_text(payloads) == BACKUP_TEXT
            # a new request goes where the new lockfile says
            response, payloads = stream_chat(gateway, "chat")
            assert response.headers["x-llmring-model"] == "second:o3-mini-2025-01-31"
            assert streamed_text(payloads) == PRIMARY_TEXT
            assert readyz(gateway)["reloads"] == 1

            rows = receipts_of(gateway, "chat", STREAMS + 1)
            assert len(rows) == STREAMS + 1 and {r["status"] for r in rows} == {"ok"}
            digests = Counter((r["provider"], r["lockfile_digest"]) for r in rows)
            assert digests == {("first", old): STREAMS, ("second", new): 1}
            assert "lockfile reloaded (SIGHUP)" in gateway.log


def test_an_invalid_lockfile_is_not_served(tmp_path: Path) -> None:
    with ThreadedLoopback() as loopback:
        loopback.server.routes = {"/a/": Reply.wire(BACKUP), "/b/": Reply.wire(PRIMARY)}
        lockfile = tmp_path / "llmring.lock"
        lockfile.write_text(two_targets(loopback, "first"), encoding="utf-8")
        env = gateway_env(["openai"], tmp_path)
        with ServeProcess(lockfile, "--no-auth", "--watch", "0.1", env=env) as gateway:
            served = readyz(gateway)
            # an alias bound to a provider the file does not define: refused, old one kept
            broken = two_targets(loopback, "first").replace('"first:gpt', '"nowhere:gpt')
            replace_file(lockfile, broken)
            gateway.signal(signal.SIGHUP)
            wait_until(lambda: "was not reloaded" in gateway.log, "the refusal in the log")
            state = readyz(gateway)
            assert state["digest"] == served["digest"] and state["reloads"] == 0
            assert "nowhere" in state["last_reload_error"]
            refusal = next(line for line in gateway.log.splitlines() if "not reloaded" in line)
            assert "nowhere" in refusal and served["digest"] in refusal
            response, payloads = stream_chat(gateway, "chat")  # still served as before
            assert response.headers["x-llmring-model"] == f"first:{BACKUP_MODEL}"
            assert streamed_text(payloads) == BACKUP_TEXT
            # then a valid file: the watcher swaps it in without a signal
            replace_file(lockfile, two_targets(loopback, "second"))
            wait_until(lambda: readyz(gateway)["digest"] != served["digest"], "the new digest")
            state = readyz(gateway)
            assert state["reloads"] == 1 and state["last_reload_error"] is None
            response, payloads = stream_chat(gateway, "chat")
            assert streamed_text(payloads) == PRIMARY_TEXT


# -- graceful shutdown -----------------------------------------------------------------------------


def refused(gateway: ServeProcess) -> bool:
    try:
        socket.create_connection(("127.0.0.1", gateway.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_lets_streams_finish(tmp_path: Path) -> None:
    with ThreadedLoopback() as loopback:
        loopback.server.routes = {"/a/": slow_reply(BACKUP)}
        lockfile = tmp_path / "llmring.lock"
        lockfile.write_text(two_targets(loopback, "first"), encoding="utf-8")
        env = gateway_env(["openai"], tmp_path)
        with ServeProcess(lockfile, "--no-auth", env=env) as gateway:

            async def scenario() -> list[Flight]:
                flights = [Flight(asyncio.Event()) for _ in range(5)]
                tasks = [asyncio.create_task(f.run(gateway, "chat")) for f in flights]
                for flight in flights:
                    await asyncio.wait_for(flight.started.wait(), 30)
                gateway.signal(signal.SIGTERM)
                while not await asyncio.to_thread(refused, gateway):
                    await asyncio.sleep(0.02)
                # no new connection while the five are still streaming
                assert not any(task.done() for task in tasks)
                await asyncio.wait_for(asyncio.gather(*tasks), 60)
                return flights

            flights = asyncio.run(scenario())
            assert gateway.process is not None
            assert gateway.process.wait(30) == 0
        for flight in flights:
            status, model, payloads = flight.outcome()
            assert status == "HTTP/1.1 200 OK" and model == f"first:{BACKUP_MODEL}"
            assert payloads[-1] == "[DONE]"
            assert streamed_text(payloads) == BACKUP_TEXT
        rows = receipts(gateway.receipts)  # the process has exited: all are stored
        assert [r["status"] for r in rows] == ["ok"] * 5
        assert "Waiting for connections to close" in gateway.log
