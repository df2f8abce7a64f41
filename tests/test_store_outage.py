"""What a gateway does when its PostgreSQL store goes away and comes back (docs/receipts.md,
"When the store goes away").

A PostgreSQL cluster of this module's own (tests/postgres.py) is halted and resumed under two
real ``llmring serve`` gateways behind nginx (tests/nginx.py) with a loopback provider:
streams go on, keys are checked from each gateway's copy, a key with a budget is refused with
503 ``limits_unavailable`` (fail closed) while one with a rate limit only is served (fail
open), and once the server is back every request made has exactly one receipt in the
database, the rejected ones included (receipts spilled meanwhile are replayed by the gateways
themselves).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from llmring._receipts._admission import Ask, Grant, KeyLimits, key_limits
from llmring._receipts._postgres import PostgresStore
from llmring._receipts._postgres_admission import PostgresAdmission
from llmring._receipts._receipt import uuid7
from llmring._receipts._sqlite import SQLiteStore
from llmring._receipts._store import ReceiptFilter, StoreError
from tests.loopback import Reply
from tests.nginx import provider_key, two_hosts
from tests.postgres import PostgresServer, fresh_database, migrated, started_server
from tests.serve_process import ThreadedLoopback, wait_until
from tests.test_receipts import a_row
from tests.test_serve_keys import keys_cli, store_cli
from tests.test_serve_limits import asgi_chat
from tests.wire_harness import lockfile_text


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A cluster only this module uses: halting it disturbs no other test."""
    with started_server() as server:
        yield server


@pytest.fixture
def own_url(own_server: PostgresServer) -> Iterator[str]:
    with fresh_database(own_server) as url:
        yield url


# -- the connections: a restart, and a server that is down ---------------------------------------


def test_a_restart_between_two_uses_fails_neither(own_server: PostgresServer, own_url: str) -> None:
    store = PostgresStore(migrated(own_url))
    admission = PostgresAdmission(store.store)
    assert store.write([a_row(1)]) == 1
    assert isinstance(admission.admit(Ask("key_r", KeyLimits(rpm=10))), Grant)
    own_server.halt()
    own_server.resume()
    # the pooled connections were ended by the restart: none is used, none fails
    assert store.write([a_row(2)]) == 1
    assert isinstance(admission.admit(Ask("key_r", KeyLimits(rpm=10))), Grant)
    assert len(store.query(ReceiptFilter())) == 2
    store.close()


