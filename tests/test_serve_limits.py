"""Per-key rate limits and budgets (docs/serve.md#rate-limits-and-budgets).

* the window arithmetic and the budget bookkeeping on a real SQLite file with a fake clock (no
  wall time): at most N in *any* 60 s window, Retry-After exact, reservations settled once;
* schema version 3 on an existing version-2 file;
* ``llmring keys create``'s options and their errors;
* a real ``llmring serve --workers 2`` (two processes sharing the file) in front of a loopback
  OpenAI-compatible provider that counts the upstream calls: rpm under concurrent load, tpm,
  budgets, unpriced models, the 429/402 answers and their receipts, settling a cancelled
  stream, a changed limit applied within a second;
* in-process: a key without limits never reaches the store, and the fail-open/closed policy.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmring._receipts._admission import (
    Ask,
    Grant,
    KeyLimits,
    Refusal,
    key_limits,
    parse_budget,
    period_of,
)
from llmring._receipts._sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteStore
from llmring._receipts._sqlite_admission import SQLiteAdmission
from tests.helpers import run
from tests.loopback import Reply
from tests.serve_process import (
    ServeProcess,
    ThreadedLoopback,
    gateway_env,
    receipts,
    wait_for_receipts,
    wait_until,
)
from tests.test_serve_keys import columns
from tests.wire_harness import lockfile_text

T0 = 1_796_083_200.0  # 2026-12-01T00:00:00Z


class Clock:
    """Wall-clock seconds the test moves."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def admission(tmp_path: Path, clock: Clock) -> Iterator[SQLiteAdmission]:
    opened = SQLiteAdmission(tmp_path / "r.db", clock=clock)
    yield opened
    opened.close()


# -- the window (fake clock) -------------------------------------------------------------------


def test_rpm_admits_at_most_n_in_any_60_s_window(admission: SQLiteAdmission, clock: Clock) -> None:
    """Random arrivals over 10 minutes: no 60 s window, wherever it starts, holds more than N
    admitted, and each refusal came when the 60 s before it held N (none refused needlessly).
    A token bucket of N refilled at N/min fails the first half (up to 2N in a minute)."""
    limits = KeyLimits(rpm=10)
    rng = random.Random(15)
    arrivals = sorted(rng.uniform(0, 600) for _ in range(400))
    admitted: list[float] = []
    for at in arrivals:
        clock.now = T0 + at
        decided = admission.admit(Ask("key_a", limits))
        window = [t for t in admitted if t > at - 60]
        if isinstance(decided, Grant):
            assert len(window) < 10
            admitted.append(at)
        else:
            assert decided.reason == "rpm" and len(window) == 10
            # Retry-After: when the oldest of the window leaves it
            assert decided.retry_after == pytest.approx(window[0] + 60 - at)
    for start in admitted:  # the windows that start at an admission are the fullest
        assert len([t for t in admitted if start <= t < start + 60]) <= 10
    assert len(admitted) >= 95  # ten minutes of saturation admit about 10 a minute


def test_waiting_retry_after_is_enough_and_not_more(
    admission: SQLiteAdmission, clock: Clock
) -> None:
    limits = KeyLimits(rpm=2)
    for step in (0.0, 10.0):
        clock.now = T0 + step
        assert isinstance(admission.admit(Ask("key_a", limits)), Grant)
    clock.now = T0 + 30
    refused = admission.admit(Ask("key_a", limits))
    assert isinstance(refused, Refusal) and refused.retry_after == pytest.approx(30.0)
    clock.now = T0 + 59.999
    assert isinstance(admission.admit(Ask("key_a", limits)), Refusal)
    clock.now = T0 + 60.0  # the first left the window
    assert isinstance(admission.admit(Ask("key_a", limits)), Grant)
    assert isinstance(admission.admit(Ask("key_b", limits)), Grant)  # keys count apart


def test_tpm_reserves_then_settles_to_the_real_usage(
    admission: SQLiteAdmission, clock: Clock
) -> None:
    limits = KeyLimits(tpm=1000)
    first = admission.admit(Ask("key_a", limits, tokens=600))
    assert isinstance(first, Grant)
    clock.now += 5
    refused = admission.admit(Ask("key_a", limits, tokens=600))
    assert isinstance(refused, Refusal) and refused.reason == "tpm"
    assert refused.retry_after == pytest.approx(55.0)  # when the 600 leave the window
    admission.settle(first, 100, None)  # it used 100 tokens: 900 are free again
    assert isinstance(admission.admit(Ask("key_a", limits, tokens=600)), Grant)
    too_big = admission.admit(Ask("key_a", limits, tokens=1001))
    assert isinstance(too_big, Refusal) and too_big.retry_after is None  # waiting cannot help
    assert "max_tokens" in too_big.message


