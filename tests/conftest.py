"""Shared fixtures: no network, a clean environment and a project directory per test."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from llmring.providers.mock import ledger

#: fixtures that start real servers: a PostgreSQL (postgres_server, pg_url)
pytest_plugins = ["tests.postgres"]

if TYPE_CHECKING:
    # typeshed's: where socket.connect is defined (socket.socket's base), and what it takes
    from _socket import _Address
    from _socket import socket as RawSocket

# Variables that would make a test depend on the machine it runs on.
_ENV_PREFIXES = ("LLMRING_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "OLLAMA_")
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkAccessError(AssertionError):
    """A test tried to reach a host that is not this machine."""


def _check_address(sock: RawSocket, address: object) -> None:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_loopback(host):
        raise NetworkAccessError(
            f"tests must not use the network (tried to connect to {address!r})"
        )


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: RawSocket, address: _Address) -> None:
    _check_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: RawSocket, address: _Address) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    if host is not None and not _is_loopback(
        host if not isinstance(host, bytes) else host.decode()
    ):
        raise NetworkAccessError(f"tests must not resolve non-loopback host names ({host!r})")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True, scope="session")
def no_network() -> Iterator[None]:
    """Fail any connection (or DNS lookup) that leaves this machine, for the whole session."""
    # the guard replaces these functions on purpose, for the whole session
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.socket.connect = _real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider keys, no llmring settings from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name.endswith("_API_KEY"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user data dir (``platformdirs``: where the CLI logs receipts), per test."""
    path = tmp_path / "user-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(path))
    return path


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh project root (it holds a .git marker) as the working directory."""
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    monkeypatch.chdir(root)
    return root


@pytest.fixture(autouse=True)
def clear_mock_ledger() -> Iterator[None]:
    ledger.clear()
    yield
    ledger.clear()
