"""Which receipt store a gateway uses: chosen once at start-up, as ``llmring keys`` chooses it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmring.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llmring.serve._settings import ServeSettings

__all__ = ["store_url"]


def store_url(settings: ServeSettings) -> str | None:
    """The absolute path of the SQLite store (``None``: receipts off, allowed only with
    ``--no-auth``, since keys live in the store). Blocking: reads the lockfile."""
    from pathlib import Path

    from llmring._receipts._settings import OFF, env_setting, parse_store_url, user_store_path
    from llmring.lockfile._store import find_lockfile, read_lockfile

    chosen = settings.receipts if settings.receipts is not None else env_setting()
    if chosen is not None and chosen.strip().lower() == OFF:
        if not settings.no_auth:
            raise ConfigurationError(
                "receipts are off, but the gateway's keys live in the receipt store: give "
                "--receipts sqlite:///path.db, or serve with --no-auth on a loopback address"
            )
        return None
    lockfile = read_lockfile(find_lockfile(settings.lockfile))
    if chosen is not None:
        path = parse_store_url(chosen, Path.cwd(), "--receipts")
    elif lockfile.receipts is not None:
        path = lockfile.receipts.path
    else:
        path = user_store_path()
    if path is None:
        raise ConfigurationError("the receipt store is off; see --receipts")
    return str(path.absolute())
