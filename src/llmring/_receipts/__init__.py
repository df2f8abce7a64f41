"""Receipts: exactly one record per stream, written off the request path (docs/receipts.md).

* :mod:`._receipt`: what a receipt holds and the row it becomes (a gateway's refusal too);
* :mod:`._recorder`: the stream's side, called from its ``finally``;
* :mod:`._writer`: the queue and the one background writer per store;
* :mod:`._store`: the store interface; :mod:`._sqlite`: the embedded SQLite store;
  :mod:`._postgres` (and :mod:`._postgres_db`): the PostgreSQL store shared by several hosts;
* :mod:`._settings`: where a ring's receipts go (argument, ``$LLMRING_RECEIPTS``, lockfile), as
  a ``StoreURL``, and ``open_receipt_store``, the one way any store is opened;
* :mod:`._keys`: the gateway's API keys, kept in the store as hashes.
"""

from __future__ import annotations

from llmring._receipts._receipt import Receipt, ReceiptStatus, Rejection, uuid7
from llmring._receipts._recorder import Recorder
from llmring._receipts._writer import ReceiptWriter

__all__ = ["Receipt", "ReceiptStatus", "ReceiptWriter", "Recorder", "Rejection", "uuid7"]
