"""An incremental Server-Sent Events decoder, bytes in, events out, split by the spec.

Lines end at CRLF, LF or CR, and only there: a line ending split across two reads, a
multi-byte UTF-8 character split across reads, or U+2028 inside data never break an event
(``str.splitlines`` would). ``:`` lines are comments (keep-alives). A blank line dispatches the
event; an event with no ``data`` field is dropped, as the WHATWG spec says.

Adapters feed it the raw bytes of the SDK's streaming response, so the decoding choice stays
inside each adapter and no SDK chunk object is built.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerSentEvent", "aiter_sse"]


@dataclass(slots=True)
class ServerSentEvent:
    data: str
    event: str | None = None  # None when the event had no ``event:`` field ("message")
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed bytes with :meth:`feed`; call :meth:`finish` at the end of the body."""

    __slots__ = ("_buffer", "_data", "_event", "_id", "_retry", "_started")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._started = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode the complete lines in ``chunk`` (plus what was pending); return the events."""
        buffer = self._buffer + chunk if self._buffer else chunk
        if not self._started and buffer:
            self._started = True
            buffer = buffer.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM opens the stream at most
        lines = buffer.splitlines(keepends=True)
        if not lines:
            return []
        last = lines[-1]
        # Keep an unterminated line, and a lone trailing CR (its LF may come in the next read).
        if not last.endswith((b"\n", b"\r")) or last.endswith(b"\r"):
            self._buffer = lines.pop()
        else:
            self._buffer = b""
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            raw = line.rstrip(b"\r\n")
            if raw.startswith(b"data: "):  # the hot path: almost every line is a data line
                data.append(raw[6:].decode("utf-8", errors="replace"))
            elif raw:
                self._field(raw)
            elif data:
                events.append(ServerSentEvent("\n".join(data), self._event, self._id, self._retry))
                data.clear()
                self._event = None
            else:
                self._event = None  # an event without data is dropped
        return events

    def finish(self) -> list[ServerSentEvent]:
        """End of body: dispatch an event whose lines all arrived but whose blank line did not.

        A last line without its line ending was cut in transit and is discarded.
        """
        events = []
        if self._buffer.endswith(b"\r"):  # that CR ended its line; no LF came after it
            events = self.feed(b"\n")
        self._buffer = b""
        if self._data:
            events.append(
                ServerSentEvent("\n".join(self._data), self._event, self._id, self._retry)
            )
        self._data, self._event = [], None
        return events

    def _field(self, raw: bytes) -> None:
        """Any line but a ``data: `` one or a blank one."""
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


async def aiter_sse(chunks: AsyncIterator[bytes]) -> AsyncGenerator[ServerSentEvent, None]:
    """The events of an async byte stream, including a final one completed by EOF."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.finish():
        yield event
