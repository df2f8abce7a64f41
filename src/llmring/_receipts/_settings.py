"""Where a ring's receipts go: a store URL, from the argument, the environment or the lockfile.

The library logs nothing unless asked (``LLMRing(receipts=...)``, ``$LLMRING_RECEIPTS``, or a
lockfile ``[receipts]`` table, in that order); the CLI logs to the user data dir unless told
not to (``--no-log``, ``LLMRING_LOG=off``).

URLs follow SQLAlchemy's SQLite form: ``sqlite:///relative/path.db`` (three slashes: relative
to the working directory, or to the lockfile's directory for a lockfile's URL),
``sqlite:////absolute/path.db`` (four), ``sqlite:///~/logs.db`` (the home directory).
``off`` turns receipts off. Other schemes are refused with an error saying what is supported
(PostgreSQL is planned: issue 15).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from llmring.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llmring.lockfile import Lockfile

__all__ = ["OFF", "RECEIPTS_ENV", "parse_store_url", "serve_store_path", "user_store_path"]

RECEIPTS_ENV = "LLMRING_RECEIPTS"
OFF = "off"
_SQLITE = "sqlite:///"


def parse_store_url(url: str, base: Path, where: str) -> Path | None:
    """The SQLite file ``url`` names (relative paths from ``base``), or ``None`` for ``off``.
    ``where`` names the setting in the error (``$LLMRING_RECEIPTS``, ``llmring.lock [receipts]``).
    """
    text = url.strip()
    if text.lower() in (OFF, ""):
        return None
    if not text.startswith(_SQLITE):
        scheme = text.partition("://")[0] if "://" in text else None
        later = " (PostgreSQL stores are planned)" if scheme and "postgres" in scheme else ""
        raise ConfigurationError(
            f"{where}: {url!r} is not a receipt store URL{later}; write "
            "'sqlite:///relative/path.db', 'sqlite:////absolute/path.db' or 'off'"
        )
    path_text = text[len(_SQLITE) :]
    if not path_text or path_text == ":memory:" or path_text.endswith("/"):
        raise ConfigurationError(
            f"{where}: {url!r} names no database file; write 'sqlite:///path/to/receipts.db'"
        )
    path = Path(path_text).expanduser()
    return path if path.is_absolute() else base / path


def user_store_path() -> Path:
    """The CLI's default store: ``logs.db`` in the user data dir (``platformdirs``), or
    ``$LLMRING_RECEIPTS`` when that names a file."""
    from platformdirs import user_data_path

    return user_data_path("llmring", appauthor=False) / "logs.db"


def env_setting() -> str | None:
    """``$LLMRING_RECEIPTS`` when it is set and not empty."""
    return os.environ.get(RECEIPTS_ENV) or None


def serve_store_path(receipts: str | None, lockfile: Lockfile | None) -> Path:
    """The store of ``llmring serve`` and ``llmring keys``: its receipts and its API keys.

    ``receipts`` (``--receipts URL``), else ``$LLMRING_RECEIPTS``, else ``lockfile``'s
    ``[receipts]``, else the CLI's own store (:func:`user_store_path`). The gateway needs a
    store (its keys live there), so the first setting found must name one: ``off`` is a
    ``ConfigurationError`` naming where it was said."""
    if receipts is not None:
        where, path = "--receipts", parse_store_url(receipts, Path.cwd(), "--receipts")
    elif (env := env_setting()) is not None:
        where, path = f"${RECEIPTS_ENV}", parse_store_url(env, Path.cwd(), f"${RECEIPTS_ENV}")
    elif lockfile is not None and lockfile.receipts is not None:
        where, path = f"{lockfile.path or 'the lockfile'} [receipts]", lockfile.receipts.path
    else:
        return user_store_path()
    if path is None:
        raise ConfigurationError(
            f"{where} turns receipts off, but llmring serve and llmring keys need a receipt "
            "store (API keys are kept there); name one, e.g. --receipts sqlite:///receipts.db"
        )
    return path
