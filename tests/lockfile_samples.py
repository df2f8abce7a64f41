"""Lockfile texts and helpers (write, read back, make read-only) shared by the lockfile tests."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from llmring.lockfile import load_lockfile

COMMENTED = """\
# Team lockfile, hand edited
version = "1.0"      # format version
default_profile = "default"


[profiles.default]   # the default profile
name = "default"

# chatbot: general chat
[[profiles.default.bindings]]
alias   =   "chatbot"
models = ["mock:a", "mock:b"]   # primary then fallback

    # fast (an indented comment)
[[profiles.default.bindings]]
alias = "fast"
models = [ "mock:fast" ]

[profiles.prod]
name = "prod"
# last line
"""

HEAD = 'version = "1.0"\n\n[profiles.staging]\nname = "staging"\n\n'
BIND = HEAD + '[[profiles.staging.bindings]]\nalias = "helper"\n'


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def bound(path: Path, profile: str = "default") -> dict[str, list[str]]:
    """The bindings of ``profile`` in the lockfile at ``path``, as the library reads them."""
    return {
        alias: [str(ref) for ref in binding.models]
        for alias, binding in load_lockfile(path).profile(profile).bindings.items()
    }


def comment_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("#")]


def make_read_only(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``directory`` read-only. Root ignores permission bits, so then creating a file
    there is refused as the kernel refuses it for everyone else (``EACCES``)."""
    directory.chmod(0o555)
    if os.geteuid() != 0:
        return
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT and Path(path).resolve().parent == directory.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
