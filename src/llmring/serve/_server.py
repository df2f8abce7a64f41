"""Running the gateway: uvicorn (uvloop and httptools when installed), one or more workers.

One worker runs in this process. Several share one listening socket under uvicorn's
supervisor, each a process with its own event loop, provider clients and stream slots; they
share the SQLite receipt store (WAL) and, for ``/metrics``, a prometheus-client multiprocess
directory, so any worker's ``/metrics`` sums them all. The supervisor forwards SIGHUP to the
workers, each of which reloads its lockfile in place (uvicorn's own SIGHUP would restart
them). SIGTERM and SIGINT: stop accepting, let in-flight requests finish for ``--grace``
seconds, then close provider clients and store every queued receipt.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import sys
import tempfile
from typing import TYPE_CHECKING

from llmring.exceptions import ConfigurationError
from llmring.serve._settings import SETTINGS_ENV, ServeSettings

if TYPE_CHECKING:
    import uvicorn

__all__ = ["check_installed", "run"]

APP = "llmring.serve._app:create_app"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: the exit status when the app could not start (uvicorn's own)
STARTUP_FAILURE = 3


def check_installed() -> None:
    """Refuse with the install command when the ``serve`` extra is missing."""
    if importlib.util.find_spec("uvicorn") is None:
        from llmring._install import install_hint

        raise ConfigurationError(
            f"llmring serve needs the 'serve' extra (uvicorn); run: {install_hint('serve')}"
        )


def _config(settings: ServeSettings) -> uvicorn.Config:
    import uvicorn

    have = importlib.util.find_spec
    return uvicorn.Config(
        APP,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop" if have("uvloop") else "asyncio",
        http="httptools" if have("httptools") else "h11",
        ws="none",
        lifespan="on",
        access_log=settings.access_log,
        timeout_graceful_shutdown=int(settings.grace) if settings.grace >= 1 else 1,
        server_header=False,
        log_level="info",
    )


def run(settings: ServeSettings) -> int:
    """Serve until SIGTERM or SIGINT; the exit status."""
    check_installed()
    os.environ[SETTINGS_ENV] = settings.to_env()
    metrics_dir = None
    if settings.workers > 1 and not os.environ.get(MULTIPROC_ENV):
        metrics_dir = tempfile.mkdtemp(prefix="llmring-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        return _serve(settings)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(settings: ServeSettings) -> int:
    import uvicorn

    config = _config(settings)
    server = uvicorn.Server(config)
    if settings.workers == 1:
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    from uvicorn.supervisors.multiprocess import Multiprocess

    class Supervisor(Multiprocess):
        def handle_hup(self) -> None:
            logging.getLogger("llmring.serve").warning(
                "llmring serve: SIGHUP: every worker reloads the lockfile"
            )
            for process in self.processes:
                if process.pid is not None:
                    with contextlib.suppress(OSError):
                        os.kill(process.pid, signal.SIGHUP)

    sock = config.bind_socket()
    Supervisor(config, sockets=[sock]).run()
    return 0


def log_to_stderr() -> None:
    """The gateway's own messages (reloads, refusals of a lockfile) on stderr, as uvicorn's."""
    logger = logging.getLogger("llmring")
    if not any(
        isinstance(h, logging.StreamHandler)
        for h in logger.handlers
        if not isinstance(h, logging.NullHandler)
    ):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
