"""A streamed response body that sends, in one ASGI message, every frame already received.

A provider often delivers many chunks in one network read (a burst, or a whole short reply):
the stream then yields them one after another without the event loop running in between.
Sending each as its own ASGI message costs a chunked-encoding header, a ``write`` system call
and a TCP segment per chunk. :class:`CoalescedBody` instead appends frames to a buffer and
wakes a sender task; the sender runs only when the stream has to wait for the network, so it
sends everything that arrived meanwhile at once. A chunk that arrives alone is sent alone, at
once: gaps between chunks are kept.

So that a long burst does not hold its first frames back, the writer sends by itself once
:data:`BATCH` frames are waiting, and the gateway sends the first frame of a response at once
(``write(frame, now=True)``): coalescing delays no frame by more than the time it takes to
translate a batch.

Back-pressure: when the client reads slowly, ASGI ``send`` waits; the buffer then grows only
up to :data:`HIGH_WATER` bytes, after which :meth:`write` waits for the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BATCH", "HIGH_WATER", "CoalescedBody"]

#: bytes buffered before a writer waits for the client to take them
HIGH_WATER = 256 * 1024
#: frames waiting when the writer sends them itself, without waiting for the stream to pause
BATCH = 16

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class CoalescedBody:
    """The body of one streamed response; see the module docstring. ``close`` sends the last
    bytes (``more_body`` false); ``abort`` stops the sender without sending anything more."""

    __slots__ = (
        "_closing",
        "_failed",
        "_parts",
        "_room",
        "_send",
        "_sender",
        "_sending",
        "_size",
        "_wake",
    )

    def __init__(self, send: Send) -> None:
        self._send = send
        self._parts: list[bytes] = []
        self._size = 0
        # the sender and its events are made when first needed: a stream that is sent its
        # first frame at once and then waits (an idle stream) never pays for them
        self._wake: asyncio.Event | None = None
        self._room: asyncio.Event | None = None
        self._sending = False  # a message is being sent: the sender must not be cancelled
        self._closing = False
        self._failed: BaseException | None = None
        self._sender: asyncio.Task[None] | None = None

    async def write(self, frame: bytes, *, now: bool = False) -> None:
        """Queue ``frame``; it leaves with everything else queued before the loop next runs,
        or at once (with what is queued) when ``now``."""
        if self._failed is not None:
            raise self._failed
        self._parts.append(frame)
        self._size += len(frame)
        if (now or len(self._parts) >= BATCH) and not self._sending:
            await self._flush()
        else:
            self._wake_sender()
        if self._size > HIGH_WATER:
            room = self._room
            if room is None:
                room = self._room = asyncio.Event()
            room.clear()
            await room.wait()
            if self._failed is not None:
                raise self._failed

    def _wake_sender(self) -> None:
        wake = self._wake
        if wake is None:
            wake = self._wake = asyncio.Event()
            self._sender = asyncio.get_running_loop().create_task(self._run(wake))
        wake.set()

    def _make_room(self) -> None:
        if self._room is not None:
            self._room.set()

    async def flush(self) -> None:
        """Send what is queued now (unless a send is in progress, which will take it)."""
        if self._failed is not None:
            raise self._failed
        if self._parts and not self._sending:
            await self._flush()

    async def _flush(self) -> None:
        # the writer and the sender both come here; ``_sending`` is set before the first
        # suspension, so one send at a time, in order
        data = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        self._make_room()
        self._sending = True
        try:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})
        finally:
            self._sending = False

    async def _run(self, wake: asyncio.Event) -> None:
        try:
            while True:
                await wake.wait()
                wake.clear()
                if self._parts and not self._sending:
                    await self._flush()
                if self._closing and not self._parts:
                    return
        except Exception as exc:  # noqa: BLE001 - raised to the writer by its next call
            self._failed = exc
            self._make_room()

    async def close(self, last: bytes) -> None:
        """Send what is queued and ``last``, in one message when no send is in progress, and
        end the body."""
        sender = self._sender
        if sender is None:
            pass  # never needed: every frame went out with its write
        elif self._sending:  # let that message finish, and the sender take what is queued
            self._closing = True
            self._wake_sender()
            await sender
        else:  # idle, waiting to be woken: nothing is lost by stopping it
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        if self._failed is not None:
            raise self._failed
        data = b"".join([*self._parts, last]) if self._parts else last
        self._parts.clear()
        await self._send({"type": "http.response.body", "body": data, "more_body": False})

    async def abort(self) -> None:
        """Stop the sender (the request is over: a disconnect, a cancellation)."""
        sender = self._sender
        if sender is None:
            return
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
