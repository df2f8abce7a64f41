"""Lockfile texts and a writer shared by the lockfile tests."""

from __future__ import annotations

from pathlib import Path

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
