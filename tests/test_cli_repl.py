"""``llmring chat -i``: a conversation that survives Ctrl-C.

The terminal tests run the installed ``llmring`` console script under a pseudo-terminal, as a
user does, and send it SIGINT mid-reply. A ``sitecustomize`` module on the child's path
writes the mock ledger (every stream's request, and whether it was closed) when it exits, so
the tests see what the provider was sent and that the cancelled stream was closed. Replies
that must be interrupted use the mock's ``stall_after``: they stop sending after a few words
and never finish, so no test depends on timing; waits for output are bounded only by a
generous hang guard. Piped stdin and argument checks run in process.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmring.cli._chat_repl import _Interrupts
from llmring.providers.mock import ledger
from tests.helpers import assert_user_error, run

HANG_GUARD = 30.0  # seconds; output still missing by then means the child is stuck, not slow
LLMRING = Path(sys.executable).with_name("llmring")

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")

# Imported by the child at start-up (it is on PYTHONPATH); dumps the mock ledger at exit.
SITECUSTOMIZE = """
import atexit, json, os

@atexit.register
def _dump_mock_ledger():
    from llmring.providers.mock import ledger
    with open(os.environ["MOCK_LEDGER"], "w", encoding="utf-8") as handle:
        json.dump([{"closed": r.closed, "completed": r.completed, "cancelled": r.cancelled,
                    "chunks_sent": r.chunks_sent,
                    "messages": [[m.role, m.text] for m in r.request.messages]}
                   for r in ledger.records], handle)
"""


class Terminal:
    """The console script on a pseudo-terminal: what it shows, what is typed, signals."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        import pty

        hooks = tmp_path / "hooks"
        hooks.mkdir()
        (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        self.ledger_path = tmp_path / "ledger.json"
        env = {**os.environ, "PYTHONPATH": str(hooks), "MOCK_LEDGER": str(self.ledger_path)}
        # no escape sequences (readline, dimmed reasoning) to wade through
        env.update(TERM="dumb", NO_COLOR="1")
        self._controller, terminal = pty.openpty()
        self.proc = subprocess.Popen(
            [str(LLMRING), "chat", "-i", *args],
            stdin=terminal,
            stdout=terminal,
            stderr=terminal,
            env=env,
        )
        os.close(terminal)
        self.shown = ""  # everything the terminal showed, "\r\n" as "\n"
        self._seen = 0  # how much of it expect() has consumed

    def expect(self, text: str) -> str:
        """Wait until ``text`` shows after what was already expected; what showed up to it."""
        while (found := self.shown.find(text, self._seen)) < 0:
            if not self._read():
                pytest.fail(f"waited for {text!r}; the terminal showed {self.shown!r}")
        start, self._seen = self._seen, found + len(text)
        return self.shown[start : self._seen]

    def type(self, line: str) -> None:
        """Type ``line`` and Enter, and wait for the terminal to echo it."""
        os.write(self._controller, line.encode() + b"\r")
        self.expect(line + "\n")

    def interrupt(self) -> None:
        """Ctrl-C, once the child waits for input or for the provider.

        CPython checks for a signal when the wait is interrupted, so a SIGINT that lands just
        before the child enters that wait (after it printed the prompt or the last word) stays
        pending until the next key. No person is that fast, but a test is: it waits until the
        child sleeps (Linux's /proc; elsewhere it sends at once)."""
        stat = Path(f"/proc/{self.proc.pid}/stat")
        deadline = time.monotonic() + HANG_GUARD
        while stat.exists() and time.monotonic() < deadline:
            if stat.read_text().rpartition(")")[2].split()[0] == "S":
                break
            time.sleep(0.001)
        self.proc.send_signal(signal.SIGINT)

    def end_input(self) -> None:
        os.write(self._controller, b"\x04")  # Ctrl-D on an empty line

    def exit_code(self) -> int:
        """Wait for the exit, reading the rest of the output (a full terminal would block it)."""
        while self._read():
            pass
        return self.proc.wait(timeout=HANG_GUARD)

    def _read(self) -> bool:
        """Add what the terminal shows next to :attr:`shown`; ``False`` when it shows nothing
        more (the child closed it, or nothing came for :data:`HANG_GUARD` seconds)."""
        ready, _, _ = select.select([self._controller], [], [], HANG_GUARD)
        try:
            data = os.read(self._controller, 4096) if ready else b""
        except OSError:  # EIO: every writer of the terminal has closed it
            data = b""
        self.shown += data.decode("utf-8", "replace").replace("\r\n", "\n")
        return bool(data)

    def streams(self) -> list[dict[str, Any]]:
        return list(json.loads(self.ledger_path.read_text(encoding="utf-8")))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self._controller)


