"""Real ``llmring bind`` processes racing on one lockfile.

Each writer imports llmring first (the slow part), says it is ready, waits for a start file,
then runs the real CLI: ``llmring bind alias<i> mock:model<i> --file PATH``. Creating the start
file releases them all at once, so their edits really overlap. Used by
``tests/test_lockfile_concurrency.py`` (correctness) and ``bench/binds.py`` (timing).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

#: a lockfile with comments that every writer must keep
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

#: seconds a writer may take to import llmring, and may wait for the start file (hang guards)
START_TIMEOUT = 30.0

WORKER = f"""\
import sys, time
from pathlib import Path
from llmring.cli import app
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
ready.touch()
deadline = time.monotonic() + {START_TIMEOUT}
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit(99)
    time.sleep(0.002)
app(args=sys.argv[3:], prog_name="llmring")
"""

Procs = list[subprocess.Popen[str]]


def start_writers(sync: Path, project: Path, path: Path, count: int) -> tuple[Procs, Path]:
    """Start ``count`` writers binding ``alias<i>`` in ``path``; return them, all past their
    imports, and the start file to create (``sync`` is an empty scratch directory)."""
    go = sync / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(sync / f"ready{i}"),
                str(go),
                "bind",
                f"alias{i}",
                f"mock:model{i}",
                "--file",
                str(path),
            ],
            cwd=project,
            env=dict(os.environ),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(count)
    ]
    deadline = time.monotonic() + START_TIMEOUT
    while len(list(sync.glob("ready*"))) < count:
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            for proc in procs:
                proc.kill()
                proc.communicate()
            raise AssertionError("the writer processes did not all start")
        time.sleep(0.01)
    return procs, go


def finish(procs: Procs) -> list[tuple[int, str]]:
    """Wait for every writer; their exit codes and standard error."""
    results = []
    for proc in procs:
        _, stderr = proc.communicate(timeout=60)
        results.append((proc.returncode, stderr))
    return results
