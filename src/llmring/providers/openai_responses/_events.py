"""Responses API stream events (parsed JSON) → llmring adapter events.

A stream is ``response.created`` (the model), then for each output item, named by its
``output_index``, ``response.output_item.added``, the item's deltas and
``response.output_item.done``; then one terminal event carrying the whole response (status,
usage, model): ``response.completed``, ``response.incomplete`` or ``response.failed``. An
``error`` event may come instead, at any point. Event types not named here are skipped: the
API keeps adding them (hosted tools, annotations, audio), and they carry nothing llmring
streams. A named event of the wrong shape raises ``FrameError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmring.providers import base
from llmring.providers._errors import inband_error
from llmring.providers._framing import FrameError, ServerSentEvent
from llmring.providers._json import decode_json
from llmring.providers._shape import index, mapping, not_an_object, optional_text, text, wrong_type
from llmring.providers.openai._events import usage_from
from llmring.schemas import FinishReason

__all__ = ["INCOMPLETE_REASONS", "EventTranslator"]

#: ``response.incomplete``'s ``incomplete_details.reason`` → llmring's finish reason
INCOMPLETE_REASONS: dict[str, FinishReason] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}

#: the status of each documented ``error.code`` of a failed response that the shared table
#: (``ERROR_TYPE_STATUS``: ``rate_limit_exceeded``, ``server_error``) does not know: what the
#: service refused to answer is the request's fault (400: not retried on the next model)
_CODE_STATUS = {
    "vector_store_timeout": 504,
    **dict.fromkeys(
        (
            "invalid_prompt",
            "bio_policy",
            "misalignment_policy_violation",
            "data_residency_mismatch",
            "invalid_image",
            "invalid_image_format",
            "invalid_base64_image",
            "invalid_image_url",
            "invalid_image_mode",
            "image_too_large",
            "image_too_small",
            "image_parse_error",
            "image_content_policy_violation",
            "image_file_too_large",
            "image_file_not_found",
            "unsupported_image_media_type",
            "empty_image_file",
            "failed_to_download_image",
        ),
        400,
    ),
}

#: a separator between two reasoning summaries (each starts with its own bold title)
_SUMMARY_BREAK = "\n\n"


class _Call:
    """A function call of the reply: its number among the calls, and whether any of its
    arguments have arrived (``function_call_arguments.done`` repeats them all)."""

    __slots__ = ("number", "streamed")

    def __init__(self, number: int) -> None:
        self.number = number
        self.streamed = False


def _response(data: dict[str, Any]) -> dict[str, Any]:
    response = data.get("response")
    if type(response) is not dict:
        raise wrong_type("response", "an object")
    return response


def _error_object(data: dict[str, Any]) -> dict[str, Any]:
    """An ``error`` event's error: nested under ``error`` (as sent), or the event's own
    ``code`` and ``message`` (as the SDK's types have it)."""
    inner = data.get("error")
    if type(inner) is dict:
        return inner
    return {"code": data.get("code"), "message": data.get("message")}


class EventTranslator(base.TranslatorBase):
    """Stateful translation of one stream: function calls by ``output_index``, refusals,
    reasoning summaries.

    The end marker is the terminal event (``response.completed`` or ``response.incomplete``);
    an ``error`` event or ``response.failed`` sets ``error``.
    """

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._calls: dict[int, _Call] = {}  # output_index → call
        self._refused = False
        self._reasoned = False
        self._model_reported = False

    def translate(self, frame: ServerSentEvent) -> list[base.StreamEvent]:
        data = decode_json(frame.data)
        if type(data) is not dict:
            raise not_an_object("an event")
        kind = data.get("type", frame.event)
        if kind == "response.output_text.delta":  # the hot path
            piece = data.get("delta")
            if type(piece) is not str:
                raise wrong_type("output_text.delta.delta", "a string")
            return [base.TextDelta(piece)]
        if type(kind) is not str:
            raise wrong_type("type", "a string")
        handler = _HANDLERS.get(kind)
        return handler(self, data) if handler is not None else []

    # -- the reply's parts -----------------------------------------------------------------

    def _refusal(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        # a refusal streams as text, but it is not an answer: the finish says content_filter
        self._refused = True
        return [base.TextDelta(text(data.get("delta"), "refusal.delta.delta"))]

    def _reasoning(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        self._reasoned = True
        return [base.ReasoningDelta(text(data.get("delta"), "reasoning delta"))]

    def _summary_part(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        return [base.ReasoningDelta(_SUMMARY_BREAK)] if self._reasoned else []

    def _item_added(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        """A function call begins: numbered 0, 1, ... among the reply's calls, whatever its
        ``output_index`` (reasoning and message items have theirs too)."""
        item = data.get("item")
        if type(item) is not dict:
            raise wrong_type("output_item.added.item", "an object")
        if item.get("type") != "function_call":
            return []
        position = index(data.get("output_index"), "output_item.added.output_index")
        call = self._calls[position] = _Call(len(self._calls))
        arguments = optional_text(item.get("arguments"), "function_call.arguments") or ""
        call.streamed = bool(arguments)
        return [
            base.ToolCallFragment(
                call.number,
                id=optional_text(item.get("call_id"), "function_call.call_id"),
                name=optional_text(item.get("name"), "function_call.name"),
                arguments=arguments,
            )
        ]

    def _call(self, data: dict[str, Any]) -> _Call:
        call = self._calls.get(index(data.get("output_index"), "output_index"))
        if call is None:
            raise FrameError("function call arguments for an output_index with no function_call")
        return call

    def _arguments_delta(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        call = self._call(data)
        piece = text(data.get("delta"), "function_call_arguments.delta.delta")
        call.streamed = True
        return [base.ToolCallFragment(call.number, arguments=piece)]

    def _arguments_done(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        """The whole arguments again: sent on only when no delta carried them."""
        call = self._call(data)
        arguments = text(data.get("arguments"), "function_call_arguments.done.arguments")
        if call.streamed:
            return []
        call.streamed = True
        return [base.ToolCallFragment(call.number, arguments=arguments)]

    # -- the response as a whole -----------------------------------------------------------

    def _started(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        if self._model_reported:
            return []
        return self._model(_response(data))

    def _model(self, response: dict[str, Any]) -> list[base.StreamEvent]:
        model = optional_text(response.get("model"), "response.model")
        if not model:
            return []
        self._model_reported = True
        return [base.ModelReport(model)]

    def _completed(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        response = _response(data)
        raw = optional_text(response.get("status"), "response.status") or "completed"
        reason: FinishReason = "stop"
        if self._refused:
            reason = "content_filter"
        elif self._calls:
            reason = "tool_calls"  # the API has no finish reason of its own for it
        return self._end(response, base.Finish(reason, raw))

    def _incomplete(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        response = _response(data)
        details = mapping(response.get("incomplete_details"), "response.incomplete_details")
        raw = optional_text(details.get("reason"), "incomplete_details.reason") or "incomplete"
        return self._end(response, base.Finish(INCOMPLETE_REASONS.get(raw, "other"), raw))

    def _end(self, response: dict[str, Any], finish: base.Finish) -> list[base.StreamEvent]:
        self.ended = True
        return [*self._model(response), *self._usage(response), finish]

    def _usage(self, response: dict[str, Any]) -> list[base.StreamEvent]:
        usage = mapping(response.get("usage"), "response.usage")
        report = usage_from(usage, prompt="input_tokens", completion="output_tokens")
        return [base.UsageReport(report)] if report else []

    def _failed(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        response = _response(data)
        error = mapping(response.get("error"), "response.error")
        return self._fail(error or {"message": "the response failed"}, self._usage(response))

    def _error(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        return self._fail(_error_object(data), [])

    def _fail(
        self, error: dict[str, Any], events: list[base.StreamEvent]
    ) -> list[base.StreamEvent]:
        code = error.get("code")
        status = _CODE_STATUS.get(code) if type(code) is str else None
        if status is not None:
            error = {**error, "status_code": status}
        self.ended = True
        self.error = inband_error(error, **self.where)
        return events


_HANDLERS: dict[str, Callable[[EventTranslator, dict[str, Any]], list[base.StreamEvent]]] = {
    "response.created": EventTranslator._started,
    "response.in_progress": EventTranslator._started,
    "response.queued": EventTranslator._started,
    "response.output_item.added": EventTranslator._item_added,
    "response.function_call_arguments.delta": EventTranslator._arguments_delta,
    "response.function_call_arguments.done": EventTranslator._arguments_done,
    "response.refusal.delta": EventTranslator._refusal,
    "response.reasoning_summary_text.delta": EventTranslator._reasoning,
    "response.reasoning_text.delta": EventTranslator._reasoning,
    "response.reasoning_summary_part.added": EventTranslator._summary_part,
    "response.completed": EventTranslator._completed,
    "response.incomplete": EventTranslator._incomplete,
    "response.failed": EventTranslator._failed,
    "error": EventTranslator._error,
}