@pytest.fixture
def terminals(tmp_path: Path) -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.close()


@pytest.fixture
def start(tmp_path: Path, terminals: list[Terminal]) -> Any:
    if not LLMRING.exists():
        pytest.fail(f"the console script is not installed at {LLMRING}: pip install -e .")

    def start(*args: str) -> Terminal:
        terminal = Terminal(tmp_path, *args)
        terminals.append(terminal)
        terminal.expect("ends the chat.\n")  # the banner
        terminal.expect("> ")
        return terminal

    return start


STALLING = "mock:echo?stall_after=3"  # echoes the message, but stalls after its third word


@posix_only
def test_ctrl_c_cancels_the_reply_and_the_chat_goes_on(start: Any) -> None:
    chat = start(STALLING)
    chat.type("alpha beta gamma delta")
    chat.expect("alpha beta gamma")  # the reply so far; it sends nothing more
    chat.interrupt()
    after = chat.expect("> ")
    assert "cancelled; what was shown stays in the conversation" in after
    chat.type("go on")
    reply = chat.expect("> ")
    assert reply.startswith("go on\n[mock:echo] finish=stop")
    chat.end_input()
    assert chat.exit_code() == 0
    assert "Traceback" not in chat.shown
    cancelled, answered = chat.streams()
    # the cancelled stream was closed, by the cancellation, mid-reply
    assert cancelled["closed"] and cancelled["cancelled"] and not cancelled["completed"]
    assert cancelled["chunks_sent"] == 3
    # the next message carries the conversation, with the reply as far as it was shown
    assert answered["completed"] and answered["closed"]
    assert answered["messages"] == [
        ["user", "alpha beta gamma delta"],
        ["assistant", "alpha beta gamma"],
        ["user", "go on"],
    ]


@posix_only
def test_ctrl_c_before_any_text_drops_the_message(start: Any) -> None:
    # it thinks aloud (on stderr), then stalls before its first word
    chat = start("mock:echo?reasoning=let+me+think&stall_after=3", "--system", "be brief")
    chat.type("never answered")
    chat.expect("let me think")
    chat.interrupt()
    assert "cancelled before any text; the message was dropped" in chat.expect("> ")
    chat.type("exit")
    assert chat.exit_code() == 0
    [stream] = chat.streams()
    assert stream["closed"] and stream["cancelled"]
    assert stream["messages"] == [["system", "be brief"], ["user", "never answered"]]


@posix_only
def test_ctrl_c_at_the_prompt_ends_the_chat(start: Any) -> None:
    chat = start(STALLING)
    chat.type("one two three four")
    chat.expect("one two three")
    chat.interrupt()
    chat.expect("> ")
    chat.interrupt()
    assert chat.exit_code() == 0
    assert "Traceback" not in chat.shown and "interrupted" not in chat.shown
    [stream] = chat.streams()
    assert stream["closed"] and stream["cancelled"]


@posix_only
def test_a_broken_reply_is_one_error_line_and_the_chat_goes_on(start: Any) -> None:
    chat = start("mock:echo?fail=server&fail_after=2")  # every reply breaks after two words
    chat.type("one two three")
    shown = chat.expect("> ")
    assert shown.startswith("one two\nerror: ") and "the stream broke" in shown
    chat.type("again")
    assert "error: " in chat.expect("> ")
    chat.end_input()
    assert chat.exit_code() == 0  # on a terminal the user has seen each error
    assert "Traceback" not in chat.shown
    first, second = chat.streams()
    assert first["closed"] and second["closed"]
    assert second["messages"] == [
        ["user", "one two three"],
        ["assistant", "one two"],
        ["user", "again"],
    ]


@posix_only
def test_ctrl_d_ends_the_chat_and_every_reply_is_shown(start: Any) -> None:
    chat = start("mock:echo")
    chat.type("first")
    assert chat.expect("> ").startswith("first\n[mock:echo] finish=stop")
    chat.end_input()
    assert chat.exit_code() == 0
    [stream] = chat.streams()
    assert stream["completed"] and stream["messages"] == [["user", "first"]]


# -- the second Ctrl-C while the first one is cancelling the reply ------------------------------


class FakeTask:
    cancels = 0

    def cancel(self) -> None:
        self.cancels += 1

    def get_loop(self) -> Any:
        return type("Loop", (), {"call_soon_threadsafe": lambda self, callback: None})()


def press(interrupts: _Interrupts) -> None:
    interrupts._on_sigint(signal.SIGINT, None)


