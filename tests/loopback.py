"""A loopback HTTP/1.1 server that replays recorded response bodies to the real SDKs.

Tests point an SDK at ``server.base_url`` and tell the server what to answer with a
:class:`Reply`: status, headers, the body (split into pieces at chosen byte boundaries, with
delays), and faults: cut the connection after N bytes, stall after N bytes. The server records
every request (method, path, headers, JSON body) and the moment a client hangs up while a
reply is being sent, so tests can assert what an SDK sent and that a stream was really closed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

#: the recorded provider streams kept with the tests (see tests/wire/README.md)
WIRE = Path(__file__).resolve().parent / "wire"

CONTENT_TYPES = {
    ".sse": "text/event-stream; charset=utf-8",
    ".ndjson": "application/x-ndjson",
    ".json": "application/json",
}


class Gate:
    """Lets a test send a :class:`Reply`'s pieces one at a time: the server sends piece N only
    after the N+1-th :meth:`release` (from any thread), so a test can show that each piece
    reached its client before the next one existed."""

    def __init__(self) -> None:
        self.released = 0  # written by the test's thread only, read by the server's

    def release(self, pieces: int = 1) -> None:
        self.released += pieces


@dataclass
class Reply:
    """What the server answers to one request."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "text/event-stream"})
    #: byte offsets at which to split the body into separate writes (flushed one by one)
    splits: Sequence[int] = ()
    delay: float = 0.0  # seconds before each piece after the first
    first_delay: float = 0.0  # seconds before the first body byte
    end_delay: float = 0.0  # seconds between the last body byte and the chunked terminator
    cut_after: int | None = None  # close the connection after this many body bytes
    stall_after: int | None = None  # stop sending after this many body bytes, keep it open
    chunked: bool = True  # Transfer-Encoding: chunked, else Content-Length
    #: send piece N only once ``gate.released > N`` (the test paces the stream by hand)
    gate: Gate | None = None

    @classmethod
    def wire(cls, relative: str, **kwargs: Any) -> Reply:
        """The recorded body ``tests/wire/<relative>``, served byte for byte."""
        path = WIRE / relative
        headers = {"content-type": CONTENT_TYPES.get(path.suffix, "application/octet-stream")}
        headers.update(kwargs.pop("headers", {}))
        return cls(body=path.read_bytes(), headers=headers, **kwargs)

    @classmethod
    def error(
        cls, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Reply:
        return cls(
            body=json.dumps(payload).encode(),
            status=status,
            headers={"content-type": "application/json", **(headers or {})},
            chunked=False,
        )


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Disconnect:
    path: str
    at: float  # time.monotonic()
    bytes_sent: int


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}


class LoopbackServer:
    """``async with LoopbackServer() as server:``; then set ``server.reply`` or ``routes``."""

    def __init__(self, reply: Reply | None = None) -> None:
        self.reply = reply or Reply()
        self.routes: dict[str, Reply | Callable[[RecordedRequest], Reply]] = {}
        self.requests: list[RecordedRequest] = []
        self.disconnects: list[Disconnect] = []
        self.completed: list[str] = []  # paths whose reply was sent in full
        self.connections = 0  # TCP connections accepted
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        # Abort open connections (not cancel their tasks, which asyncio would log): each
        # handler then sees EOF and returns.
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def wait_for_disconnect(self, timeout: float = 1.0) -> Disconnect:
        deadline = time.monotonic() + timeout
        while not self.disconnects:
            if time.monotonic() > deadline:
                raise AssertionError(f"the client did not disconnect within {timeout}s")
            await asyncio.sleep(0.005)
        return self.disconnects[-1]

    # -- serving ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        leftover = b""
        try:
            while True:
                request = await self._read_request(reader, leftover)
                if request is None:
                    return
                self.requests.append(request)
                reply = self._reply_for(request)
                keep_open, leftover = await self._send(reader, writer, request, reply)
                if not keep_open:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    def _reply_for(self, request: RecordedRequest) -> Reply:
        for prefix, reply in self.routes.items():
            if request.path.startswith(prefix):
                return reply(request) if callable(reply) else reply
        return self.reply

    @staticmethod
    async def _read_request(
        reader: asyncio.StreamReader, leftover: bytes
    ) -> RecordedRequest | None:
        try:
            head = leftover + await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                body += await reader.readexactly(size + 2)
                if size == 0:
                    break
                body = body[:-2]
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        return RecordedRequest(method, path, headers, body)

    async def _send(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: RecordedRequest,
        reply: Reply,
    ) -> tuple[bool, bytes]:
        """Send ``reply``. Returns whether the connection stays open, and any bytes of the
        client's next request that the hang-up watcher read meanwhile."""
        head = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        head.append(
            "transfer-encoding: chunked" if reply.chunked else f"content-length: {len(reply.body)}"
        )
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        hangup = asyncio.ensure_future(reader.read(1))  # b"" when the client closes
        try:
            keep_open = await self._body(writer, request, reply, hangup)
        finally:
            if not hangup.done():
                hangup.cancel()
            await asyncio.wait({hangup})  # let the read settle before the next one starts
        if hangup.cancelled():
            return keep_open, b""
        if hangup.exception() is not None or hangup.result() == b"":
            return False, b""  # the client closed the connection
        return keep_open, hangup.result()

    async def _body(
        self,
        writer: asyncio.StreamWriter,
        request: RecordedRequest,
        reply: Reply,
        hangup: asyncio.Future[bytes],
    ) -> bool:
        limit = min(
            x for x in (reply.cut_after, reply.stall_after, len(reply.body)) if x is not None
        )
        bounds = sorted({0, *(s for s in reply.splits if 0 < s < limit), limit})
        sent = 0
        try:
            for position, (start, end) in enumerate(itertools.pairwise(bounds)):
                pause = reply.first_delay if position == 0 else reply.delay
                if pause and await self._client_left(hangup, pause, request, sent):
                    return False
                while reply.gate is not None and reply.gate.released <= position:
                    if await self._client_left(hangup, 0.005, request, sent):
                        return False
                piece = reply.body[start:end]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if reply.chunked else piece)
                await writer.drain()
                sent = end
            if reply.stall_after is not None and reply.stall_after < len(reply.body):
                await self._client_left(hangup, None, request, sent)
                return False
            if reply.cut_after is not None and reply.cut_after < len(reply.body):
                writer.transport.abort()
                return False
            if reply.chunked:
                if reply.end_delay and await self._client_left(
                    hangup, reply.end_delay, request, sent
                ):
                    return False
                writer.write(b"0\r\n\r\n")
                await writer.drain()
            self.completed.append(request.path)
            return True
        except ConnectionError:
            self.disconnects.append(Disconnect(request.path, time.monotonic(), sent))
            return False

    async def _client_left(
        self, hangup: asyncio.Future[bytes], wait: float | None, request: RecordedRequest, sent: int
    ) -> bool:
        """Wait up to ``wait`` seconds (forever with ``None``); record and report a hang-up."""
        done, _ = await asyncio.wait({hangup}, timeout=wait)
        if done and not hangup.exception() and hangup.result() == b"":
            self.disconnects.append(Disconnect(request.path, time.monotonic(), sent))
            return True
        return False