def test_a_budget_reserves_the_worst_case_and_charges_the_real_cost_once(
    admission: SQLiteAdmission, clock: Clock
) -> None:
    limits = KeyLimits(budget_usd=1.0, budget_period="day")
    grants = [admission.admit(Ask("key_a", limits, cost_usd=0.3)) for _ in range(3)]
    assert all(isinstance(g, Grant) for g in grants)
    refused = admission.admit(Ask("key_a", limits, cost_usd=0.3))  # 0.9 reserved
    assert isinstance(refused, Refusal) and refused.reason == "budget"
    assert refused.retry_after is None and "2026-12-02 00:00 UTC" in refused.message
    first = grants[0]
    assert isinstance(first, Grant)
    admission.settle(first, 50, 0.05)
    admission.settle(first, 50, 0.05)  # a second settle charges nothing
    assert spent(admission, "key_a") == pytest.approx(0.05)
    # 0.05 spent + 0.6 reserved: 0.35 left
    assert isinstance(admission.admit(Ask("key_a", limits, cost_usd=0.35)), Grant)
    assert isinstance(admission.admit(Ask("key_a", limits, cost_usd=0.01)), Refusal)
    clock.now = T0 + 86400  # the next UTC day starts afresh
    assert isinstance(admission.admit(Ask("key_a", limits, cost_usd=0.99)), Grant)


def test_an_unsettled_reservation_outlives_the_rate_window(
    admission: SQLiteAdmission, clock: Clock
) -> None:
    """A long stream (or a gateway killed mid-stream) keeps its worst case reserved."""
    limits = KeyLimits(rpm=100, budget_usd=1.0, budget_period="month")
    assert isinstance(admission.admit(Ask("key_a", limits, cost_usd=0.8)), Grant)
    clock.now += 3600
    refused = admission.admit(Ask("key_a", limits, cost_usd=0.3))
    assert isinstance(refused, Refusal) and refused.reason == "budget"
    clock.now = T0 + 31 * 86400  # January: a new month
    assert isinstance(admission.admit(Ask("key_a", limits, cost_usd=0.3)), Grant)


def test_unpriced_under_a_budget_needs_allow_unpriced(admission: SQLiteAdmission) -> None:
    strict = KeyLimits(budget_usd=1.0, budget_period="day")
    refused = admission.admit(Ask("key_a", strict, cost_usd=None))
    assert isinstance(refused, Refusal) and refused.reason == "unpriced"
    assert "--allow-unpriced" in refused.message
    allowed = KeyLimits(budget_usd=1.0, budget_period="day", allow_unpriced=True)
    grant = admission.admit(Ask("key_a", allowed, cost_usd=None))
    assert isinstance(grant, Grant) and grant.reserved_usd == 0.0
    admission.settle(grant, 10, None)
    assert spent(admission, "key_a") == 0.0


def test_the_periods_are_utc_calendar_days_and_months() -> None:
    assert period_of(T0 - 0.001, "day") == "2026-11-30"
    assert period_of(T0, "day") == "2026-12-01"
    assert period_of(T0 + 31 * 86400 - 1, "month") == "2026-12"
    assert period_of(T0 + 31 * 86400, "month") == "2027-01"


def test_two_connections_to_one_file_share_one_count(tmp_path: Path, clock: Clock) -> None:
    """Two workers (two connections, each its own transaction) see each other's admissions."""
    one = SQLiteAdmission(tmp_path / "r.db", clock=clock)
    two = SQLiteAdmission(tmp_path / "r.db", clock=clock)
    try:
        limits = KeyLimits(rpm=5)
        with ThreadPoolExecutor(8) as pool:
            decided = list(
                pool.map(lambda i: (one, two)[i % 2].admit(Ask("key_a", limits)), range(40))
            )
    finally:
        one.close()
        two.close()
    assert sum(isinstance(d, Grant) for d in decided) == 5


def spent(admission: SQLiteAdmission, key: str) -> float:
    row = admission._db.execute(
        "SELECT coalesce(sum(spent_usd), 0) FROM budget_spend WHERE key_id = ?", (key,)
    ).fetchone()
    return float(row[0])


# -- schema version 3 ---------------------------------------------------------------------------


