"""OpenAI's Chat Completions JSON ↔ llmring's ``LLMRequest`` and ``LLMResponse``, with no I/O.

:func:`chat_request` reads the body of ``POST /v1/chat/completions``. It takes what llmring
can honour for every provider and refuses the rest with a 400 that names the field, so that a
client never believes a setting was applied when it was not:

* a field OpenAI does not define (``base_url``, ``api_key``, a typo) is refused, never
  forwarded: a request cannot choose the endpoint or the credentials (no SSRF);
* a field OpenAI defines that llmring cannot honour (``n`` > 1, ``logprobs``, ``seed``...)
  is refused too, unless its value is OpenAI's default (``n: 1``, ``logprobs: false``) or
  ``null``, which ask for nothing.

:func:`completion_body` writes the non-streaming ``chat.completion``; streams are
``llmring.sse.openai_frames``, which shares the finish-reason and usage mapping.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from llmring.schemas import MAX_STOP_SEQUENCES, LLMRequest, LLMResponse
from llmring.serve._errors import invalid_request
from llmring.sse import openai_finish_reason, openai_usage

__all__ = ["ChatCall", "chat_request", "completion_body", "json_body"]

#: the request fields that map to ``LLMRequest`` (or to how the reply is sent)
ACCEPTED = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "response_format",
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "stream",
        "stream_options",
    }
)

#: fields OpenAI defines that llmring does not honour, with the value that asks for nothing
#: beyond ``null`` (``...``: none does)
UNSUPPORTED: Mapping[str, object] = {
    "audio": ...,
    "frequency_penalty": ...,
    "function_call": ...,
    "functions": ...,
    "logit_bias": ...,
    "logprobs": False,
    "metadata": ...,
    "modalities": ...,
    "n": 1,
    "parallel_tool_calls": True,
    "prediction": ...,
    "presence_penalty": ...,
    "prompt_cache_key": ...,
    "reasoning_effort": ...,
    "safety_identifier": ...,
    "seed": ...,
    "service_tier": ...,
    "store": False,
    "top_logprobs": ...,
    "top_p": ...,
    "user": ...,
    "verbosity": ...,
    "web_search_options": ...,
}

_MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})
#: fields of an assistant message that a client echoes back from a completion it received
#: (the SDK's ``messages.append(completion.choices[0].message)``): accepted and dropped when
#: empty; ``reasoning_content``, llmring's own, is dropped (a provider takes back only its
#: signed reasoning, which the OpenAI shape cannot carry)
_ECHOED_FIELDS = frozenset({"refusal", "annotations", "audio", "function_call"})
_DROPPED_FIELDS = _ECHOED_FIELDS | {"reasoning_content"}
_ROLES = ("system", "developer", "user", "assistant", "tool")
_STREAM_OPTIONS = frozenset({"include_usage"})
_RESPONSE_FORMATS = ("text", "json_object", "json_schema")


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A mapped ``POST /v1/chat/completions``: what to ask and how to send the reply."""

    request: LLMRequest
    stream: bool = False
    #: ``stream_options.include_usage``: end the stream with a usage chunk
    include_usage: bool = False


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _refuse_fields(body: Mapping[str, Any]) -> None:
    unknown = sorted(key for key in body if key not in ACCEPTED and key not in UNSUPPORTED)
    if unknown:
        names = ", ".join(repr(key) for key in unknown)
        raise invalid_request(
            f"unknown field{'s' if len(unknown) > 1 else ''} {names}: llmring serve accepts "
            f"{', '.join(sorted(ACCEPTED))}, and refuses what it cannot honour",
            param=unknown[0],
        )
    for key in sorted(UNSUPPORTED.keys() & body.keys()):
        value, harmless = body[key], UNSUPPORTED[key]
        if value is None or (
            harmless is not ... and type(value) is type(harmless) and value == harmless
        ):
            continue
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise invalid_request(
            f"{key}={shown} is not supported by llmring serve: it is not honoured for every "
            "provider, so it is refused rather than ignored; remove it",
            param=key,
        )


