"""Concurrent writers and readers of one lockfile, with real processes.

Twenty ``llmring bind`` processes start together (each waits on a shared start file after
importing llmring, so their edits really race) and bind different aliases in the same file.
Every bind must survive (no lost update: edits serialise on the inter-process lock), the
file's comments must survive, and a reader polling the file meanwhile must never see a
truncated or invalid file (writes are a temp file + ``os.replace``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from llmring.exceptions import ConfigurationError
from llmring.lockfile import Binding, ModelRef, load_lockfile, parse_lockfile

WRITERS = 20
START_TIMEOUT = 30.0

ORIGINAL = """\
# Shared lockfile: every writer below must keep these comments.
version = "1.0"
default_profile = "default"

[profiles.default]
name = "default"

# the chat alias
[[profiles.default.bindings]]
alias = "chatbot"
models = ["mock:chatbot", "mock:fast"]   # primary, then fallback

[[profiles.default.bindings]]
alias = "deep"
models = ["mock:deep"]
"""

# Imports llmring first (the slow part), says it is ready, waits for the start file, then
# runs the real CLI: `llmring bind ALIAS MODEL --file PATH`.
WORKER = """\
import sys, time
from pathlib import Path
from llmring.cli import app
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
deadline = time.monotonic() + 30
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit(99)
    time.sleep(0.002)
app(args=sys.argv[3:], prog_name="llmring")
"""


Procs = list[subprocess.Popen[str]]


def _start_writers(tmp_path: Path, project: Path, path: Path) -> tuple[Procs, Path]:
    """Start the writers; return them (all past their imports) and the start file to create."""
    sync = tmp_path / "sync"
    sync.mkdir()
    go = sync / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(sync / f"ready{i}"), str(go),
             "bind", f"alias{i}", f"mock:model{i}", "--file", str(path)],
            cwd=project, env=dict(os.environ), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for i in range(WRITERS)
    ]
    deadline = time.monotonic() + START_TIMEOUT
    while len(list(sync.glob("ready*"))) < WRITERS:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            for proc in procs:
                proc.kill()
                proc.communicate()
            raise AssertionError("the writer processes did not all start")
        time.sleep(0.01)
    return procs, go


def _finish(procs: Procs) -> list[tuple[int, str]]:
    results = []
    for proc in procs:
        _, stderr = proc.communicate(timeout=60)
        results.append((proc.returncode, stderr))
    return results


def _check_final_file(path: Path, project: Path, results: list[tuple[int, str]]) -> None:
    for i, (code, stderr) in enumerate(results):
        assert code == 0, f"writer {i} exited {code}: {stderr}"
        assert f"bound alias{i} -> mock:model{i} in profile 'default' of {path}" in stderr
    text = path.read_text(encoding="utf-8")
    # the original bytes (comments included) are untouched; the new tables follow them
    assert text.startswith(ORIGINAL)
    bindings = load_lockfile(path).profile("default").bindings
    expected = {f"alias{i}": Binding(f"alias{i}", (ModelRef("mock", f"model{i}"),))
                for i in range(WRITERS)}
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
    started = time.monotonic()
    go.touch()
    results = _finish(procs)
    assert time.monotonic() - started < 20
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
    results = _finish(procs)
    assert problems == []
    # the reader really overlapped the writers: it saw the file in intermediate states
    assert reads >= 10 and len(states) >= 2, (reads, len(states))
    assert all({"chatbot", "deep"} <= state for state in states)
    _check_final_file(path, project, results)