def test_a_second_press_during_the_cancellation_asks_to_leave() -> None:
    """What the terminal tests cannot order: a second press before the cancelled reply's task
    has run. (Two SIGINTs sent back to back may reach the child as one: the kernel keeps one
    pending signal of each kind.)"""
    interrupts, task = _Interrupts(), FakeTask()
    with interrupts.replying():
        interrupts.watch(task)  # type: ignore[arg-type]
        press(interrupts)
        assert (task.cancels, interrupts.leave) == (1, False)
        press(interrupts)
        assert (task.cancels, interrupts.leave) == (1, True)
    interrupts.leave = False
    with pytest.raises(KeyboardInterrupt):  # no reply on its way: at the prompt
        press(interrupts)
    interrupts.leave = True
    press(interrupts)  # the session is closing: ignored


def test_a_press_between_enter_and_the_stream_cancels_the_reply() -> None:
    interrupts, task = _Interrupts(), FakeTask()
    with interrupts.replying():
        press(interrupts)  # the message is sent, its task not yet running
        assert not interrupts.leave
        interrupts.watch(task)  # type: ignore[arg-type]
        assert task.cancels == 1


# -- piped stdin: one message per line ----------------------------------------------------------


def test_piped_lines_are_a_conversation() -> None:
    result = run("chat", "-i", "mock:echo", "-s", "be brief", input="hello there\n\nsecond\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "hello there\nsecond\n"  # no prompt, no banner: only the replies
    assert result.stderr.count("[mock:echo] finish=stop") == 2
    assert [(m.role, m.text) for m in ledger.last.request.messages] == [
        ("system", "be brief"),
        ("user", "hello there"),
        ("assistant", "hello there"),
        ("user", "second"),
    ]


def test_options_apply_to_every_reply() -> None:
    result = run(
        "chat", "-i", "mock:echo", "--max-tokens", "2", "-o", "top_p", "0.5", input="a b c\nd e\n"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "a b\nd e\n"
    assert [r.request.max_tokens for r in ledger.records] == [2, 2]
    assert [r.request.extra_params for r in ledger.records] == [{"top_p": 0.5}] * 2


def test_json_prints_each_reply_as_chunks() -> None:
    result = run("chat", "-i", "mock:echo", "--json", input="hi\nyo\n")
    assert result.exit_code == 0, result.stderr
    chunks = [json.loads(line) for line in result.stdout.splitlines()]
    assert [c.get("delta") for c in chunks] == ["hi", "", "yo", ""]
    assert [c.get("finish_reason") for c in chunks] == [None, "stop", None, "stop"]


def test_exit_ends_piped_input() -> None:
    result = run("chat", "-i", "mock:echo", input="one\n quit \nnever sent\n")
    assert (result.exit_code, result.stdout) == (0, "one\n")
    assert len(ledger.records) == 1


def test_a_failed_reply_ends_piped_input_with_its_exit_code() -> None:
    result = run("chat", "-i", "mock:x?fail=auth", input="one\ntwo\n")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: ") and "401" in result.stderr
    assert len(ledger.records) == 1  # "two" was not sent


def test_a_reply_broken_after_text_keeps_that_text() -> None:
    result = run(
        "chat",
        "-i",
        "mock:echo?cut_after=2",
        input="a b c d\na b\n",
    )
    assert result.exit_code == 4  # piped: the broken reply ends the session
    assert result.stdout == "a b\n"
    assert len(ledger.records) == 1


def test_piped_stdin_must_be_utf8() -> None:
    result = run("chat", "-i", "mock:echo", input=b"fine\n\xff\n")
    assert result.exit_code == 2
    assert "line 2 of stdin is not UTF-8" in result.stderr


# -- what -i refuses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("mock:echo", "hello"), ("-m", "mock:echo", "hello")],
    ids=["alias and prompt", "model option and prompt"],
)
def test_a_prompt_argument_is_refused(args: tuple[str, ...]) -> None:
    result = run("chat", "-i", *args, input="")
    assert result.exit_code == 2
    assert "-i takes no prompt ('hello')" in result.stderr
    assert not ledger.records


def test_an_unknown_alias_fails_before_reading() -> None:
    assert_user_error(run("chat", "-i", "nosuch", input="hello\n"), "'nosuch'", "llmring bind")
    assert not ledger.records


def test_an_invalid_option_fails_before_reading() -> None:
    result = run("chat", "--interactive", "mock:echo", "--temperature", "9", input="hello\n")
    assert_user_error(result, "temperature")
    assert not ledger.records
