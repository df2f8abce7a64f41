"""What a call cost: the lockfile's ``[prices]`` first, then ``genai-prices``' table.

:class:`Prices` is the :class:`~llmring._costs.Pricer` every ``LLMRing`` builds from its
lockfile. For a call to ``provider:model`` it uses, in order:

1. the lockfile's ``[prices."provider:model"]`` (the model asked for, then the model the
   provider says answered): ``source="lockfile"``, ``version`` = the lockfile's digest;
2. ``genai-prices``' bundled table (``pip install 'llmring[prices]'``), for the provider the
   endpoint bills as (see :func:`~llmring.prices._table.provider_id`), at the request time, so
   historic prices and long-context tiers apply: ``source="genai-prices"``, ``version`` = its
   package version;
3. otherwise the call is ``unpriced``: no cost, never a silent 0.

``genai-prices`` is imported only when a price is first looked up in it (``import llmring``
never imports it), and without it installed the lockfile's prices still apply. See
docs/prices.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from llmring._costs import Cost
from llmring.prices._table import (
    TableModel,
    installed,
    provider_id,
    table_cost,
    table_missing,
    table_models,
)
from llmring.prices._units import lockfile_usd

if TYPE_CHECKING:
    from llmring.lockfile._model import Lockfile
    from llmring.providers._seam import ProviderConfig
    from llmring.schemas import Usage

__all__ = ["Prices", "TableModel", "installed", "table_missing", "table_models"]

logger = logging.getLogger("llmring")


class Prices:
    """The pricer of a ring: ``lockfile``'s prices, then the table (when ``table`` and
    installed), for the endpoints in ``configs`` (provider name → config)."""

    def __init__(
        self, lockfile: Lockfile, configs: Mapping[str, ProviderConfig], *, table: bool = True
    ) -> None:
        #: the lockfile's ``[prices]``, by ``provider:model``
        self.overrides = lockfile.prices
        self._digest = lockfile.digest or None
        #: the endpoints by provider name
        self.providers = configs
        self._table = table and installed()
        self._routes: dict[str, str | None] = {}

    def cost(
        self,
        provider_type: str,
        provider: str,
        model: str,
        usage: Usage | None,
        when: datetime,
        *,
        reported_model: str | None = None,
    ) -> Cost:
        if not usage:
            return Cost(None, "no_usage")
        models = (model,) if reported_model in (None, model) else (model, reported_model)
        for name in models:
            price = self.overrides.get(f"{provider}:{name}")
            if price is not None:
                return Cost(lockfile_usd(price, usage), "priced", "lockfile", self._digest)
        if self._table:
            return self._table_cost(provider, tuple(reversed(models)), usage, when)
        return Cost(None, "unpriced")

    def _table_cost(
        self, provider: str, models: tuple[str, ...], usage: Usage, when: datetime
    ) -> Cost:
        """The table's price, the model that answered first (a dated snapshot may be priced
        apart from its alias)."""
        try:
            billed_as = self.route(provider)
            found = table_cost(billed_as, models, usage, when) if billed_as else None
        except Exception as exc:  # noqa: BLE001 - a price must never break a stream
            logger.warning("%s: the price table could not be read (%r)", provider, exc)
            return Cost(None, "unpriced")
        if found is None:
            return Cost(None, "unpriced")
        usd, version = found
        return Cost(usd, "priced", "genai-prices", version)

    def route(self, provider: str) -> str | None:
        """The ``genai-prices`` provider that ``provider``'s endpoint bills as, or ``None``."""
        if provider not in self._routes:
            config = self.providers.get(provider)
            self._routes[provider] = provider_id(config) if config is not None else None
        return self._routes[provider]
