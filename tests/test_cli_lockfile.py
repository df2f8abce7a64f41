"""``llmring lock init``, ``bind`` and ``unbind`` where the file system or the input is
unusual: run from a subdirectory (the lockfile goes to the project root, where discovery
finds it), names that could spoof the output, bind+unbind round trips that keep comments, a
symlinked lockfile, a read-only directory. The everyday cases are in test_cli.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import assert_user_error, run, write_lockfile
from tests.lockfile_samples import bound, comment_lines, make_read_only


def test_lock_init_in_a_subdirectory_writes_at_the_project_root(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "src" / "pkg").mkdir(parents=True)
    monkeypatch.chdir(project / "src" / "pkg")
    result = run("lock", "init")
    path = project.resolve() / "llmring.lock"
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{path}\n"
    assert f"created {path} (the project root" in result.stderr
    assert not (project / "src" / "pkg" / "llmring.lock").exists()
    # discovery finds it from where it was made, and from everywhere else in the project
    assert run("lock", "validate").stderr.startswith(f"ok: {path}:")
    monkeypatch.chdir(project / "src")
    assert json.loads(run("aliases", "--json").stdout)["lockfile"] == str(path)


def test_bind_in_a_subdirectory_without_a_lockfile_creates_it_at_the_project_root(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "sub").mkdir()
    monkeypatch.chdir(project / "sub")
    result = run("bind", "greet", "mock:echo")
    path = project.resolve() / "llmring.lock"
    assert result.exit_code == 0 and f"created {path}" in result.stderr
    assert bound(path) == {"greet": ["mock:echo"]}
    assert json.loads(run("aliases", "--json").stdout)["aliases"] == {"greet": ["mock:echo"]}


@pytest.mark.parametrize("profile", ["a\nb", " prod", "p\u202e"])
def test_bind_and_unbind_refuse_an_unprintable_profile_name(project: Path, profile: str) -> None:
    path = write_lockfile(project / "llmring.lock", {"a": ["mock:a"]})
    before = path.read_bytes()
    assert_user_error(run("bind", "b", "mock:b", "--profile", profile), f"profile {profile!r}")
    assert_user_error(run("unbind", "a", "--profile", profile), f"profile {profile!r}")
    assert path.read_bytes() == before


def test_a_lockfile_with_a_spoofing_alias_is_refused_by_aliases(project: Path) -> None:
    (project / "llmring.lock").write_text(
        '[profiles.default]\n[[profiles.default.bindings]]\nalias = "chatbot\\nevil  mock-x"\n'
        'models = ["mock:a"]\n',
        encoding="utf-8",
    )
    result = run("aliases")
    assert_user_error(result, "llmring.lock:3:", "U+000A")
    assert "evil" not in result.stdout


def test_bind_then_unbind_gives_back_the_lock_init_file(project: Path) -> None:
    path = project / "llmring.lock"
    assert run("lock", "init").exit_code == 0
    original = path.read_bytes()
    assert run("bind", "extra", "mock:echo,mock:chatbot").exit_code == 0
    assert comment_lines(path.read_text(encoding="utf-8")) == comment_lines(original.decode())
    assert run("unbind", "extra").exit_code == 0
    assert path.read_bytes() == original


def test_bind_then_unbind_keeps_a_trailing_comment(project: Path) -> None:
    path = write_lockfile(
        project / "llmring.lock",
        {"a": ["mock:a"]},
        extra="# Reviewed by the platform team; ask before changing.\n",
    )
    original = path.read_bytes()
    assert run("bind", "b", "mock:b").exit_code == 0
    assert bound(path) == {"a": ["mock:a"], "b": ["mock:b"]}
    assert run("unbind", "b").exit_code == 0
    assert path.read_bytes() == original


def test_bind_through_a_symlinked_lockfile_edits_its_target(project: Path) -> None:
    real = write_lockfile(project / "real.lock", {"a": ["mock:a"]})
    link = project / "llmring.lock"
    link.symlink_to("real.lock")
    assert run("bind", "b", "mock:b").exit_code == 0
    assert link.is_symlink()
    assert bound(real) == {"a": ["mock:a"], "b": ["mock:b"]}
    assert run("unbind", "b").exit_code == 0
    assert link.is_symlink() and bound(real) == {"a": ["mock:a"]}


def test_bind_in_a_read_only_directory_exits_1_naming_the_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = project / "ro"
    directory.mkdir()
    path = write_lockfile(directory / "llmring.lock", {"a": ["mock:a"]})
    before = path.read_bytes()
    make_read_only(directory, monkeypatch)
    result = run("bind", "b", "mock:b", "--file", str(path))
    assert_user_error(
        result,
        f"cannot write {path}",
        "Permission denied",
        f"make the directory {directory} writable",
    )
    assert "internal error" not in result.stderr
    assert path.read_bytes() == before
