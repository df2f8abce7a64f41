"""``ProviderSpec``: what a provider package declares about itself.

Each built-in provider is a package under ``llmring.providers`` whose ``__init__`` defines
``SPEC``; the registry (``_registry.PROVIDER_MODULES``) only lists the packages. Declaring must
stay cheap: a package ``__init__`` imports this module and nothing else of weight (no SDK, not
its own adapter), so the registry can read every ``SPEC`` when a lockfile is first read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["ProviderSpec"]


@dataclass(frozen=True)
class ProviderSpec:
    """A built-in provider type: where its adapter lives and what it needs.

    What follows from other fields is not repeated: a provider with key variables needs a
    key (:attr:`key_required`) and is detected by them (:attr:`signals`); its SDK is installed
    by the extra named after the provider unless ``pip_extra`` says otherwise.
    """

    type: str
    #: ``"module:ClassName"``, imported (with its SDK) the first time the provider is used
    adapter: str
    #: environment variables holding the key, the first one set wins
    key_envs: tuple[str, ...] = ()
    #: the import name of the SDK, checked (without importing it) before the adapter is
    sdk_module: str | None = None
    #: where the SDK sends requests when neither the lockfile's ``base_url`` nor the SDK's
    #: own environment variable (``OPENAI_BASE_URL``, ``OLLAMA_HOST``...) names an endpoint;
    #: for the documentation: llmring leaves the default to the SDK, so that variable applies
    default_base_url: str | None = None
    #: what ``llmring lock init`` binds the standard aliases to for this provider
    suggested_models: Mapping[str, str] = field(default_factory=dict)
    #: other environment variables whose presence means "the user has this provider"
    signal_envs: tuple[str, ...] = ()
    #: ``llmring[<extra>]`` installs the SDK (``None``: the extra named after ``type``)
    pip_extra: str | None = None

    @property
    def key_required(self) -> bool:
        """Whether a stream needs a key: a provider with key variables does."""
        return bool(self.key_envs)

    @property
    def signals(self) -> tuple[str, ...]:
        """The variables whose presence means the user has this provider (``lock init``)."""
        return self.key_envs + self.signal_envs
