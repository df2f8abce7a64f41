"""Runnable examples (``uvicorn examples.fastapi_chat:app``, ``uvicorn examples.web.app:app``)."""