def test_a_version_2_store_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version, statements in MIGRATIONS[:2]:
        for statement in statements:
            db.execute(statement)
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
    db.execute(
        "INSERT INTO api_keys (id, name, prefix, hash, created_at) "
        "VALUES ('key_0123456789ab', 'ci', 'llmr-abcdefg', 'h', '2026-12-01T00:00:00.000000Z')"
    )
    db.commit()
    db.close()
    store = SQLiteStore(path)
    try:
        (old,) = store.list_keys()
        assert old["name"] == "ci" and old["rpm"] is None and old["allow_unpriced"] is False
        assert store.key_limits() == {}  # a key from before limits has none
        store.set_key_limits("ci", key_limits(rpm=5, budget="2/month"))
        assert store.key_limits() == {
            "key_0123456789ab": KeyLimits(rpm=5, budget_usd=2.0, budget_period="month")
        }
        version = store._open().execute("SELECT max(version) FROM schema_version").fetchone()
        assert version[0] == SCHEMA_VERSION == 4
    finally:
        store.close()
    fresh = tmp_path / "fresh.db"
    SQLiteStore(fresh).close()
    tables = ("receipts", "api_keys", "admissions", "rate_windows", "budget_spend", "reservations")
    for table in tables:
        assert columns(path, table) == columns(fresh, table)


# -- llmring keys create ------------------------------------------------------------------------


@pytest.mark.usefixtures("user_data")
def test_keys_create_stores_the_limits_and_list_shows_them() -> None:
    made = run("keys", "create", "alice", "--rpm", "60", "--tpm", "9000", "--budget", "$25/day")
    assert made.exit_code == 0, made.stderr
    assert "rpm 60, tpm 9000, budget $25/day" in made.stderr
    loose = run("keys", "create", "bob", "--budget", "2.5/month", "--allow-unpriced")
    assert loose.exit_code == 0, loose.stderr
    listed = run("keys", "list").stdout.splitlines()
    assert listed[0].endswith("rpm 60, tpm 9000, budget $25/day")
    assert listed[1].endswith("budget $2.5/month (unpriced allowed)")
    (alice, bob) = json.loads(run("keys", "list", "--json").stdout)
    assert (alice["rpm"], alice["tpm"], alice["budget_usd"], alice["budget_period"]) == (
        60,
        9000,
        25.0,
        "day",
    )
    assert bob["allow_unpriced"] is True and bob["rpm"] is None
    changed = run("keys", "limit", "alice", "--rpm", "5")
    assert changed.exit_code == 0 and "rpm 5" in changed.stderr
    assert json.loads(run("keys", "list", "--json").stdout)[0]["budget_usd"] is None


