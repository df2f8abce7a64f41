"""``genai-prices``' bundled price table, loaded on first use.

Only the data shipped in the installed package is read: llmring never starts its
``UpdatePrices`` fetcher, and builds its own snapshot of the bundled data, so a price (and the
``version`` a receipt records) is always that of the installed package, even if the
application fetches newer prices for itself. The arithmetic is ``genai-prices``' own
(``DataSnapshot.calc``, which ``genai_prices.calc_price`` calls).

Loading the table takes a few hundred milliseconds, once per process: it happens at the end of
the first stream that needs it, or when ``llmring models`` lists it.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from llmring.exceptions import ConfigurationError
from llmring.prices._units import genai_usage

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot

    from llmring.providers._seam import ProviderConfig
    from llmring.schemas import Usage

__all__ = [
    "TableModel",
    "in_table",
    "installed",
    "load_table",
    "provider_id",
    "table_cost",
    "table_missing",
    "table_models",
    "table_providers",
]

logger = logging.getLogger("llmring")


def table_missing() -> str:
    """What to say when the table is needed and ``genai-prices`` is not installed: the
    command that adds it to this installation (see ``llmring._install``)."""
    from llmring._install import install_hint

    return f"the price table (genai-prices) is not installed; run: {install_hint('prices')}"


#: llmring's provider types → ``genai-prices``' provider ids, for the vendors' own endpoints
_TYPE_IDS = {
    "openai": "openai",
    "openai-responses": "openai",
    "anthropic": "anthropic",
    "google": "google",
}


def installed() -> bool:
    """Whether ``genai-prices`` can be imported (without importing it)."""
    return importlib.util.find_spec("genai_prices") is not None


#: streams in several threads (each with its own event loop, or the ``llmring logs`` reader)
#: may price at once: the table is loaded once, by whichever asks first
_loading = threading.Lock()


def load_table() -> tuple[DataSnapshot, str]:
    """The bundled snapshot and the package's version; ``ConfigurationError`` saying how to
    install it when it is missing. Loaded once per process, whatever thread asks."""
    with _loading:
        return _load_table()


@cache
def _load_table() -> tuple[DataSnapshot, str]:
    try:
        import genai_prices
        from genai_prices.data import providers
        from genai_prices.data_snapshot import DataSnapshot
    except ImportError:
        raise ConfigurationError(table_missing()) from None
    return DataSnapshot(providers=providers, from_auto_update=False), genai_prices.__version__


def provider_id(config: ProviderConfig) -> str | None:
    """The ``genai-prices`` provider an endpoint bills as: ``priced_as`` when the lockfile says;
    the vendor's own for a provider at its default endpoint; for a ``base_url``, the provider
    whose API address it is (Groq, OpenRouter, Together...); else ``None`` (a local server,
    a proxy the table cannot know: unpriced unless the lockfile prices its models)."""
    if config.priced_as is not None:
        return config.priced_as
    if config.base_url is None:
        return _TYPE_IDS.get(config.type)
    snapshot, _ = load_table()
    for provider in snapshot.providers:
        if re.match(provider.api_pattern, config.base_url):
            return provider.id
    return None


def table_cost(
    provider: str, models: tuple[str, ...], usage: Usage, when: datetime
) -> tuple[float, str] | None:
    """``(usd, version)`` for the first of ``models`` that ``provider`` prices at ``when``, or
    ``None``. Never raises: usage the table cannot price is logged and left unpriced."""
    snapshot, version = load_table()
    counts = genai_usage(usage)
    for model in models:
        try:
            _, info = snapshot.find_provider_model(model, None, provider, None)
        except LookupError:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # it warns of units it does not price
                calculation = snapshot.calc(_usage(counts), info.id, provider, None, when)
        except Exception as exc:  # noqa: BLE001 - a price must never break a stream
            logger.warning("%s:%s: genai-prices cannot price %s (%r)", provider, model, counts, exc)
            return None
        return float(calculation.total_price), version
    return None


def table_providers() -> list[str]:
    """The table's provider ids."""
    snapshot, _ = load_table()
    return [provider.id for provider in snapshot.providers]


def in_table(provider: str, model: str) -> str | None:
    """The table's id of the model that ``model`` names at its ``provider`` (a dated or
    aliased name finds its entry, as when a call is priced), or ``None``."""
    snapshot, _ = load_table()
    try:
        _, info = snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        return None
    return info.id


def _usage(counts: dict[str, int]) -> Any:
    from genai_prices import Usage

    return Usage(**counts)


@dataclass(frozen=True)
class TableModel:
    """One model of the table, with its current prices in US dollars per million tokens."""

    provider: str
    model: str
    name: str | None
    input: float | None
    output: float | None
    cache_read: float | None
    cache_write: float | None
    #: the price tiers by prompt size: ``(more than N prompt tokens, input price)``
    tiers: tuple[tuple[int, float], ...] = ()


def table_models(provider: str | None, when: datetime) -> list[TableModel]:
    """Every model of the table (of ``provider`` when given) with its prices at ``when``."""
    snapshot, _ = load_table()
    found = []
    for entry in snapshot.providers:
        if provider is not None and entry.id != provider:
            continue
        for info in entry.models:
            prices = info.get_prices(when)
            found.append(
                TableModel(
                    entry.id,
                    info.id,
                    info.name,
                    _base(prices.input_mtok),
                    _base(prices.output_mtok),
                    _base(prices.cache_read_mtok),
                    _base(prices.cache_write_mtok),
                    _tiers(prices.input_mtok),
                )
            )
    return found


def _base(price: Any) -> float | None:
    if price is None:
        return None
    return float(getattr(price, "base", price))


def _tiers(price: Any) -> tuple[tuple[int, float], ...]:
    return tuple((tier.start, float(tier.price)) for tier in getattr(price, "tiers", ()))
