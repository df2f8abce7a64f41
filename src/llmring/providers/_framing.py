"""Framing: the bytes of a streamed HTTP body → frames (SSE events or NDJSON lines).

Two layers, kept apart as the openai SDK keeps its SSE line decoder apart from its event
decoder:

* **Line framing** (:class:`SSELines`, :class:`NDJSONLines`): bytes in, complete lines out.
  Only the new read is scanned. A line that spans reads is kept as a list of pieces and joined
  once, when its end arrives, so the work is linear in the bytes however the body is split:
  a 20 MB line arriving in 16 KB reads is scanned once and copied once, where rescanning a
  growing buffer on every read (``buffer + chunk``, then ``splitlines``) costs seconds.
* **Field parsing** (:class:`SSEDecoder`): one complete line at a time.

Where lines end is each format's own rule. SSE ends a line at CRLF, LF or CR, and only there:
a CRLF split across two reads is one line ending, and U+0085/U+2028/U+2029 inside data never
break a line (``str.splitlines`` would; ``bytes.splitlines`` splits at ASCII CR and LF only,
and only the new read is given to it). NDJSON ends a line at LF alone.

A line longer than :data:`MAX_LINE` (16 MiB, far beyond any real event) raises
:class:`FrameError`, which the adapter base reports as a ``ProviderResponseError``: without a
cap, a server that never ends its line would grow the buffer until memory runs out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

__all__ = [
    "MAX_LINE",
    "FrameError",
    "Framer",
    "NDJSONLines",
    "SSEDecoder",
    "SSELines",
    "ServerSentEvent",
]

#: the longest line a stream may send, in bytes (a line is an SSE field or an NDJSON object)
MAX_LINE = 16 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"

FrameT = TypeVar("FrameT")


class FrameError(Exception):
    """The provider's bytes, or a frame made of them, are not what its API documents.

    Raised by the framers (a line over :data:`MAX_LINE`, a body cut inside an NDJSON line) and
    by translators (a field of the wrong type). The adapter base turns it into a
    ``ProviderResponseError`` naming the provider and model. The message says what is wrong,
    never the offending values (which can be huge, or private).
    """


class Framer(Protocol[FrameT]):
    """Bytes of one body in, frames out; one instance per stream."""

    def feed(self, chunk: bytes) -> list[FrameT]:
        """The frames completed by ``chunk``."""
        ...

    def finish(self) -> list[FrameT]:
        """The body ended: the frames its last bytes complete (usually none)."""
        ...


def _too_long() -> FrameError:
    return FrameError(
        f"a line of the stream is longer than {MAX_LINE // (1024 * 1024)} MiB, llmring's cap; "
        "the server never ended it"
    )


class _Pending:
    """The pieces of the line that is still arriving, with their total size."""

    __slots__ = ("pieces", "size")

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.size = 0

    def hold(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > MAX_LINE:
            raise _too_long()
        self.pieces.append(piece)

    def complete(self, last: bytes) -> bytes:
        """The whole line, ending with ``last``; joined once."""
        if self.size + len(last) > MAX_LINE:
            raise _too_long()
        self.pieces.append(last)
        line = b"".join(self.pieces)
        self.pieces, self.size = [], 0
        return line

    def take(self) -> bytes:
        """What is held, as one piece (the body ended inside a line)."""
        line = b"".join(self.pieces)
        self.pieces, self.size = [], 0
        return line


def _check_lengths(lines: list[bytes]) -> None:
    if any(len(line) > MAX_LINE for line in lines):
        raise _too_long()


class SSELines:
    """SSE line framing: lines without their endings, split at CRLF, LF or CR."""

    __slots__ = ("_pending", "_skip_lf")

    def __init__(self) -> None:
        self._pending = _Pending()
        self._skip_lf = False  # the last read ended with CR: an LF now is the rest of a CRLF

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not chunk:
            return []
        lines = chunk.splitlines()
        last = chunk[-1]
        tail = None
        if last == 13:  # CR
            self._skip_lf = True
        elif last != 10:  # LF; anything else: the read ended inside a line
            tail = lines.pop()
        pending = self._pending
        if lines and pending.pieces:
            lines[0] = pending.complete(lines[0])
        if tail is not None:
            pending.hold(tail)
        if len(chunk) > MAX_LINE:
            _check_lengths(lines)
        return lines

    def finish(self) -> bytes:
        """The body ended: what followed the last line ending (a cut line, or nothing)."""
        return self._pending.take()


class NDJSONLines:
    """NDJSON framing: complete JSON lines, split at LF and nowhere else; blank lines skipped.

    U+0085, U+2028 and U+2029 may appear raw inside a JSON string (Go's encoder leaves U+0085
    alone) and must not end a line. A last line without its LF is a frame when it is whole
    JSON; otherwise the body was cut inside it (:class:`FrameError`).
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = _Pending()

    def feed(self, chunk: bytes) -> list[bytes]:
        if b"\n" not in chunk:
            if chunk:
                self._pending.hold(chunk)
            return []
        lines = chunk.split(b"\n")
        tail = lines.pop()
        if self._pending.pieces:
            lines[0] = self._pending.complete(lines[0])
        if tail:
            self._pending.hold(tail)
        if len(chunk) > MAX_LINE:
            _check_lengths(lines)
        return [line for line in lines if line and not line.isspace()]

    def finish(self) -> list[bytes]:
        tail = self._pending.take()
        if not tail.strip():
            return []
        import json  # here, once per body: importing this module must stay cheap

        try:
            json.loads(tail)
        except ValueError:
            raise FrameError(
                f"the body ended in the middle of a line ({len(tail)} bytes without a newline)"
            ) from None
        return [tail]


@dataclass(slots=True)
class ServerSentEvent:
    data: str
    event: str | None = None  # None when the event had no ``event:`` field ("message")
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Server-Sent Events: bytes in (:meth:`feed`), events out; :meth:`finish` at the end.

    Field parsing as the WHATWG spec has it: a UTF-8 BOM may open the stream; ``:`` lines are
    comments (keep-alives); ``data``, ``event``, ``id`` and ``retry`` fields; a blank line
    dispatches the event, and an event with no ``data`` is dropped. At the end of the body, an
    event whose lines all arrived but whose blank line did not is dispatched, and a last line
    without its line ending (cut in transit) is discarded.
    """

    __slots__ = ("_data", "_event", "_fresh", "_id", "_lines", "_retry")

    def __init__(self) -> None:
        self._lines = SSELines()
        self._fresh = True  # no line yet: the first may start with a BOM
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        lines = self._lines.feed(chunk)
        if self._fresh and lines:
            self._fresh = False
            lines[0] = lines[0].removeprefix(_BOM)
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if line.startswith(b"data: "):  # the hot path: almost every line is a data line
                data.append(line[6:].decode("utf-8", errors="replace"))
            elif line:
                self._field(line)
            elif data:
                events.append(ServerSentEvent("\n".join(data), self._event, self._id, self._retry))
                data.clear()
                self._event = None
            else:
                self._event = None  # an event without data is dropped
        return events

    def finish(self) -> list[ServerSentEvent]:
        self._lines.finish()  # a cut last line: discarded
        events = []
        if self._data:
            events.append(
                ServerSentEvent("\n".join(self._data), self._event, self._id, self._retry)
            )
        self._data, self._event = [], None
        return events

    def _field(self, raw: bytes) -> None:
        """A line that is neither blank nor a ``data: `` line."""
        line = raw.decode("utf-8", errors="replace")
        if line[0] == ":":
            return  # a comment (keep-alive)
        name, _, value = line.partition(":")
        if value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
