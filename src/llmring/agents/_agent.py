"""``Agent``: a model, instructions and tools, run in rounds until the model answers in text.

Each round is one ``LLMRing.chat_stream`` call. When the reply asks for tools, the agent runs
them, sends the calls (with their ``provider_data``) and the results back, and streams the next
round. The agent talks only to the facade; it never imports a provider.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from llmring._default_ring import default_ring
from llmring._defaults import default_alias
from llmring._handle import StreamHandle
from llmring._text import TextPieces
from llmring.agents._errors import ToolRoundLimitError
from llmring.agents._toolbox import AgentTool, Toolbox, ToolOutcome, parse_arguments
from llmring.exceptions import StreamInterruptedError
from llmring.schemas import LLMRequest, LLMResponse, Message, StreamChunk, ToolCallDict, Usage
from llmring.service import LLMRing

__all__ = ["Agent", "AgentResult", "AgentStream"]

#: request options an agent takes (the conversation and the tools are the agent's own)
_OPTIONS = frozenset(LLMRequest.model_fields) - {"model", "messages", "tools"}

Prompt = str | Message | dict[str, Any] | Sequence[Message | dict[str, Any]]


@dataclass
class AgentResult:
    """A completed run: the final ``content``, the final round's ``response``, ``usage`` summed
    over the rounds (``None`` if a round reported none), one entry per round in ``rounds``,
    every tool call run in ``tool_outcomes`` and the turn committed to history in ``messages``."""

    content: str
    response: LLMResponse
    usage: Usage | None
    rounds: list[dict[str, Any]] = field(default_factory=list)
    tool_outcomes: list[ToolOutcome] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


def _new_turn(prompt: Prompt) -> list[Message]:
    if isinstance(prompt, str):
        return [Message(role="user", content=prompt)]
    if isinstance(prompt, (Message, dict)):
        prompt = [prompt]
    return [m if isinstance(m, Message) else Message.model_validate(m) for m in prompt]


def _sum_usage(usages: list[Usage | None]) -> Usage | None:
    """Numbers added key by key; ``None`` when any round's usage is unknown (never a guess),
    and no ``cost`` unless every round was priced."""
    if not usages or any(u is None for u in usages):
        return None
    total: dict[str, int | float] = {}
    for usage in usages:
        for key, value in (usage or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
    if any("cost" not in (usage or {}) for usage in usages):
        total.pop("cost", None)  # a round without a price: the sum would be too low
    # every key is one of the usages' own, each value a sum of theirs: a Usage again
    return cast(Usage, total)


def _round_info(number: int, response: LLMResponse) -> dict[str, Any]:
    return {
        "round": number,
        "provider": response.provider,
        "model": response.model,
        "finish_reason": response.finish_reason,
        "usage": response.usage,
    }


def _tool_call_chunk(call: ToolCallDict, number: int) -> StreamChunk:
    """``arguments`` parsed from the call's JSON text (the raw text when it is not an object)."""
    function = call.get("function") or {}
    arguments = parse_arguments(function.get("arguments") or "")
    described = {
        "id": call.get("id"),
        "name": function.get("name"),
        "arguments": function.get("arguments") if isinstance(arguments, str) else arguments,
    }
    return StreamChunk(metadata={"type": "tool_call", "tool_call": described, "round": number})


def _tool_result_chunk(outcome: ToolOutcome, number: int) -> StreamChunk:
    said = {"error": outcome.error} if outcome.error is not None else {"result": outcome.result}
    return StreamChunk(
        metadata={
            "type": "tool_result",
            "tool_call_id": outcome.tool_call_id,
            "name": outcome.name,
            **said,
            "round": number,
        }
    )


def _model_ref(model: str | None, provider: str | None) -> str:
    """What the agent asks ``chat_stream`` for: ``model`` (an alias or ``provider:model``),
    ``provider:model`` when both are given, or the default alias when neither is."""
    if provider is None:
        return model or default_alias()
    if not model:
        raise ValueError(
            f"provider={provider!r} needs model=... (a model of that provider); "
            "leave both out to use the default alias"
        )
    # model names may hold colons of their own (ollama's "llama3:8b"): only our prefix counts
    return model if model.startswith(f"{provider}:") else f"{provider}:{model}"


