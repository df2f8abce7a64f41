"""``GenerateContentResponse`` chunks (parsed JSON) → llmring adapter events.

Gemini's SSE stream has no end marker: the chunk carrying ``finishReason`` (or, for a blocked
prompt, ``promptFeedback.blockReason``) is the last one of a complete reply. The translator
notes it, and :meth:`ChunkTranslator.finish` turns it into ``Finish`` (and ``ended``) once
the body has ended; a body that ends before it is an interruption.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from llmring.exceptions import ProviderResponseError
from llmring.providers import base
from llmring.providers._choices import first_choice
from llmring.providers._framing import ServerSentEvent
from llmring.providers._json import decode_json
from llmring.providers._shape import mapping, not_an_object, optional_text, text, wrong_type
from llmring.providers.google._errors import inband_error
from llmring.schemas import FinishReason, Usage

__all__ = ["ChunkTranslator", "usage_from"]

logger = logging.getLogger("llmring")

FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    # a per-request token limit cut a reply that can be continued (``continuationToken``)
    "CONTINUATION": "pause",
    **{
        raw: "content_filter"
        for raw in (
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
            "IMAGE_SAFETY",
            "IMAGE_PROHIBITED_CONTENT",
            "IMAGE_RECITATION",
        )
    },
}

#: part keys that carry no content of their own
_QUIET_KEYS = frozenset(
    {"thought", "thoughtSignature", "partMetadata", "videoMetadata", "mediaResolution"}
)


#: counts Gemini omits until it has one to report: llmring's name, then Gemini's
_OPTIONAL_COUNTS: tuple[tuple[Literal["reasoning_tokens", "cached_tokens"], str], ...] = (
    ("reasoning_tokens", "thoughtsTokenCount"),
    ("cached_tokens", "cachedContentTokenCount"),
)


def usage_from(meta: dict[str, Any], optional_seen: set[str]) -> Usage | None:
    """Gemini ``usageMetadata`` → llmring usage, or ``None`` before any count was reported
    (Vertex sends ``{"trafficType": ...}`` alone until the last chunk).

    Zero counts are omitted on the wire (proto3 JSON), so a missing count is 0. Prompt tokens
    include ``toolUsePromptTokenCount`` (code execution output read back by the model) and
    completion tokens include ``thoughtsTokenCount``, so prompt + completion = total, as
    Gemini bills them. ``reasoning_tokens``/``cached_tokens`` appear once reported, and are
    then kept in every later report (last value wins, so a stale value must be overwritten).
    """

    def count(key: str) -> Any:  # as sent; the assembler checks it
        value = meta.get(key)
        return 0 if value is None else value

    if not any(key.endswith("TokenCount") for key in meta):
        return None
    prompt = base.add_counts(count("promptTokenCount"), count("toolUsePromptTokenCount"))
    completion = base.add_counts(count("candidatesTokenCount"), count("thoughtsTokenCount"))
    total = meta.get("totalTokenCount")
    usage: Usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total if total is not None else base.add_counts(prompt, completion),
    }
    for name, key in _OPTIONAL_COUNTS:
        if key in meta:
            optional_seen.add(name)
        if name in optional_seen:
            usage[name] = count(key)
    return usage


class ChunkTranslator(base.TranslatorBase):
    """Stateful translation of one stream: tool-call indexes, the finish, optional usage."""

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._model: str | None = None
        self._calls = 0
        self._finish_raw: str | None = None
        self._blocked: str | None = None
        self._optional_usage: set[str] = set()
        self._text_ends_line = True  # where code blocks must start on a line of their own

    def translate(self, frame: ServerSentEvent) -> list[base.StreamEvent]:
        """The events of one chunk; an in-band error sets ``error``."""
        data = decode_json(frame.data)
        if type(data) is not dict:
            raise not_an_object("a chunk")
        if data.get("error"):
            self.ended = True
            self.error = inband_error(data["error"], **self.where)
            return []
        events: list[base.StreamEvent] = []
        version = data.get("modelVersion")
        if isinstance(version, str) and version != self._model:
            self._model = version
            events.append(base.ModelReport(version))
        candidates = data.get("candidates")
        if candidates:
            for candidate in candidates:
                self._candidate(candidate, events)
        else:
            feedback = mapping(data.get("promptFeedback"), "promptFeedback")
            block = optional_text(feedback.get("blockReason"), "promptFeedback.blockReason")
            if block:
                self._blocked = block
        meta = data.get("usageMetadata")
        if meta:
            if type(meta) is not dict:
                raise wrong_type("usageMetadata", "an object")
            usage = usage_from(meta, self._optional_usage)
            if usage is not None:
                events.append(base.UsageReport(usage))
        return events

    def finish(self) -> list[base.StreamEvent]:
        """At the end of the body: ``base.Finish`` (and ``ended``) if the reply was complete.

        Gemini says ``STOP`` after function calls too; with calls in the reply the finish is
        ``tool_calls`` (``finish_reason_raw`` keeps ``STOP``).
        """
        if self._finish_raw is not None:
            self.ended = True
            reason = FINISH_REASONS.get(self._finish_raw, "other")
            if reason == "stop" and self._calls:
                reason = "tool_calls"
            return [base.Finish(reason, self._finish_raw)]
        if self._blocked is not None:
            self.ended = True
            return [base.Finish("content_filter", self._blocked)]
        return []

    def _candidate(self, item: Any, events: list[base.StreamEvent]) -> None:
        candidate = first_choice(
            item, "candidates", "candidate_count", provider=self.provider, model=self.model
        )
        content = candidate.get("content")
        if content:
            if type(content) is not dict:
                raise wrong_type("candidates[].content", "an object")
            for part in content.get("parts") or ():
                if type(part) is not dict:
                    raise wrong_type("content.parts[]", "an object")
                events.extend(self._part(part))
        finish = candidate.get("finishReason")
        if finish:
            self._finish_raw = text(finish, "candidates[].finishReason")

    def _part(self, part: dict[str, Any]) -> list[base.StreamEvent]:
        if "functionCall" in part:
            return [self._function_call(part)]
        if "text" in part:
            piece = part["text"]
            if type(piece) is not str:
                raise wrong_type("parts[].text", "a string")
            if part.get("thought"):
                return [base.ReasoningDelta(piece)]
            return [self._text(piece)]
        if "executableCode" in part:
            code = mapping(part["executableCode"], "parts[].executableCode")
            language = optional_text(code.get("language"), "executableCode.language") or ""
            language = language.lower().replace("language_unspecified", "")
            body = optional_text(code.get("code"), "executableCode.code") or ""
            return [self._text(self._fenced(language, body))]
        if "codeExecutionResult" in part:
            result = mapping(part["codeExecutionResult"], "parts[].codeExecutionResult")
            outcome = optional_text(result.get("outcome"), "outcome") or "OUTCOME_OK"
            label = "output" if outcome == "OUTCOME_OK" else f"output {outcome}"
            output = optional_text(result.get("output"), "codeExecutionResult.output") or ""
            return [self._text(self._fenced(label, output))]
        kinds = sorted(set(part) - _QUIET_KEYS)
        if {"inlineData", "fileData"} & set(kinds):
            raise ProviderResponseError(
                f"the model sent a {kinds[0]} part (e.g. an image); llmring streams text only, "
                "so it cannot deliver this reply",
                **self.where,
            )
        if kinds:
            logger.warning("llmring: google part with %s has no text to deliver; skipped", kinds)
        return []

    def _function_call(self, part: dict[str, Any]) -> base.ToolCallFragment:
        call = mapping(part["functionCall"], "parts[].functionCall")
        if "partialArgs" in call or "willContinue" in call:  # Vertex's opt-in streamed args
            raise ProviderResponseError(
                "the model streamed function-call arguments in pieces (partialArgs); llmring "
                "takes whole calls, so turn streamFunctionCallArguments off",
                **self.where,
            )
        extra: dict[str, Any] = {}
        signature = optional_text(part.get("thoughtSignature"), "parts[].thoughtSignature")
        if signature:
            extra["thought_signature"] = signature
        call_id = optional_text(call.get("id"), "functionCall.id")
        if call_id:
            extra["call_id"] = call_id
        index, self._calls = self._calls, self._calls + 1
        return base.ToolCallFragment(
            index=index,
            id=call_id or None,
            name=text(call.get("name"), "functionCall.name"),
            arguments=json.dumps(
                mapping(call.get("args"), "functionCall.args"), ensure_ascii=False
            ),
            extra=extra or None,
        )

    def _text(self, text: str) -> base.TextDelta:
        if text:
            self._text_ends_line = text.endswith("\n")
        return base.TextDelta(text)

    def _fenced(self, info: str, body: str) -> str:
        """Code execution as Markdown blocks in the answer text, on lines of their own."""
        lead = "" if self._text_ends_line else "\n"
        newline = "" if body.endswith("\n") or not body else "\n"
        return f"{lead}```{info}\n{body}{newline}```\n"
