"""The gateway's API keys (``llmring keys``, ``llmring serve``): made here, stored as hashes.

A key is ``llmr-`` followed by 32 random bytes from :mod:`secrets` in URL-safe base64 (256
bits). The receipt store keeps, per key, an id (``key_`` and 12 hex digits: what receipts
record), a name, the key's first :data:`PREFIX_CHARS` characters (what ``llmring keys list``
shows, so a person can tell keys apart) and the SHA-256 of the whole key text; never the key.
The key text is shown once, when it is made.

Why a fast hash: password hashes (bcrypt, scrypt, argon2) are slow on purpose, so that a stolen
hash of a guessable password costs too much to guess. A 256-bit random key cannot be guessed
however fast the hash is, so SHA-256 protects it as well, and lets the gateway check a key with
one hash and one dictionary lookup per request (a microsecond) instead of tens of milliseconds
of deliberate work.
"""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = ["ID_PREFIX", "KEY_PREFIX", "PREFIX_CHARS", "check_key_name", "key_hash", "new_key"]

KEY_PREFIX = "llmr-"
ID_PREFIX = "key_"
#: characters of a key a listing shows: ``llmr-`` and 7 of its 43 random characters
PREFIX_CHARS = 12
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@:+-]{0,63}")


def new_key() -> tuple[str, str]:
    """A fresh key: ``(key id, key text)``."""
    return ID_PREFIX + secrets.token_hex(6), KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str | bytes) -> str:
    """The SHA-256 of the key text, in hex: what the store keeps and the gateway looks up."""
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).hexdigest()


def check_key_name(name: str) -> str:
    """``name`` when it can name a key, else ``ValueError`` saying what a name may be.

    A name may not look like a key id (``revoke`` takes a name or an id) nor like a key: a key
    pasted as a name would be stored in clear, so that error does not repeat the name."""
    if name.startswith(KEY_PREFIX):
        raise ValueError(
            f"a key name may not start with {KEY_PREFIX!r} (keys do: the name would show a key)"
        )
    if name.startswith(ID_PREFIX) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} cannot name a key: use 1 to 64 letters, digits and . _ @ : + -, "
            f"starting with a letter or digit, and not with {ID_PREFIX!r}"
        )
    return name
