"""Keep foreign exceptions, and the keys they may hold, out of the chains of llmring's errors.

An SDK exception keeps the whole failed response: its body (OpenAI's real 401 says "Incorrect
API key provided: sk-..."), its headers, the request. Chained to an llmring error as
``__cause__`` or ``__context__``, it is printed by ``traceback``, ``logger.exception`` and error
reporters, which all walk the chain. So where foreign exceptions meet llmring's errors (the
adapters' shared ``providers._errors.mapped_errors`` and the facade's candidate loop), every
foreign link of a chain is replaced by a :class:`ScrubbedCause`: the original's type name,
its message with keys removed (:func:`llmring._secrets.redact`) and its HTTP status. The
body, the response and the original's frames (whose locals hold clients and requests with
auth headers) are left behind. Notes (``__notes__``) along the chain are redacted too.

All of this runs on the error path only.
"""

from __future__ import annotations

from typing import Any, NoReturn

from llmring._secrets import redact
from llmring.exceptions import LLMRingError

__all__ = ["ScrubbedCause", "describe", "raise_from", "scrub_chain", "stand_in"]

#: links followed along one chain; deeper links (or a cycle) are cut off
MAX_LINKS = 16
#: characters kept of a foreign exception's message (an HTML error page can be megabytes)
MAX_MESSAGE = 2000


class ScrubbedCause(Exception):
    """Stands in for a foreign exception (an SDK's, httpx's...) in an llmring error's chain.

    ``type_name`` is the original's dotted type name (``openai.AuthenticationError``),
    ``status_code`` its HTTP status when it had one; the message has keys removed.
    """

    def __init__(self, type_name: str, message: str = "", status_code: int | None = None) -> None:
        super().__init__(redact(message))
        self.type_name = type_name
        self.status_code = status_code

    def __str__(self) -> str:
        message = str(self.args[0]) if self.args else ""
        return f"{self.type_name}: {message}" if message else self.type_name

    def __repr__(self) -> str:
        return f"ScrubbedCause({self.type_name!r}, {str(self.args[0]) if self.args else ''!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        message = str(self.args[0]) if self.args else ""
        return type(self), (self.type_name, message, self.status_code)


def _own(exc: BaseException) -> bool:
    """llmring's own errors: their messages were scrubbed when they were made."""
    return isinstance(exc, (LLMRingError, ScrubbedCause))


def _type_name(exc: BaseException) -> str:
    kind = type(exc)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the real error
        text = "<the message could not be read>"
    text = redact(text)  # before cutting, so no key is cut in half and missed
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


def _status(exc: BaseException) -> int | None:
    for name in ("status_code", "code"):  # the openai/anthropic/ollama SDKs; google-genai
        value = getattr(exc, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    return None


def describe(exc: BaseException) -> tuple[str, str]:
    """``exc``'s type name (llmring's own by class name, others dotted) and its message with
    keys removed and cut to :data:`MAX_MESSAGE`: how a receipt records an error."""
    name = type(exc).__qualname__ if _own(exc) else _type_name(exc)
    return name, _message(exc)


def _redact_notes(exc: BaseException) -> list[str] | None:
    notes = getattr(exc, "__notes__", None)
    if not isinstance(notes, list) or not notes:
        return None
    return [redact(str(note)) for note in notes]


def stand_in(exc: BaseException, _depth: int = 0) -> BaseException:
    """``exc`` itself when it is llmring's own (its chain scrubbed in place), else a
    :class:`ScrubbedCause` for it whose ``__cause__`` stands in for the rest of its chain."""
    if _own(exc):
        scrub_chain(exc, _depth)
        return exc
    copy = ScrubbedCause(_type_name(exc), _message(exc), _status(exc))
    notes = _redact_notes(exc)
    if notes:
        copy.__notes__ = notes
    shown = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if shown is not None and _depth < MAX_LINKS:
        copy.__cause__ = stand_in(shown, _depth + 1)
    return copy


def scrub_chain(error: BaseException, _depth: int = 0) -> None:
    """Make ``error``'s chain safe to print, in place: its notes are redacted, every foreign
    ``__cause__``/``__context__`` along the chain becomes a :class:`ScrubbedCause`, and a
    context that is not shown (``raise ... from ...``) is dropped."""
    notes = _redact_notes(error)
    if notes:
        error.__notes__ = notes
    cause, context = error.__cause__, error.__context__
    if _depth >= MAX_LINKS:
        error.__cause__ = error.__context__ = None
        return
    if cause is not None:
        error.__cause__ = stand_in(cause, _depth + 1)
    if context is cause:
        error.__context__ = error.__cause__
    elif context is not None:
        error.__context__ = None if error.__suppress_context__ else stand_in(context, _depth + 1)


def raise_from(error: BaseException, cause: BaseException, told: str | None = None) -> NoReturn:
    """``raise error from cause``, called while ``cause`` is the exception being handled, with
    the chain scrubbed: ``__cause__`` and ``__context__`` are both the stand-in for ``cause``.

    ``told`` replaces the message of ``cause`` (and the rest of its chain) in the stand-in, for
    a cause whose message repeats data that must not travel on (pydantic's errors quote the
    input they rejected).

    A plain ``raise ... from ...`` inside ``except`` would still set ``__context__`` to the
    foreign exception being handled. Raising the stand-in first makes *it* the exception being
    handled, so it is what ``raise`` records as the context.
    """
    if told is None:
        clean = stand_in(cause)
    else:
        clean = ScrubbedCause(_type_name(cause), told, _status(cause))
    if clean is cause:  # llmring's own, and already the exception being handled
        raise error from cause
    try:
        raise clean
    except ScrubbedCause:
        clean.__context__ = clean.__traceback__ = None  # its raise here recorded both
        raise error from clean
