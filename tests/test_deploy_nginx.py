"""docs/deploy.md on one machine: the shipped nginx site (deploy/nginx/llmring.conf) run by a
real nginx in front of two real ``llmring serve`` gateways sharing one receipt store, with a
loopback provider (tests/loopback.py) in a thread of this process.

Each gateway calls the provider with a provider key of its own, so the provider's record of
requests tells which gateway sent each one. The stream tests pace the provider by hand
(:class:`~tests.loopback.Gate`): a piece is sent only after the client has read the one before,
so a proxy that held frames back would stall the test instead of slowing it down.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.loopback import WIRE, Gate, LoopbackServer, Reply
from tests.nginx import SITE, Deployment, provider_key, two_hosts
from tests.postgres import migrated
from tests.serve_process import ThreadedLoopback, receipts, stored_receipts, wait_until
from tests.wire_harness import lockfile_text

RECORDING = "openai/chat-gpt-4o-mini-text-usage.sse"
#: the recording's events; the content of events 1 to 8 is the reply, one word each
EVENTS = [event + b"\n\n" for event in (WIRE / RECORDING).read_bytes().split(b"\n\n") if event]
WORDS = ["The", " capital", " of", " the", " UK", " is", " London", "."]
#: piece 0 is the role and the first word, pieces 1 to 7 one word each, piece 8 the rest
SPLITS = [sum(len(event) for event in EVENTS[: end + 1]) for end in range(1, len(WORDS) + 1)]
HELLO = [{"role": "user", "content": "hello"}]
#: a frame that does not come within this many seconds is held back somewhere
FRAME_WAIT = 10.0
#: seconds the test holds each next piece back after the client read the last one
GAP = 0.05


def chat(model: str = "chatbot", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": HELLO, "stream": True, **extra}


@dataclass
class Site:
    deployment: Deployment
    loopback: ThreadedLoopback
    store: Path

    @property
    def upstream(self) -> LoopbackServer:
        return self.loopback.server

    def gateway_of(self, request_number: int) -> int:
        """Which gateway sent the provider its ``request_number``-th request."""
        header = self.upstream.requests[request_number].headers["authorization"]
        return next(n for n in range(2) if header == f"Bearer {provider_key(n)}")

    def receipt(self, request_id: str) -> dict[str, Any]:
        return receipt_in(self.store, request_id)


def receipt_in(store: Path, request_id: str) -> dict[str, Any]:
    """The receipt ``request_id`` in the SQLite ``store``, once a gateway has written it."""

    def found() -> list[dict[str, Any]]:
        return [row for row in receipts(store) if row["id"] == request_id]

    wait_until(lambda: bool(found()), f"the receipt {request_id}")
    [row] = found()
    return row


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("deploy")
    with ThreadedLoopback() as loopback, two_hosts(root, loopback) as deployment:
        yield Site(deployment, loopback, root / "receipts.db")


@pytest.fixture
def upstream(site: Site) -> LoopbackServer:
    server = site.upstream
    server.requests.clear()
    server.disconnects.clear()
    server.completed.clear()
    server.reply = Reply(status=599)  # a test that forgets to set its reply fails loudly
    return server


def read_words(lines: Iterator[str], text: str, until: str) -> str:
    """Read SSE lines until the streamed content is ``until``; the content so far."""
    while text != until:
        line = next(lines)
        if line.startswith("data: {"):
            choices = json.loads(line.removeprefix("data: "))["choices"]
            text += "".join(choice["delta"].get("content") or "" for choice in choices)
        assert until.startswith(text), f"read {text!r}, expected {until!r}"
    return text


#: the structure of the site rather than settings: not each explained in docs/deploy.md
STRUCTURE = {"upstream", "server", "listen", "location", "proxy_pass", "default_type", "return"}


def test_every_directive_of_the_site_is_explained_in_the_docs() -> None:
    """docs/deploy.md has a row for each setting of the shipped site, so neither the file nor
    the page can change alone."""
    lines = (line.split("#", 1)[0].strip() for line in SITE.read_text().splitlines())
    directives = {line.split()[0] for line in lines if line and line != "}"}
    page = (SITE.parents[2] / "docs" / "deploy.md").read_text()
    assert {"proxy_buffering", "keepalive", "proxy_next_upstream"} <= directives
    assert sorted(d for d in directives - STRUCTURE if f"`{d}" not in page) == []


# -- streams ----------------------------------------------------------------------------------


def test_a_stream_arrives_frame_by_frame(site: Site, upstream: LoopbackServer) -> None:
    gate = Gate()
    upstream.reply = Reply.wire(RECORDING, splits=SPLITS, gate=gate)
    gate.release()  # the role and the first word: the gateway answers with its first chunk
    arrived: list[float] = []  # when the client had each word
    released: list[float] = []  # when the provider was let send the next piece
    with httpx.stream(
        "POST",
        site.deployment.base_url + "/chat/completions",
        json=chat(),
        headers=site.deployment.headers,
        timeout=FRAME_WAIT,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines, text = response.iter_lines(), ""
        for count in range(1, len(WORDS) + 1):
            try:
                text = read_words(lines, text, "".join(WORDS[:count]))
            except httpx.ReadTimeout:
                pytest.fail(f"word {count} was held back on its way (the provider waits for it)")
            arrived.append(time.monotonic())
            # the provider has not sent the next piece, let alone ended its stream
            assert upstream.completed == []
            time.sleep(GAP)
            released.append(time.monotonic())
            gate.release()
        rest = [line for line in lines if line]
    assert rest[-1] == "data: [DONE]"
    assert upstream.completed == ["/v1/chat/completions"]
    # the provider's pauses reach the client: word k+1 came after the pause that held it
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrived)]
    assert all(arrived[k + 1] > released[k] for k in range(len(WORDS) - 1))
    assert min(gaps) >= GAP


def test_a_client_that_hangs_up_cancels_the_provider_stream(
    site: Site, upstream: LoopbackServer
) -> None:
    gate = Gate()
    upstream.reply = Reply.wire(RECORDING, splits=SPLITS, gate=gate)
    gate.release()  # then nothing more: the provider keeps the stream open, waiting
    with (
        httpx.Client(timeout=FRAME_WAIT) as client,
        client.stream(
            "POST",
            site.deployment.base_url + "/chat/completions",
            json=chat(),
            headers=site.deployment.headers,
        ) as response,
    ):
        assert read_words(response.iter_lines(), "", WORDS[0]) == WORDS[0]
        request_id = response.headers["x-llmring-request-id"]
    # the client hung up through nginx; nginx closed its connection to the gateway, which
    # closed the provider's stream
    wait_until(lambda: bool(upstream.disconnects), "the provider saw its client go")
    assert upstream.completed == []
    assert upstream.disconnects[0].bytes_sent == SPLITS[0]
    receipt = site.receipt(request_id)
    assert (receipt["status"], receipt["alias"]) == ("cancelled", "chatbot")


def test_a_client_that_hangs_up_mid_body_leaves_a_cancelled_receipt(
    site: Site, upstream: LoopbackServer
) -> None:
    def cancelled() -> int:
        return sum(row["status"] == "cancelled" for row in receipts(site.store))

    def reading_a_body() -> bool:
        """Whether a gateway holds a stream slot: it has the request and reads its body."""
        gateways = site.deployment.gateways
        ready = [httpx.get(gateway.url + "/readyz", timeout=10).json() for gateway in gateways]
        return any(r["streams"]["active"] for r in ready)

    before = cancelled()
    body = json.dumps(chat()).encode()
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: llmring\r\n"
        b"authorization: Bearer %s\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % (site.deployment.key.encode(), len(body) + 100)
    )
    with socket.create_connection(("127.0.0.1", site.deployment.nginx_port)) as sock:
        sock.sendall(head + body)
        # nginx passes the body on as it comes (proxy_request_buffering off): a gateway reads
        # it while its last 100 bytes are still missing
        wait_until(reading_a_body, "a gateway reading the body")
    # and that gateway saw the client go
    wait_until(lambda: cancelled() == before + 1, "a cancelled receipt")
    assert upstream.requests == []


def established(port: int) -> int:
    """TCP connections to the loopback ``port`` now established (from /proc/net/tcp)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for row in rows if row.split()[2].endswith(f":{port:04X}") and row.split()[3] == "01"
    )