def _checked(body: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], what: str) -> Any:
    """``body[key]`` (``None`` when absent or null) when it is of ``kinds``; bool is no number."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise invalid_request(f"{key} must be {what}, not a boolean", param=key)
    if not isinstance(value, kinds):
        raise invalid_request(f"{key} must be {what}, not {_type_name(value)}", param=key)
    return value


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    legacy = _checked(body, "max_tokens", int, "a positive integer")
    current = _checked(body, "max_completion_tokens", int, "a positive integer")
    if legacy is not None and current is not None and legacy != current:
        raise invalid_request(
            f"max_tokens={legacy} and max_completion_tokens={current} disagree; send one",
            param="max_completion_tokens",
        )
    chosen: int | None = current if current is not None else legacy
    return chosen


def _stop(body: Mapping[str, Any]) -> list[str] | None:
    limit = f"up to {MAX_STOP_SEQUENCES}"
    stop = _checked(body, "stop", (str, list), f"a string or a list of {limit} strings")
    if stop is None:
        return None
    sequences = [stop] if isinstance(stop, str) else stop
    if len(sequences) > MAX_STOP_SEQUENCES or not all(
        isinstance(item, str) and item for item in sequences
    ):
        raise invalid_request(
            f"stop must be a string or a list of {limit} non-empty strings", "stop"
        )
    return sequences or None


def _stream_options(body: Mapping[str, Any], stream: bool) -> bool:
    options = _checked(body, "stream_options", dict, "an object")
    if options is None:
        return False
    if not stream:
        raise invalid_request("stream_options is only allowed with stream: true", "stream_options")
    unknown = sorted(set(options) - _STREAM_OPTIONS)
    if unknown:
        raise invalid_request(
            f"stream_options.{unknown[0]} is not supported; llmring serve takes include_usage",
            param=f"stream_options.{unknown[0]}",
        )
    include = options.get("include_usage")
    if include is not None and not isinstance(include, bool):
        raise invalid_request(
            "stream_options.include_usage must be a boolean", "stream_options.include_usage"
        )
    return bool(include)


def _messages(body: Mapping[str, Any]) -> list[Any]:
    messages = _checked(body, "messages", list, "a non-empty list of message objects")
    if not messages:
        raise invalid_request("messages must be a non-empty list of message objects", "messages")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid_request(f"{where} must be an object, not {_type_name(message)}", where)
        role = message.get("role")
        if role not in _ROLES:
            raise invalid_request(
                f"{where}.role must be one of {', '.join(_ROLES)}, not {role!r}", f"{where}.role"
            )
        unknown = sorted(key for key in message if not _known(message, key))
        if unknown:
            raise invalid_request(
                f"{where}.{unknown[0]} is not supported; a message takes "
                f"{', '.join(sorted(_MESSAGE_FIELDS))}",
                param=f"{where}.{unknown[0]}",
            )
        _check_content(message.get("content"), f"{where}.content")
        calls = message.get("tool_calls")
        if calls is not None and not (
            isinstance(calls, list) and all(isinstance(call, dict) for call in calls)
        ):
            raise invalid_request(
                f"{where}.tool_calls must be a list of objects", f"{where}.tool_calls"
            )
    # the keys are known and present ones are sent as they are; null ones are dropped so that
    # an assistant turn with ``content: null`` and tool calls validates
    return [
        {k: v for k, v in message.items() if v is not None and k not in _DROPPED_FIELDS}
        for message in messages
    ]


def _known(message: Mapping[str, Any], key: str) -> bool:
    if key in _MESSAGE_FIELDS:
        return True
    if message.get("role") != "assistant":
        return False
    value = message[key]
    if key == "reasoning_content":
        return value is None or isinstance(value, str)
    return key in _ECHOED_FIELDS and value in (None, [])


def _check_content(content: object, where: str) -> None:
    parts_ok = isinstance(content, list) and all(
        isinstance(part, dict) and isinstance(part.get("type"), str) for part in content
    )
    if content is not None and not isinstance(content, str) and not parts_ok:
        raise invalid_request(
            f"{where} must be a string or a list of content parts ({{'type': 'text', ...}})",
            where,
        )


def _tool_choice(body: Mapping[str, Any]) -> Any:
    choice = _checked(body, "tool_choice", (str, dict), "'auto', 'none', 'required' or an object")
    if isinstance(choice, dict) and choice.get("type") != "function":
        raise invalid_request(
            f"tool_choice type {choice.get('type')!r} is not supported; use 'auto', 'none', "
            "'required' or {'type': 'function', 'function': {'name': ...}}",
            param="tool_choice",
        )
    return choice


def _check_response_format(body: Mapping[str, Any]) -> None:
    response_format = _checked(body, "response_format", dict, "an object")
    kind = None if response_format is None else response_format.get("type")
    if response_format is not None and kind not in _RESPONSE_FORMATS:
        raise invalid_request(
            f"response_format.type must be one of {', '.join(_RESPONSE_FORMATS)}, not {kind!r}",
            "response_format.type",
        )


def _param(location: tuple[int | str, ...]) -> str:
    """pydantic's error location as OpenAI's ``param`` (``messages[0].content``)."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def json_body(body: bytes) -> object:
    """The request body's JSON, for :func:`chat_request`; a 400 when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        raise invalid_request("the request body is not valid JSON") from None


def chat_request(body: object) -> ChatCall:
    """The JSON ``body`` of ``POST /v1/chat/completions`` as a :class:`ChatCall`.

    ``model`` (an alias or ``provider:model``) is kept as it is: the ring resolves it. ``stop``
    becomes ``LLMRequest.stop`` (a string is a list of one), which every adapter sends under
    its provider's name; a provider without stop sequences refuses the request.
    Raises :class:`APIError` (400) naming the field at fault and what it must be.
    """
    if not isinstance(body, dict):
        raise invalid_request(f"the request body must be a JSON object, not {_type_name(body)}")
    _refuse_fields(body)
    _check_response_format(body)
    model = _checked(body, "model", str, "a string: an alias or provider:model")
    if not model or not model.strip():
        raise invalid_request("model is required: an alias or provider:model", "model")
    stream = bool(_checked(body, "stream", bool, "a boolean"))
    fields: dict[str, Any] = {
        "model": model,
        "messages": _messages(body),
        "temperature": _checked(body, "temperature", (int, float), "a number from 0 to 2"),
        "max_tokens": _max_tokens(body),
        "tools": _checked(body, "tools", list, "a list of function tools"),
        "tool_choice": _tool_choice(body),
        "response_format": _checked(body, "response_format", dict, "an object"),
        "stop": _stop(body),
    }
    try:
        request = LLMRequest.model_validate(
            {k: v for k, v in fields.items() if v is not None}, strict=True
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        param = _param(tuple(error["loc"])) or None
        where = f"{param}: " if param else ""
        reason = str(error["msg"]).removeprefix("Value error, ")
        raise invalid_request(f"{where}{reason}", param) from None
    return ChatCall(request, stream, _stream_options(body, stream))


def _message(response: LLMResponse) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        # OpenAI sends null, not "", for a turn that only calls tools
        "content": response.content or (None if response.tool_calls else ""),
        "refusal": None,
    }
    if response.reasoning:
        message["reasoning_content"] = response.reasoning  # as llmring.sse's stream frames
    if response.tool_calls:
        # provider_data (reasoning signatures) is llmring's, not OpenAI's
        message["tool_calls"] = [
            {k: v for k, v in call.items() if k != "provider_data"} for call in response.tool_calls
        ]
    return message


def completion_body(
    response: LLMResponse, *, model: str | None = None, completion_id: str, created: int
) -> dict[str, Any]:
    """``response`` as OpenAI's ``chat.completion`` JSON.

    ``model`` defaults to the model that answered. ``finish_reason`` is in OpenAI's words
    (``llmring.sse.openai_finish_reason``), with llmring's own in ``native_finish_reason``
    when they differ; usage is OpenAI's shape, with ``cost`` (USD) when the model is priced.
    """
    reason = response.finish_reason
    choice: dict[str, Any] = {
        "index": 0,
        "message": _message(response),
        "logprobs": None,
        "finish_reason": openai_finish_reason(reason),
    }
    if reason is not None and openai_finish_reason(reason) != reason:
        choice["native_finish_reason"] = response.finish_reason_raw or reason
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model or response.model or "",
        "choices": [choice],
    }
    if response.usage is not None:
        body["usage"] = openai_usage(response.usage)
    return body
