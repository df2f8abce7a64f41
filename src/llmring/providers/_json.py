"""JSON decoding for the stream hot loops.

``decode_json`` is ``json.loads`` without the per-call argument checks, taking ``str``; an
NDJSON line arrives as bytes and is decoded as UTF-8 first, which is cheaper than letting
``json.loads`` sniff the encoding of every line. Errors are ``json.JSONDecodeError`` (a
``ValueError``), as with ``json.loads``; invalid UTF-8 raises ``UnicodeDecodeError`` (also a
``ValueError``).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["decode_json", "decode_json_line"]

decode_json = json.JSONDecoder().decode


def decode_json_line(line: bytes) -> Any:
    return decode_json(line.decode("utf-8"))
