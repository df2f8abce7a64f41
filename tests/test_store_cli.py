"""The commands over either store: ``llmring logs``, ``usage`` and ``keys`` answer the same for
a SQLite file and a PostgreSQL database; ``llmring store migrate``; ``llmring serve`` refusing
a database that is not migrated; and a database password that never shows (messages, logs,
``/readyz``, receipts, reprs, exception chains), even when the connection fails."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring._receipts._settings import StoreURL, open_receipt_store, parse_store_url
from llmring._receipts._store import StoreError
from llmring.exceptions import ConfigurationError
from llmring.serve._settings import ServeSettings
from tests.helpers import assert_user_error, run
from tests.postgres import GUARDED_PASSWORD, PostgresServer
from tests.serve_process import ServeProcess
from tests.test_receipt_stores import mixed_rows
from tests.test_serve_keys import keys_cli, poll_rows, store_cli
from tests.wire_harness import lockfile_text


def a_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The URL of an empty store of ``kind``, migrated by ``llmring store migrate``."""
    url = (
        f"sqlite:///{tmp_path / 'r.db'}" if kind == "sqlite" else request.getfixturevalue("pg_url")
    )
    migrated = run("store", "migrate", "--receipts", url)
    assert migrated.exit_code == 0, migrated.stderr
    assert migrated.stderr.startswith("migrated the receipt store ")
    assert migrated.stderr.endswith(" from schema version 0 to 4\n")
    again = run("store", "migrate", "--receipts", url)
    assert again.stderr.endswith(" is at schema version 4: nothing to do\n")
    return url


