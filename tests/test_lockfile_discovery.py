"""Lockfile discovery (explicit → env → nearest up to the project root → bundled),
``write_target``, profile selection in ``Lockfile`` and ``Resolver``, ``atomic_write``, and the
``lock init`` template (split from test_lockfile.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pytest import MonkeyPatch

from llmring._configs import provider_configs
from llmring.exceptions import (
    LockfileNotFoundError,
    ProfileNotFoundError,
)
from llmring.lockfile import ModelRef, edit_lockfile, find_lockfile, load_lockfile, write_target
from llmring.lockfile._parse import parse_lockfile
from llmring.lockfile._store import atomic_write, bundled_lockfile_path, read_lockfile
from llmring.lockfile._template import initial_lockfile_text
from llmring.resolver import Resolver
from tests.helpers import write_lockfile
from tests.lockfile_samples import BIND, COMMENTED, _write


def test_explicit_path_wins_over_env_and_nearby(project: Path, monkeypatch: MonkeyPatch) -> None:
    write_lockfile(project / "llmring.lock", {"near": ["mock:n"]})
    env_file = write_lockfile(project / "env.lock", {"env": ["mock:e"]})
    monkeypatch.setenv("LLMRING_LOCKFILE_PATH", str(env_file))
    explicit = write_lockfile(project / "explicit.lock", {"mine": ["mock:m"]})
    assert find_lockfile(explicit) == explicit
    assert list(load_lockfile(explicit).profile().bindings) == ["mine"]
    assert write_target(explicit) == explicit
    missing = project / "nope" / "llmring.lock"  # a missing explicit path is an error
    with pytest.raises(LockfileNotFoundError) as info:
        find_lockfile(missing)
    assert info.value.path == str(missing) and str(missing) in str(info.value)


def test_env_path_wins_over_the_nearest_file(project: Path, monkeypatch: MonkeyPatch) -> None:
    write_lockfile(project / "llmring.lock", {"near": ["mock:n"]})
    env_file = write_lockfile(project / "env.lock", {"env": ["mock:e"]})
    monkeypatch.setenv("LLMRING_LOCKFILE_PATH", str(env_file))
    assert find_lockfile() == env_file
    assert list(load_lockfile().profile().bindings) == ["env"]
    assert write_target() == env_file


def test_env_path_to_a_missing_file_names_the_variable(
    project: Path, monkeypatch: MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMRING_LOCKFILE_PATH", str(project / "gone.lock"))
    with pytest.raises(LockfileNotFoundError) as info:
        load_lockfile()
    assert str(info.value).startswith(f"LLMRING_LOCKFILE_PATH={project / 'gone.lock'} ")
    assert info.value.path == str(project / "gone.lock")


def test_nearest_lockfile_is_found_from_a_subdirectory(
    project: Path, monkeypatch: MonkeyPatch
) -> None:
    path = write_lockfile(project / "llmring.lock", {"root": ["mock:r"]})
    nested = project / "src" / "pkg" / "deep"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    assert find_lockfile() == path.resolve()
    assert write_target() == path.resolve()
    inner = write_lockfile(project / "src" / "llmring.lock", {"inner": ["mock:i"]})
    assert find_lockfile() == inner.resolve()


@pytest.mark.parametrize("marker", [".git", "pyproject.toml"])
def test_walk_stops_at_the_project_root(
    tmp_path: Path, monkeypatch: MonkeyPatch, marker: str
) -> None:
    write_lockfile(tmp_path / "llmring.lock", {"outside": ["mock:o"]})  # above the root
    root = tmp_path / "repo"
    (root / "a" / "b").mkdir(parents=True)
    if marker == ".git":
        (root / marker).mkdir()
    else:
        (root / marker).write_text("[project]\n", encoding="utf-8")
    monkeypatch.chdir(root / "a" / "b")
    assert find_lockfile() == bundled_lockfile_path()
    assert load_lockfile().bundled is True
    assert read_lockfile(bundled_lockfile_path()).bundled is True
    assert list(load_lockfile().profile().bindings) == ["chatbot", "fast", "deep"]
    # a command that writes gets llmring.lock at the project root (where discovery will find
    # it from every subdirectory), never the bundled file
    assert write_target() == (root / "llmring.lock").resolve()


PROFILES = BIND.replace("staging", "default") + (
    'models = ["mock:d"]\n\n[profiles.prod]\n'
    'name = "prod"\n[[profiles.prod.bindings]]\nalias = "helper"\nmodels = ["mock:p"]\n'
)


def test_lockfile_profile_lookup(project: Path) -> None:
    lockfile = load_lockfile(_write(project / "llmring.lock", PROFILES))
    assert lockfile.profile().name == "default" and lockfile.profile("prod").name == "prod"
    with pytest.raises(ProfileNotFoundError) as info:
        lockfile.profile("qa")
    assert "profile 'qa'" in str(info.value) and "(profiles: default, prod)" in str(info.value)
    assert str(project / "llmring.lock") in str(info.value)


def test_resolver_profile_argument_then_env_then_default(
    project: Path, monkeypatch: MonkeyPatch
) -> None:
    lockfile = load_lockfile(_write(project / "llmring.lock", PROFILES))
    configs = provider_configs(lockfile.providers)
    assert Resolver(lockfile, configs).resolve("helper")[0].ref == "mock:d"
    monkeypatch.setenv("LLMRING_PROFILE", "prod")
    assert Resolver(lockfile, configs).profile_name == "prod"
    assert Resolver(lockfile, configs).resolve("helper")[0].ref == "mock:p"
    assert Resolver(lockfile, configs, profile="default").resolve("helper")[0].ref == "mock:d"


@pytest.mark.parametrize("via_env", [False, True])
def test_resolver_unknown_selected_profile_raises_at_construction(
    project: Path, monkeypatch: MonkeyPatch, via_env: bool
) -> None:
    lockfile = load_lockfile(_write(project / "llmring.lock", PROFILES))
    if via_env:
        monkeypatch.setenv("LLMRING_PROFILE", "qa")
    configs = provider_configs(lockfile.providers)
    with pytest.raises(ProfileNotFoundError, match=r"'qa' is not in .*\(profiles: default, prod\)"):
        Resolver(lockfile, configs, profile=None if via_env else "qa")


@pytest.mark.parametrize("mode", [0o600, 0o640], ids=["0600", "0640"])  # mkstemp makes 0600
def test_atomic_write_keeps_permissions_and_leaves_no_temp_file(project: Path, mode: int) -> None:
    path = _write(project / "llmring.lock", "old\n")
    path.chmod(mode)
    atomic_write(path, "new\r\ntext\n")
    assert path.read_bytes() == b"new\r\ntext\n"
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert sorted(p.name for p in project.iterdir()) == [".git", "llmring.lock"]


def test_atomic_write_creates_a_new_file_with_the_umask_mode(project: Path) -> None:
    previous = os.umask(0o027)
    try:
        atomic_write(project / "llmring.lock", "x = 1\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((project / "llmring.lock").stat().st_mode) == 0o640


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_atomic_write_keeps_the_original(
    project: Path, monkeypatch: MonkeyPatch, failing: str
) -> None:
    path = _write(project / "llmring.lock", COMMENTED)

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(os, failing, boom)
        with pytest.raises(OSError, match="No space left"):
            atomic_write(path, "half")
    assert path.read_text(encoding="utf-8") == COMMENTED
    assert sorted(p.name for p in project.iterdir()) == [".git", "llmring.lock"]


def test_initial_text_without_credentials_binds_mock_models(project: Path) -> None:
    text = initial_lockfile_text()
    lockfile = parse_lockfile(text, None)
    assert {a: b.models for a, b in lockfile.profile("default").bindings.items()} == {
        "chatbot": (ModelRef("mock", "chatbot"),),
        "fast": (ModelRef("mock", "fast"),),
        "deep": (ModelRef("mock", "deep"),),
    }
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert any("To use a real model" in line for line in comments)
    assert any("llmring bind chatbot" in line for line in comments)
    path = project / "llmring.lock"
    edit_lockfile(path, lambda doc: None, initial_text=text)
    assert path.read_text(encoding="utf-8") == text
