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
from importlib import resources

__all__ = ["ASSETS", "asset"]

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
