"""The agent's errors: both are :class:`~llmring.exceptions.LLMRingError`::

    LLMRingError
    └── AgentError                 an agent run failed for an agent-level reason (``agent``)
        └── ToolRoundLimitError    the model asked for tools after ``max_tool_rounds`` rounds

Provider errors (``ProviderError``, ``StreamInterruptedError``) pass through an agent as they
are; a tool that raises is not an error of the run (its message goes back to the model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmring.exceptions import LLMRingError

if TYPE_CHECKING:
    from llmring.schemas import ToolCallDict

__all__ = ["AgentError", "ToolRoundLimitError"]


class AgentError(LLMRingError):
    """An agent run failed; ``agent`` names the agent."""

    def __init__(self, message: str, *, agent: str) -> None:
        super().__init__(message)
        self.agent = agent


class ToolRoundLimitError(AgentError):
    """The model asked for tools again after ``max_tool_rounds`` tool rounds had run.

    ``tool_calls`` holds the calls that were asked for (OpenAI shape), not run.
    """

    def __init__(self, *, agent: str, max_tool_rounds: int, tool_calls: list[ToolCallDict]) -> None:
        names = ", ".join(str((c.get("function") or {}).get("name")) for c in tool_calls)
        super().__init__(
            f"agent {agent!r} reached max_tool_rounds={max_tool_rounds}: the model asked for "
            f"more tool calls ({names}); raise max_tool_rounds or change the instructions",
            agent=agent,
        )
        self.max_tool_rounds = max_tool_rounds
        self.tool_calls = tool_calls
