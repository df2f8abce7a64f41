"""A tool call's arguments as the object most providers want them back.

Messages carry tool calls in OpenAI's shape, where ``function.arguments`` is a JSON *string*
(what the model produced, possibly cut). Anthropic (``input``), Gemini (``args``) and Ollama
(``arguments``) take a JSON *object*; a call whose arguments are not one cannot be sent, and
is refused before any request with a ``ConfigurationError`` naming the call.
"""

from __future__ import annotations

import json
from typing import Any

from llmring.exceptions import ConfigurationError
from llmring.schemas import ToolCallDict

__all__ = ["call_arguments"]


def call_arguments(call: ToolCallDict, provider: str, where: str = "") -> dict[str, Any]:
    """``call``'s arguments as an object (``{}`` when empty); ``where`` prefixes the error
    (``"messages[3]: "``)."""
    try:
        arguments = json.loads(call["function"].get("arguments") or "{}")
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"{where}tool call {call['id']!r} has arguments that are not JSON ({exc.msg}); "
            f"{provider} needs them as a JSON object"
        ) from None
    if not isinstance(arguments, dict):
        raise ConfigurationError(
            f"{where}tool call {call['id']!r}: {provider} needs the arguments to be a JSON object"
        )
    return arguments
