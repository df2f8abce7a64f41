"""Run a real provider adapter (and its real SDK) against the loopback server.

``provider_ring`` writes a lockfile whose ``[providers.<name>]`` points the built-in provider
at a :class:`LoopbackServer`, sets a fake key, and yields an ``LLMRing`` plus the server.
``run_stream`` consumes one stream and returns an :class:`Outcome` with everything a test
compares: the text, reasoning, tool calls, finish reason, usage, model, the chunks and the error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message, StreamChunk
from tests.loopback import LoopbackServer, Reply

#: provider → (key variable, fake key value, path prefix of base_url)
PROVIDERS: dict[str, tuple[str | None, str | None, str]] = {
    "openai": ("OPENAI_API_KEY", "sk-test-openai-0123456789abcdefghij", "/v1"),
    "openai-responses": ("OPENAI_API_KEY", "sk-test-openai-0123456789abcdefghij", "/v1"),
    "anthropic": ("ANTHROPIC_API_KEY", "sk-ant-test-0123456789abcdefghij", ""),
    "google": ("GEMINI_API_KEY", "AIzaTest0123456789abcdefghijklmnopqrstu", ""),
    "ollama": ("OLLAMA_API_KEY", "ollama-test-key-0123456789abcdef", ""),  # optional bearer
}


def lockfile_text(
    providers: dict[str, str],
    bindings: dict[str, list[str]] | None = None,
    priced_as: str | None = None,
    tables: str = "",
) -> str:
    """A lockfile redirecting each provider in ``providers`` (name → base_url), billed as the
    price table's ``priced_as`` provider when given, with more TOML ``tables`` at the end."""
    lines = [
        'version = "1.0"',
        'default_profile = "default"',
        "",
        "[profiles.default]",
        'name = "default"',
        "",
    ]
    for alias, models in (bindings or {}).items():
        lines += [
            "[[profiles.default.bindings]]",
            f'alias = "{alias}"',
            f"models = {json.dumps(models)}",
            "",
        ]
    for name, url in providers.items():
        lines += [f"[providers.{name}]", f'base_url = "{url}"']
        lines += [f'priced_as = "{priced_as}"', ""] if priced_as else [""]
    return "\n".join(lines) + tables


def set_fake_key(provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env, value, _ = PROVIDERS[provider]
    if env and value:
        monkeypatch.setenv(env, value)


@asynccontextmanager
async def provider_ring(
    provider: str,
    reply: Reply,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    bindings: dict[str, list[str]] | None = None,
    priced_as: str | None = None,
    tables: str = "",
) -> AsyncIterator[tuple[LLMRing, LoopbackServer]]:
    set_fake_key(provider, monkeypatch)
    async with LoopbackServer(reply) as server:
        path = project / "llmring.lock"
        url = server.base_url + PROVIDERS[provider][2]
        path.write_text(
            lockfile_text({provider: url}, bindings, priced_as, tables), encoding="utf-8"
        )
        async with LLMRing(path) as ring:
            yield ring, server


@dataclass
class Outcome:
    chunks: list[StreamChunk] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def text(self) -> str:
        return "".join(c.delta for c in self.chunks)

    @property
    def reasoning(self) -> str:
        return "".join(c.reasoning or "" for c in self.chunks)

    @property
    def terminal(self) -> StreamChunk:
        assert self.error is None, f"the stream failed: {self.error!r}"
        assert self.chunks and self.chunks[-1].is_terminal
        return self.chunks[-1]

    def check_contract(self) -> None:
        """The stream contract's shape: one terminal chunk, last; content chunks carry content."""
        terminal = self.terminal
        assert terminal.delta == "" and terminal.finish_reason is not None
        for chunk in self.chunks[:-1]:
            assert not chunk.is_terminal and chunk.usage is None and chunk.tool_calls is None
            assert chunk.delta or chunk.reasoning or chunk.tool_call_delta


def user_request(model: str, **kwargs: Any) -> LLMRequest:
    return LLMRequest(model=model, messages=[Message(role="user", content="hello")], **kwargs)


async def run_stream(ring: LLMRing, request: LLMRequest) -> Outcome:
    outcome = Outcome()
    try:
        async with ring.chat_stream(request) as stream:
            async for chunk in stream:
                outcome.chunks.append(chunk)
    except Exception as exc:  # noqa: BLE001 - the test asserts on it
        outcome.error = exc
    return outcome
