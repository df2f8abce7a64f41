"""``ChatSession``: a multi-turn conversation over :func:`~llmring.streaming.generate`
(docs/generation.md).

A turn is one :class:`GenerationThunk`. Its user message and the reply join the history only
when the turn completes, from inside the generation task, so a failed or closed turn leaves
nothing behind and whoever awaits the reply already sees the new history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmring.exceptions import LLMRingError
from llmring.schemas import LLMRequest, LLMResponse, Message
from llmring.streaming._thunks import GenerationThunk

if TYPE_CHECKING:
    from llmring.service import LLMRing

__all__ = ["ChatSession", "SessionBusyError"]


class SessionBusyError(LLMRingError, RuntimeError):
    """A turn was started while the session's previous turn was still running."""


class ChatSession:
    """A conversation with ``model`` (an alias or ``provider:model``) that remembers its turns.

    ``system`` is sent first on every turn and always kept; of the user and assistant
    messages, at most ``window`` of the most recent are kept (oldest dropped first, and the
    kept history never starts with an assistant reply). ``request_options`` are
    :class:`~llmring.schemas.LLMRequest` fields (``temperature``, ``max_tokens``,
    ``extra_params``, ...) used for every turn. One turn at a time; other sessions and
    ``ring.generate`` run alongside freely.
    """

    def __init__(
        self,
        ring: LLMRing,
        model: str,
        *,
        system: str | None = None,
        window: int = 20,
        **request_options: Any,
    ) -> None:
        if window < 2:
            raise ValueError("window must keep at least 2 messages (one exchange)")
        self.ring = ring
        self.model = model
        self.system = system
        self.window = window
        self.request_options = request_options
        self._history: list[Message] = []
        self._turn: GenerationThunk | None = None
        self._request([Message(role="user", content="check")])  # bad options fail here

    def __repr__(self) -> str:
        return f"<ChatSession {self.model!r} messages={len(self._history)} busy={self.busy}>"

    @property
    def history(self) -> list[Message]:
        """The kept user and assistant messages, oldest first (a copy)."""
        return list(self._history)

    @property
    def messages(self) -> list[Message]:
        """What the next turn sends before its user message: the system prompt and history."""
        system = [Message(role="system", content=self.system)] if self.system else []
        return system + self._history

    @property
    def busy(self) -> bool:
        """True while a turn is running."""
        return self._turn is not None and not self._turn.done()

    def send(self, text: str, *, buffer: int = 256) -> GenerationThunk:
        """Start a turn and return its thunk at once (read it like any thunk).

        Raises :class:`SessionBusyError` while the previous turn is running. The turn joins
        the history only if it completes.
        """
        if self.busy:
            raise SessionBusyError(
                "the previous turn of this session is still running: read it to the end or "
                "aclose() it before sending the next message"
            )
        user = Message(role="user", content=text)

        def commit(response: LLMResponse) -> None:
            self._commit(user, Message(role="assistant", content=response.content))

        self._turn = GenerationThunk(
            self.ring.chat_stream(self._request([user])), buffer=buffer, _on_complete=commit
        )
        return self._turn

    async def ask(self, text: str) -> str:
        """Send ``text`` and return the whole reply; if this is cancelled, so is the turn."""
        async with self.send(text) as turn:
            return await turn.avalue()

    def clear(self) -> None:
        """Forget the history (the system prompt stays). Raises while a turn is running."""
        if self.busy:
            raise SessionBusyError("cannot clear the history while a turn is running")
        self._history.clear()

    def _request(self, new: list[Message]) -> LLMRequest:
        return LLMRequest(model=self.model, messages=self.messages + new, **self.request_options)

    def _commit(self, user: Message, reply: Message) -> None:
        history = [*self._history, user, reply][-self.window :]
        while history and history[0].role == "assistant":
            history.pop(0)
        self._history = history
