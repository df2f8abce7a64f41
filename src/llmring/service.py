"""``LLMRing``: the facade every other layer (bots, SSE, toolkit, CLI) is built on."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llmring._adapters import AdapterPool
from llmring._configs import provider_configs
from llmring._costs import Pricer
from llmring._receipts import ReceiptWriter, Recorder
from llmring._receipts._settings import StoreURL, env_setting, parse_store_url
from llmring._receipts._writer import writer_for
from llmring._resource import AsyncResource
from llmring._secrets import register_secret_env
from llmring._stream import ChatStream
from llmring.lockfile._store import find_lockfile, read_lockfile
from llmring.prices import Prices
from llmring.providers._registry import unavailable
from llmring.resolver import Candidate, Resolver
from llmring.schemas import LLMRequest, LLMResponse

if TYPE_CHECKING:
    from llmring.streaming._thunks import GenerationThunk

__all__ = ["LLMRing", "ModelCapabilities", "ProviderStatus"]


@dataclass(frozen=True)
class ProviderStatus:
    """Whether a provider can be used now, and if not, why."""

    name: str
    type: str
    usable: bool
    reason: str | None
    base_url: str | None
    key_envs: tuple[str, ...]


@dataclass(frozen=True)
class ModelCapabilities:
    """What the model an alias resolves to can do: the one capability source (the adapter's
    class flags) that bots, agents and the CLI consult."""

    provider: str
    model: str
    supports_streaming: bool
    supports_tools: bool
    supports_reasoning: bool


class LLMRing(AsyncResource):
    """One async API over every provider, driven by a lockfile.

    ``lockfile_path`` and ``profile`` default to discovery (see docs/lockfile.md). Use it as an
    async context manager, or call :meth:`aclose`, so provider connections are released::

        async with LLMRing() as ring:
            async for chunk in ring.chat_stream(LLMRequest(model="chatbot", messages=[...])):
                print(chunk.delta, end="")
    """

    def __init__(
        self,
        lockfile_path: str | os.PathLike[str] | None = None,
        profile: str | None = None,
        *,
        receipts: str | None = None,
        log_content: bool | None = None,
    ) -> None:
        self.lockfile = read_lockfile(find_lockfile(lockfile_path))
        self._configs = provider_configs(self.lockfile.providers)
        for config in self._configs.values():
            for env in config.key_envs:
                register_secret_env(env)
        self.resolver = Resolver(self.lockfile, self._configs, profile)
        self._adapters = AdapterPool()
        #: prices every stream's usage when it ends: the lockfile's ``[prices]``, then
        #: genai-prices' table when installed (see :mod:`llmring.prices`)
        self._pricer: Pricer = Prices(self.lockfile, self._configs)
        self._recorder = self._receipts_recorder(receipts, log_content)

    def _receipts_recorder(self, url: str | None, content: bool | None) -> Recorder | None:
        """Where receipts go: ``receipts``, else ``$LLMRING_RECEIPTS``, else the lockfile's
        ``[receipts]``; none of them: no receipts (docs/receipts.md)."""
        entry = self.lockfile.receipts
        store: StoreURL | None
        if url is not None:
            store = parse_store_url(url, Path.cwd(), "LLMRing(receipts=...)")
        elif (env := env_setting()) is not None:
            store = parse_store_url(env, Path.cwd(), "$LLMRING_RECEIPTS")
        elif entry is not None:
            store = entry.store
        else:
            return None
        if store is None:
            return None
        if content is None:
            content = entry.content if entry is not None else False
        return Recorder(writer_for(store), content=content, digest=self.lockfile.digest)

    def __repr__(self) -> str:
        return f"<LLMRing lockfile={str(self.lockfile.path)!r} profile={self.profile!r}>"

    @property
    def profile(self) -> str:
        """The profile aliases are resolved in."""
        return self.resolver.profile_name

    # -- the public API ---------------------------------------------------------------------

    @property
    def receipts(self) -> ReceiptWriter | None:
        """The writer this ring's receipts go through (``None``: receipts are off): its
        ``written``, ``spilled``, ``lost`` and ``pending`` counts, ``spill_path`` and
        ``flush()``."""
        return self._recorder.writer if self._recorder is not None else None

    def chat_stream(
        self,
        request: LLMRequest,
        profile: str | None = None,
        *,
        conversation_id: str | None = None,
        receipt_id: str | None = None,
        key_id: str | None = None,
    ) -> ChatStream:
        """Stream the reply to ``request``; see docs/stream-contract.md.

        ``profile`` resolves the alias in that lockfile profile for this call only (an unknown
        one raises ``ProfileNotFoundError``); by default, the ring's own :attr:`profile`. The
        alias is resolved now (an unknown alias raises here); the provider is called on the
        first iteration. The returned stream is an async iterator and context manager.
        ``conversation_id`` is recorded on the stream's receipt (``llmring chat -c`` uses it);
        ``receipt_id`` becomes the receipt's id (default: a fresh UUID version 7) and ``key_id``
        the gateway key that made the call (``llmring serve`` sets both).
        """
        resolver = (
            self.resolver if profile is None else Resolver(self.lockfile, self._configs, profile)
        )
        candidates = resolver.resolve(request.model)
        return ChatStream(
            request,
            candidates,
            self._adapters,
            self._pricer,
            self._recorder,
            resolver.profile_name,
            conversation_id,
            receipt_id=receipt_id,
            key_id=key_id,
        )

    async def chat(
        self,
        request: LLMRequest,
        profile: str | None = None,
        *,
        conversation_id: str | None = None,
        receipt_id: str | None = None,
        key_id: str | None = None,
    ) -> LLMResponse:
        """The whole reply at once, assembled by the same path as :meth:`chat_stream`
        (``profile``, ``conversation_id``, ``receipt_id`` and ``key_id`` as there)."""
        async with self.chat_stream(
            request,
            profile,
            conversation_id=conversation_id,
            receipt_id=receipt_id,
            key_id=key_id,
        ) as stream:
            async for _ in stream:
                pass
            return stream.response

    def generate(self, request: LLMRequest, *, buffer: int = 256) -> GenerationThunk:
        """Start streaming ``request`` in the background and return at once.

        The returned :class:`~llmring.streaming.GenerationThunk` is awaited for the whole text
        (``await thunk.avalue()``), read as it grows (``await thunk.astream()``, ``async for``)
        or cancelled (``await thunk.aclose()``). Needs a running event loop. At most ``buffer``
        chunks wait between the provider and a slow reader; the producer pauses beyond that.
        """
        from llmring.streaming._thunks import GenerationThunk

        return GenerationThunk(self.chat_stream(request), buffer=buffer)

    def capabilities(self, alias: str) -> ModelCapabilities:
        """The provider, model and capability flags of the first usable candidate of ``alias``
        (the first candidate when none is usable). Loads the provider's adapter, so a chosen
        candidate whose SDK is not installed raises ``ProviderUnavailableError`` (with the
        install command): the flags live on the adapter."""
        candidates = self.resolver.resolve(alias)
        chosen = next((c for c in candidates if c.usable), candidates[0])
        adapter = self._adapters.get(chosen.config)
        return ModelCapabilities(
            chosen.provider,
            chosen.model,
            adapter.supports_streaming,
            adapter.supports_tools,
            adapter.supports_reasoning,
        )

    def resolve(self, alias: str) -> list[Candidate]:
        """The ordered candidates for an alias (or ``provider:model``), each with ``usable``."""
        return self.resolver.resolve(alias)

    def providers(self) -> list[ProviderStatus]:
        """Every known provider (built in and from the lockfile) and whether it is usable."""
        statuses = []
        for name, config in self._configs.items():
            why = unavailable(config)
            statuses.append(
                ProviderStatus(
                    name,
                    config.type,
                    why is None,
                    why.reason if why else None,
                    config.base_url,
                    config.key_envs,
                )
            )
        return statuses

    # -- lifetime -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every provider client this instance opened, and wait until the receipts
        queued so far are stored. Safe to call twice."""
        await self._adapters.aclose()
        if self._recorder is not None and self._recorder.writer.pending:
            await asyncio.to_thread(self._recorder.writer.flush)
