"""The benchmark's streaming server: the test suite's loopback server in its own process.

``python bench/server.py`` prints its port and serves, for a request path starting with
``/s/<provider>-<n>[-d<ms>]/``, a synthetic stream of ``n`` chunks in that provider's wire
format (``-d<ms>``: one write per event with that many milliseconds between them; without it
the body goes out in one write), and for ``/w/<provider-dir>/<file>/`` a recorded stream from
``tests/wire``. It runs until its standard input closes.
"""

from __future__ import annotations

import asyncio
import re
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from streams import CONTENT_TYPES, body

from tests.loopback import LoopbackServer, RecordedRequest, Reply

SYNTHETIC = re.compile(r"^/s/(?P<provider>[a-z-]+)-(?P<n>\d+)(?:-d(?P<ms>\d+(?:\.\d+)?))?/")
RECORDED = re.compile(r"^/w/(?P<dir>[a-z-]+)/(?P<file>[^/]+)/")


@lru_cache(maxsize=64)
def synthetic(provider: str, n: int, ms: float | None) -> Reply:
    data, offsets = body(provider, n)
    headers = {"content-type": CONTENT_TYPES[provider]}
    if ms is None:
        return Reply(data, headers=headers)
    return Reply(data, headers=headers, splits=offsets, delay=ms / 1000)


def reply_for(request: RecordedRequest) -> Reply:
    match = SYNTHETIC.match(request.path)
    if match:
        ms = float(match["ms"]) if match["ms"] else None
        return synthetic(match["provider"], int(match["n"]), ms)
    match = RECORDED.match(request.path)
    if match:
        return Reply.wire(f"{match['dir']}/{match['file']}")
    return Reply.error(404, {"error": {"message": f"no stream at {request.path}"}})


async def main() -> None:
    async with LoopbackServer() as server:
        server.routes["/"] = reply_for
        print(server.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
