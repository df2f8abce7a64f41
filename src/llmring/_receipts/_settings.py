"""Where a ring's receipts go: a store URL, from the argument, the environment or the lockfile.

The library logs nothing unless asked (``LLMRing(receipts=...)``, ``$LLMRING_RECEIPTS``, or a
lockfile ``[receipts]`` table, in that order); the CLI logs to the user data dir unless told
not to (``--no-log``, ``LLMRING_LOG=off``).

SQLite URLs follow SQLAlchemy's form: ``sqlite:///relative/path.db`` (three slashes: relative
to the working directory, or to the lockfile's directory for a lockfile's URL),
``sqlite:////absolute/path.db`` (four), ``sqlite:///~/logs.db`` (the home directory).
PostgreSQL URLs are libpq's (``postgresql://user:password@host:5432/dbname``, ``postgres://``
too), handed to psycopg as they are. ``off`` turns receipts off.

Every store is named by one :class:`StoreURL` and opened by :func:`open_receipt_store`. A
PostgreSQL URL may hold a password: a ``StoreURL`` never shows it (``str``, ``repr``,
:attr:`StoreURL.shown`), and neither does any error about it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from llmring.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llmring._receipts._store import ReceiptStore
    from llmring.lockfile import Lockfile

__all__ = [
    "OFF",
    "RECEIPTS_ENV",
    "StoreURL",
    "open_receipt_store",
    "parse_store_url",
    "serve_store",
    "user_store",
]

RECEIPTS_ENV = "LLMRING_RECEIPTS"
OFF = "off"
_SQLITE = "sqlite:///"
_POSTGRES_SCHEMES = ("postgresql", "postgres")
_HOW = (
    "write 'sqlite:///relative/path.db', 'sqlite:////absolute/path.db', "
    "'postgresql://user@host/dbname' or 'off'"
)


@dataclass(frozen=True, repr=False)
class StoreURL:
    """One receipt store: a SQLite file (``path``) or a PostgreSQL database (``dsn``, the URL
    as given, password included: used to connect, never shown)."""

    kind: Literal["sqlite", "postgresql"]
    path: Path | None = None
    dsn: str = ""

    @classmethod
    def sqlite(cls, path: Path) -> StoreURL:
        return cls("sqlite", path=path)

    @property
    def shown(self) -> str:
        """What messages, logs and ``/readyz`` say: the file, or the URL without password."""
        if self.path is not None:
            return str(self.path)
        return hide_password(self.dsn)

    @property
    def url(self) -> str:
        """The URL that names this store again (``parse_store_url`` reads it back); it holds
        the password of a PostgreSQL URL: pass it on, never show it."""
        return f"{_SQLITE}{self.path.absolute()}" if self.path is not None else self.dsn

    @property
    def secrets(self) -> tuple[str, ...]:
        """The password as written in the URL and decoded: what errors are scrubbed of."""
        return _passwords(self.dsn) if self.kind == "postgresql" else ()

    @property
    def spill_path(self) -> Path:
        """Where receipts go when this store cannot take them: beside a SQLite file; in the
        user data dir for a database (one file per database, named by its URL's digest)."""
        if self.path is not None:
            absolute = self.path.absolute()
            return absolute.with_name(absolute.name + ".spill.jsonl")
        from platformdirs import user_data_path

        digest = hashlib.sha256(self.dsn.encode()).hexdigest()[:12]
        return user_data_path("llmring", appauthor=False) / f"postgresql-{digest}.spill.jsonl"

    def __str__(self) -> str:
        return self.shown

    def __repr__(self) -> str:
        return f"StoreURL({self.shown!r})"


def hide_password(url: str) -> str:
    """``url`` with the password of its user part and a ``password=`` parameter as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host: show nothing after the scheme
        return url.partition("://")[0] + "://***"
    user, at, hosts = parts.netloc.rpartition("@")
    if at and ":" in user:
        user = user.partition(":")[0] + ":***"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="*")
    # by hand: urlunsplit drops the "//" of an empty host (postgresql:///dbname)
    return f"{parts.scheme}://{user}{at}{hosts}{parts.path}" + (f"?{query}" if query else "")


def _passwords(url: str) -> tuple[str, ...]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    found = []
    user, at, _ = parts.netloc.rpartition("@")
    if at and ":" in user:
        found.append(user.partition(":")[2])
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if k == "password"]
    written = [p for p in found if p]
    return tuple({*written, *(unquote(p) for p in written)})


def parse_store_url(url: str, base: Path, where: str) -> StoreURL | None:
    """The store ``url`` names (relative SQLite paths from ``base``), or ``None`` for ``off``.
    ``where`` names the setting in the error (``$LLMRING_RECEIPTS``, ``llmring.lock [receipts]``).
    """
    text = url.strip()
    if text.lower() in (OFF, ""):
        return None
    scheme = text.partition("://")[0].lower() if "://" in text else None
    if scheme in _POSTGRES_SCHEMES:
        return StoreURL("postgresql", dsn=text)
    if not text.startswith(_SQLITE):
        shown = hide_password(text) if scheme else text
        raise ConfigurationError(f"{where}: {shown!r} is not a receipt store URL; {_HOW}")
    path_text = text[len(_SQLITE) :]
    if not path_text or path_text == ":memory:" or path_text.endswith("/"):
        raise ConfigurationError(
            f"{where}: {url!r} names no database file; write 'sqlite:///path/to/receipts.db'"
        )
    path = Path(path_text).expanduser()
    return StoreURL.sqlite(path if path.is_absolute() else base / path)


def open_receipt_store(store: StoreURL, *, create: bool = True) -> ReceiptStore:
    """The store ``store`` names, open. ``create=False`` (readers) never creates a SQLite
    file; a PostgreSQL database is never created nor migrated here (``llmring store migrate``
    does it), only checked to be at this llmring's schema version."""
    if store.kind == "postgresql":
        from llmring._receipts._postgres import PostgresStore

        return PostgresStore(store)
    from llmring._receipts._sqlite import SQLiteStore

    assert store.path is not None
    return SQLiteStore(store.path, create=create)


def user_store() -> StoreURL:
    """The CLI's default store: ``logs.db`` in the user data dir (``platformdirs``)."""
    from platformdirs import user_data_path

    return StoreURL.sqlite(user_data_path("llmring", appauthor=False) / "logs.db")


def env_setting() -> str | None:
    """``$LLMRING_RECEIPTS`` when it is set and not empty."""
    return os.environ.get(RECEIPTS_ENV) or None


def serve_store(receipts: str | None, lockfile: Lockfile | None) -> StoreURL:
    """The store of ``llmring serve``, ``llmring keys`` and ``llmring store migrate``: its
    receipts and its API keys.

    ``receipts`` (``--receipts URL``), else ``$LLMRING_RECEIPTS``, else ``lockfile``'s
    ``[receipts]``, else the CLI's own store (:func:`user_store`). The gateway needs a
    store (its keys live there), so the first setting found must name one: ``off`` is a
    ``ConfigurationError`` naming where it was said."""
    if receipts is not None:
        where, store = "--receipts", parse_store_url(receipts, Path.cwd(), "--receipts")
    elif (env := env_setting()) is not None:
        where, store = f"${RECEIPTS_ENV}", parse_store_url(env, Path.cwd(), f"${RECEIPTS_ENV}")
    elif lockfile is not None and lockfile.receipts is not None:
        where, store = f"{lockfile.path or 'the lockfile'} [receipts]", lockfile.receipts.store
    else:
        return user_store()
    if store is None:
        raise ConfigurationError(
            f"{where} turns receipts off, but llmring serve and llmring keys need a receipt "
            "store (API keys are kept there); name one, e.g. --receipts sqlite:///receipts.db"
        )
    return store
