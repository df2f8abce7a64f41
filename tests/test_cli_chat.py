"""``llmring chat`` and ``llmring providers``, offline through the mock provider.

``chat`` streams the reply text to stdout exactly (or one JSON object per chunk with ``--json``)
and puts the usage/timing summary on stderr. Exit codes: 1 for configuration problems, 3 when
the provider fails before any output, 4 when the stream breaks after part of the reply.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring.providers.mock import count_tokens, ledger
from tests.helpers import assert_user_error, run, write_lockfile


def json_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


# -- chat: successful streams -----------------------------------------------------------------


def test_chat_echo_prints_exactly_the_reply() -> None:
    result = run("chat", "mock:echo", "hello there")
    assert result.exit_code == 0
    assert result.stdout == "hello there\n"


def test_chat_summary_goes_to_stderr() -> None:
    prompt = "count these four words"
    result = run("chat", "mock:echo", prompt)
    tokens = count_tokens(prompt)
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("[mock:echo] finish=stop")
    assert f"tokens in={tokens} out={tokens} total={2 * tokens}" in result.stderr
    assert prompt not in result.stderr


@pytest.mark.parametrize(
    "options", ["chunk_size=1", "chunk_size=3", "chunk_size=100", "delay=0.001"]
)
def test_chat_output_does_not_depend_on_chunking(options: str) -> None:
    prompt = "streams, split anywhere: ünïcode ✓ too"
    result = run("chat", f"mock:echo?{options}", prompt)
    assert result.exit_code == 0
    assert result.stdout == prompt + "\n"


def test_chat_system_prompt_is_sent_first() -> None:
    result = run("chat", "mock:echo", "the question", "--system", "be brief")
    assert result.exit_code == 0
    assert result.stdout == "the question\n"
    messages = ledger.last.request.messages
    assert [(m.role, m.text) for m in messages] == [
        ("system", "be brief"),
        ("user", "the question"),
    ]
    assert f"in={count_tokens('be brief the question')} " in result.stderr


def test_chat_through_an_alias(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"greet": ["mock:echo"]})
    result = run("chat", "greet", "hi you")
    assert (result.exit_code, result.stdout) == (0, "hi you\n")
    assert result.stderr.startswith("[mock:echo] ")


def test_chat_bundled_alias_matches_the_library_reply() -> None:
    request = LLMRequest(model="chatbot", messages=[Message(role="user", content="hi")])

    async def library_reply() -> str:
        async with LLMRing() as ring:
            return (await ring.chat(request)).content

    expected = asyncio.run(library_reply())
    result = run("chat", "chatbot", "hi")
    assert result.exit_code == 0
    assert expected and result.stdout == expected + "\n"
    assert result.stderr.startswith("[mock:chatbot] finish=stop")


def test_chat_json_prints_one_object_per_chunk() -> None:
    prompt = "json lines please"
    result = run("chat", "mock:echo?chunk_size=4", prompt, "--json")
    assert result.exit_code == 0
    chunks = json_lines(result.stdout)
    *content, last = chunks
    assert [c["delta"] for c in content] == [prompt[i : i + 4] for i in range(0, len(prompt), 4)]
    assert all(c["delta"] and "finish_reason" not in c for c in content)
    assert "".join(c["delta"] for c in chunks) == prompt
    assert last["finish_reason"] == "stop"
    assert last["usage"]["total_tokens"] == 2 * count_tokens(prompt)
    assert last["provider"] == "mock" and last["model"] == "echo"


def test_chat_file_and_profile_options(project: Path) -> None:
    path = write_lockfile(project / "elsewhere.lock", {"a": ["mock:nope?fail=auth"]})
    run("bind", "a", "mock:echo", "--profile", "prod", "--file", str(path))
    result = run("chat", "a", "from prod", "--file", str(path), "--profile", "prod")
    assert (result.exit_code, result.stdout) == (0, "from prod\n")


# -- chat: which argument is the model, which the prompt -------------------------------------


def user_text() -> str:
    """The user message the last mock stream was asked."""
    return ledger.last.request.messages[-1].text


def test_chat_with_only_a_prompt_asks_the_default_alias() -> None:
    result = run("chat", "What is 2+2?")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("[mock:chatbot] finish=stop")
    assert user_text() == "What is 2+2?"


def test_chat_default_alias_comes_from_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"], "greet": ["mock:echo"]})
    monkeypatch.setenv("LLMRING_DEFAULT_ALIAS", "greet")
    result = run("chat", "hello there")
    assert (result.exit_code, result.stdout) == (0, "hello there\n")
    assert result.stderr.startswith("[mock:echo] ")


@pytest.mark.parametrize("word", ["mock:echo", "mock:echo?chunk_size=2", "greet"])
def test_chat_single_argument_naming_a_model_takes_the_prompt_from_stdin(
    project: Path, word: str
) -> None:
    write_lockfile(project / "llmring.lock", {"greet": ["mock:echo"]})
    result = run("chat", word, input="piped question")
    assert (result.exit_code, result.stdout) == (0, "piped question\n"), result.stderr
    assert result.stderr.startswith("[mock:echo] ")


@pytest.mark.parametrize(
    "word",
    [
        "greeting",  # not an alias of the profile
        "Translate: bonjour",  # 'Translate' is no provider
        "mock: is this a model?",  # a known provider, but not a model reference
    ],
)
def test_chat_single_argument_naming_no_model_is_the_prompt(project: Path, word: str) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:echo"], "greet": ["mock:echo"]})
    result = run("chat", word)
    assert (result.exit_code, result.stdout) == (0, word + "\n"), result.stderr


def test_chat_alias_of_another_profile_is_not_a_model_name(project: Path) -> None:
    path = write_lockfile(project / "llmring.lock", {"chatbot": ["mock:echo"]})
    run("bind", "prodonly", "mock:chatbot", "--profile", "prod", "--file", str(path))
    assert run("chat", "prodonly").stdout == "prodonly\n"
    result = run("chat", "prodonly", "--profile", "prod", input="hi")
    assert result.stderr.startswith("[mock:chatbot] ")


def test_chat_piped_text_comes_before_the_prompt() -> None:
    notes = "line one\n  indented line two\n"
    result = run("chat", "mock:echo", "summarise", input=notes)
    assert result.exit_code == 0
    assert user_text() == notes + " summarise"  # as simonw/llm joins them: one space


def test_chat_dash_prompt_is_stdin() -> None:
    result = run("chat", "mock:echo", "-", input="all of stdin")
    assert (result.exit_code, result.stdout) == (0, "all of stdin\n")
    assert user_text() == "all of stdin"


def test_chat_dash_alone_is_stdin_for_the_default_alias() -> None:
    result = run("chat", "-", input="the question")
    assert result.exit_code == 0
    assert result.stderr.startswith("[mock:chatbot] ")
    assert user_text() == "the question"


def test_chat_model_option_makes_the_argument_the_prompt() -> None:
    result = run("chat", "-m", "mock:echo", "chatbot")
    assert (result.exit_code, result.stdout) == (0, "chatbot\n")
    result = run("chat", "--model", "mock:echo", input="from stdin")
    assert (result.exit_code, result.stdout) == (0, "from stdin\n")


@pytest.mark.parametrize(
    "args, stdin, fragments",
    [
        (["mock:echo"], "", ["'PROMPT'", "no prompt", "stdin"]),
        (["mock:echo"], " \n", ["no prompt"]),
        (["mock:echo", "-"], "", ["no prompt"]),
        (["-m", "mock:echo"], None, ["no prompt"]),
        (["-m", "mock:echo", "chatbot", "hi"], None, ["--model", "given twice", "'chatbot'"]),
        (["mock:echo"], b"caf\xe9", ["stdin is not UTF-8", "0xe9", "offset 3"]),
    ],
)
def test_chat_prompt_problems_are_usage_errors(
    args: list[str], stdin: str | bytes | None, fragments: list[str]
) -> None:
    result = run("chat", *args, input=stdin)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Error" in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr
    assert ledger.records == []


# -- chat: request options --------------------------------------------------------------------


def test_chat_temperature_and_max_tokens_reach_the_request() -> None:
    result = run(
        "chat", "mock:echo", "one two three four", "--temperature", "0.2", "--max-tokens", "2"
    )
    assert (result.exit_code, result.stdout) == (0, "one two\n")
    assert "finish=length" in result.stderr
    request = ledger.last.request
    assert (request.temperature, request.max_tokens) == (0.2, 2)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--temperature", "7"], "temperature"),
        (["--max-tokens", "0"], "max_tokens"),
    ],
)
def test_chat_out_of_range_request_options_exit_1(args: list[str], fragment: str) -> None:
    assert_user_error(run("chat", "mock:echo", "hi", *args), "invalid request", fragment)


def test_chat_option_values_are_json_when_they_parse() -> None:
    result = run(
        "chat",
        "mock:echo",
        "hi",
        "-o",
        "top_p",
        "0.9",
        "-o",
        "stop",
        '["x", "y"]',
        "--option",
        "user",
        "alice",
        "-o",
        "thinking",
        '{"type": "enabled", "budget_tokens": 1024}',
        "-o",
        "logprobs",
        "true",
        "-o",
        "seed",
        '"42"',
        "-o",
        "odd",
        "NaN",
    )
    assert result.exit_code == 0, result.stderr
    # -o stop is the request's stop field, which every adapter sends under its own name
    assert ledger.last.request.stop == ["x", "y"]
    assert ledger.last.request.extra_params == {
        "top_p": 0.9,
        "user": "alice",
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "logprobs": True,
        "seed": "42",
        "odd": "NaN",
    }


def test_chat_option_reaches_the_provider() -> None:
    result = run("chat", "mock:x", "hi", "-o", "mock_response", "set by -o")
    assert (result.exit_code, result.stdout) == (0, "set by -o\n")


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["-o", "top_p"], ["'-o'", "2 arguments"]),
        (["-o", " ", "1"], ["--option", "KEY", "empty"]),
        (["-o", "top_p", "0.9", "-o", "top_p", "0.5"], ["--option", "'top_p'", "twice"]),
    ],
)
def test_chat_bad_option_is_a_usage_error(args: list[str], fragments: list[str]) -> None:
    result = run("chat", "mock:echo", "hi", *args)
    assert (result.exit_code, result.stdout) == (2, "")
    for fragment in fragments:
        assert fragment in result.stderr
    assert ledger.records == []


# -- chat: reasoning --------------------------------------------------------------------------

THINKING = "mock:x?reasoning=Two+plus+two:+four.&response=4"


def test_chat_shows_reasoning_on_stderr_before_the_reply() -> None:
    result = run("chat", THINKING, "What is 2+2?")
    assert (result.exit_code, result.stdout) == (0, "4\n")
    reasoning, summary_line = result.stderr.splitlines()
    assert reasoning == "Two plus two: four."  # plain: stderr is no terminal here
    assert summary_line.startswith("[mock:x] finish=stop")


def test_chat_no_reasoning_hides_it() -> None:
    result = run("chat", THINKING, "What is 2+2?", "--no-reasoning")
    assert (result.exit_code, result.stdout) == (0, "4\n")
    assert result.stderr.startswith("[mock:x] finish=stop")
    assert result.stderr.count("\n") == 1


def test_chat_reasoning_without_a_reply_ends_its_line() -> None:
    result = run("chat", "mock:x?reasoning=only+thoughts&response=", "hi")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr.startswith("only thoughts\n[mock:x] finish=stop")


def test_chat_json_keeps_reasoning_chunks() -> None:
    result = run("chat", THINKING, "hi", "--json", "--no-reasoning")
    assert result.exit_code == 0
    chunks = json_lines(result.stdout)
    assert "".join(c.get("reasoning", "") for c in chunks) == "Two plus two: four."
    assert result.stderr == ""


# -- chat: fallback and failures --------------------------------------------------------------


def test_chat_falls_back_before_any_output(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"fb": ["mock:a?fail=rate_limit", "mock:echo"]})
    result = run("chat", "fb", "answered by echo")
    assert result.exit_code == 0
    assert result.stdout == "answered by echo\n"
    assert "[mock:echo]" in result.stderr
    assert "fell back from mock:a?fail=rate_limit" in result.stderr
    assert [r.model for r in ledger.records] == ["a", "echo"]


def test_chat_falls_back_past_a_provider_without_key(project: Path) -> None:
    extra = '\n[providers.remote]\ntype = "mock"\napi_key_env = "REMOTE_KEY"\n'
    write_lockfile(project / "llmring.lock", {"r": ["remote:echo", "mock:echo"]}, extra=extra)
    result = run("chat", "r", "still answered")
    assert (result.exit_code, result.stdout) == (0, "still answered\n")
    assert "fell back from remote:echo (REMOTE_KEY is not set)" in result.stderr


@pytest.mark.parametrize(
    "kind, fragment",
    [
        ("rate_limit", "rate limit"),
        ("auth", "invalid API key"),
        ("server", "internal server error"),
        ("not_found", "no such model"),
        ("connection", "connection refused"),
        ("bad_request", "invalid request"),
    ],
)
def test_chat_provider_failure_before_output_exits_3(kind: str, fragment: str) -> None:
    assert_user_error(
        run("chat", f"mock:x?fail={kind}", "hi"), f"mock:x?fail={kind}", fragment, code=3
    )


def test_chat_all_fallbacks_failing_exits_3_naming_each(project: Path) -> None:
    write_lockfile(
        project / "llmring.lock", {"fb": ["mock:a?fail=rate_limit", "mock:b?fail=server"]}
    )
    result = run("chat", "fb", "hi")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.startswith("error: mock:b?fail=server")
    assert "mock:a?fail=rate_limit" in result.stderr


@pytest.mark.parametrize(
    "target", ["mock:echo?cut_after=2", "mock:echo?fail=server&fail_after=2", "cut"]
)
def test_chat_stream_broken_after_output_exits_4_keeping_the_partial_text(
    project: Path, target: str
) -> None:
    write_lockfile(project / "llmring.lock", {"cut": ["mock:echo?cut_after=2"]})
    result = run("chat", target, "alpha beta gamma delta")
    assert result.exit_code == 4
    assert result.stdout.rstrip("\n") == "alpha beta"  # the first two one-word chunks
    assert result.stderr.startswith("error: mock:echo")
    assert "stream broke" in result.stderr
    assert result.stderr.count("\n") == 1


def test_chat_stream_broken_in_json_mode_exits_4() -> None:
    result = run("chat", "mock:echo?cut_after=1", "alpha beta", "--json")
    assert result.exit_code == 4
    assert json_lines(result.stdout) == [{"delta": "alpha", "model": "echo", "provider": "mock"}]
    assert result.stderr.startswith("error: ")


# -- chat: configuration errors ---------------------------------------------------------------


def test_chat_unknown_alias_suggests_a_close_one(project: Path) -> None:
    path = write_lockfile(
        project / "llmring.lock", {"chatbot": ["mock:chatbot"], "deep": ["mock:deep"]}
    )
    result = run("chat", "chatbto", "hi")
    assert_user_error(
        result, "'chatbto'", "did you mean 'chatbot'", str(path.resolve()), "llmring bind chatbto"
    )
    assert "'deep'" not in result.stderr


def test_chat_alias_bound_only_in_another_profile_says_where(project: Path) -> None:
    path = write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    run("bind", "prodonly", "mock:echo", "--profile", "prod", "--file", str(path))
    assert_user_error(run("chat", "prodonly", "hi"), "'prodonly'", "'default'", "prod")


def test_chat_unknown_alias_without_lockfile_mentions_the_bundled_default() -> None:
    assert_user_error(run("chat", "nosuch", "hi"), "'nosuch'", "bundled default")


BAD_TARGETS = {
    "unknown-provider": (
        "foo:bar",
        ["'foo'", "known providers: anthropic, google, mock, ollama, openai", "[providers.foo]"],
    ),
    "space-in-model": ("mock:a b", ["'mock:a b'", "provider:model"]),
    "empty-model": ("mock:", ["'mock:'", "provider:model"]),
    "unknown-mock-option": ("mock:echo?bogus=1", ["'bogus'", "chunk_size"]),
    "blank-target": ("   ", ["alias or provider:model"]),
    "empty-target": ("", ["model"]),
}


@pytest.mark.parametrize("target, fragments", BAD_TARGETS.values(), ids=BAD_TARGETS.keys())
def test_chat_bad_target_exits_1_with_one_line(target: str, fragments: list[str]) -> None:
    assert_user_error(run("chat", target, "hi"), *fragments)
    assert [r for r in ledger.records if r.chunks_sent] == []


def test_chat_unknown_profile_lists_profiles(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    assert_user_error(run("chat", "a", "hi", "--profile", "nope"), "'nope'", "profiles: default")


@pytest.mark.parametrize("via_option", [True, False], ids=["--file", "discovered"])
def test_chat_malformed_lockfile_names_the_file(project: Path, via_option: bool) -> None:
    path = project / ("custom.lock" if via_option else "llmring.lock")
    path.write_text('version = "1.0"\n\n[profiles.default\n', encoding="utf-8")
    args = ["--file", str(path)] if via_option else []
    shown = path if via_option else path.resolve()
    assert_user_error(run("chat", "mock:echo", "hi", *args), f"{shown}:3:", "invalid TOML")
    assert ledger.records == []


def test_chat_missing_file_option_names_it(project: Path) -> None:
    assert_user_error(run("chat", "mock:echo", "hi", "--file", "missing.lock"), "missing.lock")


# -- providers --------------------------------------------------------------------------------


def test_providers_lists_mock_as_usable() -> None:
    result = run("providers")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert [line.split() for line in result.stdout.splitlines()] == [
        ["anthropic", "unavailable:", "ANTHROPIC_API_KEY", "is", "not", "set"],
        ["openai", "unavailable:", "OPENAI_API_KEY", "is", "not", "set"],
        ["openai-responses", "unavailable:", "OPENAI_API_KEY", "is", "not", "set"],
        ["google", "unavailable:", "GEMINI_API_KEY", "or", "GOOGLE_API_KEY", "is", "not", "set"],
        ["ollama", "usable"],  # needs no key (OLLAMA_HOST or localhost)
        ["mock", "usable"],
    ]


def test_providers_json() -> None:
    result = run("providers", "--json")
    assert result.exit_code == 0
    statuses = json.loads(result.stdout)
    assert isinstance(statuses, list)
    assert [{k: s[k] for k in ("name", "type", "usable", "reason")} for s in statuses] == [
        {
            "name": "anthropic",
            "type": "anthropic",
            "usable": False,
            "reason": "ANTHROPIC_API_KEY is not set",
        },
        {
            "name": "openai",
            "type": "openai",
            "usable": False,
            "reason": "OPENAI_API_KEY is not set",
        },
        {
            "name": "openai-responses",
            "type": "openai-responses",
            "usable": False,
            "reason": "OPENAI_API_KEY is not set",
        },
        {
            "name": "google",
            "type": "google",
            "usable": False,
            "reason": "GEMINI_API_KEY or GOOGLE_API_KEY is not set",
        },
        {"name": "ollama", "type": "ollama", "usable": True, "reason": None},
        {"name": "mock", "type": "mock", "usable": True, "reason": None},
    ]


def test_providers_include_lockfile_entries(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = (
        '\n[providers.local]\ntype = "mock"\n'
        '\n[providers.remote]\ntype = "mock"\napi_key_env = "REMOTE_KEY"\n'
    )
    write_lockfile(project / "llmring.lock", {}, extra=extra)
    by_name = {s["name"]: s for s in json.loads(run("providers", "--json").stdout)}
    builtin = {"anthropic", "openai", "openai-responses", "google", "ollama", "mock"}
    assert set(by_name) == builtin | {"local", "remote"}
    assert (by_name["local"]["type"], by_name["local"]["usable"]) == ("mock", True)
    assert by_name["remote"]["usable"] is False and "REMOTE_KEY" in by_name["remote"]["reason"]
    text = {line.split()[0]: line for line in run("providers").stdout.splitlines()}
    assert text["local"].endswith("usable") and "unavailable: REMOTE_KEY" in text["remote"]
    monkeypatch.setenv("REMOTE_KEY", "remote-key-value-123")
    result = run("providers", "--json")
    assert {s["name"]: s["usable"] for s in json.loads(result.stdout)}["remote"] is True
    assert "remote-key-value-123" not in result.output


def test_providers_malformed_lockfile_exits_1(project: Path) -> None:
    path = project / "llmring.lock"
    path.write_text("[providers.x]\ntype = 3\n", encoding="utf-8")
    assert_user_error(run("providers"), str(path.resolve()), "[providers.x]")