def test_nginx_keeps_its_connections_to_the_gateways(site: Site) -> None:
    for _ in range(6):
        assert httpx.get(site.deployment.url + "/healthz", timeout=10).status_code == 200
    # each request went out on a kept connection, which stays open, idle, for the next one
    # (nginx closes it after the upstream's keepalive_timeout, 4 s)
    for gateway in site.deployment.gateways:
        assert established(gateway.port) >= 1


# -- both gateways, health, keys, limits -----------------------------------------------------------


def test_both_gateways_answer(site: Site, upstream: LoopbackServer) -> None:
    pids = {gateway.process.pid for gateway in site.deployment.gateways if gateway.process}
    ready = [httpx.get(site.deployment.url + "/readyz", timeout=10) for _ in range(4)]
    assert {r.json()["worker"]["pid"] for r in ready} == pids
    assert {r.json()["status"] for r in ready} == {"ready"}
    # one lockfile rolled out to both: the digests agree
    assert len({r.json()["lockfile"]["digest"] for r in ready}) == 1

    upstream.reply = Reply.wire(RECORDING)
    for _ in range(4):
        answer = httpx.post(
            site.deployment.base_url + "/chat/completions",
            json=chat(),
            headers=site.deployment.headers,
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-llmring-model"] == "openai:gpt-4o-mini-2024-07-18"
        assert answer.text.endswith("data: [DONE]\n\n")
    assert {site.gateway_of(n) for n in range(4)} == {0, 1}


def test_health_checks_through_nginx(site: Site) -> None:
    health = httpx.get(site.deployment.url + "/healthz", timeout=10)
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = httpx.get(site.deployment.url + "/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["store"]["ok"] is True


def test_the_key_header_passes_through(site: Site, upstream: LoopbackServer) -> None:
    url = site.deployment.base_url + "/models"
    missing = httpx.get(url, timeout=10)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "missing_api_key"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.get(url, headers={"Authorization": "Bearer llmr-" + "x" * 43}, timeout=10)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_api_key")
    models = httpx.get(url, headers=site.deployment.headers, timeout=10)
    assert models.status_code == 200
    assert [model["id"] for model in models.json()["data"]] == ["chatbot"]
    assert upstream.requests == []  # nothing reached the provider


def padded(size: int) -> bytes:
    """A chat request body of exactly ``size`` bytes."""
    empty = json.dumps(chat(messages=[{"role": "user", "content": ""}])).encode()
    return json.dumps(
        chat(messages=[{"role": "user", "content": "x" * (size - len(empty))}])
    ).encode()


def test_a_body_over_the_gateways_cap_is_a_413_with_a_receipt(
    site: Site, upstream: LoopbackServer
) -> None:
    too_large = httpx.post(
        site.deployment.base_url + "/chat/completions",
        content=padded(4 * 1024 * 1024 + 1),  # the gateways' default --max-body, and 1
        headers={**site.deployment.headers, "content-type": "application/json"},
        timeout=30,
    )
    assert too_large.status_code == 413
    assert too_large.json()["error"]["code"] == "request_too_large"
    receipt = site.receipt(too_large.headers["x-llmring-request-id"])
    assert receipt["status"] == "rejected"
    assert upstream.requests == []


def test_a_body_over_nginx_s_cap_is_a_413_from_nginx(site: Site, upstream: LoopbackServer) -> None:
    too_large = httpx.post(
        site.deployment.base_url + "/chat/completions",
        content=padded(8 * 1024 * 1024 + 1),  # the site's client_max_body_size, and 1
        headers={**site.deployment.headers, "content-type": "application/json"},
        timeout=30,
    )
    assert too_large.status_code == 413
    assert "x-llmring-request-id" not in too_large.headers  # no gateway saw it
    error = too_large.json()["error"]  # in OpenAI's shape all the same
    assert (error["type"], error["code"]) == ("invalid_request_error", "request_too_large")
    assert upstream.requests == []


# -- a gateway dies -------------------------------------------------------------------------------


@dataclass
class Outcome:
    started: float
    error: str | None
    #: the gateway's ``x-llmring-request-id`` (``None``: no gateway answered)
    request_id: str | None = None
    ended: float = 0.0


def stream_one(deployment: Deployment) -> Outcome:
    """One streamed request through nginx, read to its end: ``error`` says what went wrong."""
    started = time.monotonic()
    request_id = None
    try:
        with httpx.stream(
            "POST",
            deployment.base_url + "/chat/completions",
            json=chat(),
            headers=deployment.headers,
            timeout=30,
        ) as response:
            request_id = response.headers.get("x-llmring-request-id")
            if response.status_code != 200:
                error = f"status {response.status_code}: {response.read()!r}"
                return Outcome(started, error, request_id, time.monotonic())
            body = response.read().decode()
    except httpx.HTTPError as exc:
        return Outcome(started, f"{type(exc).__name__}: {exc}", request_id, time.monotonic())
    ended = time.monotonic()
    if not body.endswith("data: [DONE]\n\n") or "".join(WORDS) not in "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in body.split("\n\n")
        if line.startswith("data: {") and '"choices":[{' in line
    ):
        return Outcome(started, f"an incomplete stream: {body[-120:]!r}", request_id, ended)
    return Outcome(started, None, request_id, ended)


@dataclass
class Load:
    """What 4 clients streaming through nginx saw, around the moment ``at`` something was done
    to a gateway."""

    outcomes: list[Outcome]
    at: float

    @property
    def after(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.started > self.at]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is not None]

    def report(self, what: str) -> str:
        return (
            f"{what}: {len(self.outcomes)} requests, {len(self.after)} after it, "
            f"{len(self.failed)} failed: {[o.error for o in self.failed]}"
        )


