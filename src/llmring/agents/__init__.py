"""Agents: a model with instructions and tools it runs itself, round after round.

``Agent.stream(prompt)`` streams every round (model chunks, then a ``tool_call`` and a
``tool_result`` chunk for each call run) and ends with one terminal chunk; ``await
agent.arun(prompt)`` returns an :class:`AgentResult`. History is committed only when a run
completes. Agents talk only to ``LLMRing``; see docs/agents.md.
"""

from llmring.agents._agent import Agent, AgentResult, AgentStream
from llmring.agents._errors import AgentError, ToolRoundLimitError
from llmring.agents._toolbox import ToolOutcome

__all__ = [
    "Agent",
    "AgentError",
    "AgentResult",
    "AgentStream",
    "ToolOutcome",
    "ToolRoundLimitError",
]
