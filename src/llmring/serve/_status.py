"""What the gateway's status routes answer: ``GET /readyz`` (:func:`readiness`) and
``GET /v1/models`` (:func:`model_list`), as plain JSON-ready dicts (docs/serve.md, "Routes")."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmring.serve._limits import Slots
    from llmring.serve._reload import Snapshots
    from llmring.service import LLMRing

__all__ = ["model_list", "readiness"]


def readiness(
    snapshots: Snapshots, store: dict[str, Any], price_version: str | None, slots: Slots
) -> dict[str, Any]:
    """``/readyz``: the lockfile in use, the price table, the store's health (``store``, from
    ``store_health``), the streams; ``degraded`` while the store cannot be opened."""
    current = snapshots.current
    return {
        "status": "ready" if store["ok"] else "degraded",
        "lockfile": {
            "path": str(current.path) if current.path else None,
            "digest": current.digest,
            "profile": current.ring.profile,
            "loaded_at": datetime.fromtimestamp(current.loaded_at, UTC).isoformat(),
            "reloads": snapshots.reloads,
            "last_reload_error": snapshots.last_error,
        },
        "prices": {"version": price_version},
        "store": store,
        "streams": {"active": slots.active, "limit": slots.limit},
        "worker": {"pid": os.getpid()},
    }


def model_list(ring: LLMRing) -> dict[str, Any]:
    """``/v1/models``: the profile's aliases in OpenAI's list shape, each with its candidates."""
    bindings = ring.lockfile.profile(ring.profile).bindings
    data = [
        {
            "id": alias,
            "object": "model",
            "created": 0,
            "owned_by": "llmring",
            "llmring": {"candidates": [str(ref) for ref in binding.models]},
        }
        for alias, binding in sorted(bindings.items())
    ]
    return {"object": "list", "data": data}
