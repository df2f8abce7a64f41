"""The gateway's key check: ``Authorization: Bearer <key>`` against the store's live keys.

The store keeps each key's SHA-256 (:mod:`llmring._receipts._keys`); the checker keeps a copy
of the live ones, hash → key id, in a dict. A request costs one SHA-256 of the key it sent and
one dict lookup, on the event loop: no thread, no I/O.

The copy is re-read from the store in a worker thread (``asyncio.to_thread``: SQLite blocks):

* before a check, when it is ``refresh`` seconds old or more, so a revoked key stops working
  within ``refresh`` (1 s) of ``llmring keys revoke``, in every worker process;
* on a miss, at most once per ``refresh``, so a key made a moment ago works at once while a
  flood of wrong keys causes at most one extra read per ``refresh``. A miss while a read is
  under way waits for that read, so requests that bring a new key together all get in.

The same read brings each live key's limits (rpm, tpm, budget; :meth:`KeyChecker.limits`), so
a changed limit applies within ``refresh`` too, and a key without limits is known to have none
without asking the store again.

Concurrent checks share one read.

When the store cannot be read (PostgreSQL restarting, a host cut off from it), the copy goes
on answering: a stale list is better than refusing every request. Checks then no longer wait
for a read; one is tried in the background at most once per ``refresh``, and the first that
succeeds brings the copy up to date. Meanwhile a key revoked after the last good read still
works here (the outage, plus up to ``refresh`` before it), and a key the copy does not know
gets 503 ``key_store_unavailable`` (it may have been made since), not 401. A gateway that has
never read its keys has no copy and answers 503 too.

Why a dict lookup and no ``hmac.compare_digest``: the lookup compares the SHA-256 of what the
client sent with the stored hashes, so its timing can only tell an attacker about the hash of
their own guess; finding a key from that would mean inverting SHA-256. A constant-time compare
protects secrets compared directly; here the secret never is.

The key a client sends is in no message, log or exception: the header is read as bytes,
never decoded (a decoding error would quote it), and every refusal is a fixed sentence.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmring.serve._errors import APIError

if TYPE_CHECKING:
    from llmring._receipts._admission import KeyLimits
    from llmring._receipts._store import ReceiptStore

__all__ = ["KeyChecker"]

logger = logging.getLogger("llmring")

_HOW = "send it as 'Authorization: Bearer <key>' (llmring keys create NAME makes one)"


def _refused(code: str, message: str) -> APIError:
    # RFC 6750: a 401 names the scheme the client should use
    return APIError(
        401, "authentication_error", message, code=code, headers={"www-authenticate": "Bearer"}
    )


MISSING = "no API key was sent; " + _HOW
MALFORMED = "the Authorization header is not a Bearer key; " + _HOW
INVALID = "the API key sent is not a valid key of this gateway (unknown or revoked)"


class KeyChecker:
    """Checks a request's ``Authorization`` header; see the module docstring.

    ``open_store`` opens the store the keys are in (it is opened on the first check and kept);
    ``clock`` is the monotonic clock the ``refresh`` age is measured with."""

    def __init__(
        self,
        open_store: Callable[[], ReceiptStore],
        *,
        refresh: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_store = open_store
        self._refresh = refresh
        self._clock = clock
        self._keys: dict[str, str] = {}  # SHA-256 hex → key id
        self._limits: dict[str, KeyLimits] = {}  # key id → limits, for keys that have any
        self._loaded_at = -float("inf")  # when the read that made ``_keys`` started
        self._tried_at = -float("inf")  # when the last read started (it may have failed)
        self._missed_at = -float("inf")  # when a miss last caused a read
        self._failing = False  # the last read failed: the store is away
        self._reading: asyncio.Future[None] | None = None
        self._store: ReceiptStore | None = None
        self._store_lock = threading.Lock()  # the store: a reading thread, or close()
        self._closed = False

    async def check(self, authorization: bytes | None) -> str:
        """The id of the key in ``authorization`` (the header's value), else a 401
        :class:`APIError` (``missing_api_key``, ``invalid_api_key``), or a 503 when the keys
        cannot be read and the copy cannot tell."""
        digest = hashlib.sha256(_bearer_key(authorization)).hexdigest()
        now = self._clock()
        if now - self._loaded_at >= self._refresh:  # out of date: read first
            if self._closed:
                raise _unavailable(self._refresh)
            # unless a read failed less than ``refresh`` ago: the store is not hammered
            due = self._busy() or now - self._tried_at >= self._refresh
            if self._failing and self._loaded_at > -float("inf"):
                if due and not self._busy():  # the store is away: the copy answers meanwhile
                    self._reading = asyncio.ensure_future(self._load(now))
                    self._tried_at = now
            elif due:
                await self._read(now)
            if self._loaded_at == -float("inf"):
                raise _unavailable(self._refresh)
        key_id = self._keys.get(digest)
        if key_id is None and not self._failing and self._loaded_at < now:
            reading = self._reading
            if reading is not None and not reading.done():
                # a read is under way (another request's miss): its copy answers, not a 401
                await asyncio.shield(reading)
                key_id = self._keys.get(digest)
            if key_id is None and not self._failing and now - self._missed_at >= self._refresh:
                self._missed_at = now  # a key made since the copy was read works at once
                await self._read(now)
                key_id = self._keys.get(digest)
        if key_id is None:
            if self._failing:  # perhaps a key made since the copy was read: try again later
                raise _unavailable(self._refresh)
            raise _refused("invalid_api_key", INVALID)
        return key_id

    def limits(self, key_id: str) -> KeyLimits | None:
        """The limits of the key ``check`` returned (``None``: it has none), as of the last
        read: a dict lookup."""
        return self._limits.get(key_id)

    def _busy(self) -> bool:
        return self._reading is not None and not self._reading.done()

    async def _read(self, now: float) -> None:
        """Re-read the live keys in a worker thread; concurrent callers share one read, and
        one caller's cancellation (a client gone) does not cancel it for the others."""
        reading = self._reading
        if reading is None or reading.done():
            self._tried_at = now
            reading = self._reading = asyncio.ensure_future(self._load(now))
        await asyncio.shield(reading)

    async def _load(self, started: float) -> None:
        try:
            keys, limits = await asyncio.to_thread(self._active_keys)
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, StoreError...: the copy stays
            if not self._failing:  # once per outage, not once per read
                self._failing = True
                logger.warning(
                    "llmring serve cannot read its API keys from the store (%s); the keys "
                    "read before answer until it can",
                    exc,
                )
            return
        if self._failing:
            self._failing = False
            logger.warning("llmring serve reads its API keys from the store again")
        self._keys, self._limits, self._loaded_at = keys, limits, started

    def _active_keys(self) -> tuple[dict[str, str], dict[str, KeyLimits]]:
        with self._store_lock:
            if self._closed:
                raise RuntimeError("the key checker is closed")
            if self._store is None:
                self._store = self._open_store()
            try:
                return self._store.active_keys(), self._store.key_limits()
            except BaseException:
                self._store.close()  # opened afresh next time
                self._store = None
                raise

    def close(self) -> None:
        """Close the store (waits for a read in progress); checks after this fail with 503
        once the copy is out of date."""
        with self._store_lock:
            self._closed = True
            if self._store is not None:
                self._store.close()
                self._store = None


def _unavailable(refresh: float) -> APIError:
    return APIError(
        503,
        "server_error",
        "the gateway cannot read its API keys from its store; try again later",
        code="key_store_unavailable",
        headers={"retry-after": str(max(1, round(refresh)))},
    )


def _bearer_key(authorization: bytes | None) -> bytes:
    """The key of a ``Bearer`` header value (the scheme's case is free, RFC 7235), as bytes."""
    if authorization is None or not authorization.strip():
        raise _refused("missing_api_key", MISSING)
    scheme, _, key = authorization.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        raise _refused("invalid_api_key", MALFORMED)
    key = key.strip()
    if not key:
        raise _refused("missing_api_key", MISSING)
    return key
