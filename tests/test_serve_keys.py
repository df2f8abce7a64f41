"""The gateway's API keys (docs/serve.md#keys): made and revoked in a real SQLite store that
keeps only their SHA-256, the schema migrated in place from version 1, and ``KeyChecker``
checking ``Authorization`` headers against the live keys with a fake clock (no wall time)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmring._receipts._keys import check_key_name
from llmring._receipts._receipt import COLUMNS
from llmring._receipts._settings import StoreURL, open_receipt_store, parse_store_url, serve_store
from llmring._receipts._sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteStore
from llmring._receipts._store import ReceiptFilter, ReceiptStore, StoreError
from llmring.exceptions import ConfigurationError
from llmring.lockfile import load_lockfile
from llmring.serve._auth import KeyChecker
from llmring.serve._errors import APIError
from tests.helpers import write_lockfile
from tests.serve_process import ServeProcess
from tests.test_receipts import a_row
from tests.wire_harness import lockfile_text

#: what ``llmring keys create`` prints: ``llmr-`` and 32 bytes of URL-safe base64
KEY = re.compile(r"llmr-[A-Za-z0-9_\-]{43}")


@pytest.fixture
def store(receipt_store: ReceiptStore) -> ReceiptStore:
    """A SQLite store, then a PostgreSQL one (tests/postgres.py): both keep keys alike."""
    return receipt_store


# -- the store ----------------------------------------------------------------------------------


def test_create_list_and_revoke(store: ReceiptStore) -> None:
    record, key = store.create_key("ci")
    assert KEY.fullmatch(key)
    assert re.fullmatch(r"key_[0-9a-f]{12}", record["id"])
    assert record == {
        "id": record["id"],
        "name": "ci",
        "prefix": key[:12],
        "created_at": record["created_at"],
        "revoked_at": None,
        # schema version 3: a key made without limits has none
        "rpm": None,
        "tpm": None,
        "budget_usd": None,
        "budget_period": None,
        "allow_unpriced": False,
    }
    other, other_key = store.create_key("alice")
    assert other_key != key and other["id"] != record["id"]
    assert store.list_keys() == [record, other]
    assert store.active_keys() == {
        hashlib.sha256(key.encode()).hexdigest(): record["id"],
        hashlib.sha256(other_key.encode()).hexdigest(): other["id"],
    }

    revoked = store.revoke_key("ci")
    assert revoked["id"] == record["id"] and revoked["revoked_at"] >= record["created_at"]
    assert store.list_keys() == [other]
    assert store.list_keys(include_revoked=True) == [revoked, other]
    assert list(store.active_keys().values()) == [other["id"]]

    again, _ = store.create_key("ci")  # a revoked key's name can be given again
    assert store.revoke_key(again["id"])["name"] == "ci"  # by id


def test_a_live_name_is_unique(store: ReceiptStore) -> None:
    store.create_key("ci")
    with pytest.raises(ValueError, match=r"a key named 'ci' already exists.*keys revoke ci"):
        store.create_key("ci")
    assert len(store.list_keys()) == 1


def test_revoking_an_unknown_or_revoked_key_names_it(store: ReceiptStore) -> None:
    record, key = store.create_key("ci")
    with pytest.raises(LookupError, match=rf"no key named 'nope' in {re.escape(str(store.path))}"):
        store.revoke_key("nope")
    with pytest.raises(LookupError, match="no key with id 'key_000000000000'"):
        store.revoke_key("key_000000000000")
    store.revoke_key(key)  # the key text itself, looked up by its hash
    with pytest.raises(LookupError, match=rf"{record['id']} \(ci\) was already revoked") as caught:
        store.revoke_key(record["id"])
    with pytest.raises(LookupError) as by_key:
        store.revoke_key(key)
    assert key not in str(caught.value) + str(by_key.value)


@pytest.mark.parametrize("name", ["", " ci", "a b", "key_1", "x" * 65, "ci\n", "-ci"])
def test_a_name_that_cannot_name_a_key_is_refused(store: ReceiptStore, name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a key"):
        store.create_key(name)
    assert store.list_keys(include_revoked=True) == []


def test_a_key_given_as_a_name_is_refused_without_repeating_it(store: ReceiptStore) -> None:
    _, key = store.create_key("ci")
    with pytest.raises(ValueError, match="may not start with 'llmr-'") as caught:
        check_key_name(key)
    assert key not in str(caught.value)


def test_only_the_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = SQLiteStore(path)
    made = [store.create_key(f"k{n}") for n in range(5)]
    store.revoke_key("k0")
    store.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("r.db"))
    for record, key in made:
        assert key.encode() not in stored
        assert key[12:].encode() not in stored  # nothing past the prefix
        assert record["prefix"].encode() in stored
        assert hashlib.sha256(key.encode()).hexdigest().encode() in stored


def test_a_missing_store_has_no_keys_and_is_not_created(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "none.db", create=False)
    assert store.list_keys() == [] and store.active_keys() == {}
    with pytest.raises(LookupError, match="does not exist"):
        store.revoke_key("ci")
    assert not (tmp_path / "none.db").exists()


# -- schema version 2 -------------------------------------------------------------------------


def version_1_file(path: Path) -> None:
    """A store as llmring wrote it before keys: migration 1 alone, with one receipt."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in dict(MIGRATIONS)[1]:
        db.execute(statement)
    db.execute("INSERT INTO schema_version (version) VALUES (1)")
    old = {k: v for k, v in a_row(7, id="old").items() if k != "key_id"}
    db.execute(
        f"INSERT INTO receipts ({', '.join(old)}) VALUES ({', '.join('?' for _ in old)})",
        tuple(old.values()),
    )
    db.commit()
    db.close()


