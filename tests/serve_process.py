"""A real ``llmring serve`` process for the tests: a loopback port, a lockfile, a store.

``ServeProcess`` starts ``python -m llmring serve --port 0 ...`` and reads the port uvicorn
reports on stderr, then waits until ``GET /healthz`` answers. It stops the server with
SIGTERM (the graceful path) and keeps the server's stderr for assertions (``log``). Used as a
context manager::

    with ServeProcess(lockfile, "--no-auth") as server:
        httpx.get(server.url + "/healthz")
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

__all__ = ["ServeProcess"]

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
    ) -> None:
        self.lockfile = lockfile
        self.receipts = receipts if receipts is not None else lockfile.parent / "receipts.db"
        self.args = args
        self.env = {**os.environ, **(env or {})}
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
            f"sqlite:///{self.receipts.absolute()}",
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
