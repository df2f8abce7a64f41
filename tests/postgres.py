"""A real PostgreSQL for the tests: Debian's server, started in a temporary directory.

:class:`PostgresServer` runs ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` into
a fresh directory, listening on a free loopback port (and on a unix socket in that directory,
nowhere else), and removes it all when stopped. initdb refuses to run as root, so under root
the server runs as Debian's ``postgres`` user (``runuser``), which owns the directory.

Two roles: ``llmring`` (the superuser, trusted on loopback: the URLs the tests use need no
password) and ``guarded``, whose password is checked (scram-sha-256): what the tests of
password secrecy connect as. Each test gets a database of its own (:meth:`new_database`,
cheap: a copy of ``template0``). The ``postgres_server`` and ``pg_url`` fixtures (below;
tests/conftest.py registers them) wrap them; without the binaries or psycopg the tests skip
locally and fail under ``LLMRING_CI=1`` (tests/ci.py).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

import pytest

from tests.ci import require_or_skip

if TYPE_CHECKING:
    from llmring._receipts._settings import StoreURL
    from llmring._receipts._store import ReceiptStore

__all__ = [
    "GUARDED_PASSWORD",
    "PostgresServer",
    "binaries",
    "migrated",
    "missing_reason",
    "pg_url",
    "postgres_server",
    "receipt_store",
]

#: the ``guarded`` role's password: a recognisable string that must never appear anywhere
GUARDED_PASSWORD = "Pw-n0t-2-b3-s33n-9f3a"
_SUPERUSER = "llmring"


def binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    return Path(found[-1]).parent if found else None


def missing_reason() -> str | None:
    """Why a PostgreSQL cannot be started here (``None``: it can)."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    if binaries() is None:
        return "PostgreSQL is not installed (apt-get install postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser is missing (PostgreSQL cannot run as root)"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory; a context manager."""

    def __init__(self, *, durable: bool = False) -> None:
        #: ``False`` (the tests): no fsync, commits not waited for; ``True`` (bench/): the
        #: server's defaults, as in production
        self.durable = durable
        bin_dir = binaries()
        assert bin_dir is not None
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="llmring-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as_user: list[str] = []
        self._names = itertools.count(1)
        if os.geteuid() == 0:  # initdb refuses root: the cluster is the postgres user's
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str = "postgres", user: str = _SUPERUSER, password: str = "") -> str:
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        done = subprocess.run(
            [*self._as_user, *command], check=False, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> Self:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            _SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        hba = self.data / "pg_hba.conf"
        # the guarded role's password is checked; everything else is trusted (loopback only)
        rules = "host all guarded 127.0.0.1/32 scram-sha-256\n" + hba.read_text()
        self._run("sh", "-c", f"cat > {hba} <<'EOF'\n{rules}EOF")
        self.resume()
        self.admin(
            f"CREATE ROLE guarded LOGIN PASSWORD '{GUARDED_PASSWORD}'",
        )
        return self

    def resume(self) -> None:
        """Start the server on its directory and port (after :meth:`halt`: the same data)."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bin / "pg_ctl"),
            "start",
            "-w",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
        )

    def halt(self) -> None:
        """Stop the server as an administrator's restart does (``-m fast``: every session is
        ended), keeping its data for :meth:`resume`."""
        self._run(str(self.bin / "pg_ctl"), "stop", "-w", "-D", str(self.data), "-m", "fast")

    def admin(self, *statements: str, database: str = "postgres") -> None:
        """Run ``statements`` as the superuser, outside any transaction."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as db:
            for statement in statements:
                db.execute(statement.encode())

    def new_database(self, owner: str = _SUPERUSER) -> str:
        """A fresh, empty database; its name."""
        name = f"t{next(self._names)}"
        self.admin(f"CREATE DATABASE {name} OWNER {owner} TEMPLATE template0")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                [
                    *self._as_user,
                    str(self.bin / "pg_ctl"),
                    "stop",
                    "-D",
                    str(self.data),
                    "-m",
                    "fast",
                ],
                check=False,
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- fixtures (registered by tests/conftest.py's pytest_plugins) --------------------------------


def started_server() -> PostgresServer:
    """A new PostgreSQL (to use as a context manager); skipped locally when the binaries are
    missing, a failure under CI."""
    reason = missing_reason()
    require_or_skip(reason is None, reason or "")
    return PostgresServer()


@contextmanager
def fresh_database(server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database (not migrated) on ``server``, dropped afterwards."""
    from llmring._receipts._postgres import close_pools

    name = server.new_database()
    try:
        yield server.url(name)
    finally:
        close_pools()
        server.drop_database(name)


def migrated(url: str) -> StoreURL:
    """The PostgreSQL database at ``url``, migrated to the current schema (as ``llmring store
    migrate`` does)."""
    from llmring._receipts._postgres import migrate
    from llmring._receipts._settings import parse_store_url

    store = parse_store_url(url, Path.cwd(), "test")
    assert store is not None and store.kind == "postgresql"
    migrate(store)
    return store


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL for the whole session."""
    with started_server() as server:
        yield server


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database (not migrated), dropped after the test."""
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def receipt_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReceiptStore]:
    """A fresh store of each kind, ready to use (a database migrated by ``migrate``): the
    store-contract tests run against both."""
    from llmring._receipts._postgres import PostgresStore, migrate
    from llmring._receipts._settings import parse_store_url
    from llmring._receipts._sqlite import SQLiteStore

    store: ReceiptStore
    if request.param == "sqlite":
        store = SQLiteStore(tmp_path / "r.db")
    else:
        url = parse_store_url(request.getfixturevalue("pg_url"), tmp_path, "test")
        assert url is not None
        migrate(url)
        store = PostgresStore(url)
    yield store
    store.close()
