"""Runnable examples (``uvicorn examples.fastapi_chat:app``)."""
