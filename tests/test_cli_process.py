"""``llmring chat`` as a real process among Unix tools: pipes, stdin and terminals.

What ``CliRunner`` cannot show: a reader that closes the pipe early (``| head -c 20``), stdin
that is a pipe or a terminal, and stderr that is a terminal. Each test starts the CLI in a
child process with the clean environment and project directory of conftest, and never leaves
stdin to chance (an inherited stdin could block the child).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# Runs the CLI as the console script does; at exit, writes what happened to every mock stream.
CLI = """
import atexit, json, os, sys
from llmring.cli import main
from llmring.providers.mock import ledger

@atexit.register
def record():
    with open(os.environ["MOCK_LEDGER"], "w") as handle:
        json.dump([{"closed": r.closed, "completed": r.completed, "cancelled": r.cancelled,
                    "chunks_sent": r.chunks_sent} for r in ledger.records], handle)

sys.argv[0] = "llmring"
main()
"""

HANG_GUARD = 30  # seconds; a child still running by then is stuck, not slow

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


@pytest.fixture
def ledger_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.json"
    monkeypatch.setenv("MOCK_LEDGER", str(path))
    return path


def command(*args: str) -> list[str]:
    return [sys.executable, "-c", CLI, *args]


def run_cli(*args: str, **io: Any) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI to its end; ``io`` says what stdin is (``input=`` bytes or ``stdin=``)."""
    return subprocess.run(
        command(*args), capture_output=True, timeout=HANG_GUARD, check=False, **io
    )


def streams(path: Path) -> list[dict[str, object]]:
    return list(json.loads(path.read_text(encoding="utf-8")))


# -- a reader that goes away ------------------------------------------------------------------


def test_a_closed_pipe_ends_quietly_with_the_sigpipe_status(
    ledger_path: Path, tmp_path: Path
) -> None:
    # More than a pipe buffer holds (64 KiB on Linux), so the child is still writing when the
    # reader leaves, whatever the timing; less than one argument may hold (128 KiB).
    words = 24_000
    target = "mock:x?chunk_size=1000&response=" + "word+" * words  # '+' is a space in the query
    errors = tmp_path / "stderr"
    with errors.open("wb") as stderr:
        proc = subprocess.Popen(
            command("chat", target, "hi"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        assert proc.stdout is not None
        head = proc.stdout.read(20)  # what `head -c 20` does before it exits
        proc.stdout.close()
        code = proc.wait(timeout=HANG_GUARD)
    assert errors.read_bytes() == b""  # no "internal error", no "Exception ignored ..."
    assert code == 141  # 128 + SIGPIPE, as cat or yes end there
    assert head == b"word " * 4
    [stream] = streams(ledger_path)
    assert stream["closed"] is True  # the provider stream was closed, not left to the GC
    assert stream["completed"] is False
    assert 0 < int(str(stream["chunks_sent"])) < len("word " * words) // 1000


# -- stdin ------------------------------------------------------------------------------------


def test_piped_stdin_is_the_prompt(ledger_path: Path) -> None:
    result = run_cli("chat", "mock:echo", input=b"hi")
    assert (result.returncode, result.stdout) == (0, b"hi\n"), result.stderr
    assert result.stderr.startswith(b"[mock:echo] finish=stop")


def test_piped_file_and_prompt_are_sent_together(ledger_path: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("first note\nsecond note\n", encoding="utf-8")
    with notes.open("rb") as stdin:
        result = run_cli("chat", "mock:echo", "summarise", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"first note\nsecond note\n summarise\n"


@posix_only
def test_a_terminal_on_stdin_is_not_read(ledger_path: Path) -> None:
    import pty

    controller, terminal = pty.openpty()
    try:
        result = run_cli("chat", "mock:echo", "just the argument", stdin=terminal)
    finally:
        os.close(terminal)
        os.close(controller)
    assert (result.returncode, result.stdout) == (0, b"just the argument\n"), result.stderr


# -- reasoning on a terminal ------------------------------------------------------------------


def run_with_terminal_stderr(*args: str) -> tuple[int, bytes, str]:
    """Run the CLI with stderr on a pseudo-terminal: exit code, stdout and what the terminal
    showed (its line discipline turns ``\\n`` into ``\\r\\n``)."""
    import pty

    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        command(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal
    )
    os.close(terminal)
    shown = b""
    try:
        while data := _read(controller):
            shown += data
    finally:
        os.close(controller)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    proc.stdout.close()
    return proc.wait(timeout=HANG_GUARD), stdout, shown.decode().replace("\r\n", "\n")


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: every writer of the terminal has closed it
        return b""


THINKING = "mock:x?reasoning=Two+plus+two:+four.&response=4"


@posix_only
def test_reasoning_is_dimmed_on_a_terminal(
    ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, stdout, shown = run_with_terminal_stderr("chat", THINKING, "What is 2+2?")
    assert (code, stdout) == (0, b"4\n")
    assert shown.startswith("\x1b[2mTwo\x1b[0m\x1b[2m plus\x1b[0m")
    assert "four.\x1b[0m\n[mock:x] finish=stop" in shown


@posix_only
def test_no_color_and_no_reasoning_on_a_terminal(
    ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, stdout, shown = run_with_terminal_stderr("chat", THINKING, "hi", "--no-reasoning")
    assert (code, stdout) == (0, b"4\n")
    assert shown.startswith("[mock:x] finish=stop")
    monkeypatch.setenv("NO_COLOR", "1")
    code, stdout, shown = run_with_terminal_stderr("chat", THINKING, "hi")
    assert shown.startswith("Two plus two: four.\n[mock:x] finish=stop")
