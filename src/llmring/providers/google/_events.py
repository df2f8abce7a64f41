"""``GenerateContentResponse`` chunks (parsed JSON) → llmring adapter events.

Gemini's SSE stream has no end marker: the chunk carrying ``finishReason`` (or, for a blocked
prompt, ``promptFeedback.blockReason``) is the last one of a complete reply. The translator
notes it, and :meth:`ChunkTranslator.end` turns it into ``Finish`` + ``StreamEnd`` once the
body has ended; a body that ends before it is an interruption.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from llmring.exceptions import ProviderResponseError
from llmring.providers.base import (
    Finish,
    ModelReport,
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallFragment,
    UsageReport,
    add_counts,
)
from llmring.providers.google._errors import inband_error
from llmring.schemas import FinishReason

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


def usage_from(meta: dict[str, Any], optional_seen: set[str]) -> dict[str, Any] | None:
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
    prompt = add_counts(count("promptTokenCount"), count("toolUsePromptTokenCount"))
    completion = add_counts(count("candidatesTokenCount"), count("thoughtsTokenCount"))
    total = meta.get("totalTokenCount")
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total if total is not None else add_counts(prompt, completion),
    }
    for name, key in (
        ("reasoning_tokens", "thoughtsTokenCount"),
        ("cached_tokens", "cachedContentTokenCount"),
    ):
        if key in meta:
            optional_seen.add(name)
        if name in optional_seen:
            usage[name] = count(key)
    return usage


class ChunkTranslator:
    """Stateful translation of one stream: tool-call indexes, the finish, optional usage."""

    def __init__(self, provider: str, model: str) -> None:
        self.where = {"provider": provider, "model": model}
        self._model: str | None = None
        self._calls = 0
        self._finish_raw: str | None = None
        self._blocked: str | None = None
        self._optional_usage: set[str] = set()
        self._text_ends_line = True  # where code blocks must start on a line of their own

    def translate(self, data: Any) -> list[StreamEvent]:
        """The events of one chunk; raises for an in-band error or an unusable chunk."""
        if not isinstance(data, dict):
            raise ProviderResponseError(f"unexpected stream data: {str(data)[:200]}", **self.where)
        if data.get("error"):
            raise inband_error(data["error"], **self.where)
        events: list[StreamEvent] = []
        version = data.get("modelVersion")
        if isinstance(version, str) and version != self._model:
            self._model = version
            events.append(ModelReport(version))
        candidates = data.get("candidates") or []
        for candidate in candidates:
            self._candidate(candidate, events)
        block = (data.get("promptFeedback") or {}).get("blockReason")
        if block and not candidates:
            self._blocked = str(block)
        usage = usage_from(data.get("usageMetadata") or {}, self._optional_usage)
        if usage is not None:
            events.append(UsageReport(usage))
        return events

    def end(self) -> list[StreamEvent]:
        """At the end of the body: ``Finish`` + ``StreamEnd`` if the reply was complete.

        Gemini says ``STOP`` after function calls too; with calls in the reply the finish is
        ``tool_calls`` (``finish_reason_raw`` keeps ``STOP``).
        """
        if self._finish_raw is not None:
            reason = FINISH_REASONS.get(self._finish_raw, "other")
            if reason == "stop" and self._calls:
                reason = "tool_calls"
            return [Finish(reason, self._finish_raw), StreamEnd()]
        if self._blocked is not None:
            return [Finish("content_filter", self._blocked), StreamEnd()]
        return []

    def _candidate(self, candidate: dict[str, Any], events: list[StreamEvent]) -> None:
        if candidate.get("index", 0) != 0:
            raise ProviderResponseError(
                "the provider sent several candidates (candidate_count > 1); llmring streams one",
                **self.where,
            )
        for part in (candidate.get("content") or {}).get("parts") or []:
            events.extend(self._part(part))
        if candidate.get("finishReason"):
            self._finish_raw = str(candidate["finishReason"])

    def _part(self, part: dict[str, Any]) -> list[StreamEvent]:
        if "functionCall" in part:
            return [self._function_call(part)]
        if "text" in part:
            if part.get("thought"):
                return [ReasoningDelta(part["text"])]
            return [self._text(part["text"])]
        if "executableCode" in part:
            code = part["executableCode"]
            language = str(code.get("language", "")).lower().replace("language_unspecified", "")
            return [self._text(self._fenced(language, code.get("code", "")))]
        if "codeExecutionResult" in part:
            result = part["codeExecutionResult"]
            outcome = result.get("outcome", "OUTCOME_OK")
            label = "output" if outcome == "OUTCOME_OK" else f"output {outcome}"
            return [self._text(self._fenced(label, result.get("output", "")))]
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

    def _function_call(self, part: dict[str, Any]) -> ToolCallFragment:
        call = part["functionCall"]
        if "partialArgs" in call or "willContinue" in call:  # Vertex's opt-in streamed args
            raise ProviderResponseError(
                "the model streamed function-call arguments in pieces (partialArgs); llmring "
                "takes whole calls, so turn streamFunctionCallArguments off",
                **self.where,
            )
        extra: dict[str, Any] = {}
        if part.get("thoughtSignature"):
            extra["thought_signature"] = part["thoughtSignature"]
        if call.get("id"):
            extra["call_id"] = call["id"]
        index, self._calls = self._calls, self._calls + 1
        return ToolCallFragment(
            index=index,
            id=call.get("id") or None,
            name=call.get("name"),
            arguments=json.dumps(call.get("args") or {}, ensure_ascii=False),
            extra=extra or None,
        )

    def _text(self, text: str) -> TextDelta:
        if text:
            self._text_ends_line = text.endswith("\n")
        return TextDelta(text)

    def _fenced(self, info: str, body: str) -> str:
        """Code execution as Markdown blocks in the answer text, on lines of their own."""
        lead = "" if self._text_ends_line else "\n"
        newline = "" if body.endswith("\n") or not body else "\n"
        return f"{lead}```{info}\n{body}{newline}```\n"
