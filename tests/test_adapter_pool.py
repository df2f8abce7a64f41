"""The seam between the facade and the providers: a stream gets each candidate's provider
config from the resolver and its adapters from the ring's pool, and never calls back into
``LLMRing``."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from llmring import LLMRequest, LLMRing, Message
from llmring._adapters import AdapterPool
from llmring.providers.base import ProviderAdapter, ProviderConfig
from llmring.providers.mock import MockAdapter
from tests.helpers import write_lockfile

LOCAL = '\n[providers.local]\ntype = "mock"\nbase_url = "http://127.0.0.1:9/v1"\n'


def request(model: str) -> LLMRequest:
    return LLMRequest(model=model, messages=[Message(role="user", content="hello")])


async def test_a_candidate_carries_the_config_its_stream_uses(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["local:echo"]}, LOCAL)
    async with LLMRing() as ring:
        (candidate,) = ring.resolve("chatbot")
        assert candidate.config.name == "local" and candidate.config.type == "mock"
        assert candidate.config.base_url == "http://127.0.0.1:9/v1"
        stream = ring.chat_stream(request("chatbot"))
        ring._configs.clear()  # a stream that looked its provider up again would fail here
        async with stream:
            text = "".join([chunk.delta async for chunk in stream])
    assert text == "hello" and stream.provider == "local"


class Recording(MockAdapter):
    closed: ClassVar[list[str]] = []

    async def aclose(self) -> None:
        Recording.closed.append(self.config.name)


async def test_the_pool_makes_one_adapter_per_provider_and_closes_them_all() -> None:
    made: list[str] = []

    def load(config: ProviderConfig) -> ProviderAdapter:
        made.append(config.name)
        return Recording(config)

    pool = AdapterPool(load)
    first, second = ProviderConfig("a", "mock"), ProviderConfig("b", "mock")
    assert pool.get(first) is pool.get(first)
    assert pool.get(second) is not pool.get(first)
    assert made == ["a", "b"]
    Recording.closed = []
    await pool.aclose()
    await pool.aclose()  # idempotent
    assert Recording.closed == ["a", "b"]


async def test_streams_and_capabilities_share_the_ring_s_adapter(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["local:echo"]}, LOCAL)
    async with LLMRing() as ring:
        assert ring.capabilities("chatbot").supports_reasoning
        adapter = ring._adapters.get(ring.resolve("chatbot")[0].config)
        async with ring.chat_stream(request("chatbot")) as stream:
            async for _ in stream:
                pass
        assert ring._adapters.get(ring.resolve("chatbot")[0].config) is adapter
