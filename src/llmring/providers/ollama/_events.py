"""``/api/chat`` NDJSON objects (parsed) → llmring adapter events.

One object per line. ``message.thinking`` is reasoning, ``message.content`` answer text,
``message.tool_calls`` whole calls (arguments already a JSON object). The line with
``done: true`` carries ``done_reason`` and the token counts and is the end-of-stream marker;
it can carry content too (a single-line reply), so its message is translated first.

Rules (see also the package docstring):

* Tool calls get llmring's own index, 0, 1, ... in arrival order across the stream. The
  wire's ``function.index`` is not used: older servers omit it for the first call (and
  send ``index: 1`` for the second), and every call arrives whole, so there is nothing to
  join. ``id`` is passed on when the server sends one (newer servers: ``call_...``);
  otherwise the assembler gives a stable id.
* ``done_reason`` ``stop`` becomes ``tool_calls`` when the stream carried tool calls (Ollama
  says ``stop`` there; the raw value stays ``stop``), ``length`` stays ``length``; anything
  else (``load``, ``unload``, none at all) is ``other``.
* Usage: ``prompt_eval_count`` → ``prompt_tokens``, ``eval_count`` → ``completion_tokens``.
  Ollama serialises both with Go's ``omitempty``, so on a done line that reports one of them
  a missing one means 0 (a fully cached prompt); a done line with neither reports no usage.
* ``<think>...</think>`` at the very start of ``content`` (qwen3, deepseek-r1 on servers that
  do not split reasoning out themselves) is reasoning: see :class:`ThinkTagSplitter`.
"""

from __future__ import annotations

import json
from typing import Any

from llmring.providers import base
from llmring.providers._errors import inband_error
from llmring.providers._json import decode_json_line
from llmring.providers._shape import entry, mapping, not_an_object, optional_text, text, wrong_type
from llmring.schemas import FinishReason

__all__ = ["LineTranslator", "ThinkTagSplitter"]

FINISH_REASONS: dict[str, FinishReason] = {"stop": "stop", "length": "length"}
OPEN, CLOSE = "<think>", "</think>"


def _partial_close(text: str) -> int:
    """Length of the longest proper prefix of ``</think>`` that ``text`` ends with."""
    for size in range(len(CLOSE) - 1, 0, -1):
        if text.endswith(CLOSE[:size]):
            return size
    return 0


class ThinkTagSplitter:
    """Split ``<think>reasoning</think>answer`` in streamed content, across any deltas.

    Only a tag that opens the content (after optional whitespace) counts, so an answer that
    merely mentions ``<think>`` later is left alone. Whitespace right after ``<think>``,
    right before ``</think>`` and right after ``</think>`` is dropped (the chat templates put
    newlines there); everything else is passed on verbatim. Text that might be the start of
    a tag is held back until the next delta or :meth:`flush`.
    """

    __slots__ = ("_pending", "_state")

    def __init__(self) -> None:
        #: looking → think_start → thinking → after_think → answer, or looking → answer
        self._state = "looking"
        self._pending = ""

    @property
    def passing(self) -> bool:
        """True once the content is known to be plain answer: text passes through as it is."""
        return self._state == "answer"

    def feed(self, text: str) -> list[base.StreamEvent]:
        if self._state == "answer":
            return [base.TextDelta(text)]
        self._pending += text
        events: list[base.StreamEvent] = []
        while self._state != "answer" and self._step(events):
            pass
        if self._state == "answer" and self._pending:
            events.append(base.TextDelta(self._pending))
            self._pending = ""
        return events

    def _step(self, events: list[base.StreamEvent]) -> bool:
        """Advance the state machine once; ``True`` when it should run again."""
        pending, state = self._pending, self._state
        if state == "looking":
            stripped = pending.lstrip()
            if stripped.startswith(OPEN):
                self._state, self._pending = "think_start", stripped[len(OPEN) :]
                return True
            if not OPEN.startswith(stripped):  # not (the start of) a think tag: plain answer
                self._state, self._pending = "answer", ""
                events.append(base.TextDelta(pending))
            return False
        if state == "thinking":
            return self._thinking(pending, events)
        rest = pending.lstrip()  # think_start, after_think: drop the template's newlines
        self._pending = rest
        if rest:
            self._state = "thinking" if state == "think_start" else "answer"
            return True
        return False

    def _thinking(self, pending: str, events: list[base.StreamEvent]) -> bool:
        end = pending.find(CLOSE)
        if end >= 0:
            events.append(base.ReasoningDelta(pending[:end].rstrip()))
            self._state, self._pending = "after_think", pending[end + len(CLOSE) :]
            return True
        kept = pending[: len(pending) - _partial_close(pending)].rstrip()
        events.append(base.ReasoningDelta(kept))
        self._pending = pending[len(kept) :]
        return False

    def flush(self) -> list[base.StreamEvent]:
        """End of the reply: whatever was held back is real output."""
        pending, self._pending = self._pending, ""
        if self._state == "thinking":
            return [base.ReasoningDelta(pending)]
        return [base.TextDelta(pending)] if self._state == "looking" else []


