"""A real ``llmring serve`` process for the tests: a loopback port, a lockfile, a store.

``ServeProcess`` starts ``python -m llmring serve --port 0 ...`` and reads the port uvicorn
reports on stderr, then waits until ``GET /healthz`` answers. It stops the server with
SIGTERM (the graceful path) and keeps the server's stderr for assertions (``log``). Used as a
context manager::

    with ServeProcess(lockfile, "--no-auth") as server:
        httpx.get(server.url + "/healthz")

The gateway is another process, so the provider it calls must answer while the test blocks:
:class:`ThreadedLoopback` runs a :class:`~tests.loopback.LoopbackServer` on its own event
loop in a background thread (its ``disconnects`` use ``time.monotonic()``, comparable with
the test's clock). :func:`gateway_env` is the environment the gateway gets (fake provider keys,
nothing from the machine), :func:`receipts` and :func:`wait_for_receipts` read its store
(:func:`stored_receipts` any store, by URL: SQLite or PostgreSQL).
The store is the SQLite file ``receipts`` unless ``store`` names another (several
gateways sharing one store: tests/nginx.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from tests.loopback import LoopbackServer
from tests.wire_harness import PROVIDERS

__all__ = [
    "ServeProcess",
    "ThreadedLoopback",
    "gateway_env",
    "receipts",
    "stored_receipts",
    "wait_for_receipts",
    "wait_until",
]

_RUNNING = re.compile(r"Uvicorn running on http://[^:]+:(\d+)")


class ServeProcess:
    """``llmring serve`` in a subprocess; see the module docstring."""

    def __init__(
        self,
        lockfile: Path,
        *args: str,
        receipts: Path | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout: float = 30.0,
        store: str | None = None,
    ) -> None:
        self.lockfile = lockfile
        self.receipts = receipts if receipts is not None else lockfile.parent / "receipts.db"
        #: the ``--receipts`` URL (``store``: any URL, e.g. ``postgresql://...``; else
        #: ``receipts``'s SQLite file)
        self.store = store if store is not None else f"sqlite:///{self.receipts.absolute()}"
        self.args = args
        # the machine's llmring settings and provider keys never reach the server
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LLMRING_") and not k.endswith("_API_KEY")
        }
        self.env = {**inherited, **(env or {})}
        self.cwd = cwd or lockfile.parent
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self._log: list[str] = []
        self._reader: threading.Thread | None = None
        self._port_seen = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client's ``base_url`` is set to."""
        return self.url + "/v1"

    @property
    def log(self) -> str:
        """Everything the server wrote to stderr so far."""
        return "".join(self._log)

    def start(self) -> Self:
        command = [
            sys.executable,
            "-m",
            "llmring",
            "serve",
            "--port",
            "0",
            "--file",
            str(self.lockfile),
            "--receipts",
            self.store,
            *self.args,
        ]
        self.process = subprocess.Popen(
            command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._port_seen.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"llmring serve did not start:\n{self.log}")
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"llmring serve did not answer /healthz:\n{self.log}")
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self._log.append(line)
            found = _RUNNING.search(line)
            if found and not self._port_seen.is_set():
                self.port = int(found.group(1))
                self._port_seen.set()

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then wait (SIGKILL after ``timeout``); the exit status."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._reader is not None:
            self._reader.join(5)
        if process.stderr is not None:
            process.stderr.close()
        return process.returncode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class ThreadedLoopback:
    """A :class:`LoopbackServer` served by its own event loop in a daemon thread.

    ``with ThreadedLoopback() as loopback:``; then set ``loopback.server.reply`` or
    ``.routes`` from the test (plain attribute writes) and read ``requests``,
    ``disconnects`` and ``completed`` (lists the server only appends to).
    """

    def __init__(self) -> None:
        self.server = LoopbackServer()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def _run(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(10)

    def __enter__(self) -> Self:
        self._thread.start()
        self._run(self.server.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(self.server.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def url(self, provider: str, prefix: str = "") -> str:
        """The ``base_url`` of ``provider`` served here (under the path ``prefix``)."""
        return self.server.base_url + prefix + PROVIDERS[provider][2]


def gateway_env(providers: Iterable[str], data: Path) -> dict[str, str]:
    """What a gateway calling ``providers`` adds to its environment: their fake keys and a
    user data directory of its own."""
    env = {"XDG_DATA_HOME": str(data)}
    for provider in providers:
        name, value, _ = PROVIDERS[provider]
        if name and value:
            env[name] = value
    return env


def receipts(store: Path) -> list[dict[str, Any]]:
    """Every receipt row in the SQLite store at ``store``, oldest first."""
    if not store.exists():
        return []
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    try:
        db.row_factory = sqlite3.Row
        try:
            rows = db.execute("SELECT * FROM receipts ORDER BY started_at").fetchall()
        except sqlite3.OperationalError:  # the table is not created yet
            return []
        return [dict(row) for row in rows]
    finally:
        db.close()


def stored_receipts(store_url: str) -> list[dict[str, Any]]:
    """Every receipt row in the store at ``store_url`` (``sqlite:///...`` or
    ``postgresql://...``), oldest first."""
    if store_url.startswith("sqlite:///"):
        return receipts(Path(store_url.removeprefix("sqlite:///")))
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(store_url, row_factory=dict_row) as db:
        return list(db.execute("SELECT * FROM receipts ORDER BY started_at"))


def wait_for_receipts(store: Path, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The store's rows once there are at least ``count`` (the gateway's writer flushes in the
    background); after ``timeout`` seconds, whatever is there."""
    deadline = time.monotonic() + timeout
    while True:
        rows = receipts(store)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout} s: {what}")
        time.sleep(0.01)