def columns(path: Path, table: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return [tuple(row) for row in db.execute(f"PRAGMA table_info({table})")]
    finally:
        db.close()


@pytest.mark.parametrize("create", [True, False])
def test_a_version_1_store_is_migrated_in_place(tmp_path: Path, create: bool) -> None:
    path = tmp_path / "v1.db"
    version_1_file(path)
    assert "key_id" not in [c[1] for c in columns(path, "receipts")]
    store = SQLiteStore(path, create=create)  # a writer, or a reader (llmring logs, keys list)
    try:
        (old,) = store.query(ReceiptFilter())
        assert old["id"] == "old" and old["key_id"] is None and old["prompt_tokens"] == 7
        store.write([a_row(1, id="new", key_id="key_0123456789ab")])
        assert store.get("new")["key_id"] == "key_0123456789ab"  # type: ignore[index]
        record, _ = store.create_key("ci")
        assert store.list_keys() == [record]
        version = store._open().execute("SELECT max(version) FROM schema_version").fetchone()
        assert version[0] == SCHEMA_VERSION == 4  # through version 2 and on
    finally:
        store.close()
    fresh = tmp_path / "fresh.db"
    SQLiteStore(fresh).close()
    for table in ("receipts", "api_keys"):  # the same schema as a store made today
        assert columns(path, table) == columns(fresh, table)
    assert [c[1] for c in columns(fresh, "receipts")] == list(COLUMNS)


# -- where the keys are: the store llmring serve uses -------------------------------------------


def test_serve_store_takes_the_argument_then_the_env_then_the_lockfile(
    project: Path, user_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lockfile = load_lockfile(
        write_lockfile(project / "llmring.lock", {}, '\n[receipts]\nurl = "sqlite:///lock.db"\n')
    )
    assert serve_store(None, None) == StoreURL.sqlite(user_data / "llmring" / "logs.db")
    assert serve_store(None, lockfile) == StoreURL.sqlite(project / "lock.db")
    monkeypatch.setenv("LLMRING_RECEIPTS", "sqlite:///env.db")
    assert serve_store(None, lockfile) == StoreURL.sqlite(Path.cwd() / "env.db")
    assert serve_store("sqlite:////srv/arg.db", lockfile) == StoreURL.sqlite(Path("/srv/arg.db"))
    for scheme in ("postgresql", "postgres", "PostgreSQL"):
        url = f"{scheme}://gw@db.internal:5432/llmring"
        assert serve_store(url, lockfile) == StoreURL("postgresql", dsn=url)
    monkeypatch.setenv("LLMRING_RECEIPTS", "postgresql:///env")
    assert serve_store(None, lockfile) == StoreURL("postgresql", dsn="postgresql:///env")


def test_serve_store_refuses_off_naming_where_it_was_said(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_lockfile(project / "llmring.lock", {}, '\n[receipts]\nurl = "off"\n')
    with pytest.raises(ConfigurationError, match=rf"{re.escape(str(path))} \[receipts\] turns"):
        serve_store(None, load_lockfile(path))
    monkeypatch.setenv("LLMRING_RECEIPTS", "off")
    with pytest.raises(ConfigurationError, match=r"\$LLMRING_RECEIPTS turns receipts off"):
        serve_store(None, None)
    with pytest.raises(ConfigurationError, match="--receipts turns receipts off.*need a"):
        serve_store("off", None)
    with pytest.raises(ConfigurationError, match="--receipts: 'mysql://x' is not"):
        serve_store("mysql://x", None)


# -- KeyChecker -------------------------------------------------------------------------------


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Counted:
    """The store, counting how often the checker reads its keys."""

    def __init__(self, path: Path) -> None:
        self.store = SQLiteStore(path)
        self.reads = 0
        self.closed = False

    def active_keys(self) -> dict[str, str]:
        self.reads += 1
        return self.store.active_keys()

    def key_limits(self) -> dict[str, Any]:  # read with the keys, not counted apart
        return self.store.key_limits()

    def close(self) -> None:
        self.closed = True
        self.store.close()


class Gateway:
    """A checker over a real store, as ``llmring serve`` builds it, and a writer's handle on
    the same file (as ``llmring keys`` from another process)."""

    def __init__(self, path: Path) -> None:
        self.admin = SQLiteStore(path)
        self.clock = Clock()
        self.opened: list[Counted] = []
        self.checker = KeyChecker(self._open, refresh=1.0, clock=self.clock)

    def _open(self) -> Any:
        self.opened.append(Counted(self.admin.path))
        return self.opened[-1]

    @property
    def reads(self) -> int:
        return sum(store.reads for store in self.opened)

    def close(self) -> None:
        self.checker.close()
        self.admin.close()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    made = Gateway(tmp_path / "r.db")
    yield made
    made.close()


def bearer(key: str) -> bytes:
    return f"Bearer {key}".encode()


async def refused(checker: KeyChecker, header: bytes | None) -> APIError:
    with pytest.raises(APIError) as caught:
        await checker.check(header)
    return caught.value


def all_text(error: APIError) -> str:
    """Everything a refusal can show: message, body, headers, repr, traceback and chain."""
    shown = traceback.format_exception(error)
    return "\n".join([*shown, repr(error), str(error.body), str(error.headers), repr(error.args)])


async def test_a_live_key_is_accepted(gateway: Gateway) -> None:
    record, key = gateway.admin.create_key("ci")
    assert await gateway.checker.check(bearer(key)) == record["id"]
    assert await gateway.checker.check(f"  bearer   {key} ".encode()) == record["id"]
    assert gateway.reads == 1  # the second check was one dict lookup


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_api_key"),
        (b"", "missing_api_key"),
        (b"Bearer ", "missing_api_key"),
        (b"Basic dXNlcjpwYXNz", "invalid_api_key"),
        (b"llmr-abc", "invalid_api_key"),
        (b"Bearer\tllmr-abc", "invalid_api_key"),
    ],
)
async def test_a_missing_or_malformed_header_is_a_401(
    gateway: Gateway, header: bytes | None, code: str
) -> None:
    error = await refused(gateway.checker, header)
    assert (error.status, error.type, error.code) == (401, "authentication_error", code)
    assert error.headers == {"www-authenticate": "Bearer"}
    assert "Authorization: Bearer <key>" in error.message
    assert gateway.reads == 0  # refused before any lookup


@pytest.mark.parametrize(
    "sent",
    [
        "llmr-" + "Zq3" * 14 + "x",  # the shape of a key (key scrubbing knows it)
        "gw-9f8e7d6c5b4a39281706f5e4d3c2b1a0",  # a shape no scrubbing knows
        "llmr-\u00e9t\u00e9-caf\u00e9-not-ascii-at-all",  # bytes that are not ASCII
    ],
)
async def test_a_wrong_key_is_a_401_that_never_shows_it(gateway: Gateway, sent: str) -> None:
    gateway.admin.create_key("ci")
    error = await refused(gateway.checker, bearer(sent))
    assert (error.status, error.type, error.code) == (
        401,
        "authentication_error",
        "invalid_api_key",
    )
    assert sent not in all_text(error)
    assert sent[5:20] not in all_text(error)


async def test_a_revoked_key_stops_working_within_refresh(gateway: Gateway) -> None:
    _, key = gateway.admin.create_key("ci")
    await gateway.checker.check(bearer(key))
    gateway.admin.revoke_key("ci")  # from another process: the checker's copy is older
    gateway.clock.now += 0.9
    await gateway.checker.check(bearer(key))  # within refresh: the copy still has it
    gateway.clock.now += 0.1
    error = await refused(gateway.checker, bearer(key))
    assert error.code == "invalid_api_key" and key not in all_text(error)
    assert gateway.reads == 2


async def test_a_new_key_works_at_once_and_misses_read_at_most_once_per_refresh(
    gateway: Gateway,
) -> None:
    _, first = gateway.admin.create_key("first")
    await gateway.checker.check(bearer(first))
    record, new = gateway.admin.create_key("new")  # made after the copy was read
    gateway.clock.now += 0.1
    assert await gateway.checker.check(bearer(new)) == record["id"]  # the miss re-read
    assert gateway.reads == 2
    for step in range(50):  # a flood of wrong keys within one refresh: no read
        gateway.clock.now += 0.01
        await refused(gateway.checker, bearer(f"llmr-wrong-{step}"))
    assert gateway.reads == 2
    gateway.clock.now += 0.6  # the miss's read is 1.1 s old: one read (it is out of date)
    await refused(gateway.checker, bearer("llmr-wrong"))
    await refused(gateway.checker, bearer("llmr-wrong-again"))
    assert gateway.reads == 3


async def test_concurrent_checks_share_one_read(gateway: Gateway) -> None:
    records = [gateway.admin.create_key(f"k{n}") for n in range(3)]
    ids = await asyncio.gather(
        *(gateway.checker.check(bearer(key)) for _, key in records * 10),
    )
    assert ids == [record["id"] for record, _ in records * 10]
    assert gateway.reads == 1


async def test_a_new_key_sent_by_concurrent_requests_works_for_all_of_them(
    gateway: Gateway,
) -> None:
    # the copy is read; a key is made; several requests bring it at once: the first one's miss
    # re-reads, and the others wait for that read rather than being refused meanwhile
    _, first = gateway.admin.create_key("first")
    await gateway.checker.check(bearer(first))
    record, new = gateway.admin.create_key("new")
    gateway.clock.now += 0.1
    ids = await asyncio.gather(*(gateway.checker.check(bearer(new)) for _ in range(5)))
    assert ids == [record["id"]] * 5
    assert gateway.reads == 2


async def test_a_store_that_cannot_be_read_fails_closed_without_hammering_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    opens: list[int] = []

    def broken() -> Any:
        opens.append(1)
        raise sqlite3.OperationalError("unable to open database file")

    clock = Clock()
    checker = KeyChecker(broken, clock=clock)
    for _ in range(3):
        error = await refused(checker, bearer("llmr-" + "a" * 43))
        assert (error.status, error.code) == (503, "key_store_unavailable")
        assert error.headers == {"retry-after": "1"}
    assert len(opens) == 1 and "cannot read its API keys" in caplog.text
    clock.now += 1.0
    await refused(checker, bearer("llmr-" + "a" * 43))
    assert len(opens) == 2
    checker.close()


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not seen within 5 s")


class Outage:
    """A key store that can be taken away (reads raise) and whose reads can be held."""

    def __init__(self, path: Path) -> None:
        self.store = SQLiteStore(path)
        self.down = False
        self.reads = 0
        self.gate = threading.Event()
        self.gate.set()

    def active_keys(self) -> dict[str, str]:
        self.reads += 1
        self.gate.wait(10)
        if self.down:
            raise StoreError("the receipt store postgresql://db/x: reading keys: not reachable")
        return self.store.active_keys()

    def key_limits(self) -> dict[str, Any]:
        return self.store.key_limits()

    def close(self) -> None:
        pass


async def test_while_the_store_is_away_the_copy_answers_without_waiting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    admin = SQLiteStore(tmp_path / "r.db")
    _, kept = admin.create_key("kept")
    _, revoked = admin.create_key("revoked")
    outage, clock = Outage(admin.path), Clock()
    opened: Any = outage  # the store's key reads only
    checker = KeyChecker(lambda: opened, refresh=1.0, clock=clock)
    await checker.check(bearer(kept))
    admin.revoke_key("revoked")  # revoked by an operator who still reaches the store
    outage.down = True
    clock.now += 1.0
    # the copy is out of date and the store fails: the copy still answers, for any length
    for _ in range(5):
        assert await checker.check(bearer(kept))
        assert await checker.check(bearer(revoked))  # revoked since the last good read
        clock.now += 10.0
    assert caplog.text.count("cannot read its API keys") == 1  # once per outage
    # a key the copy does not know may be newer than the copy: 503, not 401
    unknown = await refused(checker, bearer("llmr-" + "b" * 43))
    assert (unknown.status, unknown.code) == (503, "key_store_unavailable")
    # checks no longer wait for a read: one held in the store does not hold them
    outage.gate.clear()
    clock.now += 1.0
    reads = outage.reads
    assert await checker.check(bearer(kept))
    await eventually(lambda: outage.reads == reads + 1)  # one read, in the background
    assert await checker.check(bearer(kept))
    outage.down = False
    outage.gate.set()  # that read succeeds: the copy is current again
    await eventually(lambda: "reads its API keys from the store again" in caplog.text)
    assert outage.reads == reads + 1
    error = await refused(checker, bearer(revoked))
    assert (error.status, error.code) == (401, "invalid_api_key")
    checker.close()
    admin.close()


async def test_close_closes_the_store(gateway: Gateway) -> None:
    _, key = gateway.admin.create_key("ci")
    await gateway.checker.check(bearer(key))
    gateway.checker.close()
    assert [store.closed for store in gateway.opened] == [True]
    gateway.clock.now += 1.0
    assert (await refused(gateway.checker, bearer(key))).status == 503


# -- end to end: llmring keys and a real llmring serve ------------------------------------------


def keys_cli(store: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``llmring keys ...`` as an operator runs it, in its own process, on the server's store."""
    command = [sys.executable, "-m", "llmring", "keys", *args, "--receipts", store]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def store_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``llmring store ...`` in its own process."""
    command = [sys.executable, "-m", "llmring", "store", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_real_gateway_takes_live_keys_only_and_records_them(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    lockfile = tmp_path / "llmring.lock"
    lockfile.write_text(lockfile_text({}, {"chatbot": ["mock:echo"]}))
    if kind == "sqlite":
        store = f"sqlite:///{tmp_path / 'receipts.db'}"
    else:  # a shared store is migrated first, by the operator
        store = request.getfixturevalue("pg_url")
        migrated = store_cli("migrate", "--receipts", store)
        assert migrated.returncode == 0 and "from schema version 0 to 4" in migrated.stderr
    made = keys_cli(store, "create", "ci")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()  # KEY=$(llmring keys create ci)
    (record,) = json.loads(keys_cli(store, "list", "--json").stdout)
    body = {"model": "chatbot", "messages": [{"role": "user", "content": "hi"}]}
    wrong = "llmr-" + "W" * 43

    def chat(token: str | None) -> httpx.Response:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.post(server.base_url + "/chat/completions", json=body, headers=headers)

    with ServeProcess(lockfile, store=store) as server:
        assert httpx.get(server.url + "/healthz").status_code == 200
        ready = httpx.get(server.url + "/readyz")
        assert ready.status_code == 200
        assert ready.json()["store"] == {"ok": True, "kind": kind, "schema_version": 4}
        for route in ("/v1/models", "/metrics"):  # every other route needs the key
            assert httpx.get(server.url + route).status_code == 401
            authorized = {"authorization": f"Bearer {key}"}
            assert httpx.get(server.url + route, headers=authorized).status_code == 200
        ok = chat(key)
        assert ok.status_code == 200, ok.text
        second = keys_cli(store, "create", "second").stdout.strip()
        assert chat(second).status_code == 200  # a new key works at once
        missing, refused = chat(None), chat(wrong)
        assert (missing.status_code, missing.json()["error"]["code"]) == (401, "missing_api_key")
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "invalid_api_key")
        assert wrong not in refused.text
        assert keys_cli(store, "revoke", "ci").returncode == 0
        deadline = time.monotonic() + 10  # refused after at most a second (polled, not timed)
        while chat(key).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert chat(key).status_code == 401
        request_id = ok.headers["x-llmring-request-id"]
        rows = poll_rows(store, lambda rows: any(r["id"] == request_id for r in rows))
        log = server.log
    assert {r["id"]: r["key_id"] for r in rows}[request_id] == record["id"]
    assert {r["status"] for r in rows if r["key_id"] is None} == {"rejected"}
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("receipts"))
    stored += json.dumps(rows).encode()
    for secret in (key, second, wrong):
        assert secret not in log and secret.encode() not in stored


def poll_rows(store: str, done: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """The store's receipts once ``done`` says so (the server's writer stores them soon)."""
    where = parse_store_url(store, Path.cwd(), "test")
    assert where is not None
    deadline = time.monotonic() + 10
    while True:
        reader = open_receipt_store(where, create=False)
        try:
            rows = reader.query(ReceiptFilter())
        finally:
            reader.close()
        if done(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)
