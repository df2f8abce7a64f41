"""``llmring logs``, ``logs show``, ``logs import``, ``usage`` and ``chat -c/--cid/--no-log``,
in-process with ``CliRunner``, over real SQLite files (the user data dir is per test: see
conftest's ``user_data``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmring._receipts._sqlite import SQLiteStore
from llmring.providers.mock import ledger
from tests.helpers import assert_user_error, run
from tests.test_receipts import a_row


def logged(*args: str) -> list[dict[str, Any]]:
    result = run("logs", "--json", *args)
    assert result.exit_code == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def chat(*args: str) -> str:
    result = run("chat", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_chat_logs_each_call_with_its_content_to_the_user_data_dir(user_data: Path) -> None:
    assert chat("mock:echo", "hello there") == "hello there\n"
    assert (user_data / "llmring" / "logs.db").is_file()
    (row,) = logged()
    assert (row["status"], row["alias"], row["response"]) == ("ok", "mock:echo", "hello there")
    assert row["prompt"] == [{"role": "user", "content": "hello there"}]
    assert row["usage"]["completion_tokens"] == row["completion_tokens"] == 2
    assert row["conversation_id"] and row["lockfile_digest"].startswith("sha256:")


def test_no_log_and_llmring_log_off_log_nothing(
    user_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat("--no-log", "mock:echo", "one")
    monkeypatch.setenv("LLMRING_LOG", "off")
    chat("mock:echo", "two")
    assert not (user_data / "llmring").exists()
    result = run("logs")
    assert result.exit_code == 0 and result.stdout == "" and "no receipts" in result.stderr


def test_chat_c_continues_the_last_conversation_with_its_history() -> None:
    chat("mock:echo", "first question")
    chat("mock:echo", "another conversation")
    assert chat("-c", "follow up") == "follow up\n"  # the alias comes from the receipt
    sent = [m.content for m in ledger.records[-1].request.messages]
    assert sent == ["another conversation", "another conversation", "follow up"]
    newest, continued, first = logged()
    assert newest["conversation_id"] == continued["conversation_id"] != first["conversation_id"]


def test_chat_cid_continues_a_given_conversation() -> None:
    chat("mock:echo", "first question")
    chat("mock:echo", "second conversation")
    newest = logged("-n", "1", "--alias", "mock:echo")[0]
    older = logged()[-1]
    assert newest["conversation_id"] != older["conversation_id"]
    chat("--cid", older["conversation_id"], "mock:echo", "again")
    sent = [m.content for m in ledger.records[-1].request.messages]
    assert sent == ["first question", "first question", "again"]
    assert logged("-n", "1")[0]["conversation_id"] == older["conversation_id"]


def test_continuing_without_a_logged_conversation_is_a_clear_error() -> None:
    result = run("chat", "-c", "hello")
    assert result.exit_code == 2 and "no conversation is logged" in result.stderr
    chat("mock:echo", "hi")
    result = run("chat", "--cid", "nope", "hello")
    assert result.exit_code == 2 and "'nope' has no completed reply" in result.stderr
    result = run("chat", "-c", "--cid", "x", "hello")
    assert result.exit_code == 2 and "not both" in result.stderr


def test_logs_filters_and_limits() -> None:
    chat("mock:echo", "one")
    chat("mock:echo", "two")
    run("chat", "mock:echo?fail=server", "three")
    assert [r["status"] for r in logged()] == ["error", "ok", "ok"]
    assert [r["response"] for r in logged("--status", "ok", "-n", "1")] == ["two"]
    assert logged("--alias", "mock:echo?fail=server")[0]["error_class"] == "ProviderResponseError"
    assert len(logged("--since", "1h")) == 3
    assert logged("--since", "2999-01-01") == []
    text = run("logs")
    assert text.exit_code == 0 and len(text.stdout.splitlines()) == 3
    assert " error " in text.stdout and "unpriced" in text.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["logs", "--since", "yesterday"], "neither a span"),
        (["logs", "--status", "fine"], "not a status"),
        (["usage", "--by", "colour"], "not a grouping"),
    ],
)
def test_bad_options_are_one_clear_line(args: list[str], fragment: str) -> None:
    result = run(*args)
    assert result.exit_code == 2 and fragment in result.stderr


def test_logs_show_finds_a_receipt_by_its_id_or_a_prefix() -> None:
    chat("mock:echo", "show me")
    (row,) = logged()
    shown = run("logs", "show", row["id"][:13], "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout) == row
    text = run("logs", "show", row["id"])
    assert f"id: {row['id']}" in text.stdout and "response: show me" in text.stdout
    assert_user_error(run("logs", "show", "ffffffff"), "no receipt 'ffffffff'")


def test_usage_totals_and_counts_unpriced_calls_apart(user_data: Path) -> None:
    store = SQLiteStore(user_data / "llmring" / "logs.db")
    priced = {"cost_usd": 0.25, "cost_status": "priced", "price_source": "lockfile"}
    store.write(
        [
            a_row(10, **priced),
            a_row(20, alias="fast", **priced),
            a_row(30),  # unpriced
            a_row(5, prompt_tokens=None, completion_tokens=None, total_tokens=None)
            | {"usage_source": None, "cost_status": "no_usage"},
        ]
    )
    store.close()
    result = run("usage", "--json")
    totals = {t["key"]: t for t in json.loads(result.stdout)}
    assert totals["chatbot"]["calls"] == 3 and totals["fast"]["calls"] == 1
    assert totals["chatbot"]["cost_usd"] == 0.25  # the unpriced call is not a 0 in the sum
    assert totals["chatbot"]["unpriced_calls"] == totals["chatbot"]["no_usage_calls"] == 1
    assert totals["chatbot"]["prompt_tokens"] == 40
    by_model = json.loads(run("usage", "--by", "model", "--json").stdout)
    assert [t["key"] for t in by_model] == ["mock:chatbot"] and by_model[0]["calls"] == 4
    text = run("usage", "--by", "day").stdout
    assert "calls=4" in text and "$0.500000" in text and "1 unpriced" in text


def test_import_rejects_a_file_that_holds_no_receipts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "started_at": "2026-12-01T00:00:00.000000Z", "status": "ok"}\n[]\n')
    result = run("logs", "import", str(bad))
    assert result.exit_code == 2 and f"{bad}:2: not a receipt" in result.stderr
    result = run("logs", "import", str(tmp_path / "missing.jsonl"))
    assert result.exit_code == 2 and "cannot read" in result.stderr


def test_chat_i_logs_every_reply_under_one_conversation_and_c_continues_it() -> None:
    result = run("chat", "-i", "mock:echo", input="one\ntwo\n")
    assert result.exit_code == 0, result.stderr
    second, first = logged()
    assert (first["response"], second["response"]) == ("one", "two")  # echo: the last message
    assert first["conversation_id"] == second["conversation_id"]
    # -i -c: the session starts from the logged conversation, and logs under its id
    result = run("chat", "-i", "-c", input="three\n")
    assert result.exit_code == 0, result.stderr
    sent = [m.content for m in ledger.records[-1].request.messages]
    assert sent == ["one", "one", "two", "two", "three"]
    newest = logged("-n", "1")[0]
    assert (newest["conversation_id"], newest["alias"]) == (first["conversation_id"], "mock:echo")


def test_chat_says_where_receipts_went_when_the_store_cannot_take_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database\n" * 200)
    monkeypatch.setenv("LLMRING_RECEIPTS", f"sqlite:///{broken}")
    result = run("chat", "mock:echo", "hello")
    assert (result.exit_code, result.stdout) == (0, "hello\n")
    spill = tmp_path / "broken.db.spill.jsonl"
    assert f"1 receipt(s) could not be stored and went to {spill}" in result.stderr
    assert f"llmring logs import {spill}" in result.stderr
    assert len(spill.read_text().splitlines()) == 1