class Agent:
    """A named model with instructions and tools that it runs itself; see docs/agents.md.

    ``name`` defaults to ``"Agent"``. ``model`` is a lockfile alias or ``provider:model``
    (``provider="anthropic", model="claude-haiku-4-5"`` says the same); without either, the
    default alias (``$LLMRING_DEFAULT_ALIAS``, else ``chatbot``). ``instructions`` is the system
    prompt;
    ``tools`` plain functions (sync or async) or ``@tool`` functions; ``max_tool_rounds`` how
    many rounds of tool calls may run before a further request for tools raises
    :class:`ToolRoundLimitError`. Other keyword arguments are request options
    (``max_tokens``, ``temperature``, ``timeout``, ``tool_choice``, ``extra_params``...).
    ``ring`` defaults to the default ring of the running event loop (``llmring._default_ring``,
    shared with bots and the toolkit). ``history`` holds the
    completed turns (llmring ``Message`` objects), sent before each new prompt.
    """

    def __init__(
        self,
        name: str = "Agent",
        *,
        model: str | None = None,
        provider: str | None = None,
        instructions: str = "",
        tools: Iterable[AgentTool] = (),
        max_tool_rounds: int = 10,
        ring: LLMRing | None = None,
        **request_options: Any,
    ) -> None:
        if max_tool_rounds < 0:
            raise ValueError(f"max_tool_rounds must be >= 0, got {max_tool_rounds}")
        self.name = name
        self.model = _model_ref(model, provider)
        self.instructions = instructions
        self.toolbox = Toolbox(tools)
        self.max_tool_rounds = max_tool_rounds
        self.options = self._checked(request_options)
        self.history: list[Message] = []
        self._ring = ring

    def __repr__(self) -> str:
        return f"<Agent {self.name!r} model={self.model!r} tools={list(self.toolbox.tools)}>"

    @property
    def ring(self) -> LLMRing:
        return self._ring or default_ring()

    @staticmethod
    def _checked(options: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise TypeError(f"unknown request option(s) {unknown}; known: {sorted(_OPTIONS)}")
        return options

    def get_provider_info(self) -> dict[str, Any]:
        """``provider``, ``model``, ``supports_streaming``, ``supports_tools`` and
        ``supports_reasoning`` of the model the alias resolves to (``LLMRing.capabilities``)."""
        return asdict(self.ring.capabilities(self.model))

    def reset(self) -> None:
        """Forget the conversation."""
        self.history.clear()

    def stream(self, prompt: Prompt, **request_options: Any) -> AgentStream:
        """Run the agent on ``prompt``, streaming every round; see :class:`AgentStream`."""
        options = {**self.options, **self._checked(request_options)}
        turn = _new_turn(prompt)
        return AgentStream(lambda run: self._rounds(turn, options, run))

    async def arun(self, prompt: Prompt, **request_options: Any) -> AgentResult:
        """Run the agent on ``prompt`` to the end and return the :class:`AgentResult`."""
        async with self.stream(prompt, **request_options) as stream:
            async for _ in stream:
                pass
            return stream.result

    # -- the loop ---------------------------------------------------------------------------

    def _request(self, turn: list[Message], options: dict[str, Any]) -> LLMRequest:
        system = [Message(role="system", content=self.instructions)] if self.instructions else []
        return LLMRequest(
            model=self.model,
            messages=[*system, *self.history, *turn],
            tools=self.toolbox.schemas,
            **options,
        )

    async def _rounds(
        self, turn: list[Message], options: dict[str, Any], run: _AgentRun
    ) -> AsyncGenerator[StreamChunk, None]:
        """Chunks of every round, their text noted in ``run``. History is committed, and
        ``run.result`` set, just before the final chunk is yielded, and only then."""
        rounds: list[dict[str, Any]] = []
        outcomes: list[ToolOutcome] = []
        for number in itertools.count(1):
            final: StreamChunk | None = None
            async with self.ring.chat_stream(self._request(turn, options)) as stream:
                async for chunk in stream:
                    if chunk.is_terminal:
                        final = chunk
                    else:
                        if chunk.delta:
                            run.text.add(chunk.delta)
                        yield chunk
                if final is None:  # the facade ends every successful stream with one
                    raise RuntimeError("the stream ended without a terminal chunk")
                response = stream.response
            rounds.append(_round_info(number, response))
            if response.tool_calls:
                if number > self.max_tool_rounds:
                    raise ToolRoundLimitError(
                        agent=self.name,
                        tool_calls=response.tool_calls,
                        max_tool_rounds=self.max_tool_rounds,
                    )
                tools = self._run_tools(response, number, turn, outcomes)
                async with aclosing(tools):
                    async for chunk in tools:
                        yield chunk
                continue
            turn.append(Message(role="assistant", content=response.content))
            usage = _sum_usage([r["usage"] for r in rounds])
            self.history.extend(turn)
            run.result = AgentResult(response.content, response, usage, rounds, outcomes, turn)
            yield final.model_copy(
                update={
                    "usage": usage,
                    "metadata": {**final.metadata, "round": number, "rounds": rounds},
                }
            )
            return

    async def _run_tools(
        self, response: LLMResponse, number: int, turn: list[Message], outcomes: list[ToolOutcome]
    ) -> AsyncGenerator[StreamChunk, None]:
        """Run the calls one after another; add the call and the results to ``turn``."""
        calls = response.tool_calls or []
        turn.append(Message(role="assistant", content=response.content or None, tool_calls=calls))
        for call in calls:
            yield _tool_call_chunk(call, number)
            outcome = await self.toolbox.run(call)
            outcomes.append(outcome)
            turn.append(
                Message(role="tool", tool_call_id=outcome.tool_call_id, content=outcome.output)
            )
            yield _tool_result_chunk(outcome, number)


class _AgentRun:
    """What a run shares with its :class:`AgentStream`: the generator of the run holds this,
    never the stream (see ``llmring._handle``)."""

    __slots__ = ("result", "text")

    def __init__(self) -> None:
        self.result: AgentResult | None = None
        self.text = TextPieces()  # every delta delivered, all rounds


class AgentStream(StreamHandle[StreamChunk]):
    """The chunks of an agent run: an async iterator and an async context manager.

    Content chunks are the model's, as they stream, round after round. Each tool call run adds a
    chunk with ``metadata={"type": "tool_call", ...}`` and one with ``{"type": "tool_result",
    ...}``. Intermediate rounds' terminal chunks are dropped; the one terminal chunk is the
    final round's, with ``usage`` summed over the rounds and ``metadata["rounds"]``. After it,
    ``result`` holds the :class:`AgentResult`. One consumer at a time (``StreamBusyError``).
    ``aclose()`` (or leaving ``async with``) stops the run and closes the provider stream at
    once, committing no history; it is idempotent. From another task, the consumer then gets
    ``StreamInterruptedError`` whose ``partial_response`` is the text of every round so far.
    """

    _what = "an AgentStream"

    def __init__(self, start: Callable[[_AgentRun], AsyncGenerator[StreamChunk, None]]) -> None:
        run = self._run = _AgentRun()
        super().__init__(lambda: start(run))

    @property
    def result(self) -> AgentResult:
        """The completed run; only once the stream has been consumed to its end."""
        if self._run.result is None:
            raise RuntimeError("the agent run has not completed; consume the stream to its end")
        return self._run.result

    def _finished(self) -> bool:
        return self._run.result is not None

    def _interrupted(self, reason: str) -> StreamInterruptedError:
        text = self._run.text.text()
        return StreamInterruptedError(
            f"the agent run was stopped ({reason}); partial_response holds the {len(text)} "
            "characters delivered",
            partial_response=text,
        )