def answers(url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What ``logs``, ``logs show``, ``usage`` and ``keys`` say of the rows of ``mixed_rows``."""
    store = parse_store_url(url, Path.cwd(), "test")
    assert store is not None
    opened = open_receipt_store(store)
    opened.write(mixed_rows())
    opened.close()
    monkeypatch.setenv("LLMRING_RECEIPTS", url)
    said: dict[str, Any] = {}
    said["logs"] = json.loads(run("logs", "--json", "-n", "4").stdout)
    said["lines"] = run("logs", "--alias", "chatbot").stdout
    said["show"] = run("logs", "show", "0193b").stdout
    said["ambiguous"] = run("logs", "show", "0193a").stderr.splitlines()[-1]
    for by in ("alias", "day", "key", "model"):
        said[f"usage-{by}"] = run("usage", "--by", by).stdout
    said["usage-json"] = json.loads(run("usage", "--json").stdout)
    made = run("keys", "create", "ci")
    assert made.exit_code == 0, made.stderr
    said["keys"] = [k["name"] for k in json.loads(run("keys", "list", "--json").stdout)]
    said["revoked"] = run("keys", "revoke", "ci").exit_code
    said["unknown"] = run("keys", "revoke", "ci").stderr.replace(str(store), "STORE")
    return said


def test_logs_usage_and_keys_answer_alike_on_sqlite_and_postgresql(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite = answers(a_store("sqlite", tmp_path, request), monkeypatch)
    postgres = answers(a_store("postgresql", tmp_path, request), monkeypatch)
    assert postgres == sqlite
    assert [row["id"] for row in postgres["logs"]] == [
        "0193d_fff",
        "0193d-eee",
        "0193c-ddd",
        "0193b-ccc",
    ]
    assert "chatbot  calls=4  in=33 out=3  cost=$0.750000" in postgres["usage-alias"]
    assert postgres["keys"] == ["ci"] and postgres["revoked"] == 0
    assert "no key named 'ci' in STORE" in postgres["unknown"]


def test_logs_import_replays_a_spill_file_once_into_postgresql(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("store", "migrate", "--receipts", pg_url)
    spill = tmp_path / "spill.jsonl"
    spill.write_text("".join(json.dumps(row) + "\n" for row in mixed_rows()))
    monkeypatch.setenv("LLMRING_RECEIPTS", pg_url)
    assert "imported 6 receipt(s)" in run("logs", "import", str(spill)).stderr
    assert "imported 0 receipt(s) into" in run("logs", "import", str(spill)).stderr
    assert len(json.loads(run("logs", "--json", "-n", "100").stdout)) == 6


def test_a_library_ring_writes_its_receipts_to_postgresql(pg_url: str) -> None:
    run("store", "migrate", "--receipts", pg_url)

    async def call() -> None:
        async with LLMRing(receipts=pg_url) as ring:
            request = LLMRequest(
                model="mock:chatbot", messages=[Message(role="user", content="hi")]
            )
            async for _ in ring.chat_stream(request):
                pass
            assert ring.receipts is not None and ring.receipts.flush()
            assert (ring.receipts.written, ring.receipts.spilled) == (1, 0)

    import asyncio

    asyncio.run(call())
    (row,) = poll_rows(pg_url, lambda rows: len(rows) == 1)
    assert (row["alias"], row["status"]) == ("mock:chatbot", "ok")


def test_serve_refuses_a_database_that_is_not_migrated(tmp_path: Path, pg_url: str) -> None:
    lockfile = tmp_path / "llmring.lock"
    lockfile.write_text(lockfile_text({}, {"chatbot": ["mock:echo"]}))
    command = [sys.executable, "-m", "llmring", "serve", "--file", str(lockfile)]
    done = subprocess.run(
        [*command, "--receipts", pg_url, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: the receipt store ")
    assert "schema version 0" in done.stderr and "run 'llmring store migrate'" in done.stderr


def test_store_migrate_on_sqlite_migrates_a_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert run("store", "migrate", "--receipts", url).stderr.endswith(
        "from schema version 0 to 4\n"
    )
    assert (tmp_path / "new.db").exists()
    assert_user_error(run("store", "migrate", "--receipts", "mysql://u@h/db"), "is not a receipt")


# -- the password never shows ---------------------------------------------------------------------


@pytest.fixture
def guarded_url(postgres_server: PostgresServer) -> Any:
    """A database owned by the role whose password is checked, and its URL with the password."""
    from llmring._receipts._postgres import close_pools

    name = postgres_server.new_database(owner="guarded")
    yield postgres_server.url(name, user="guarded", password=GUARDED_PASSWORD)
    close_pools()
    postgres_server.drop_database(name)


def test_a_password_in_the_url_is_used_and_never_shown(tmp_path: Path, guarded_url: str) -> None:
    shown: list[str] = []
    migrated = store_cli("migrate", "--receipts", guarded_url)
    assert migrated.returncode == 0, migrated.stderr
    made = keys_cli(guarded_url, "create", "ci")
    assert made.returncode == 0, made.stderr
    shown += [migrated.stderr, made.stderr, keys_cli(guarded_url, "list").stdout]
    lockfile = tmp_path / "llmring.lock"
    lockfile.write_text(lockfile_text({}, {"chatbot": ["mock:echo"]}))
    body = {"model": "chatbot", "messages": [{"role": "user", "content": "hi"}]}
    with ServeProcess(lockfile, store=guarded_url) as server:
        ready = httpx.get(server.url + "/readyz")
        assert ready.json()["store"]["ok"] is True
        headers = {"authorization": f"Bearer {made.stdout.strip()}"}
        reply = httpx.post(server.base_url + "/chat/completions", json=body, headers=headers)
        assert reply.status_code == 200, reply.text
        rows = poll_rows(guarded_url, lambda rows: len(rows) == 1)
        shown += [ready.text, reply.text, json.dumps(rows)]
    shown.append(server.log)
    assert "guarded:***@127.0.0.1" in server.log  # the start-up line names the store
    store = parse_store_url(guarded_url, Path.cwd(), "test")
    shown += [str(store), repr(store), repr(ServeSettings(receipts=guarded_url))]
    assert len(rows) == 1
    for text in shown:
        assert GUARDED_PASSWORD not in text


def chain_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error.__cause__) + repr(error)


@pytest.mark.parametrize("failure", ["wrong password", "refused"])
def test_a_connection_failure_never_shows_the_password(
    tmp_path: Path,
    guarded_url: str,
    failure: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = GUARDED_PASSWORD + "-wrong"
    url = guarded_url.replace(GUARDED_PASSWORD, secret)
    if failure == "refused":  # nothing listens on port 1; the password as a parameter this time
        url = f"postgresql://guarded@127.0.0.1:1/nowhere?connect_timeout=2&password={secret}"
    store = parse_store_url(url, tmp_path, "test")
    assert store is not None and secret in store.secrets
    texts: list[str] = []
    with pytest.raises(StoreError) as caught:
        open_receipt_store(store)
    assert ("password authentication failed" if failure != "refused" else "refused") in str(
        caught.value
    )
    texts.append(chain_text(caught.value))
    for command in (("store", "migrate", "--receipts", url), ("keys", "list", "--receipts", url)):
        result = run(*command)
        assert_user_error(result, "the receipt store postgresql://guarded", "***")
        texts.append(result.output)
    monkeypatch.setenv("LLMRING_RECEIPTS", url)
    texts.append(run("logs").output)
    texts.append(run("usage").output)
    monkeypatch.delenv("LLMRING_RECEIPTS")
    lockfile = tmp_path / "llmring.lock"
    lockfile.write_text(lockfile_text({}, {"chatbot": ["mock:echo"]}))
    serve = subprocess.run(
        [sys.executable, "-m", "llmring", "serve", "--file", str(lockfile), "--receipts", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert serve.returncode == 1 and serve.stderr.startswith("error: the receipt store ")
    texts.append(serve.stderr)
    with caplog.at_level(logging.WARNING):  # the writer's warning when it spills
        ring = LLMRing(receipts=url)
        writer = ring.receipts
        assert writer is not None
        spill = writer.spill_path
        writer.spill_path = tmp_path / "spill.jsonl"
        try:

            async def call() -> None:
                request = LLMRequest(
                    model="mock:chatbot", messages=[Message(role="user", content="hi")]
                )
                async for _ in ring.chat_stream(request):
                    pass
                await ring.aclose()

            import asyncio

            asyncio.run(call())
            assert writer.flush() and writer.spilled == 1
        finally:
            writer.spill_path = spill
    texts.append(caplog.text)
    assert "cannot write receipts to the store" in caplog.text
    texts.append((tmp_path / "spill.jsonl").read_text())
    for text in texts:
        assert secret not in text, text


def test_a_lockfile_may_not_hold_a_database_password(project: Path) -> None:
    (project / "llmring.lock").write_text(
        lockfile_text({}, {"chatbot": ["mock:echo"]})
        + f'\n[receipts]\nurl = "postgresql://gw:{GUARDED_PASSWORD}@db/llmring"\n'
    )
    with pytest.raises(ConfigurationError, match=r"holds a password.*PGPASSWORD") as caught:
        LLMRing()
    assert GUARDED_PASSWORD not in chain_text(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://gw:s3cr%40t@db:5432/llmring", "postgresql://gw:***@db:5432/llmring"),
        (
            "postgres://gw@db/llmring?password=s3cr%40t&sslmode=require",
            "postgres://gw@db/llmring?password=***&sslmode=require",
        ),
        ("postgresql://gw:p@ss@db/x", "postgresql://gw:***@db/x"),
        ("postgresql:///llmring", "postgresql:///llmring"),
    ],
)
def test_the_url_shown_has_no_password(url: str, shown: str) -> None:
    store = parse_store_url(url, Path.cwd(), "test")
    assert store == StoreURL("postgresql", dsn=url)
    assert str(store) == shown and repr(store) == f"StoreURL({shown!r})"
    for secret in store.secrets:
        assert secret not in shown
    with pytest.raises(ConfigurationError) as caught:
        parse_store_url(url.replace("postgres", "mysql", 1), Path.cwd(), "--receipts")
    for secret in store.secrets:
        assert secret not in str(caught.value)


def test_readyz_reports_a_postgresql_store_and_why_it_is_not_ready(pg_url: str) -> None:
    from llmring.serve._store import store_health

    store = parse_store_url(pg_url, Path.cwd(), "test")
    assert store is not None
    behind = store_health(store)
    assert (behind["ok"], behind["kind"]) == (False, "postgresql")
    assert "llmring store migrate" in behind["error"]
    run("store", "migrate", "--receipts", pg_url)
    assert store_health(store) == {"ok": True, "kind": "postgresql", "schema_version": 4}
    gone = parse_store_url(
        f"postgresql://gw:{GUARDED_PASSWORD}@127.0.0.1:1/x?connect_timeout=2", Path.cwd(), "t"
    )
    assert gone is not None
    unreachable = store_health(gone)
    assert (unreachable["ok"], unreachable["kind"]) == (False, "postgresql")
    assert "connecting" in unreachable["error"] and GUARDED_PASSWORD not in str(unreachable)
