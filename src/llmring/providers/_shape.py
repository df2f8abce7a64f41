"""Checks that a JSON value from a provider has the type its API documents.

Translators call these where a value becomes an event field (text, a tool call's id, name or
arguments, an index). Valid JSON of the wrong shape (``"content": 123``, ``"index": "0"``)
then raises :class:`~llmring.providers._framing.FrameError` at the frame that carried it, which
the adapter base reports as a ``ProviderResponseError``, instead of travelling on as a wrong
type into the assembler (where ``"0"`` and ``0`` would be two tool calls). ``field`` names
the value in the error message; the value itself is never repeated.

On the hot path (answer text) translators write the ``type(value) is str`` test inline.
"""

from __future__ import annotations

from typing import Any

from llmring.providers._framing import FrameError

__all__ = ["entry", "index", "mapping", "not_an_object", "optional_text", "text", "wrong_type"]


def wrong_type(field: str, expected: str) -> FrameError:
    return FrameError(f"{field} is not {expected}")


def not_an_object(frame: str) -> FrameError:
    """A whole frame (a chunk, an event, a line) whose JSON is not an object."""
    return FrameError(f"unexpected stream data: {frame} that is not a JSON object")


def text(value: Any, field: str) -> str:
    """``value`` when it is a string."""
    if type(value) is not str:
        raise wrong_type(field, "a string")
    return value


def optional_text(value: Any, field: str) -> str | None:
    """``value`` when it is a string or absent (``None``)."""
    if value is not None and type(value) is not str:
        raise wrong_type(field, "a string")
    return value


def index(value: Any, field: str) -> int:
    """``value`` when it is an integer (not a ``bool``, not a numeric string)."""
    if type(value) is not int:
        raise wrong_type(field, "an integer")
    return value


def mapping(value: Any, field: str) -> dict[str, Any]:
    """``value`` when it is a JSON object; absent (``None``) is an empty one."""
    if value is None:
        return {}
    if type(value) is not dict:
        raise wrong_type(field, "an object")
    return value


def entry(value: Any, field: str) -> dict[str, Any]:
    """``value``, an item of a list, when it is a JSON object (``null`` is not one)."""
    if type(value) is not dict:
        raise wrong_type(field, "an object")
    return value
