"""A browser chat page: type a message, watch the reply stream in.

Run it from the repository root (``pip install 'llmring[sse]'`` first), then open
http://127.0.0.1:8000::

    uvicorn examples.web.app:app

Offline, with the mock provider streaming your words back slowly::

    LLMRING_BOT_MODEL='mock:echo?delay=0.05' uvicorn examples.web.app:app

It is :mod:`examples.fastapi_chat` (``POST /chat`` answering with Server-Sent Events,
``GET /model``) plus the static page in ``static/``. The page posts the conversation with
``fetch`` and reads the events from the response body (``EventSource`` can only ``GET``), so
the whole conversation travels in the request and the server keeps no state. Errors, from the
model or the connection, show in a box on the page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from examples.fastapi_chat import create_app as create_chat_app
from llmring.bots import AsyncSimpleBot

STATIC = Path(__file__).resolve().parent / "static"


def create_app(bot: AsyncSimpleBot | None = None) -> FastAPI:
    """The chat API and, at ``/``, the page (the API's routes come first)."""
    app = create_chat_app(bot)
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="page")
    return app


app = create_app()
