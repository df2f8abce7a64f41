"""The ``llmring`` CLI, offline: ``lock init|validate``, ``bind``, ``unbind``, ``aliases``, help,
the shared error wrapper and secret hygiene (``chat``/``providers`` are in test_cli_chat.py).

Contract checked throughout (see ``llmring.cli._common``): data on stdout, status and errors on
stderr, a user error is one ``error: ...`` line with exit 1, usage errors exit 2, and no
traceback ever reaches the user.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import llmring
import llmring.service
from llmring.lockfile._store import bundled_lockfile_path
from tests.helpers import assert_user_error, run, write_lockfile
from tests.lockfile_samples import bound, comment_lines

SECRET = "sk-test-SECRET1234567890abcdef"


# -- help -------------------------------------------------------------------------------------

COMMANDS = ("lock", "bind", "unbind", "aliases", "chat", "providers")


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert result.stderr == ""
    for command in COMMANDS:
        assert command in result.stdout


def test_version_prints_the_package_version() -> None:
    result = run("--version")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        f"llmring {llmring.__version__}\n",
        "",
    )


def test_no_arguments_shows_help_as_a_usage_error() -> None:
    # no_args_is_help=True raises click's NoArgsIsHelpError, a UsageError: help text, exit 2.
    result = run()
    assert result.exit_code == 2
    for command in COMMANDS:
        assert command in result.output


def test_lock_without_subcommand_lists_init_and_validate() -> None:
    result = run("lock")
    assert result.exit_code == 2
    assert "init" in result.output and "validate" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["bind"],
        ["bind", "chatbot"],
        ["unbind"],
        ["chat"],
        ["chat", "chatbot"],
        ["aliases", "--profile"],
        ["lock", "validate", "--bogus"],
        ["nosuchcommand"],
    ],
)
def test_bad_usage_exits_2_with_the_error_on_stderr(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Error" in result.stderr


# -- lock init --------------------------------------------------------------------------------


def test_lock_init_creates_a_valid_lockfile_bound_to_mock_models(project: Path) -> None:
    result = run("lock", "init")
    path = project.resolve() / "llmring.lock"
    assert result.exit_code == 0
    assert result.stdout == f"{path}\n"
    assert f"created {path}" in result.stderr
    for alias in ("chatbot", "fast", "deep"):
        assert alias in result.stderr
    assert bound(path) == {
        "chatbot": ["mock:chatbot"],
        "fast": ["mock:fast"],
        "deep": ["mock:deep"],
    }
    comments = "\n".join(comment_lines(path.read_text(encoding="utf-8")))
    assert "real model" in comments and "llmring bind chatbot" in comments
    validated = run("lock", "validate")
    assert validated.exit_code == 0 and validated.stderr.startswith(f"ok: {path}")


def test_lock_init_refuses_to_overwrite_without_force(project: Path) -> None:
    path = project / "llmring.lock"
    assert run("lock", "init").exit_code == 0
    assert run("bind", "extra", "mock:echo").exit_code == 0
    before = path.read_bytes()
    assert_user_error(run("lock", "init"), str(path.resolve()), "--force")
    assert path.read_bytes() == before


def test_lock_init_force_replaces_the_file(project: Path) -> None:
    path = project / "llmring.lock"
    run("lock", "init")
    fresh = path.read_bytes()
    run("bind", "extra", "mock:echo")
    result = run("lock", "init", "--force")
    assert result.exit_code == 0
    assert path.read_bytes() == fresh
    assert "extra" not in bound(path)


def test_lock_init_file_option_writes_there_creating_directories(project: Path) -> None:
    result = run("lock", "init", "--file", "some/dir/x.lock")
    target = project / "some" / "dir" / "x.lock"
    assert result.exit_code == 0
    assert (project / result.stdout.strip()).resolve() == target.resolve()
    assert set(bound(target)) == {"chatbot", "fast", "deep"}
    assert not (project / "llmring.lock").exists()


# -- lock validate ----------------------------------------------------------------------------


def test_validate_ok_for_a_valid_file(project: Path) -> None:
    path = write_lockfile(project / "llmring.lock", {"a": ["mock:a"], "b": ["mock:b", "mock:echo"]})
    result = run("lock", "validate")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.startswith(f"ok: {path.resolve()}")
    assert "2 binding(s)" in result.stderr


def test_validate_malformed_toml_names_file_and_line(project: Path) -> None:
    path = project / "bad.lock"
    path.write_text(
        'version = "1.0"\ndefault_profile = "default"\n[profiles.default\n', encoding="utf-8"
    )
    assert_user_error(run("lock", "validate", "--file", str(path)), f"{path}:3:", "invalid TOML")


BAD_SHAPES = {
    "version-not-string": ("version = 1\n", ["version", "string"]),
    "bindings-not-array": ('[profiles.default]\nbindings = "x"\n', ["'default'", "bindings"]),
    "models-not-list": (
        ('[profiles.default]\n[[profiles.default.bindings]]\nalias = "a"\nmodels = "mock:a"\n'),
        ["alias 'a'", "models"],
    ),
    "unknown-provider": (
        ('[profiles.default]\n[[profiles.default.bindings]]\nalias = "a"\nmodels = ["zzz:a"]\n'),
        ["alias 'a'", "'zzz'", "known: anthropic, google, mock, ollama, openai"],
    ),
    "alias-twice": (
        (
            '[profiles.default]\n[[profiles.default.bindings]]\nalias = "a"\nmodels = ["mock:a"]\n'
            '[[profiles.default.bindings]]\nalias = "a"\nmodels = ["mock:b"]\n'
        ),
        ["'a'", "twice"],
    ),
    "no-default-profile": (
        'default_profile = "prod"\n[profiles.default]\n',
        ["default_profile", "'prod'"],
    ),
    "provider-bad-type": ('[providers.x]\ntype = "nope"\n', ["[providers.x]", "'nope'"]),
}


@pytest.mark.parametrize("text, fragments", BAD_SHAPES.values(), ids=BAD_SHAPES.keys())
def test_validate_rejects_wrong_shapes(project: Path, text: str, fragments: list[str]) -> None:
    path = project / "llmring.lock"
    path.write_text(text, encoding="utf-8")
    assert_user_error(run("lock", "validate"), str(path.resolve()), *fragments)


def test_validate_missing_file_option_names_the_file(project: Path) -> None:
    assert_user_error(
        run("lock", "validate", "--file", "nope.lock"), "nope.lock", "llmring lock init"
    )


def test_validate_missing_env_path_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, project: Path
) -> None:
    monkeypatch.setenv("LLMRING_LOCKFILE_PATH", str(project / "gone.lock"))
    assert_user_error(run("lock", "validate"), "LLMRING_LOCKFILE_PATH", "gone.lock")


def test_validate_without_a_project_lockfile_says_where_it_looked_and_exits_1(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A lockfile above the project root (which holds .git) must not be found.
    (project.parent / "llmring.lock").write_text("this is [not toml", encoding="utf-8")
    (project / "src" / "pkg").mkdir(parents=True)
    monkeypatch.chdir(project / "src" / "pkg")
    root = project.resolve()
    assert_user_error(
        run("lock", "validate"),
        "no project lockfile",
        f"in {root / 'src' / 'pkg'} or its parents up to {root}",
        "the project root: it holds .git",
        "LLMRING_LOCKFILE_PATH",
        f"create {root / 'llmring.lock'} with: llmring lock init",
    )


def test_validate_the_bundled_default_when_asked_for_by_name(project: Path) -> None:
    result = run("lock", "validate", "--file", str(bundled_lockfile_path()))
    assert result.exit_code == 0 and result.stderr.startswith(f"ok: {bundled_lockfile_path()}")


def test_validate_finds_the_nearest_lockfile_from_a_subdirectory(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    (project / "src" / "pkg").mkdir(parents=True)
    monkeypatch.chdir(project / "src" / "pkg")
    result = run("lock", "validate")
    assert result.exit_code == 0 and result.stderr.startswith(f"ok: {path.resolve()}:")


# -- bind -------------------------------------------------------------------------------------


def test_bind_creates_the_lockfile_when_none_exists(project: Path) -> None:
    result = run("bind", "greet", "mock:echo")
    path = project.resolve() / "llmring.lock"
    assert result.exit_code == 0
    assert result.stdout == ""
    assert f"created {path}" in result.stderr
    assert "greet" in result.stderr and "'default'" in result.stderr
    assert bound(path) == {"greet": ["mock:echo"]}


def test_bind_fallback_list_keeps_order(project: Path) -> None:
    path = write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    result = run("bind", "b", "mock:first, mock:second,mock:third")
    assert result.exit_code == 0
    assert "created" not in result.stderr
    assert bound(path) == {"a": ["mock:a"], "b": ["mock:first", "mock:second", "mock:third"]}


def test_rebind_replaces_and_keeps_comments(project: Path) -> None:
    run("lock", "init")
    path = project / "llmring.lock"
    comments = comment_lines(path.read_text(encoding="utf-8"))
    assert run("bind", "chatbot", "mock:echo,mock:chatbot").exit_code == 0
    assert bound(path) == {
        "chatbot": ["mock:echo", "mock:chatbot"],
        "fast": ["mock:fast"],
        "deep": ["mock:deep"],
    }
    assert comment_lines(path.read_text(encoding="utf-8")) == comments


def test_bind_profile_option_creates_that_profile(project: Path) -> None:
    path = write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    result = run("bind", "a", "mock:echo", "--profile", "prod")
    assert result.exit_code == 0 and "'prod'" in result.stderr
    assert bound(path, "prod") == {"a": ["mock:echo"]}
    assert bound(path) == {"a": ["mock:a"]}


def test_bind_uses_llmring_profile_env(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    monkeypatch.setenv("LLMRING_PROFILE", "staging")
    assert run("bind", "b", "mock:echo").exit_code == 0
    assert bound(path, "staging") == {"b": ["mock:echo"]}
    assert bound(path) == {"a": ["mock:a"]}


def test_bind_file_option_and_subdirectory_discovery(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")
    assert run("bind", "b", "mock:b").exit_code == 0  # edits the project's lockfile
    assert run("bind", "c", "mock:c", "--file", "own.lock").exit_code == 0
    assert bound(root) == {"a": ["mock:a"], "b": ["mock:b"]}
    assert bound(project / "sub" / "own.lock") == {"c": ["mock:c"]}
    assert not (project / "sub" / "llmring.lock").exists()


def test_bind_notes_a_provider_that_needs_a_key(project: Path) -> None:
    extra = '\n[providers.remote]\ntype = "mock"\napi_key_env = "REMOTE_KEY"\n'
    path = write_lockfile(project / "llmring.lock", {}, extra=extra)
    result = run("bind", "r", "remote:echo")
    assert result.exit_code == 0
    assert "note: remote:echo" in result.stderr and "REMOTE_KEY" in result.stderr
    assert bound(path) == {"r": ["remote:echo"]}


BAD_BINDS = {
    "unknown-provider": ("x", "foo:bar", ["'foo'", "mock"]),
    "unknown-fallback-provider": ("x", "mock:a,foo:b", ["'foo'", "mock"]),
    "no-colon": ("x", "gpt4", ["'gpt4'", "provider:model"]),
    "empty-model": ("x", "mock:", ["'mock:'", "provider:model"]),
    "empty-fallback": ("x", "mock:a,", ["empty", "provider:model"]),
    "space-in-model": ("x", "mock:a b", ["'mock:a b'", "provider:model"]),
    "empty-alias": ("", "mock:a", ["alias", "non-empty"]),
    "blank-alias": ("  ", "mock:a", ["alias", "non-empty"]),
    "alias-with-colon": ("a:b", "mock:a", ["'a:b'", "':'"]),
    "duplicate-model": ("x", "mock:a,mock:a", ["'mock:a' is listed twice"]),
    "duplicate-after-spaces": ("x", "mock:a,mock:b, mock:a", ["'mock:a' is listed twice"]),
    "leading-space": (" lead", "mock:a", ["alias ' lead' has spaces around it", "'lead'"]),
    "trailing-space": ("lead ", "mock:a", ["alias 'lead ' has spaces around it"]),
    "newline": ("a\nb", "mock:a", ["'a\\nb'", "U+000A", "printable"]),
    "carriage-return": ("a\rb", "mock:a", ["U+000D"]),
    "tab": ("a\tb", "mock:a", ["U+0009"]),
    "del": ("a\x7fb", "mock:a", ["U+007F"]),
    "bidi": ("safe\u202eexe.txt", "mock:a", ["U+202E RIGHT-TO-LEFT OVERRIDE"]),
    "zero-width": ("a\u200bb", "mock:a", ["U+200B ZERO WIDTH SPACE"]),
    "bidi-in-model": ("x", "mock:a\u202eb", ["is not a valid model reference"]),
}


@pytest.mark.parametrize("existing", [True, False], ids=["existing-file", "no-file"])
@pytest.mark.parametrize("alias, models, fragments", BAD_BINDS.values(), ids=BAD_BINDS.keys())
def test_bind_rejects_bad_input_and_changes_nothing(
    project: Path, existing: bool, alias: str, models: str, fragments: list[str]
) -> None:
    path = project / "llmring.lock"
    if existing:
        run("lock", "init")
        before = path.read_bytes()
    assert_user_error(run("bind", alias, models), *fragments)
    if existing:
        assert path.read_bytes() == before
    else:
        assert not path.exists()


def test_bind_into_a_malformed_lockfile_names_it_and_leaves_it(project: Path) -> None:
    path = project / "llmring.lock"
    path.write_text("version = [\n", encoding="utf-8")
    assert_user_error(run("bind", "a", "mock:a"), str(path.resolve()), "invalid TOML")
    assert path.read_text(encoding="utf-8") == "version = [\n"


# -- unbind -----------------------------------------------------------------------------------


def test_unbind_removes_the_alias(project: Path) -> None:
    path = write_lockfile(project / "llmring.lock", {"a": ["mock:a"], "b": ["mock:b"]})
    result = run("unbind", "a")
    assert result.exit_code == 0 and result.stdout == ""
    assert "unbound a" in result.stderr
    assert bound(path) == {"b": ["mock:b"]}


def test_unbind_in_a_profile_from_env(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    run("bind", "a", "mock:echo", "--profile", "prod")
    monkeypatch.setenv("LLMRING_PROFILE", "prod")
    assert run("unbind", "a").exit_code == 0
    assert bound(path, "prod") == {}
    assert bound(path) == {"a": ["mock:a"]}


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["unbind", "nope"], ["'nope'", "'default'"]),
        (["unbind", "a", "--profile", "prod"], ["'a'", "'prod'"]),
    ],
)
def test_unbind_unknown_alias_names_alias_and_profile(
    project: Path, args: list[str], fragments: list[str]
) -> None:
    path = write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    before = path.read_bytes()
    assert_user_error(run(*args), str(path.resolve()), *fragments)
    assert path.read_bytes() == before


def test_unbind_without_lockfile_says_how_to_create_one(project: Path) -> None:
    assert_user_error(run("unbind", "chatbot"), "llmring.lock", "llmring lock init")
    assert not (project / "llmring.lock").exists()


@pytest.mark.parametrize("alias", ["chatbot", "fast", "deep"])
def test_unbind_keeps_the_other_comments(project: Path, alias: str) -> None:
    run("lock", "init")
    path = project / "llmring.lock"
    kept = [
        c
        for c in comment_lines(path.read_text(encoding="utf-8"))
        if not c.startswith(f"# {alias}:")
    ]
    assert run("unbind", alias).exit_code == 0
    after = comment_lines(path.read_text(encoding="utf-8"))
    assert [c for c in kept if c not in after] == []
    assert alias not in bound(path)


# -- aliases ----------------------------------------------------------------------------------


def test_aliases_text_lists_each_alias_and_models(project: Path) -> None:
    table = {"chatbot": ["mock:chatbot"], "fb": ["mock:a?fail=rate_limit", "mock:echo"]}
    path = write_lockfile(project / "llmring.lock", table)
    result = run("aliases")
    assert result.exit_code == 0
    rows = [line.split(maxsplit=1) for line in result.stdout.splitlines()]
    assert {alias: models.split(", ") for alias, models in rows} == table
    assert str(path.resolve()) in result.stderr and "'default'" in result.stderr


def test_aliases_json(project: Path) -> None:
    table = {"a": ["mock:a"], "b": ["mock:b", "mock:echo"]}
    path = write_lockfile(project / "llmring.lock", table)
    result = run("aliases", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "lockfile": str(path.resolve()),
        "profile": "default",
        "aliases": table,
    }


def test_aliases_of_another_profile(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    run("bind", "p", "mock:echo", "--profile", "prod")
    assert json.loads(run("aliases", "--json", "--profile", "prod").stdout)["aliases"] == {
        "p": ["mock:echo"]
    }
    monkeypatch.setenv("LLMRING_PROFILE", "prod")
    data = json.loads(run("aliases", "--json").stdout)
    assert data["profile"] == "prod" and data["aliases"] == {"p": ["mock:echo"]}


def test_aliases_without_lockfile_shows_the_bundled_default() -> None:
    data = json.loads(run("aliases", "--json").stdout)
    assert data["lockfile"] == str(bundled_lockfile_path())
    assert data["aliases"] == {
        "chatbot": [
            "anthropic:claude-haiku-4-5",
            "openai:gpt-5-mini",
            "google:gemini-2.5-flash",
            "mock:chatbot",
        ],
        "fast": [
            "openai:gpt-5-mini",
            "google:gemini-2.5-flash",
            "anthropic:claude-haiku-4-5",
            "mock:fast",
        ],
        "deep": [
            "anthropic:claude-sonnet-4-5",
            "openai:gpt-5",
            "google:gemini-2.5-pro",
            "mock:deep",
        ],
    }


def test_aliases_unknown_profile_lists_the_profiles(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    run("bind", "p", "mock:echo", "--profile", "prod")
    assert_user_error(run("aliases", "--profile", "nope"), "'nope'", "default, prod")


def test_aliases_default_profile_missing_is_an_error(project: Path) -> None:
    (project / "llmring.lock").write_text(
        'default_profile = "prod"\n[profiles.default]\n', encoding="utf-8"
    )
    assert_user_error(run("aliases"), "'prod'")


# -- the error wrapper and secrets ------------------------------------------------------------

SECRET_SPOTS = {
    "api_key": f'[providers.x]\ntype = "mock"\napi_key = "{SECRET}"\n',
    "api_key_env": f'[providers.x]\ntype = "mock"\napi_key_env = "{SECRET}"\n',
    "type": f'[providers.x]\ntype = "{SECRET}"\n',
    "base_url": f'[providers.x]\ntype = "mock"\nbase_url = "{SECRET}"\n',
    "model": (
        f'[profiles.default]\n[[profiles.default.bindings]]\nalias = "a"\nmodels = ["{SECRET}"]\n'
    ),
}


@pytest.mark.parametrize("text", SECRET_SPOTS.values(), ids=SECRET_SPOTS.keys())
def test_lockfile_errors_never_show_a_secret(
    project: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    (project / "llmring.lock").write_text(text, encoding="utf-8")
    result = run("lock", "validate")
    assert_user_error(result, "llmring.lock")
    assert SECRET not in result.output


def test_env_secret_without_key_shape_is_masked(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "plain-secret-value-42")
    (project / "llmring.lock").write_text(
        '[providers.x]\ntype = "plain-secret-value-42"\n', encoding="utf-8"
    )
    result = run("lock", "validate")
    assert_user_error(result, "[providers.x]")
    assert "plain-secret-value-42" not in result.output


def test_internal_error_exits_70_without_traceback_or_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"upstream rejected key {SECRET}")

    monkeypatch.setattr(llmring.service, "LLMRing", broken)
    result = run("providers")
    assert result.exit_code == 70
    assert result.stdout == ""
    assert result.stderr.startswith("internal error:") and "LLMRING_DEBUG=1" in result.stderr
    assert SECRET not in result.output


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(llmring.service, "LLMRing", interrupted)
    result = run("providers")
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", "interrupted\n")
