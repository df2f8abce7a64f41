"""``llmring chat -i [ALIAS]``: a conversation at a prompt, one streamed reply per message.

Each reply goes through the same ``chat_stream`` call and the same views as one-shot ``chat``
(:func:`~llmring.cli._chat_commands.show_reply`); the session only keeps the conversation and
decides what Ctrl-C means, because a chat that dies on the Ctrl-C meant to stop a rambling reply
(simonw/llm #1224) loses the whole conversation:

* Ctrl-C while a reply streams cancels that reply: the stream is closed (the provider sees the
  disconnect) and the prompt comes back. A second Ctrl-C before the prompt is back, or Ctrl-C
  at the prompt, ends the session, as do Ctrl-D (end of input) and ``exit``/``quit``. Ending
  the session is exit 0: it is how a chat ends, not a failure.
* The conversation holds what the user saw: a cancelled or broken reply stays as far as it was
  printed, so "go on" continues it. A message that got no reply text at all is dropped with its
  (empty) reply, so user and assistant turns keep alternating as every provider requires.
* A failed reply is one ``error:`` line and the session goes on. When stdin is not a terminal,
  each line is one message, no prompt is shown, and the first failed reply ends the session
  with the exit code one-shot ``chat`` would give it: a script must not carry on a
  conversation whose last turn is missing.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any, Self

import typer

from llmring._defaults import default_alias
from llmring.cli._chat_commands import show_reply
from llmring.cli._chat_input import _stdin_is_terminal
from llmring.cli._chat_output import View
from llmring.cli._common import err, exit_code_for
from llmring.exceptions import LLMRingError

if TYPE_CHECKING:
    from llmring.cli._conversation import Conversation
    from llmring.schemas import LLMRequest, Message, StreamChunk
    from llmring.service import LLMRing

__all__ = ["chat_session", "session_model"]

PROMPT = "> "
EXIT_WORDS = frozenset({"exit", "quit"})


def session_model(first: str | None, second: str | None, model: str | None) -> str:
    """The model of ``chat -i [ALIAS]``: messages are typed at the prompt, so the one argument
    is always the model (an unknown alias then fails with suggestions, never becomes a
    message), and a prompt argument is refused."""
    prompt = second if model is None else first
    if prompt is not None:
        raise typer.BadParameter(
            f"-i takes no prompt ({prompt!r}): type each message at the chat's prompt, or "
            "pipe them on stdin, one per line",
            param_hint="'PROMPT'",
        )
    return model or first or default_alias()


def chat_session(
    ring: LLMRing,
    target: str,
    system: str | None,
    settings: dict[str, Any],
    new_view: Callable[[], View],
    earlier: Conversation | None = None,
) -> None:
    """Run the session until the user ends it; a failed reply on piped stdin exits with its
    code (see the module docstring). ``earlier`` (``-c``/``--cid``) is a logged conversation
    the session continues; its replies are logged under one conversation id either way."""
    session = _Session(ring, target, system, settings, new_view, earlier)
    code = session.run()
    if code:
        raise typer.Exit(code)


class _Session:
    def __init__(
        self,
        ring: LLMRing,
        target: str,
        system: str | None,
        settings: dict[str, Any],
        new_view: Callable[[], View],
        earlier: Conversation | None = None,
    ) -> None:
        from llmring._receipts._receipt import uuid7
        from llmring.schemas import Message

        self._ring = ring
        self._target = target
        self._settings = settings
        self._new_view = new_view
        self._terminal = _stdin_is_terminal()
        self._lines_read = 0
        #: the conversation sent with each message: the system prompt, then the finished turns
        self.history: list[Message] = [Message(role="system", content=system)] if system else []
        if earlier is not None:
            self.history += [m for m in earlier.messages if not (system and m.role == "system")]
        #: the id every reply's receipt is logged under (``llmring chat --cid`` continues it)
        self.conversation = earlier.id if earlier is not None else uuid7()

    def run(self) -> int:
        from llmring.schemas import Message

        self._ring.resolve(self._target)  # an unknown alias or profile fails before the prompt
        self._request(Message(role="user", content="?"))  # so does an invalid option
        if self._terminal:
            _enable_line_editing()
            err(
                f"Chatting with {self._target}. Ctrl-C cancels a reply; Ctrl-C at the prompt, "
                "Ctrl-D or 'exit' ends the chat."
            )
        with _Interrupts() as interrupts, asyncio.Runner() as runner:
            try:
                return self._converse(runner, interrupts)
            finally:
                interrupts.leave = True  # Ctrl-C no longer interrupts: the session is closing
                runner.run(self._ring.aclose())

    def _converse(self, runner: asyncio.Runner, interrupts: _Interrupts) -> int:
        try:
            while (text := self._read()) is not None:
                if not text.strip():
                    continue
                if text.strip().lower() in EXIT_WORDS:
                    break
                code = self._turn(runner, interrupts, text)
                if interrupts.leave:
                    break
                if code and not self._terminal:
                    return code
        except KeyboardInterrupt:  # Ctrl-C at the prompt (or between replies)
            if self._terminal:
                err("")  # the shell's prompt starts on its own line
        return 0

    def _turn(self, runner: asyncio.Runner, interrupts: _Interrupts, text: str) -> int:
        """Send one message with the conversation so far; the reply's exit code (0 for a
        finished or cancelled reply)."""
        from llmring.schemas import Message

        user = Message(role="user", content=text)
        view = _Transcript(self._new_view())
        code = 0
        with interrupts.replying():
            try:
                runner.run(self._answer(self._request(user), view, interrupts))
            except asyncio.CancelledError:
                if not interrupts.presses:
                    raise
                # Ctrl-C as the reply ended, after its last await: the reply was shown whole
            except LLMRingError as exc:
                err(f"error: {exc}")
                code = exit_code_for(exc)
        if view.text:
            self.history += [user, Message(role="assistant", content=view.text)]
        if interrupts.presses and not interrupts.leave:
            err(
                "(reply cancelled; what was shown stays in the conversation)"
                if view.text
                else "(reply cancelled before any text; the message was dropped)"
            )
        return code

    async def _answer(self, request: LLMRequest, view: View, interrupts: _Interrupts) -> None:
        task = asyncio.current_task()
        assert task is not None  # always inside Runner.run
        interrupts.watch(task)
        try:
            await show_reply(self._ring, request, view, self.conversation)
        except asyncio.CancelledError:
            if not interrupts.presses or task.uncancel() > 0:
                raise  # a cancellation that is not the user's Ctrl-C

    def _request(self, user: Message) -> LLMRequest:
        from llmring.schemas import LLMRequest

        return LLMRequest(model=self._target, messages=[*self.history, user], **self._settings)

    def _read(self) -> str | None:
        """The next message, or ``None`` at the end of input."""
        if self._terminal:
            try:
                return _ask(PROMPT)
            except EOFError:  # Ctrl-D
                err("")
                return None
        return self._read_line()

    def _read_line(self) -> str | None:
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:  # a text-only replacement (an embedding host); already decoded
            line = str(sys.stdin.readline())
        else:
            data = stream.readline()
            try:
                line = str(data.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise typer.BadParameter(
                    f"line {self._lines_read + 1} of stdin is not UTF-8 text (byte "
                    f"{data[exc.start]:#04x} at offset {exc.start})",
                    param_hint="stdin",
                ) from None
        if not line:
            return None
        self._lines_read += 1
        return line.removesuffix("\n").removesuffix("\r")


def _ask(prompt: str) -> str:
    """``input()``, with the prompt on stderr when stdout is redirected (``> transcript.txt``
    then holds only the replies)."""
    if sys.stdout.isatty():
        return input(prompt)
    sys.stderr.write(prompt)
    sys.stderr.flush()
    return input()


def _enable_line_editing() -> None:
    """Arrow keys and the session's own history at the prompt, where GNU readline (or libedit)
    exists: importing the module is what makes ``input()`` use it."""
    try:
        import readline  # noqa: F401
    except ImportError:  # Windows, or a Python built without it
        pass


class _Transcript(View):
    """Shows a reply through the chosen view and keeps the text shown, for the conversation."""

    def __init__(self, view: View) -> None:
        self._view = view
        self._parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def show(self, chunk: StreamChunk) -> None:
        self._view.show(chunk)
        if chunk.delta:
            self._parts.append(chunk.delta)

    def end_lines(self) -> None:
        self._view.end_lines()


class _Interrupts:
    """What Ctrl-C (SIGINT) does during the session.

    From the message's Enter until the prompt is back, the first press cancels the reply's
    task (so the stream closes through its ``finally``, as on any cancellation; a press before
    the task started cancels it as it starts) and a further press asks to leave once the
    cancellation is done. At the prompt a press raises ``KeyboardInterrupt``, which ends the
    session; once the session is ending, presses are ignored so that closing completes.
    Outside the main thread, where Python allows no signal handler, Ctrl-C keeps its default
    meaning.
    """

    def __init__(self) -> None:
        self._replying = False
        self._task: asyncio.Task[Any] | None = None
        self._previous: Any = None
        self._installed = False
        self.presses = 0  # during the current reply
        self.leave = False

    def __enter__(self) -> Self:
        try:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        except ValueError:  # not the main thread
            pass
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)

    @contextmanager
    def replying(self) -> Iterator[None]:
        """Ctrl-C cancels the reply (see :meth:`watch`) while the block runs."""
        self._replying, self.presses = True, 0
        try:
            yield
        finally:
            self._replying, self._task = False, None

    def watch(self, task: asyncio.Task[Any]) -> None:
        """``task`` streams the reply: Ctrl-C cancels it (at once if pressed already)."""
        self._task = task
        if self.presses:
            task.cancel()

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.leave:
            return
        if not self._replying:
            raise KeyboardInterrupt
        self.presses += 1
        if self.presses > 1:
            self.leave = True
        elif self._task is not None:
            self._task.cancel()
            # the handler runs while the loop may sleep in select(): wake it to cancel now
            self._task.get_loop().call_soon_threadsafe(lambda: None)