def under_load(
    deployment: Deployment, loopback: ThreadedLoopback, act: Callable[[], object]
) -> Load:
    """Run 4 streaming clients through nginx; once both gateways are busy, ``act``; go on
    until 40 more requests have started, then stop."""
    # each stream takes a while (9 pieces, 20 ms apart), so some are running when ``act`` runs
    loopback.server.reply = Reply.wire(RECORDING, splits=SPLITS, delay=0.02)
    outcomes: list[Outcome] = []
    acted_at: list[float] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            outcomes.append(stream_one(deployment))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        requests = loopback.server.requests
        wait_until(lambda: len(requests) >= 12, "load on both gateways", timeout=60)
        act()
        acted_at.append(time.monotonic())
        wait_until(
            lambda: sum(o.started > acted_at[0] for o in outcomes) >= 40,
            "40 requests after it",
            timeout=120,
        )
    finally:
        stop.set()
        for thread in clients:
            thread.join(60)
    return Load(outcomes, acted_at[0])


#: seconds before a SIGKILL in which a finished request's receipt may still be queued: the
#: writer's batch window (0.1 s) with room for a loaded machine
BATCH_WINDOW = 1.0


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_when_a_gateway_dies_the_other_serves(
    store: str, tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    url = migrated(request.getfixturevalue("pg_url")).url if store == "postgresql" else None
    with ThreadedLoopback() as loopback, two_hosts(tmp_path, loopback, url) as deployment:
        victim = deployment.gateways[1].process
        assert victim is not None

        def kill() -> None:
            victim.kill()  # SIGKILL: no grace, no flush
            victim.wait()

        load = under_load(deployment, loopback, kill)
        with capsys.disabled():
            print("\n" + load.report(f"SIGKILL of one gateway ({store})"))
        # every request sent after the kill was answered by the gateway left, in full
        assert [o.error for o in load.after if o.error is not None] == []
        # a stream running on the victim when it died cannot be retried (nginx must not ask
        # the provider twice): only those may fail, at most one per client
        assert len(load.failed) <= 4

        # with no gateway left, nginx answers by itself, in OpenAI's error shape
        deployment.gateways[0].stop()  # graceful: every receipt it had is stored
        stored = {row["id"] for row in stored_receipts(deployment.store_url)}
        asked = len(loopback.server.requests)
        lost = [o for o in load.outcomes if o.request_id not in stored]
        with capsys.disabled():
            print(
                f"receipts ({store}): {asked} requests reached the provider, "
                f"{len(stored)} receipts stored, {len(lost)} of the clients' "
                f"{len(load.outcomes)} requests have none"
            )
        # what the killed gateway took with it: the requests it was serving (they failed) and
        # those that ended within one batch window of the kill; every other has its receipt
        assert all(o.error is not None or o.ended > load.at - BATCH_WINDOW for o in lost), lost
        assert all(o.started < load.at for o in lost), lost
        gone = httpx.post(
            deployment.base_url + "/chat/completions",
            json=chat(),
            headers=deployment.headers,
            timeout=30,
        )
        assert gone.status_code == 502
        assert gone.json()["error"]["code"] == "gateway_unavailable"


def test_a_gateway_stopped_with_sigterm_drains(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ThreadedLoopback() as loopback, two_hosts(tmp_path, loopback) as deployment:
        leaving = deployment.gateways[1]
        load = under_load(deployment, loopback, lambda: leaving.stop())
        with capsys.disabled():
            print("\n" + load.report("SIGTERM of one gateway"))
        assert leaving.process is not None and leaving.process.returncode == 0
        # its streams finished, and new requests went to the other gateway
        assert [o.error for o in load.failed] == []


# -- rolling out a lockfile --------------------------------------------------------------------


def digests(deployment: Deployment) -> dict[int, str]:
    """Each gateway's lockfile digest, asked through nginx: ``{pid: digest}``."""
    seen: dict[int, str] = {}
    for _ in range(10):
        ready = httpx.get(deployment.url + "/readyz", timeout=10).json()
        seen[ready["worker"]["pid"]] = ready["lockfile"]["digest"]
        if len(seen) == len(deployment.gateways):
            break
    return seen


def test_a_lockfile_rolled_out_to_every_host(tmp_path: Path) -> None:
    with ThreadedLoopback() as loopback, two_hosts(tmp_path, loopback) as deployment:
        before = digests(deployment)
        [old] = set(before.values())
        gate = Gate()
        loopback.server.reply = Reply.wire(RECORDING, splits=SPLITS, gate=gate)
        gate.release()
        with httpx.stream(
            "POST",
            deployment.base_url + "/chat/completions",
            json=chat(),
            headers=deployment.headers,
            timeout=FRAME_WAIT,
        ) as running:
            lines = running.iter_lines()
            read_words(lines, "", WORDS[0])
            # the rollout: a new file renamed over the old one (one file for both hosts here)
            fresh = deployment.lockfile.with_suffix(".new")
            fresh.write_text(
                lockfile_text({"openai": loopback.url("openai")}, {"chatbot": ["openai:gpt-4o"]})
            )
            os.replace(fresh, deployment.lockfile)
            wait_until(
                lambda: old not in digests(deployment).values(), "every gateway on the new file"
            )
            after = digests(deployment)
            assert after.keys() == before.keys() and len(set(after.values())) == 1
            gate.release(len(WORDS))
            rest = [line for line in lines if line]
        # the stream that was running finished, on the lockfile it started with
        assert rest[-1] == "data: [DONE]"
        receipt = receipt_in(tmp_path / "receipts.db", running.headers["x-llmring-request-id"])
        assert (receipt["status"], receipt["lockfile_digest"]) == ("ok", old)
        # new requests, on either gateway, use the new one
        loopback.server.reply = Reply.wire(RECORDING)
        for _ in range(2):
            answer = httpx.post(
                deployment.base_url + "/chat/completions",
                json=chat(),
                headers=deployment.headers,
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
        latest = loopback.server.requests[-2:]
        assert [r.json()["model"] for r in latest] == ["gpt-4o"] * 2
        assert {r.headers["authorization"] for r in latest} == {
            f"Bearer {provider_key(n)}" for n in range(2)
        }
