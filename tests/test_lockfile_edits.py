"""Text edits of a lockfile: ``bind_alias`` and ``remove_binding`` are exact inverses, a new
binding lands after the profile's last one (never after the file's closing comments), a
symlinked lockfile is edited where it points, and an unwritable directory is a clear
``LockfileError`` naming the file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from llmring.exceptions import LockfileError
from llmring.lockfile import bind_alias, load_lockfile, remove_binding, rewrite_lockfile
from llmring.lockfile._parse import parse_lockfile
from llmring.lockfile._store import bundled_lockfile_path, write_lockfile
from llmring.lockfile._template import empty_lockfile_text, initial_lockfile_text
from tests.lockfile_samples import COMMENTED, _write, make_read_only

SIMPLE = (
    'version = "1.0"\n\n[profiles.default]\nname = "default"\n\n'
    '[[profiles.default.bindings]]\nalias = "a"\nmodels = ["mock:a"]\n'
)

TEXTS = {
    "init-template-mock": initial_lockfile_text([]),
    "init-template-providers": initial_lockfile_text(["anthropic", "openai", "google"]),
    "bundled": bundled_lockfile_path().read_text(encoding="utf-8"),
    "empty-template": empty_lockfile_text(),
    "commented": COMMENTED,
    "ends-with-attached-comment": SIMPLE + "# keep me: the last line\n",
    "ends-with-comment-after-blank": SIMPLE + "\n# keep me\n# and me\n",
    "ends-with-blank-lines": SIMPLE + "\n\n",
    "no-final-newline-comment": SIMPLE + "# no newline at the end",
    "comment-then-next-profile": SIMPLE + '# about prod\n[profiles.prod]\nname = "prod"\n',
    "crlf": (SIMPLE + "# closing comment\n").replace("\n", "\r\n"),
    "quoted-profile": SIMPLE.replace("profiles.default", 'profiles."my team"').replace(
        'name = "default"', 'name = "my team"'
    )
    + "# end\n",
}


def _profile_of(text: str) -> str:
    return "my team" if "my team" in text else "default"


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_bind_then_unbind_gives_back_the_text_byte_for_byte(text: str) -> None:
    profile = _profile_of(text)
    bound = bind_alias(text, profile, "added", ["mock:x", "mock:y"])
    data = tomllib.loads(bound)["profiles"][profile]["bindings"]
    assert data[-1] == {"alias": "added", "models": ["mock:x", "mock:y"]}
    assert parse_lockfile(bound).profile(profile).bindings["added"]
    assert remove_binding(bound, profile, "added") == text


def test_a_file_without_a_final_newline_gets_one_before_the_new_table() -> None:
    text = SIMPLE.rstrip("\n")
    bound = bind_alias(text, "default", "added", ["mock:x"])
    assert bound.startswith(SIMPLE + "\n[[profiles.default.bindings]]\n")
    assert remove_binding(bound, "default", "added") == SIMPLE


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_a_new_binding_keeps_every_comment_where_it_was(text: str) -> None:
    bound = bind_alias(text, _profile_of(text), "added", ["mock:x"])
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert [line for line in bound.splitlines() if line.lstrip().startswith("#")] == comments
    # the comment just above the new header (if any) is not the file's: one blank line parts them
    lines = bound.splitlines()
    header = max(i for i, line in enumerate(lines) if "bindings]]" in line)
    assert lines[header - 1] == ""


def test_a_new_binding_follows_the_profiles_last_one_not_the_closing_note() -> None:
    text = initial_lockfile_text([])
    bound = bind_alias(text, "default", "extra", ["mock:echo"])
    deep = 'alias = "deep"\nmodels = ["mock:deep"]\n'
    added = '\n[[profiles.default.bindings]]\nalias = "extra"\nmodels = ["mock:echo"]\n'
    assert deep + added in bound
    assert bound.index(added) < bound.index("# Extra endpoints")
    assert bound.endswith(text[text.index("\n\n# Extra endpoints") :])


def test_crlf_files_get_crlf_lines() -> None:
    text = TEXTS["crlf"]
    bound = bind_alias(text, "default", "added", ["mock:x"])
    assert "\n" not in bound.replace("\r\n", "")


def test_rebinding_keeps_the_models_lines_comment_and_unbinding_twice_is_none() -> None:
    text = SIMPLE.replace('models = ["mock:a"]', 'models = ["mock:a"]  # why')
    assert bind_alias(text, "default", "a", ["mock:b"]) == text.replace('["mock:a"]', '["mock:b"]')
    assert remove_binding(text, "default", "nope") is None
    assert remove_binding(text, "ghost", "a") is None


def test_an_unusual_file_falls_back_to_the_structural_edit() -> None:
    inline = (
        'version = "1.0"\n[profiles.default]\nname = "default"\n'
        'bindings = [{alias = "a", models = ["mock:a"]}]\n'
    )
    bound = bind_alias(inline, "default", "b", ["mock:b"])
    assert [b["alias"] for b in tomllib.loads(bound)["profiles"]["default"]["bindings"]] == [
        "a",
        "b",
    ]
    unbound = remove_binding(bound, "default", "b")
    assert unbound is not None
    assert [b["alias"] for b in tomllib.loads(unbound)["profiles"]["default"]["bindings"]] == ["a"]


# -- symlinks ---------------------------------------------------------------------------------


def test_a_symlinked_lockfile_is_edited_where_it_points(project: Path) -> None:
    real_dir = project / "config"
    real_dir.mkdir()
    real = _write(real_dir / "real.lock", SIMPLE)
    link = project / "llmring.lock"
    link.symlink_to(os.path.relpath(real, project))
    rewrite_lockfile(link, lambda text: bind_alias(text or "", "default", "b", ["mock:b"]))
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert list(load_lockfile(real).profile().bindings) == ["a", "b"]
    # the lock and the temp file live beside the target, never beside the link
    assert sorted(p.name for p in project.iterdir()) == [".git", "config", "llmring.lock"]
    assert sorted(p.name for p in real_dir.iterdir()) == [".real.lock.lck", "real.lock"]
    rewrite_lockfile(link, lambda text: remove_binding(text or "", "default", "b") or "")
    assert link.is_symlink() and real.read_text(encoding="utf-8") == SIMPLE


def test_write_lockfile_through_a_symlink_keeps_the_link(project: Path) -> None:
    real = _write(project / "real.lock", SIMPLE)
    link = project / "llmring.lock"
    link.symlink_to(real.name)
    write_lockfile(link, empty_lockfile_text())
    assert link.is_symlink()
    assert real.read_text(encoding="utf-8") == empty_lockfile_text()


# -- unwritable directories -------------------------------------------------------------------


@pytest.mark.parametrize("locked_before", [False, True], ids=["fresh", "lock-file-exists"])
def test_an_unwritable_directory_is_a_lockfile_error_naming_the_file(
    project: Path, monkeypatch: pytest.MonkeyPatch, locked_before: bool
) -> None:
    directory = project / "ro"
    directory.mkdir()
    path = _write(directory / "llmring.lock", SIMPLE)
    if locked_before:
        rewrite_lockfile(path, lambda text: text or "")  # leaves .llmring.lock.lck behind
    make_read_only(directory, monkeypatch)
    with pytest.raises(LockfileError) as info:
        rewrite_lockfile(path, lambda text: bind_alias(text or "", "default", "b", ["mock:b"]))
    message = str(info.value)
    assert message.startswith(f"cannot write {path}: Permission denied")
    assert f"make the directory {directory} writable" in message
    assert info.value.path == str(path)
    assert path.read_text(encoding="utf-8") == SIMPLE
