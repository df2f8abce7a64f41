"""The providers an ``LLMRing`` can use, by name: the built-in providers, and the lockfile's
``[providers.<name>]`` tables, which either redirect a built-in (``base_url``, timeouts,
retries, its key variable) or add a new name that speaks a built-in's protocol
(``type = "openai"`` for llama.cpp, vLLM, Groq...).

This is where the lockfile meets the provider registry; the registry itself knows only the
provider types and what their packages declare.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from llmring.exceptions import ProviderNotFoundError
from llmring.providers._registry import BUILTIN_PROVIDERS, ProviderSpec
from llmring.providers._seam import ProviderConfig
from llmring.schemas import StreamTimeouts

if TYPE_CHECKING:
    from llmring.lockfile import ProviderEntry

__all__ = ["lookup", "provider_configs"]


def provider_configs(
    entries: Mapping[str, ProviderEntry] | None = None,
) -> dict[str, ProviderConfig]:
    """Every usable provider name with its config: built-ins, then the lockfile's entries."""
    configs = {name: _config(name, spec, None) for name, spec in BUILTIN_PROVIDERS.items()}
    for name, entry in (entries or {}).items():
        spec = BUILTIN_PROVIDERS[entry.type]
        configs[name] = _config(name, spec, entry)
    return configs


def _config(name: str, spec: ProviderSpec, entry: ProviderEntry | None) -> ProviderConfig:
    if entry is None:
        return ProviderConfig(
            name, spec.type, key_envs=spec.key_envs, key_required=spec.key_required
        )
    key_envs: tuple[str, ...]
    if entry.api_key_env:
        key_envs, required = (entry.api_key_env,), True
    elif name == spec.type:
        key_envs, required = spec.key_envs, spec.key_required
    else:
        # A new name with no api_key_env is a keyless endpoint (a local server).
        key_envs, required = (), False
    return ProviderConfig(
        name=name,
        type=spec.type,
        base_url=entry.base_url,
        key_envs=key_envs,
        key_required=required,
        timeouts=entry.timeouts or StreamTimeouts(),
        max_retries=entry.max_retries or 0,
        priced_as=entry.priced_as,
    )


def lookup(name: str, configs: Mapping[str, ProviderConfig]) -> ProviderConfig:
    """The config for ``name``, or ``ProviderNotFoundError`` listing the known names."""
    try:
        return configs[name]
    except KeyError:
        known = ", ".join(sorted(configs))
        raise ProviderNotFoundError(
            f"unknown provider {name!r}; known providers: {known}. Add a [providers.{name}] "
            "table with type and base_url to the lockfile to use another endpoint",
            provider=name,
        ) from None
