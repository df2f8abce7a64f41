"""This process's way to one PostgreSQL database: a pool of connections, and what happens when
the database goes away and comes back.

One :class:`Database` per database and process (:func:`database`), shared by every store and
admission opened on it: the writer thread, the gateway's key reads and admission checks (in
worker threads) and the CLI all take their connections from its pool.

While the database answers, taking a connection costs the pool's ``getconn`` and one
``poll()`` of the connection's socket, no round trip: the server sends nothing on an idle
connection unless it is closing it (a restart, a shutdown, ``pg_terminate_backend``), so a
readable socket is a connection the server has ended. Such a connection is never used: the
database is tried at once with a new connection of its own (:meth:`Database._reach`); if it
answers, the whole pool is replaced by a fresh one (the others are as stale), otherwise the
database is *down*.

While it is down, every use fails at once with :class:`StoreError` (no waiting on the pool's
timeout): the writer spills, a key check answers from the gateway's copy, admission follows
its policy. A thread tries a new connection once a second (:data:`RETRY`), with a short
connect timeout; when one succeeds, a fresh pool takes over and the next use goes through.
A connection lost in use (the server gone mid-statement) or a pool that cannot give a
connection in its timeout marks the database down the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from llmring._receipts._store import StoreError

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

    from llmring._receipts._settings import StoreURL

__all__ = ["RETRY", "Database", "close_pools", "database", "direct_connection"]

#: seconds between two tries of a database that is down
RETRY = 1.0
#: the connect timeout of those tries (libpq's smallest), unless the URL sets one
PROBE_CONNECT_TIMEOUT = 2
_MAX_SIZE = 8


class Database:
    """One database as this process reaches it; see the module docstring."""

    def __init__(self, store: StoreURL) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._reach_lock = threading.Lock()  # one try of the database at a time
        self._pool: ConnectionPool[Any] | None = _new_pool(store)
        self._down_since: float | None = None  # time.time() of the failure that began it
        self._why = ""
        self._probe_at = 0.0  # monotonic: when a thread may try it again
        self._probing = False
        self._closed = False

    @contextmanager
    def connection(
        self, doing: str, timeout: float | None = None
    ) -> Iterator[psycopg.Connection[Any]]:
        """A connection for ``doing`` (in its ``with`` block, as psycopg's pool gives one);
        :class:`StoreError` at once while the database is down."""
        import psycopg

        from llmring._receipts._postgres_db import failures

        with failures(self.store, doing):
            pool, db = self._take(doing, timeout)
            try:
                with db:
                    yield db
            except psycopg.OperationalError as exc:
                if db.broken:  # the server went away under this statement
                    self._lost(pool, exc)
                raise
            finally:
                pool.putconn(db)

    # -- taking a connection --------------------------------------------------------------------

    def _ready(self, doing: str) -> ConnectionPool[Any]:
        """The pool, or, while the database is down, a :class:`StoreError` (and a try in the
        background once :data:`RETRY` seconds have passed)."""
        with self._lock:
            pool = self._pool
            if pool is not None and self._down_since is None:
                return pool
            if self._closed:
                raise StoreError(f"the receipt store {self.store.shown} is closed")
            since = self._down_since or time.time()
            if not self._probing and time.monotonic() >= self._probe_at:
                self._probing = True
                threading.Thread(
                    target=self._probe, name="llmring-store-probe", daemon=True
                ).start()
        raise StoreError(
            f"the receipt store {self.store.shown}: {doing}: not reachable since "
            f"{time.strftime('%H:%M:%S', time.localtime(since))} ({self._why}); "
            f"tried again every {RETRY:g} s"
        )

    def _take(
        self, doing: str, timeout: float | None
    ) -> tuple[ConnectionPool[Any], psycopg.Connection[Any]]:
        from psycopg import OperationalError
        from psycopg_pool import PoolClosed

        pool = self._ready(doing)
        try:
            try:
                db = pool.getconn(timeout)
            except PoolClosed:  # replaced by a fresh pool meanwhile
                pool = self._ready(doing)
                db = pool.getconn(timeout)
        except OperationalError as exc:  # PoolTimeout: no connection could be made
            self._lost(pool, exc)
            raise
        if not _hung_up(db):
            return pool, db
        db.close()  # ended by the server: the pool discards it
        pool.putconn(db)
        # the server restarted (or is stopping) since this connection was last used
        fresh = self._reach(pool)
        if fresh is None:
            raise StoreError(
                f"the receipt store {self.store.shown}: {doing}: the server closed the "
                f"connection and cannot be reached ({self._why})"
            )
        return fresh, fresh.getconn(timeout)

    # -- down and back ----------------------------------------------------------------------------

    def _lost(self, pool: ConnectionPool[Any], exc: Exception) -> None:
        """``pool`` failed for want of the server: the database is down (unless a fresh pool
        has replaced that one already), tried again at once in the background."""
        from llmring._receipts._postgres_db import scrub

        with self._lock:
            if pool is not self._pool or self._down_since is not None:
                return
            self._mark_down(" ".join(scrub(self.store, str(exc)).split()))
            self._probe_at = time.monotonic()

    def _mark_down(self, why: str) -> None:
        """Under ``_lock``."""
        import logging

        if self._down_since is None:
            self._down_since = time.time()
            logging.getLogger("llmring").warning(
                "llmring cannot reach the receipt store %s (%s); trying again every %g s",
                self.store.shown,
                why,
                RETRY,
            )
        self._why = why
        self._probe_at = time.monotonic() + RETRY
        old, self._pool = self._pool, None
        if old is not None:  # its own reconnection attempts would only add noise
            _close_later(old)

    def _probe(self) -> None:
        try:
            self._reach()
        finally:
            with self._lock:
                self._probing = False

    def _reach(self, stale: ConnectionPool[Any] | None = None) -> ConnectionPool[Any] | None:
        """Try the database with a connection of its own: if it answers, a fresh pool takes
        over (the pool's connections are all from before); else it is down. Threads that
        found ``stale`` out of date at once share one try."""
        with self._reach_lock:
            with self._lock:
                current = self._pool
                if current is not None and current is not stale and self._down_since is None:
                    return current  # another thread has just replaced it
            return self._try_reach()

    def _try_reach(self) -> ConnectionPool[Any] | None:
        from llmring._receipts._postgres_db import scrub

        try:
            direct_connection(self.store, PROBE_CONNECT_TIMEOUT).close()
        except Exception as exc:  # noqa: BLE001 - psycopg.Error, OSError: it is down
            with self._lock:
                self._mark_down(" ".join(scrub(self.store, str(exc)).split()))
            return None
        fresh = _new_pool(self.store)
        with self._lock:
            if self._closed:
                _close_later(fresh)
                return None
            old, self._pool = self._pool, fresh
            if self._down_since is not None:
                import logging

                logging.getLogger("llmring").warning(
                    "llmring reaches the receipt store %s again", self.store.shown
                )
            self._down_since = None
        if old is not None:
            _close_later(old)
        return fresh

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def _hung_up(db: psycopg.Connection[Any]) -> bool:
    """Whether the server has ended this idle connection: its socket is readable (one poll)."""
    if db.closed:
        return True
    import select

    try:
        poller = select.poll()
        poller.register(db.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except AttributeError:  # no poll() (Windows): select() takes sockets there
        readable, _, _ = select.select([db.fileno()], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


def _close_later(pool: ConnectionPool[Any]) -> None:
    """Close a replaced pool without waiting for it (its connections in use are closed when
    they come back)."""
    threading.Thread(target=pool.close, kwargs={"timeout": 5.0}, daemon=True).start()


def connect_args(store: StoreURL, connect_timeout: int = 10) -> dict[str, Any]:
    """Autocommit (a write opens its own transaction) and, unless the URL sets them, a connect
    timeout and TCP keepalives: a server that vanishes without closing its connections (a
    host powered off, a network cut) must not hold a writer, a key read or a CLI for TCP's
    own timeouts (minutes); these give up within about 20 s."""
    limits = {
        "connect_timeout": connect_timeout,
        "keepalives_idle": 5,  # seconds idle before the first probe
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": 15_000,  # ms a sent request may stay unacknowledged
    }
    chosen = {name: value for name, value in limits.items() if name not in store.dsn}
    return {"autocommit": True, "application_name": "llmring", **chosen}


def direct_connection(store: StoreURL, connect_timeout: int = 10) -> psycopg.Connection[Any]:
    """A connection outside any pool (the caller closes it)."""
    import psycopg

    return psycopg.connect(store.dsn, **connect_args(store, connect_timeout))


def _new_pool(store: StoreURL) -> ConnectionPool[Any]:
    from psycopg_pool import ConnectionPool

    return ConnectionPool(
        store.dsn,
        min_size=1,
        max_size=_MAX_SIZE,
        open=True,
        kwargs=connect_args(store),
        configure=_configure,
        timeout=10.0,  # waiting for a free connection (a database down is noticed sooner)
        name="llmring-receipts",
    )


def _configure(db: psycopg.Connection[Any]) -> None:
    """Each new connection's staging table for batched writes."""
    from llmring._receipts._postgres_db import STAGING

    db.execute(STAGING)


# -- one per database and process ---------------------------------------------------------

_databases: dict[str, Database] = {}
_current: set[str] = set()  # databases seen at SCHEMA_VERSION by this process
_lock = threading.Lock()
_exit_hook = False


def database(store: StoreURL) -> Database:
    """This process's :class:`Database` for ``store``; the first time, one direct connection
    checks the schema version (a pool would only say it timed out; this says why)."""
    global _exit_hook
    from llmring._receipts._postgres_db import (
        check_version,
        failures,
        require_driver,
        schema_version,
    )

    require_driver()
    with _lock:
        found = _databases.get(store.dsn)
        if found is not None and store.dsn in _current:
            return found
    with failures(store, "connecting"), direct_connection(store) as db:
        version = schema_version(db)
    check_version(store, version)
    with _lock:
        _current.add(store.dsn)
        found = _databases.get(store.dsn)
        if found is None:
            if not _exit_hook:
                import atexit

                atexit.register(_at_exit)
                _exit_hook = True
            found = _databases[store.dsn] = Database(store)
        return found


def forget_version(store: StoreURL) -> None:
    """Check ``store``'s schema version again on its next use (after a migration)."""
    with _lock:
        _current.discard(store.dsn)


def close_pools() -> None:
    """Close every pool of this process (the exit hook; tests between databases)."""
    with _lock:
        databases = list(_databases.values())
        _databases.clear()
        _current.clear()
    for each in databases:
        each.close()


def _at_exit() -> None:
    # registered after the writers' own hook, so run before it: flush first, then close
    from llmring._receipts._writer import flush_all

    flush_all()
    close_pools()
