"""Provider registry: provider names → lazily imported adapter classes.

The registry is a list of provider packages (:data:`PROVIDER_MODULES`); each declares its own
``ProviderSpec`` (as simonw/llm's plugins declare their models). Nothing here imports a
vendor SDK. An adapter module (and with it its SDK) is imported the first
time a provider is used, and a missing SDK becomes a ``ProviderUnavailableError`` that says which
``pip install`` fixes it.

:func:`unavailable` is the one rule for "can this provider be used now": its SDK is installed
and its key is set. The resolver (each candidate of an alias), ``LLMRing.providers()``,
``capabilities()``, the stream (which skips such a candidate and raises its typed error when
none is left) and ``llmring bind``'s note all ask it.

The registry knows provider *types*; which names a ring can use (the built-ins, and the
lockfile's ``[providers.<name>]`` tables) is :mod:`llmring._configs`'s business.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from llmring._install import install_hint
from llmring.exceptions import (
    ProviderAuthenticationError,
    ProviderError,
    ProviderUnavailableError,
)
from llmring.providers._spec import ProviderSpec

if TYPE_CHECKING:
    from llmring.providers._seam import ProviderConfig
    from llmring.providers.base import ProviderAdapter

__all__ = [
    "BUILTIN_PROVIDERS",
    "PROVIDER_MODULES",
    "ProviderSpec",
    "Unavailable",
    "load_adapter",
    "unavailable",
]


#: the built-in providers, one package each; a package's ``__init__`` declares its ``SPEC``
#: (key variables, SDK, suggested models...) and imports neither its SDK nor its adapter.
#: Adding a provider is adding its package here; a package is named after its type, with ``_``
#: for ``-`` (``openai_responses`` declares ``openai-responses``).
PROVIDER_MODULES = (
    "llmring.providers.anthropic",
    "llmring.providers.openai",
    "llmring.providers.openai_responses",
    "llmring.providers.google",
    "llmring.providers.ollama",
    "llmring.providers.mock",
)


def _declared(modules: tuple[str, ...]) -> dict[str, ProviderSpec]:
    specs: dict[str, ProviderSpec] = {}
    for module in modules:
        spec: ProviderSpec = importlib.import_module(module).SPEC
        specs[spec.type] = spec
    return specs


#: provider type → its spec, in :data:`PROVIDER_MODULES` order
BUILTIN_PROVIDERS: Mapping[str, ProviderSpec] = _declared(PROVIDER_MODULES)


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why a provider cannot be used now. Both kinds are set-up, not the provider's answer, so
    an alias skips such a candidate for its next one; :meth:`error` is what is raised when no
    candidate is left (a fresh exception each time: exceptions carry per-raise state)."""

    kind: Literal["missing_sdk", "missing_key"]
    reason: str

    def error(self, provider: str, model: str | None = None) -> ProviderError:
        if self.kind == "missing_sdk":
            return ProviderUnavailableError(self.reason, provider=provider, model=model)
        # retryable, unlike a key the provider rejected (401/403): that one raises at once
        return ProviderAuthenticationError(
            self.reason, provider=provider, model=model, retryable=True
        )

    def __str__(self) -> str:
        return self.reason


def unavailable(config: ProviderConfig) -> Unavailable | None:
    """Why ``config``'s provider cannot be used now (no SDK, then no key), or ``None``."""
    missing = _missing_sdk(BUILTIN_PROVIDERS[config.type])
    if missing:
        return Unavailable("missing_sdk", missing)
    problem = config.credentials_problem()
    return Unavailable("missing_key", problem) if problem else None


def _missing_sdk(spec: ProviderSpec) -> str | None:
    if spec.sdk_module and not _importable(spec.sdk_module):
        return (
            f"the {spec.sdk_module!r} package is not installed; "
            f"run: {install_hint(spec.pip_extra or spec.type)}"
        )
    return None


#: SDKs found installed: every resolve asks, and ``find_spec`` costs about 0.1 ms. Only
#: presence is remembered, so an SDK installed after a "not installed" hint is seen at once.
_installed: set[str] = set()


def _importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it. ``find_spec`` imports the
    parents of a dotted name and raises ``ModuleNotFoundError`` when one is missing
    (``google.genai`` without ``google``), so that counts as "not installed" too."""
    if module in _installed:
        return True
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        return False
    except ValueError:  # in sys.modules with no __spec__ (set there by hand): it is importable
        found = True
    if found:
        _installed.add(module)
    return found


def load_adapter(config: ProviderConfig) -> ProviderAdapter:
    """Import the adapter for ``config.type`` (and so its SDK) and build it."""
    spec = BUILTIN_PROVIDERS[config.type]
    missing = _missing_sdk(spec)
    if missing:
        raise ProviderUnavailableError(missing, provider=config.name)
    module_name, class_name = spec.adapter.split(":")
    adapter_class: type[ProviderAdapter] = getattr(importlib.import_module(module_name), class_name)
    return adapter_class(config)
