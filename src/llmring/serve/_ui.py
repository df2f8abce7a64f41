"""The browser chat page of ``llmring serve --ui``: three files shipped in ``static/``.

The page is a client of the gateway's own OpenAI API (``static/app.js``), with relative URLs,
so it works wherever the gateway is mounted. Only the files named in :data:`ASSETS` are ever
served: a request path is looked up in that table, never joined to a directory, so no path can
reach a file outside ``static/`` (``..``, encoded slashes, absolute paths are simply unknown).
The files are read from the installed package (``importlib.resources``, so a zipped install
works too) on first use and kept in memory.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any

__all__ = ["ASSETS", "asset", "send_asset"]

#: file name in ``static/`` → the content type it is served with
ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
#: request paths that answer with the page itself
_INDEX = ("/", "/index.html")


def asset(path: str) -> tuple[bytes, str] | None:
    """The body and content type for a request path (``"/"`` is the page), or ``None`` when
    the path is not one of the page's files (the server answers 404)."""
    name = "index.html" if path in _INDEX else path.removeprefix("/")
    if name not in ASSETS:
        return None
    return _read(name), ASSETS[name]


@functools.cache
def _read(name: str) -> bytes:
    return resources.files("llmring.serve").joinpath("static", name).read_bytes()


async def send_asset(
    path: str, head: bool, send: Callable[[MutableMapping[str, Any]], Awaitable[None]]
) -> bool:
    """Answer ``GET``/``HEAD path`` with the page's file at ``path``; ``False`` if there is none.
    The page loads only its own files: no inline script, no other host (the CSP says so)."""
    found = asset(path)
    if found is None:
        return False
    body, content_type = found
    headers = [
        (b"content-type", content_type.encode()),
        (b"cache-control", b"no-cache"),
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", b"default-src 'self'"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
    return True
