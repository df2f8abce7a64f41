"""The gateway's limits: the request body cap (413) and the per-worker cap on concurrent
chat requests (503 with ``Retry-After``). Both answer before any upstream call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from llmring.serve._errors import APIError

__all__ = ["ClientGone", "Slots", "read_body"]

#: seconds a client refused for want of a free stream slot is told to wait
RETRY_AFTER_BUSY = 1


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


def _too_large(limit: int) -> APIError:
    return APIError(
        413,
        "invalid_request_error",
        f"the request body is larger than this gateway accepts ({limit} bytes; see "
        "llmring serve --max-body)",
        code="request_too_large",
    )


async def read_body(
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]], limit: int, declared: int | None
) -> bytes:
    """The whole request body, refused with a 413 as soon as it is known to exceed ``limit``
    (at once when ``Content-Length`` says so, else when the bytes received pass it)."""
    if declared is not None and declared > limit:
        raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        part = message.get("body", b"")
        if part:
            size += len(part)
            if size > limit:
                raise _too_large(limit)
            parts.append(part)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


class Slots:
    """At most ``limit`` chat requests at once in this worker."""

    __slots__ = ("active", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    def take(self) -> None:
        if self.active >= self.limit:
            raise APIError(
                503,
                "server_error",
                f"this gateway is serving its maximum of {self.limit} concurrent requests; "
                f"retry after {RETRY_AFTER_BUSY} s",
                code="server_busy",
                headers={"retry-after": str(RETRY_AFTER_BUSY)},
            )
        self.active += 1

    def give_back(self) -> None:
        self.active -= 1