def test_while_the_server_is_down_every_use_fails_at_once_until_it_is_back(
    own_server: PostgresServer, own_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresStore(migrated(own_url))
    admission = PostgresAdmission(store.store)
    assert store.write([a_row(1)]) == 1
    own_server.halt()
    try:
        with pytest.raises(StoreError, match="cannot be reached"):
            store.write([a_row(2)])  # the connection the restart ended, then a try
        # down: no use waits for the pool's timeout; each says so and since when
        for _ in range(20):
            with pytest.raises(StoreError, match="not reachable since"):
                store.write([a_row(3)])
            with pytest.raises(StoreError, match="not reachable since .*every 1 s"):
                admission.admit(Ask("key_d", KeyLimits(rpm=10)))
        assert caplog.text.count("cannot reach the receipt store") == 1
        assert "@127.0.0.1" in caplog.text and "connection refused" in caplog.text.lower()
    finally:
        own_server.resume()

    def back() -> bool:
        try:
            return store.write([a_row(4)]) == 1
        except StoreError:  # until the next try (every second) finds it
            return False

    wait_until(back, "the store used again", timeout=10)
    assert "reaches the receipt store" in caplog.text
    assert isinstance(admission.admit(Ask("key_d", KeyLimits(rpm=10))), Grant)
    store.close()


def stored_ids(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url) as db:
        return [row[0] for row in db.execute("SELECT id FROM receipts")]


@dataclass
class Answer:
    key: str
    status: int
    code: str | None
    request_id: str
    complete: bool  # a 200 stream that ended with [DONE]


def ask(base_url: str, key: str, kind: str) -> Answer:
    body = {"model": "chatbot", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {key}"}
    with httpx.stream(
        "POST", base_url + "/chat/completions", json=body, headers=headers, timeout=30
    ) as reply:
        text = reply.read().decode()
    code = None
    if reply.status_code != 200:
        code = reply.json()["error"]["code"]
    return Answer(
        kind,
        reply.status_code,
        code,
        reply.headers["x-llmring-request-id"],
        reply.status_code == 200 and text.rstrip().endswith("data: [DONE]"),
    )


def test_a_store_restart_under_load_fails_no_request_and_loses_no_receipt(
    own_server: PostgresServer, own_url: str, tmp_path: Path
) -> None:
    assert store_cli("migrate", "--receipts", own_url).returncode == 0
    keys = {}
    for name, limits in (
        ("free", ()),
        ("rated", ("--rpm", "100000")),
        ("capped", ("--budget", "1000/day", "--allow-unpriced")),
    ):
        created = keys_cli(own_url, "create", name, *limits)
        assert created.returncode == 0, created.stderr
        keys[name] = created.stdout.strip()
    keys["wrong"] = "llmr-" + "x" * 43
    with ThreadedLoopback() as upstream:
        # each stream takes about 0.3 s: some are running when the server goes away
        upstream.server.reply = Reply.wire(
            "openai/chat-gpt-4o-mini-text-usage.sse", splits=(40, 200, 400), delay=0.1
        )
        answers: list[Answer] = []
        stop = threading.Event()
        lock = threading.Lock()
        halted = False

        # two hosts behind nginx, as docs/deploy.md runs them
        with two_hosts(tmp_path, upstream, own_url) as deployment:

            def logs() -> str:
                return "".join(gateway.log for gateway in deployment.gateways)

            def load(kind: str) -> None:
                while not stop.is_set():
                    answer = ask(deployment.base_url, keys[kind], kind)
                    with lock:
                        answers.append(answer)
                    time.sleep(0.05)

            workers = [
                threading.Thread(target=load, args=(kind,))
                for kind in ("free", "free", "free", "rated", "capped", "wrong")
            ]
            for worker in workers:
                worker.start()
            try:
                wait_until(lambda: len(answers) >= 12, "requests before the restart")
                own_server.halt()
                halted = True
                down_from = len(answers)
                wait_until(
                    lambda: any(a.code == "limits_unavailable" for a in answers[down_from:]),
                    "a budget refused while the store is down",
                )
                time.sleep(1.0)
                own_server.resume()
                halted = False
                back_from = len(answers)
                wait_until(
                    lambda: any(a.key == "capped" and a.status == 200 for a in answers[back_from:]),
                    "the budget key served again once the store is back",
                    timeout=15,
                )
            finally:
                stop.set()
                for worker in workers:
                    worker.join(30)
                if halted:
                    own_server.resume()
            made = {a.request_id for a in answers}
            assert len(made) == len(answers)
            # every request has one receipt: those spilled while the store was down included
            try:
                wait_until(
                    lambda: len(stored_ids(own_url)) >= len(made),
                    f"{len(made)} receipts in the database",
                    timeout=15,
                )
            except AssertionError as exc:
                raise AssertionError(
                    f"{exc} ({len(stored_ids(own_url))} there); the gateways said:\n"
                    + logs()[-4000:]
                ) from None
        log = logs()
        served_by = {r.headers["authorization"] for r in upstream.server.requests}
        assert served_by == {f"Bearer {provider_key(n)}" for n in range(2)}

    by_key = {kind: [a for a in answers if a.key == kind] for kind in keys}
    failed = [a for a in by_key["free"] + by_key["rated"] if not a.complete]
    assert not failed, (failed, log[-3000:])
    capped = by_key["capped"]
    assert {(a.status, a.code) for a in capped} == {(200, None), (503, "limits_unavailable")}
    assert all(a.complete for a in capped if a.status == 200)
    assert capped[-1].status == 200  # served again after the restart
    assert {(a.status, a.code) for a in by_key["wrong"]} <= {
        (401, "invalid_api_key"),
        (503, "key_store_unavailable"),
    }
    ids = stored_ids(own_url)
    assert len(ids) == len(set(ids))  # a replayed receipt is stored once
    assert set(ids) == made
    assert "replayed" in log


# -- admission: settlements the store could not take ---------------------------------------------


class Away:
    """An admission whose store can be taken away: grants while up, and settles recorded."""

    def __init__(self) -> None:
        self.down = False
        self.settled: list[str] = []

    def admit(self, ask: Ask) -> Grant:
        if self.down:
            raise StoreError("the receipt store: checking a key's limits: not reachable")
        return Grant(uuid7(), ask.key_id, time.time(), 0, "2026-12-03", ask.cost_usd or 0.0)

    def settle(self, grant: Grant, tokens: int, cost_usd: float | None) -> None:
        if self.down:
            raise StoreError("the receipt store: settling a request: not reachable")
        self.settled.append(grant.id)

    def close(self) -> None:
        pass


async def test_settlements_made_while_the_store_is_away_are_retried_once_it_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from llmring.serve._admit import Limiter
    from llmring.serve._app import Gateway
    from llmring.serve._settings import ServeSettings

    lockfile = tmp_path / "llmring.lock"
    lockfile.write_text(lockfile_text({}, {"chatbot": ["mock:echo"]}), encoding="utf-8")
    path = tmp_path / "receipts.db"
    store = SQLiteStore(path)
    _, key = store.create_key("budget", key_limits(budget="5/day", allow_unpriced=True))
    store.close()
    app = Gateway(ServeSettings(lockfile=str(lockfile), receipts=f"sqlite:///{path}", watch=0))
    await app.start()
    away = Away()
    try:
        app.limiter = limiter = Limiter(lambda: away)
        original = away.settle

        def settle_then_go_away(grant: Grant, tokens: int, cost_usd: float | None) -> None:
            away.down = True  # the store goes away while the stream runs
            original(grant, tokens, cost_usd)

        away.settle = settle_then_go_away  # type: ignore[method-assign]
        assert await asgi_chat(app, key) == 200
        await limiter.wait_settled()
        assert away.settled == []  # could not be settled: kept
        assert [await asgi_chat(app, key) for _ in range(3)] == [503] * 3  # fail closed
        away.settle = original  # type: ignore[method-assign]
        away.down = False
        assert await asgi_chat(app, key) == 200  # back: the kept settlement goes too
        await limiter.wait_settled()
        assert len(away.settled) == 2 and len(set(away.settled)) == 2
        assert caplog.text.count("cannot check or settle limits") == 1  # once per outage
        assert "checks limits in its store again" in caplog.text
    finally:
        await app.stop()
        gc.unfreeze()  # start() froze this process's objects, as a worker's are