@pytest.mark.usefixtures("user_data")
@pytest.mark.parametrize(
    ("args", "told"),
    [
        (["--budget", "25/week"], "give US dollars per day or per month, e.g. 25/day"),
        (["--budget", "-3/day"], "--budget '-3/day' is not a budget"),
        (["--budget", "lots"], "e.g. 25/day or 100/month"),
        (["--rpm", "0"], "--rpm must be a whole number of at least 1, not 0"),
        (["--tpm", "-5"], "--tpm must be a whole number of at least 1, not -5"),
        (["--allow-unpriced"], "--allow-unpriced applies to a budget: give --budget too"),
        (["--rpm", "ten"], "--rpm"),
    ],
)
def test_a_bad_limit_is_a_usage_error_naming_it(args: list[str], told: str) -> None:
    result = run("keys", "create", "ci", *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert told in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
    assert run("keys", "list", "--json").stdout.strip() in ("", "[]")  # no key was made


def test_parse_budget_takes_dollars_per_day_or_month() -> None:
    assert parse_budget("25/day") == (25.0, "day")
    assert parse_budget(" $0.5/month ") == (0.5, "month")
    for wrong in ("25", "25/year", "0/day", "/day", "25 / day"):
        with pytest.raises(ValueError, match="per day or per month"):
            parse_budget(wrong)


# -- a real gateway with two workers --------------------------------------------------------------

MODEL = "gpt-4o-mini"
#: the recording's usage: 78 prompt tokens, 9 completion tokens
RECORDING = "openai/chat-gpt-4o-mini-text-usage.sse"
#: output at $100,000 per million tokens: 9 tokens cost $0.90 (input is free, so the prompt's
#: estimate does not blur the arithmetic)
PRICES = f'\n[prices."openai:{MODEL}"]\ninput = 0\noutput = 100000\n'
PER_CALL = 0.9


@pytest.fixture(scope="module")
def loopback() -> Iterator[ThreadedLoopback]:
    with ThreadedLoopback() as served:
        yield served


#: the keys of the module's gateway, made before it starts (a worker reads its store again on
#: an unknown key at most once a second, so keys made in a burst would be refused a moment)
KEYS = {
    "rpm": KeyLimits(rpm=20),
    "budget": key_limits(budget=f"{5 * PER_CALL}/day"),
    "burst": key_limits(budget=f"{3 * PER_CALL}/month"),
    "capped": key_limits(budget="10000/day"),
    "uncapped": KeyLimits(rpm=1000),
    "strict": key_limits(budget="100/day"),
    "loose": key_limits(budget="100/day", allow_unpriced=True),
    "tpm": KeyLimits(tpm=470),
    "cancel": key_limits(budget="100/day"),
    "change": KeyLimits(),
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("limits")


@pytest.fixture(scope="module")
def keys(root: Path) -> dict[str, tuple[str, str]]:
    """Each of :data:`KEYS` made in the gateway's store: name → (id, key)."""
    store = SQLiteStore(root / "receipts.db")
    try:
        return {
            name: (record["id"], key)
            for name, limits in KEYS.items()
            for record, key in [store.create_key(name, limits)]
        }
    finally:
        store.close()


@pytest.fixture(scope="module")
def gateway(
    loopback: ThreadedLoopback, root: Path, keys: dict[str, tuple[str, str]]
) -> Iterator[ServeProcess]:
    lockfile = root / "llmring.lock"
    bindings = {"chatbot": [f"openai:{MODEL}"], "house": ["openai:house-model"]}
    text = lockfile_text({"openai": loopback.url("openai")}, bindings, tables=PRICES)
    lockfile.write_text(text, encoding="utf-8")
    args = ("--workers", "2", "--watch", "0")
    with ServeProcess(lockfile, *args, env=gateway_env(["openai"], root)) as server:
        yield server


@pytest.fixture
def upstream(loopback: ThreadedLoopback) -> ThreadedLoopback:
    loopback.server.requests.clear()
    loopback.server.routes = {}
    loopback.server.reply = Reply.wire(RECORDING)
    return loopback


def chat(
    gateway: ServeProcess, key: str, client: httpx.Client | None = None, **fields: Any
) -> httpx.Response:
    body = {"model": "chatbot", "messages": [{"role": "user", "content": "hi"}], **fields}
    headers = {"authorization": f"Bearer {key}"}
    url = gateway.base_url + "/chat/completions"
    if client is not None:
        return client.post(url, json=body, headers=headers, timeout=30)
    return httpx.post(url, json=body, headers=headers, timeout=30)


def store_rows(gateway: ServeProcess, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{gateway.receipts}?mode=ro", uri=True, timeout=5)
    try:
        return [tuple(row) for row in db.execute(sql, params)]
    finally:
        db.close()


def rejections(gateway: ServeProcess, key_id: str, count: int) -> list[dict[str, Any]]:
    def mine() -> list[dict[str, Any]]:
        rows = wait_for_receipts(gateway.receipts, 0, timeout=0)
        return [r for r in rows if r["key_id"] == key_id and r["status"] == "rejected"]

    wait_until(lambda: len(mine()) >= count, f"{count} rejected receipts of {key_id}")
    return mine()


def test_rpm_holds_across_two_workers_under_concurrent_load(
    gateway: ServeProcess, upstream: ThreadedLoopback, keys: dict[str, tuple[str, str]]
) -> None:
    key_id, key = keys["rpm"]
    started = time.monotonic()

    def ask(_: int) -> httpx.Response:
        with httpx.Client() as client:  # a connection each: the two workers share them
            return chat(gateway, key, client)

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(ask, range(60)))
    if time.monotonic() - started > 55:
        pytest.skip("the load took most of a minute: the window moved under it")
    statuses = [r.status_code for r in replies]
    assert set(statuses) <= {200, 429}
    assert 19 <= statuses.count(200) <= 20  # at most N in the minute, at least 95% of N
    assert len(upstream.server.requests) == statuses.count(200)  # no upstream call refused
    refused = next(r for r in replies if r.status_code == 429)
    assert refused.json()["error"] == {
        "message": "this key's limit of 20 requests per minute is reached",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-llmring-request-id"]
    rows = rejections(gateway, key_id, statuses.count(429))
    assert {r["error_message"] for r in rows} == {refused.json()["error"]["message"]}


def test_a_budget_of_n_calls_admits_n_then_refuses_without_an_upstream_call(
    gateway: ServeProcess, upstream: ThreadedLoopback, keys: dict[str, tuple[str, str]]
) -> None:
    key_id, key = keys["budget"]
    statuses = [chat(gateway, key, max_tokens=9).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [402] * 2
    assert len(upstream.server.requests) == 5
    refused = chat(gateway, key, max_tokens=9)
    error = refused.json()["error"]
    assert (refused.status_code, error["type"], error["code"]) == (
        402,
        "insufficient_quota",
        "budget_exceeded",
    )
    assert "budget of $4.5 per day" in error["message"] and "resets at" in error["message"]
    assert len(upstream.server.requests) == 5
    wait_until(
        lambda: (
            store_rows(gateway, "SELECT spent_usd FROM budget_spend WHERE key_id = ?", key_id)
            == [(pytest.approx(5 * PER_CALL),)]
        ),
        "the five calls settled at their real cost",
    )
    assert len(rejections(gateway, key_id, 3)) == 3


def test_concurrent_requests_reserve_before_they_spend(
    gateway: ServeProcess, upstream: ThreadedLoopback, keys: dict[str, tuple[str, str]]
) -> None:
    """Twelve at once against a budget of three calls: the reservations admit three."""
    upstream.server.reply = Reply.wire(RECORDING, splits=[200], delay=0.3)  # streams overlap
    _, key = keys["burst"]
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda _: chat(gateway, key, max_tokens=9).status_code, range(12)))
    assert sorted(statuses) == [200] * 3 + [402] * 9
    assert len(upstream.server.requests) == 3


def test_a_request_without_max_tokens_gets_the_default_cap(
    gateway: ServeProcess, upstream: ThreadedLoopback, keys: dict[str, tuple[str, str]]
) -> None:
    """Under a budget the reservation must bound the call: the gateway sets max_tokens."""
    _, key = keys["capped"]
    assert chat(gateway, key).status_code == 200
    (sent,) = upstream.server.requests
    assert sent.json()["max_completion_tokens"] == 4096  # OpenAI's name for max_tokens
    _, free = keys["uncapped"]
    assert chat(gateway, free).status_code == 200
    assert "max_completion_tokens" not in upstream.server.requests[-1].json()  # rpm: as sent


def test_an_unpriced_model_under_a_budget_is_refused_unless_allowed(
    gateway: ServeProcess, upstream: ThreadedLoopback, keys: dict[str, tuple[str, str]]
) -> None:
    _, strict = keys["strict"]
    refused = chat(gateway, strict, model="house")
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "unpriced_model"
    assert "--allow-unpriced" in refused.json()["error"]["message"]
    assert upstream.server.requests == []
    _, loose = keys["loose"]
    assert chat(gateway, loose, model="house").status_code == 200
    assert len(upstream.server.requests) == 1


def test_tpm_reserves_max_tokens_and_settles_to_the_reported_usage(
    gateway: ServeProcess, upstream: ThreadedLoopback, keys: dict[str, tuple[str, str]]
) -> None:
    """Each call reserves its prompt's estimate (1) + 200 and uses 87 (the recording's usage):
    with 470 tokens a minute, settling lets four through where reservations alone allow two."""
    key_id, key = keys["tpm"]
    statuses = []
    for done in range(1, 6):
        reply = chat(gateway, key, max_tokens=200)
        statuses.append(reply.status_code)
        if reply.status_code != 200:
            break
        settled = "SELECT count(*) FROM admissions WHERE key_id = ? AND tokens = 87"
        wait_until(
            lambda: store_rows(gateway, settled, key_id) == [(done,)],  # noqa: B023 - awaited here
            "the call settled to its usage",
        )
    assert statuses == [200, 200, 200, 200, 429]
    assert reply.json()["error"]["message"].startswith("this key's limit of 470 tokens per minute")
    too_big = chat(gateway, key, max_tokens=470)
    error = too_big.json()["error"]
    assert (too_big.status_code, error["code"], error["param"]) == (
        400,
        "tokens_exceed_limit",
        "max_tokens",
    )
    assert "retry-after" not in too_big.headers
    assert len(upstream.server.requests) == 4


def test_a_cancelled_stream_settles_what_it_used(
    gateway: ServeProcess, upstream: ThreadedLoopback, keys: dict[str, tuple[str, str]]
) -> None:
    """The client hangs up after the first content: the reservation ($0.90 for 9 tokens) is
    released and the estimate of what was produced is charged instead."""
    upstream.server.reply = Reply.wire(RECORDING, splits=[900], delay=5.0)
    key_id, key = keys["cancel"]
    body = {
        "model": "chatbot",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 9,
        "stream": True,
    }
    headers = {"authorization": f"Bearer {key}"}
    with (
        httpx.Client() as client,
        client.stream(
            "POST", gateway.base_url + "/chat/completions", json=body, headers=headers
        ) as reply,
    ):
        assert reply.status_code == 200
        for line in reply.iter_lines():
            if '"content"' in line:
                break  # hang up with the reply still streaming
    wait_until(
        lambda: (
            store_rows(gateway, "SELECT count(*) FROM reservations WHERE key_id = ?", key_id)
            == [(0,)]
        ),
        "the cancelled stream's reservation released",
    )
    ((charged, reserved),) = store_rows(
        gateway, "SELECT spent_usd, reserved_usd FROM budget_spend WHERE key_id = ?", key_id
    )
    assert reserved == 0
    assert 0 < charged < PER_CALL  # the text produced before the hang-up, not the worst case
    wait_until(
        lambda: (
            [r["status"] for r in receipts(gateway.receipts) if r["key_id"] == key_id]
            == ["cancelled"]
        ),
        "the cancelled stream's one receipt",
    )


def test_a_changed_limit_applies_within_a_second(
    gateway: ServeProcess, upstream: ThreadedLoopback, keys: dict[str, tuple[str, str]]
) -> None:
    _, key = keys["change"]
    for _ in range(3):
        assert chat(gateway, key).status_code == 200
    store = SQLiteStore(gateway.receipts)
    try:
        store.set_key_limits("change", KeyLimits(rpm=1))  # llmring keys limit change --rpm 1
    finally:
        store.close()
    wait_until(lambda: chat(gateway, key).status_code == 429, "the new rpm applied", 5)


# -- in-process: no store for unlimited keys; the policy when the store fails ---------------------


class Failing:
    """An admission whose store is out of reach."""

    def admit(self, ask: Ask) -> Grant | Refusal:
        raise sqlite3.OperationalError("disk I/O error")

    def settle(self, grant: Grant, tokens: int, cost_usd: float | None) -> None:
        raise AssertionError("nothing was granted")

    def close(self) -> None:
        pass


async def asgi_chat(app: Any, key: str) -> int:
    """One request through the ASGI app in this process; its status."""
    body = json.dumps({"model": "chatbot", "messages": [{"role": "user", "content": "x"}]})
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"authorization", f"Bearer {key}".encode())],
    }
    sent: list[dict[str, Any]] = []
    bodies = iter([{"type": "http.request", "body": body.encode(), "more_body": False}])

    async def receive() -> dict[str, Any]:
        for message in bodies:
            return message
        await asyncio.Event().wait()  # the client stays
        raise AssertionError

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def test_unlimited_keys_never_reach_the_store_and_a_failing_store_fails_budgets_closed(
    tmp_path: Path,
) -> None:
    from llmring.serve._admit import Limiter
    from llmring.serve._app import Gateway
    from llmring.serve._settings import ServeSettings

    lockfile = tmp_path / "llmring.lock"
    lockfile.write_text(lockfile_text({}, {"chatbot": ["mock:echo"]}), encoding="utf-8")
    path = tmp_path / "receipts.db"
    store = SQLiteStore(path)
    keys = {
        name: store.create_key(name, limits)[1]
        for name, limits in (
            ("free", KeyLimits()),
            ("rate", KeyLimits(rpm=5)),
            ("budget", key_limits(budget="5/day", allow_unpriced=True)),
        )
    }
    store.close()
    app = Gateway(ServeSettings(lockfile=str(lockfile), receipts=f"sqlite:///{path}", watch=0))
    await app.start()
    try:
        opened: list[str] = []

        def open_failing() -> Failing:
            opened.append("admission")
            return Failing()

        app.limiter = Limiter(open_failing)
        assert [await asgi_chat(app, keys["free"]) for _ in range(3)] == [200] * 3
        assert opened == []  # no round trip, not even the store opened
        assert await asgi_chat(app, keys["rate"]) == 200  # rate limits only: fail open
        assert await asgi_chat(app, keys["budget"]) == 503  # a budget: fail closed
        assert opened == ["admission"]
    finally:
        await app.stop()
        gc.unfreeze()  # start() froze this process's objects, as a worker's are
