"""Shared pieces of the hostile-world tests (issue 11, section 5): every provider's real SDK
against a loopback server that answers with what a hostile or broken endpoint sends.

A :class:`Target` is one way to reach a provider: the five built-in HTTP providers, plus an
OpenAI-compatible endpoint declared in the lockfile (``[providers.corp] type = "openai"``)
whose key lives in a variable with a non-standard name, so only the lockfile's
``api_key_env`` tells llmring that it is a secret.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message
from tests import (
    test_faults_anthropic,
    test_faults_google,
    test_faults_ollama,
    test_faults_openai,
    test_faults_openai_responses,
)
from tests.fault_contract import FaultContract
from tests.loopback import LoopbackServer, RecordedRequest, Reply
from tests.wire_harness import PROVIDERS, lockfile_text

#: request headers that carry a key, for every SDK
CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")

_CONTRACTS: dict[str, FaultContract] = {
    "openai": test_faults_openai.TestOpenAIFaults(),
    "openai-responses": test_faults_openai_responses.TestOpenAIResponsesFaults(),
    "anthropic": test_faults_anthropic.TestAnthropicFaults(),
    "google": test_faults_google.TestGoogleFaults(),
    "ollama": test_faults_ollama.TestOllamaFaults(),
}


@dataclass(frozen=True)
class Target:
    """One endpoint: the provider name in the lockfile, its wire format, its key variable."""

    name: str
    wire: str  # the built-in provider whose wire format it speaks
    key_env: str
    table: str  # the lockfile's [providers.<name>] lines, with {url} for the base URL

    @property
    def contract(self) -> FaultContract:
        """The provider's fault contract: its error bodies and its recorded streams."""
        return _CONTRACTS[self.wire]

    def request(self, **kwargs: Any) -> LLMRequest:
        return LLMRequest(
            model=f"{self.name}:test-model",
            messages=[Message(role="user", content="hello")],
            **kwargs,
        )

    def stream_reply(self, body: bytes, **kwargs: Any) -> Reply:
        return self.contract.stream_reply(body, **kwargs)


def _builtin(name: str) -> Target:
    env, _, prefix = PROVIDERS[name]
    assert env is not None
    return Target(name, name, env, f'[providers.{name}]\nbase_url = "{{url}}{prefix}"\n')


TARGETS: dict[str, Target] = {
    **{name: _builtin(name) for name in _CONTRACTS},
    # neither *_API_KEY, *_TOKEN, *_SECRET nor *_KEY: only api_key_env marks it as a secret
    "corp": Target(
        "corp",
        "openai",
        "CORP_LLM_PASSPHRASE",
        '[providers.corp]\ntype = "openai"\nbase_url = "{url}/v1"\n'
        'api_key_env = "CORP_LLM_PASSPHRASE"\n',
    ),
}


def error_body(target: Target, status: int, message: str) -> dict[str, Any]:
    """The provider's JSON error body for ``status`` (any status, 503 included)."""
    if target.wire == "anthropic":
        kind = test_faults_anthropic.ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if target.wire == "google":
        name = test_faults_google.GOOGLE_STATUS.get(status, "UNKNOWN")
        return {"error": {"code": status, "message": message, "status": name}}
    return target.contract.error_payload(status, message)


def credentials(request: RecordedRequest) -> str:
    """The credential headers the SDK sent, as the hostile server echoes them back."""
    return " ".join(v for k, v in request.headers.items() if k in CREDENTIAL_HEADERS)


def json_text(text: str) -> bytes:
    """``text`` escaped for the inside of a JSON string."""
    return json.dumps(text)[1:-1].encode()


@asynccontextmanager
async def target_ring(
    target: Target,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    key: str = "test-key-0123456789",
    bindings: dict[str, list[str]] | None = None,
) -> AsyncIterator[tuple[LLMRing, LoopbackServer]]:
    """An ``LLMRing`` whose lockfile points ``target`` at a loopback server, with ``key`` set."""
    monkeypatch.setenv(target.key_env, key)
    async with LoopbackServer() as server:
        text = lockfile_text({}, bindings) + "\n" + target.table.format(url=server.base_url)
        path = project / "llmring.lock"
        path.write_text(text, encoding="utf-8")
        async with LLMRing(path) as ring:
            yield ring, server
