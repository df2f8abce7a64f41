"""``llmring models`` and ``llmring lock verify`` with the price table installed, ``--json``
parsed (tests/test_prices_plain.py covers both without it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmring.lockfile import load_lockfile
from tests.helpers import run, write_lockfile

pytest.importorskip("genai_prices")

OVERRIDE = '\n[prices."openai:gpt-4o-mini"]\ninput = 1\noutput = 2\n'


def test_models_lists_the_table_and_the_lockfile_overrides(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]}, OVERRIDE)
    result = run("models", "--provider", "openai", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {(row["model"], row["source"]): row for row in json.loads(result.stdout)}
    assert rows[("openai:gpt-4o-mini", "lockfile")]["input"] == 1.0
    table = rows[("openai:gpt-4o-mini", "genai-prices")]
    assert (table["input"], table["output"], table["cache_read"]) == (0.15, 0.6, 0.075)
    assert table["overridden_by"] == ["openai:gpt-4o-mini"]
    assert {model.partition(":")[0] for model, _ in rows} == {"openai"}
    assert len(rows) > 50


def test_models_shows_long_context_tiers(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]})
    rows = json.loads(run("models", "-P", "google", "--json").stdout)
    [pro] = [row for row in rows if row["model"] == "google:gemini-2.5-pro"]
    assert pro["tiers"] == [{"above": 200000, "input": 2.5}] and pro["input"] == 1.25


def test_models_by_an_endpoint_lists_the_table_provider_it_bills_as(project: Path) -> None:
    groq = '\n[providers.fast]\ntype = "openai"\nbase_url = "https://api.groq.com/openai/v1"\n'
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]}, groq)
    rows = json.loads(run("models", "-P", "fast", "--json").stdout)
    assert rows and {row["model"].partition(":")[0] for row in rows} == {"groq"}
    assert json.loads(run("models", "-P", "ollama", "--json").stdout) == []


def test_models_prints_a_table(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]}, OVERRIDE)
    result = run("models", "-P", "openai")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["model", "input", "output", "cache_read", "cache_write", "source"]
    assert any(
        line.split()[0] == "openai:gpt-4o-mini" and "overridden by openai:gpt-4o-mini" in line
        for line in lines
    )
    assert "US dollars per million tokens" in result.stderr


VERIFIED = """
[[profiles.default.bindings]]
alias = "offline"
models = ["mock:chatbot"]
unpriced_ok = true

[[profiles.default.bindings]]
alias = "local"
models = ["ollama:llama3"]

[prices."ollama:llama3"]
input = 0
output = 0
"""


def test_lock_verify_passes_and_prints_the_digest(project: Path) -> None:
    path = write_lockfile(
        project / "llmring.lock",
        {"chatbot": ["anthropic:claude-haiku-4-5", "openai:gpt-5-mini"]},
        VERIFIED,
    )
    result = run("lock", "verify")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == load_lockfile(path).digest + "\n"
    assert "ok: " in result.stderr and "3 binding(s) verified" in result.stderr
    parsed = json.loads(run("lock", "verify", "--json").stdout)
    assert parsed == {"lockfile": str(path), "digest": load_lockfile(path).digest, "problems": []}


def test_lock_verify_names_every_problem_by_alias_and_model(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-proj-" + "A1b2C3d4" * 4
    extra = f'\n# OPENAI_API_KEY = "{key}"\n[providers.local]\ntype = "openai"\n'
    extra += 'base_url = "http://127.0.0.1:8080/v1"\n'
    write_lockfile(
        project / "llmring.lock",
        {"chatbot": ["openai:no-such-model", "mock:chatbot"], "here": ["local:qwen3"]},
        extra,
    )
    result = run("lock", "verify", "--json")
    assert result.exit_code == 1
    problems = json.loads(result.stdout)["problems"]
    assert len(problems) == 3, problems  # the offline mock never bills: not a problem
    assert problems[0].startswith("line 15: looks like key material")
    assert (
        "alias 'chatbot': openai:no-such-model has no price in the lockfile or the price "
        in (problems[1])
    )
    assert "alias 'here': local:qwen3 has no price" in problems[2]
    assert "not one the price table knows (see priced_as)" in problems[2]
    assert key not in result.output  # the key itself is never printed
    assert result.stderr.count("error: ") == 3


def test_a_new_lockfile_passes_lock_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # lock init with no keys binds the offline mock, which never bills
    monkeypatch.chdir(tmp_path)
    assert run("lock", "init").exit_code == 0
    result = run("lock", "verify")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("sha256:")


def test_lock_verify_of_a_broken_lockfile_is_one_error(project: Path) -> None:
    (project / "llmring.lock").write_text('[prices."openai:x"]\ninput = 1\n', encoding="utf-8")
    result = run("lock", "verify")
    assert result.exit_code == 1 and result.stdout == ""
    assert "output is missing" in result.stderr and "Traceback" not in result.stderr


def test_lock_verify_refuses_a_priced_as_the_table_does_not_know(project: Path) -> None:
    proxy = '\n[providers.proxy]\ntype = "openai"\nbase_url = "https://p/v1"\npriced_as = "opnai"\n'
    write_lockfile(project / "llmring.lock", {"chatbot": ["proxy:gpt-4o"]}, proxy)
    problems = json.loads(run("lock", "verify", "--json").stdout)["problems"]
    assert problems[0].startswith("[providers.proxy]: priced_as 'opnai' is not a provider")
    fixed = proxy.replace("opnai", "openai")
    write_lockfile(project / "llmring.lock", {"chatbot": ["proxy:gpt-4o"]}, fixed)
    assert run("lock", "verify").exit_code == 0  # billed as OpenAI, which prices gpt-4o
