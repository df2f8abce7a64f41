"""Concurrent writers and readers of one lockfile, with real processes.

Twenty ``llmring bind`` processes start together (each waits on a shared start file after
importing llmring, so their edits really race) and bind different aliases in the same file.
Every bind must survive (no lost update: edits serialise on the inter-process lock), the
file's comments must survive, and a reader polling the file meanwhile must never see a
truncated or invalid file (writes are a temp file + ``os.replace``).
"""

from __future__ import annotations

from pathlib import Path

from llmring.exceptions import ConfigurationError
from llmring.lockfile import Binding, ModelRef, load_lockfile
from llmring.lockfile._parse import parse_lockfile
from tests.bind_race import ORIGINAL, Procs, finish, start_writers

WRITERS = 20


def _start_writers(tmp_path: Path, project: Path, path: Path) -> tuple[Procs, Path]:
    sync = tmp_path / "sync"
    sync.mkdir()
    return start_writers(sync, project, path, WRITERS)


def _check_final_file(path: Path, project: Path, results: list[tuple[int, str]]) -> None:
    for i, (code, stderr) in enumerate(results):
        assert code == 0, f"writer {i} exited {code}: {stderr}"
        assert f"bound alias{i} -> mock:model{i} in profile 'default' of {path}" in stderr
    text = path.read_text(encoding="utf-8")
    # the original bytes (comments included) are untouched; the new tables follow them
    assert text.startswith(ORIGINAL)
    bindings = load_lockfile(path).profile("default").bindings
    expected = {
        f"alias{i}": Binding(f"alias{i}", (ModelRef("mock", f"model{i}"),)) for i in range(WRITERS)
    }
    chatbot = (ModelRef("mock", "chatbot"), ModelRef("mock", "fast"))
    expected["chatbot"] = Binding("chatbot", chatbot)
    expected["deep"] = Binding("deep", (ModelRef("mock", "deep"),))
    assert dict(bindings) == expected
    assert list(bindings)[:2] == ["chatbot", "deep"]
    assert text.count("[[profiles.default.bindings]]") == WRITERS + 2
    # no temp file left behind: only the lockfile and its inter-process lock file
    names = sorted(p.name for p in project.iterdir())
    assert names == [".git", ".llmring.lock.lck", "llmring.lock"]


def test_twenty_concurrent_binds_all_survive(tmp_path: Path, project: Path) -> None:
    path = project / "llmring.lock"
    path.write_text(ORIGINAL, encoding="utf-8")
    procs, go = _start_writers(tmp_path, project, path)
    go.touch()
    results = finish(procs)
    _check_final_file(path, project, results)


def test_reader_never_sees_a_partial_file_while_writers_run(tmp_path: Path, project: Path) -> None:
    path = project / "llmring.lock"
    path.write_text(ORIGINAL, encoding="utf-8")
    procs, go = _start_writers(tmp_path, project, path)
    go.touch()
    reads, problems, states = 0, [], set()
    while any(proc.poll() is None for proc in procs):
        data = path.read_bytes()
        reads += 1
        if not data.startswith(ORIGINAL.encode()):
            problems.append(f"read {reads}: {len(data)} bytes, ending {data[-40:]!r}")
            continue
        try:
            lockfile = parse_lockfile(data.decode("utf-8"), path)
            states.add(frozenset(lockfile.profile("default").bindings))
        except (UnicodeDecodeError, ConfigurationError) as exc:  # a torn or invalid read
            problems.append(f"read {reads}: {type(exc).__name__}: {exc}")
    results = finish(procs)
    assert problems == []
    # the reader really overlapped the writers: it saw the file in intermediate states
    assert reads >= 10 and len(states) >= 2, (reads, len(states))
    assert all({"chatbot", "deep"} <= state for state in states)
    _check_final_file(path, project, results)
