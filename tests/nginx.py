"""A real nginx (Debian's package) in front of real ``llmring serve`` gateways, for the tests.

:class:`Nginx` runs ``nginx`` from a directory of its own: a main configuration rendered there
(``daemon off``, its pid file, error and access logs, temporary paths; nothing under /etc or
/var is read or written) that includes the site the project ships,
``deploy/nginx/llmring.conf``, with only its addresses replaced (:func:`render_site`): the
upstream's ``server`` lines point at the test's gateways and ``listen`` at a free loopback
port. So the tests run the file users copy, directive for directive.

:class:`Deployment` is the whole picture of docs/deploy.md on one machine: N gateways
(``tests.serve_process.ServeProcess``, one "host" each, with its own data directory and
environment) sharing one receipt store given by URL, an API key made in that store with
``llmring keys create`` before they start, and nginx in front::

    with Deployment(lockfile, f"sqlite:///{tmp / 'receipts.db'}") as deployment:
        httpx.get(deployment.url + "/readyz")

:func:`two_hosts` is the usual one: two gateways calling one loopback provider, each with a
provider key of its own (:func:`provider_key`), so the provider's record of requests tells
which gateway sent each one.

:func:`require_nginx` skips a test when nginx is not installed (fails under CI, tests/ci.py).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from tests.ci import require_or_skip
from tests.serve_process import ServeProcess, ThreadedLoopback, gateway_env
from tests.wire_harness import lockfile_text

__all__ = [
    "SITE",
    "Deployment",
    "Nginx",
    "free_port",
    "nginx_binary",
    "provider_key",
    "render_site",
    "two_hosts",
]

#: the nginx site the project ships (docs/deploy.md)
SITE = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "llmring.conf"

#: Debian installs the binary in /usr/sbin, which is not on every user's PATH
_DEBIAN_NGINX = Path("/usr/sbin/nginx")
_UPSTREAM_SERVER = re.compile(r"^(\s*)server\s+\S+:\d+(\s[^;]*)?;$", re.MULTILINE)
_LISTEN = re.compile(r"^(\s*)listen\s+80;$", re.MULTILINE)

_MAIN = """\
# rendered by tests/nginx.py: everything nginx writes stays in {prefix}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
{user}
events {{
    worker_connections 1024;
}}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/client_body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    # what Debian's stock /etc/nginx/nginx.conf sets around conf.d/*.conf
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    default_type application/octet-stream;
    gzip on;
    include {site};
}}
"""


def nginx_binary() -> str | None:
    """The nginx program, or ``None`` when it is not installed."""
    found = shutil.which("nginx")
    if found:
        return found
    return str(_DEBIAN_NGINX) if _DEBIAN_NGINX.exists() else None


def require_nginx() -> str:
    """The nginx program; skip the test without it (under CI, fail it)."""
    binary = nginx_binary()
    require_or_skip(binary is not None, "nginx is not installed (apt-get install nginx)")
    assert binary is not None
    return binary


def free_port() -> int:
    """A loopback port free a moment ago (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_site(text: str, listen: int, gateways: Sequence[str]) -> str:
    """The shipped site with its upstream's servers replaced by ``gateways`` (``host:port``,
    keeping each line's parameters) and ``listen 80`` by ``127.0.0.1:listen``. Fails if the
    file no longer has the shape this expects, rather than test something else."""
    servers = list(_UPSTREAM_SERVER.finditer(text))
    listens = list(_LISTEN.finditer(text))
    if not servers or len(listens) != 1:
        raise AssertionError(f"{SITE}: expected upstream 'server' lines and one 'listen 80;'")
    indent, parameters = servers[0].group(1), servers[0].group(2) or ""
    lines = "\n".join(f"{indent}server {address}{parameters};" for address in gateways)
    text = text[: servers[0].start()] + lines + text[servers[-1].end() :]
    return _LISTEN.sub(lambda found: f"{found.group(1)}listen 127.0.0.1:{listen};", text)


class Nginx:
    """nginx with the shipped site in front of ``gateways``; see the module docstring."""

    def __init__(
        self, prefix: Path, gateways: Sequence[str], site: Path = SITE, start_timeout: float = 10
    ) -> None:
        self.binary = require_nginx()
        self.prefix = prefix
        self.gateways = list(gateways)
        self.site = site
        self.start_timeout = start_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        """nginx's error log so far (and what it printed before it could open it)."""
        parts = [self.prefix / "error.log", self.prefix / "stderr.log"]
        return "".join(p.read_text(errors="replace") for p in parts if p.exists())

    def _render(self) -> Path:
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        site = self.prefix / "llmring.conf"
        site.write_text(render_site(self.site.read_text(), self.port, self.gateways))
        main = self.prefix / "nginx.conf"
        # as root, nginx's workers would switch to www-data, which cannot enter pytest's
        # private temporary directories
        user = "user root;" if os.geteuid() == 0 else ""
        main.write_text(_MAIN.format(prefix=self.prefix, site=site, user=user))
        return main

    def start(self) -> Self:
        for _ in range(3):  # another process may take the free port before nginx binds it
            self.port = free_port()
            main = self._render()
            command = [self.binary, "-p", str(self.prefix), "-c", str(main)]
            check = subprocess.run(
                [*command, "-e", str(self.prefix / "error.log"), "-t", "-q"],
                check=False,
                capture_output=True,
                text=True,
            )
            if check.returncode != 0:
                raise RuntimeError(f"nginx -t refused the rendered site:\n{check.stderr}")
            with (self.prefix / "stderr.log").open("wb") as stderr:
                self.process = subprocess.Popen(
                    [*command, "-e", str(self.prefix / "error.log")],
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                )
            if self._wait_listening():
                return self
            self.stop()
            if "Address already in use" not in self.log:
                break
        raise RuntimeError(f"nginx did not start:\n{self.log}")

    def _wait_listening(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self, timeout: float = 10) -> None:
        """Fast shutdown (SIGTERM: open connections are closed, streams included)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class Deployment:
    """``gateways`` ``llmring serve`` processes sharing the store ``store_url``, behind nginx.

    ``env(i)`` is what gateway ``i`` adds to its environment (provider keys, its data
    directory), ``args`` more options for every gateway. Before any gateway starts, one API
    key is made in the shared store (``key``; send ``headers``), as an operator would.
    """

    def __init__(
        self,
        root: Path,
        lockfile: Path,
        store_url: str,
        *,
        gateways: int = 2,
        env: Callable[[int], dict[str, str]] = lambda number: {},
        args: Sequence[str] = (),
    ) -> None:
        self.root = root
        self.lockfile = lockfile
        self.store_url = store_url
        self.gateways = [
            ServeProcess(lockfile, *args, store=store_url, env=env(number), cwd=root)
            for number in range(gateways)
        ]
        self.nginx: Nginx | None = None
        self.key = ""

    @property
    def url(self) -> str:
        assert self.nginx is not None
        return self.nginx.url

    @property
    def nginx_port(self) -> int:
        assert self.nginx is not None
        return self.nginx.port

    @property
    def base_url(self) -> str:
        """What an OpenAI client's ``base_url`` is set to."""
        return self.url + "/v1"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def _create_key(self) -> str:
        made = subprocess.run(
            [sys.executable, "-m", "llmring", "keys", "create", "deploy"]
            + ["--receipts", self.store_url, "--file", str(self.lockfile)],
            env=self.gateways[0].env,
            cwd=self.root,
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if made.returncode != 0:
            raise RuntimeError(f"llmring keys create failed:\n{made.stderr}")
        return made.stdout.strip()

    def start(self) -> Self:
        try:
            self.key = self._create_key()
            for gateway in self.gateways:
                gateway.start()
            addresses = [f"127.0.0.1:{gateway.port}" for gateway in self.gateways]
            self.nginx = Nginx(self.root / "nginx", addresses).start()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while httpx.get(self.url + "/healthz", timeout=5).status_code != 200:
            if time.monotonic() > deadline:
                assert self.nginx is not None
                raise RuntimeError(f"nginx did not reach a gateway:\n{self.nginx.log}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        for gateway in self.gateways:
            gateway.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def provider_key(number: int) -> str:
    """The provider key gateway ``number`` of :func:`two_hosts` calls the provider with."""
    return f"sk-test-gateway-{number}-0123456789abcdef"


def two_hosts(
    root: Path,
    loopback: ThreadedLoopback,
    store_url: str | None = None,
    *,
    model: str = "openai:gpt-4o-mini",
    priced_as: str | None = None,
    args: Sequence[str] = (),
) -> Deployment:
    """Two gateways behind nginx sharing the store ``store_url`` (default: the SQLite file
    ``root/receipts.db``), one lockfile rolled out to both: the alias ``chatbot`` is ``model``
    served by ``loopback``'s OpenAI, billed as ``priced_as``'s prices when given (a provider
    at another address is unpriced otherwise). Start it with ``with``."""
    require_nginx()
    lockfile = root / "llmring.lock"
    providers = {"openai": loopback.url("openai")}
    lockfile.write_text(lockfile_text(providers, {"chatbot": [model]}, priced_as=priced_as))

    def host(number: int) -> dict[str, str]:
        return {
            **gateway_env(["openai"], root / f"host{number}"),
            "OPENAI_API_KEY": provider_key(number),
        }

    store = store_url or f"sqlite:///{root / 'receipts.db'}"
    return Deployment(root, lockfile, store, env=host, args=args)
