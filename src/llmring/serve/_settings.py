"""What one ``llmring serve`` is told: the options of the command, in one frozen value.

Worker processes are started by uvicorn's supervisor with ``spawn``, so the settings travel to
them in the environment (:data:`SETTINGS_ENV`, JSON); the app factory reads them back there.
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass, field

from llmring.exceptions import ConfigurationError

__all__ = ["SETTINGS_ENV", "ServeSettings", "is_loopback"]

SETTINGS_ENV = "LLMRING_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServeSettings:
    """The options of ``llmring serve`` (docs/serve.md lists each one)."""

    #: the lockfile (``None``: discovered as the library does)
    lockfile: str | None = None
    profile: str | None = None
    #: the receipt store URL (``None``: ``$LLMRING_RECEIPTS``, the lockfile, the user store);
    #: not in the repr: a PostgreSQL URL may hold a password
    receipts: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    #: accept requests without a key (refused unless ``host`` is a loopback address)
    no_auth: bool = False
    #: serve the browser chat page at ``/``
    ui: bool = False
    #: the largest request body accepted, in bytes (413 beyond)
    max_body: int = 4 * 1024 * 1024
    #: concurrent chat requests per worker (503 with ``Retry-After`` beyond)
    max_streams: int = 256
    #: seconds in-flight requests get to finish after SIGTERM
    grace: float = 30.0
    #: seconds between checks of the lockfile for a change (0: only SIGHUP reloads)
    watch: float = 1.0
    #: keep prompts and replies in the receipts (``None``: the lockfile's ``[receipts]``)
    log_content: bool | None = None
    access_log: bool = False

    def __post_init__(self) -> None:
        if self.no_auth and not is_loopback(self.host):
            raise ConfigurationError(
                f"--no-auth is allowed only on a loopback address (127.0.0.1, ::1, localhost), "
                f"not {self.host!r}: create a key with 'llmring keys create NAME' instead"
            )
        for name in ("workers", "max_body", "max_streams"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"--{name.replace('_', '-')} must be at least 1")
        if self.grace < 0 or self.watch < 0:
            raise ConfigurationError("--grace and --watch must not be negative")

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        text = os.environ.get(SETTINGS_ENV)
        return cls(**json.loads(text)) if text else cls()


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (so an unauthenticated gateway stays local)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
