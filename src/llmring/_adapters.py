"""``AdapterPool``: the provider adapters of one ``LLMRing``.

An adapter owns its SDK client and that client's connection pool, so a ring keeps one per
provider name, made the first time a stream (or ``capabilities()``) needs it, and closes them
all with the ring. Streams get the pool, never the ring: they ask it for the adapter of a
candidate's config, which the resolver already looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llmring.providers._registry import load_adapter

if TYPE_CHECKING:
    from llmring.providers._seam import ProviderConfig
    from llmring.providers.base import ProviderAdapter

__all__ = ["AdapterPool"]


class AdapterPool:
    """Adapters by provider name, made on first use by ``load`` (the registry's by default)."""

    def __init__(self, load: Callable[[ProviderConfig], ProviderAdapter] = load_adapter) -> None:
        self._load = load
        self._adapters: dict[str, ProviderAdapter] = {}

    def get(self, config: ProviderConfig) -> ProviderAdapter:
        """The adapter for ``config``'s provider; imports its SDK the first time."""
        adapter = self._adapters.get(config.name)
        if adapter is None:
            adapter = self._adapters[config.name] = self._load(config)
        return adapter

    async def aclose(self) -> None:
        """Close every adapter made so far. Safe to call twice."""
        adapters, self._adapters = list(self._adapters.values()), {}
        for adapter in adapters:
            await adapter.aclose()