class LineTranslator(base.TranslatorBase):
    """Stateful translation of one stream: model reported once, tool calls counted.

    The end marker is the ``done: true`` line; an ``{"error": ...}`` line sets ``error``.
    """

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._model_reported = False
        self._calls = 0
        self._think = ThinkTagSplitter()

    def translate(self, frame: bytes) -> list[base.StreamEvent]:
        """The events of one NDJSON line."""
        data = decode_json_line(frame)
        if type(data) is not dict:
            raise not_an_object("a line")
        if data.get("error"):
            error = data["error"]
            payload = {"error": error if isinstance(error, dict) else {"message": str(error)}}
            self.ended = True
            self.error = inband_error(payload, provider=self.provider, model=self.model)
            return []
        events: list[base.StreamEvent] = []
        if not self._model_reported and isinstance(data.get("model"), str) and data["model"]:
            self._model_reported = True
            events.append(base.ModelReport(data["model"]))
        message = data.get("message")
        if message:
            if type(message) is not dict:
                raise wrong_type("message", "an object")
            if message.get("thinking"):
                events.append(base.ReasoningDelta(text(message["thinking"], "message.thinking")))
            content = message.get("content")
            if content:
                if type(content) is not str:
                    raise wrong_type("message.content", "a string")
                if self._think.passing:  # the common case, once the start was looked at
                    events.append(base.TextDelta(content))
                else:
                    events.extend(self._think.feed(content))
            for call in message.get("tool_calls") or ():
                events.append(self._tool_call(entry(call, "message.tool_calls[]")))
        if data.get("done") is True:
            events.extend(self._think.flush())
            events.extend(self._done(data))
        return events

    def _tool_call(self, call: dict[str, Any]) -> base.ToolCallFragment:
        function = mapping(call.get("function"), "tool_calls[].function")
        arguments = function.get("arguments")
        if not isinstance(arguments, str):  # an object on the wire; a string passes as it is
            arguments = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
        call_id = call.get("id") if isinstance(call.get("id"), str) else None
        name = optional_text(function.get("name"), "tool_calls[].function.name")
        fragment = base.ToolCallFragment(
            index=self._calls, id=call_id or None, name=name, arguments=arguments
        )
        self._calls += 1
        return fragment

    def _done(self, data: dict[str, Any]) -> list[base.StreamEvent]:
        events: list[base.StreamEvent] = []
        prompt, completion = data.get("prompt_eval_count"), data.get("eval_count")
        if prompt is not None or completion is not None:  # as sent; the assembler checks
            events.append(
                base.UsageReport(
                    {
                        "prompt_tokens": 0 if prompt is None else prompt,
                        "completion_tokens": 0 if completion is None else completion,
                    }
                )
            )
        raw = data.get("done_reason")
        raw = raw if isinstance(raw, str) and raw else None
        reason: FinishReason = FINISH_REASONS.get(raw or "", "other")
        if self._calls and raw in (None, "stop"):
            reason = "tool_calls"
        events.append(base.Finish(reason, raw))
        self.ended = True
        return events
