"""agenticraft's agent code runs unchanged: ``Agent()`` with no arguments, ``Agent(provider=...,
model=...)``, ``get_provider_info()["supports_streaming"]`` and ``chunk.metadata.get(...)`` on
every chunk."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmring import LLMRing
from llmring._defaults import DEFAULT_ALIAS_ENV, default_alias
from llmring.agents import Agent
from llmring.providers.mock import ledger
from tests.helpers import write_lockfile


async def test_an_agent_with_no_arguments_uses_a_default_name_and_the_default_alias() -> None:
    agent = Agent()
    assert agent.name == "Agent" and agent.model == "chatbot"
    info = agent.get_provider_info()  # the bundled lockfile serves chatbot offline
    assert info["supports_streaming"] is True and info["provider"] == "mock"
    text = ""
    async for chunk in agent.stream("Tell me a joke"):  # agenticraft's quick start
        text += chunk.content
    assert text and ledger.last.model == info["model"]


async def test_the_default_alias_comes_from_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:c"], "house": ["mock:h"]})
    monkeypatch.setenv(DEFAULT_ALIAS_ENV, "house")
    assert default_alias() == "house"
    agent = Agent(name="Scientist", instructions="Be precise.")
    assert agent.model == "house"
    await agent.arun("What is rain?")
    assert ledger.last.model == "h"
    monkeypatch.delenv(DEFAULT_ALIAS_ENV)
    assert default_alias() == "chatbot" == Agent().model


async def test_provider_and_model_name_one_model() -> None:
    agent = Agent(name="StreamTest-anthropic", provider="anthropic", model="claude-haiku-4-5")
    assert agent.model == "anthropic:claude-haiku-4-5"
    async with LLMRing() as ring:
        info = Agent(provider="anthropic", model="claude-haiku-4-5", ring=ring).get_provider_info()
    assert info["provider"] == "anthropic" and info["model"] == "claude-haiku-4-5"
    assert info["supports_streaming"] is True and info["supports_tools"] is True
    mock = await Agent(provider="mock", model="echo").arun("say this")
    assert mock.content == "say this"
    # a model that already names its provider is taken as it is
    assert Agent(provider="mock", model="mock:echo").model == "mock:echo"


def test_a_provider_needs_a_model() -> None:
    assert Agent(provider="ollama", model="llama3:8b").model == "ollama:llama3:8b"  # its tag
    with pytest.raises(ValueError, match=r"provider='anthropic' needs model="):
        Agent(provider="anthropic")


async def test_every_chunk_has_metadata_to_read() -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    agent = Agent(name="calc", model="mock:demo", tools=[add])
    usages = []
    async for chunk in agent.stream("What is 1 + 1?"):
        usages.append(chunk.metadata.get("usage"))  # agenticraft reads it on every chunk
        if chunk.metadata.get("type") == "tool_result":
            assert chunk.metadata["result"] == "2"
    assert usages and all(usage is None for usage in usages)  # llmring puts usage in .usage
    assert chunk.is_terminal and chunk.usage is not None and chunk.metadata["round"] == 2
