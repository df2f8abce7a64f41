"""``llmring keys create|list|revoke`` in-process with ``CliRunner`` over real SQLite files, the
store chosen as ``llmring serve`` chooses it; and the gateway's receipts in ``llmring logs`` and
``llmring usage --by key``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from llmring._receipts._keys import key_hash
from llmring._receipts._sqlite import SQLiteStore
from tests.helpers import assert_user_error, run, write_lockfile
from tests.test_receipts import a_row
from tests.test_serve_keys import KEY


def create(*args: str) -> tuple[str, str]:
    """``llmring keys create ...``: the key (stdout) and the notice (stderr)."""
    result = run("keys", "create", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout, result.stderr


def listed(*args: str) -> list[dict[str, Any]]:
    result = run("keys", "list", "--json", *args)
    assert result.exit_code == 0, result.stderr
    records: list[dict[str, Any]] = json.loads(result.stdout)
    return records


def test_create_prints_the_key_alone_on_stdout_and_stores_its_hash(user_data: Path) -> None:
    stdout, stderr = create("ci")
    key = stdout.removesuffix("\n")
    assert KEY.fullmatch(key) and stdout == key + "\n"  # KEY=$(llmring keys create ci)
    store_path = user_data / "llmring" / "logs.db"  # the CLI's store: nothing else is set
    (record,) = listed()
    assert stderr.count("\n") == 1 and record["id"] in stderr and str(store_path) in stderr
    assert key not in stderr and "only time" in stderr
    store = SQLiteStore(store_path)
    try:
        assert store.active_keys() == {key_hash(key): record["id"]}
    finally:
        store.close()


def test_list_shows_the_prefix_only_and_revoke_removes_the_key() -> None:
    first = create("ci")[0].strip()
    second = create("alice@team")[0].strip()
    result = run("keys", "list")
    assert result.exit_code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert [line.split()[1:3] for line in lines] == [
        ["ci", first[:12] + "..."],
        ["alice@team", second[:12] + "..."],
    ]
    assert first[12:] not in result.stdout and second[12:] not in result.stdout
    records = listed()
    assert [r["name"] for r in records] == ["ci", "alice@team"]
    assert set(records[0]) == {"id", "name", "prefix", "created_at", "revoked_at"} | {
        "rpm",
        "tpm",
        "budget_usd",
        "budget_period",
        "allow_unpriced",
    }  # the limits of schema version 3, never the hash

    revoked = run("keys", "revoke", "ci")
    assert revoked.exit_code == 0 and revoked.stdout == ""
    assert f"revoked key {records[0]['id']} (ci)" in revoked.stderr
    assert [r["name"] for r in listed()] == ["alice@team"]
    everything = listed("--all")
    assert [(r["name"], r["revoked_at"] is not None) for r in everything] == [
        ("ci", True),
        ("alice@team", False),
    ]
    assert "revoked 20" in run("keys", "list", "--all").stdout
    assert run("keys", "revoke", records[1]["id"]).exit_code == 0  # by id
    empty = run("keys", "list")
    assert empty.stdout == "" and "no live keys in" in empty.stderr


def test_a_duplicate_or_unknown_name_is_a_clear_error() -> None:
    create("ci")
    assert_user_error(run("keys", "create", "ci"), "a key named 'ci' already exists")
    assert_user_error(run("keys", "revoke", "nobody"), "no key named 'nobody'")
    run("keys", "revoke", "ci")
    assert_user_error(run("keys", "revoke", "ci"), "no key named 'ci'")
    create("ci")  # the name is free again


def test_a_bad_name_is_a_usage_error_that_creates_no_store(user_data: Path) -> None:
    result = run("keys", "create", "key_1")
    assert result.exit_code == 2 and "cannot name a key" in result.stderr
    pasted = "llmr-" + "x" * 43
    result = run("keys", "create", pasted)
    assert result.exit_code == 2 and "may not start with 'llmr-'" in result.stderr
    assert pasted not in result.output
    assert not (user_data / "llmring").exists()


def test_the_store_is_the_one_llmring_serve_uses(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_lockfile(project / "llmring.lock", {}, '\n[receipts]\nurl = "sqlite:///lock.db"\n')
    assert str(project / "lock.db") in create("in-lockfile")[1]
    monkeypatch.setenv("LLMRING_RECEIPTS", f"sqlite:///{tmp_path / 'env.db'}")
    assert str(tmp_path / "env.db") in create("in-env")[1]
    arg = f"sqlite:///{tmp_path / 'arg.db'}"
    assert str(tmp_path / "arg.db") in create("in-arg", "--receipts", arg)[1]
    assert [r["name"] for r in listed("--receipts", arg)] == ["in-arg"]
    assert [r["name"] for r in listed()] == ["in-env"]
    other = write_lockfile(tmp_path / "other.lock", {}, '\n[receipts]\nurl = "sqlite:///o.db"\n')
    monkeypatch.delenv("LLMRING_RECEIPTS")
    assert str(tmp_path / "o.db") in create("in-other", "--file", str(other))[1]
    assert [r["name"] for r in listed()] == ["in-lockfile"]


def test_a_store_that_is_off_or_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    assert_user_error(
        run("keys", "create", "ci", "--receipts", "off"), "--receipts turns receipts off"
    )
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database\n" * 200)
    for args in (("create", "ci"), ("list",), ("revoke", "ci")):
        result = run("keys", *args, "--receipts", f"sqlite:///{broken}")
        assert_user_error(result, "cannot open the receipt store", str(broken))
    result = run("keys", "list", "--receipts", "mysql://db/x")
    assert_user_error(result, "--receipts", "postgresql://")
    result = run("keys", "list", "--receipts", "postgresql://127.0.0.1:1/x")  # nothing listens
    assert_user_error(result, "the receipt store postgresql://127.0.0.1:1/x: connecting: ")


def test_list_and_revoke_never_create_the_store(user_data: Path) -> None:
    assert run("keys", "list").exit_code == 0
    assert_user_error(run("keys", "revoke", "ci"), "no key named 'ci'", "does not exist")
    assert not (user_data / "llmring").exists()


# -- the gateway's receipts in llmring logs and usage -------------------------------------------


def test_logs_show_the_key_id_and_usage_groups_by_key(user_data: Path) -> None:
    store = SQLiteStore(user_data / "llmring" / "logs.db")
    store.write(
        [
            a_row(1, key_id="key_aaaaaaaaaaaa"),
            a_row(2, key_id="key_aaaaaaaaaaaa"),
            a_row(4, key_id="key_bbbbbbbbbbbb", status="rejected", usage_source=None),
            a_row(8),
        ]
    )
    store.close()
    lines = run("logs").stdout.splitlines()
    assert sorted(re.findall(r"key_\w+$", "\n".join(lines), re.MULTILINE)) == [
        "key_aaaaaaaaaaaa",
        "key_aaaaaaaaaaaa",
        "key_bbbbbbbbbbbb",
    ]
    rejected = run("logs", "--status", "rejected", "--json")
    assert rejected.exit_code == 0, rejected.stderr
    assert [row["key_id"] for row in json.loads(rejected.stdout)] == ["key_bbbbbbbbbbbb"]
    result = run("usage", "--by", "key", "--json")
    assert result.exit_code == 0, result.stderr
    totals = {row["key"]: (row["calls"], row["failed_calls"]) for row in json.loads(result.stdout)}
    assert totals == {None: (1, 0), "key_aaaaaaaaaaaa": (2, 0), "key_bbbbbbbbbbbb": (1, 1)}
