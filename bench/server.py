"""The benchmark's streaming server: the test suite's loopback server in its own process.

``python bench/server.py`` prints its port and serves, for a request path starting with
``/s/<provider>-<n>[-d<ms>]/``, a synthetic stream of ``n`` chunks in that provider's wire
format (``-d<ms>``: one write per event with that many milliseconds between them; without it
the body goes out in one write; ``-hold``: the first content event, then nothing until the
client hangs up, an idle stream), and for ``/w/<provider-dir>/<file>/`` a recorded stream from
``tests/wire``. Under ``/m/`` the stream is the one the request's JSON ``model`` names
(``"openai-20-d20"``, as in a path, without the slashes), for gateways that always post to
``<base_url>/chat/completions``: one base URL serves every stream, chosen by the model the
gateway is configured with. It runs until its standard input closes.

It keeps no history: the loopback server's request and completion logs are emptied every
second, so a long benchmark does not grow the process.
"""

from __future__ import annotations

import asyncio
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from streams import CONTENT_TYPES, body

from tests.loopback import LoopbackServer, RecordedRequest, Reply

STREAM = r"(?P<provider>[a-z-]+?)-(?P<n>\d+)(?:-d(?P<ms>\d+(?:\.\d+)?))?(?P<hold>-hold)?"
SYNTHETIC = re.compile(rf"^/s/{STREAM}/")
BY_MODEL = re.compile(rf"^{STREAM}$")
RECORDED = re.compile(r"^/w/(?P<dir>[a-z-]+)/(?P<file>[^/]+)/")


@lru_cache(maxsize=64)
def synthetic(provider: str, n: int, ms: float | None, hold: bool = False) -> Reply:
    data, offsets = body(provider, n)
    headers = {"content-type": CONTENT_TYPES[provider]}
    if hold:  # OpenAI's first event is the role's: stop after the first content event
        first = offsets[1] if provider == "openai" else offsets[0]
        return Reply(data, headers=headers, splits=offsets, stall_after=first)
    if ms is None:
        return Reply(data, headers=headers)
    return Reply(data, headers=headers, splits=offsets, delay=ms / 1000)


def _synthetic(match: re.Match[str]) -> Reply:
    ms = float(match["ms"]) if match["ms"] else None
    return synthetic(match["provider"], int(match["n"]), ms, bool(match["hold"]))


def reply_for(request: RecordedRequest) -> Reply:
    match = SYNTHETIC.match(request.path)
    if match:
        return _synthetic(match)
    if request.path.startswith("/m/"):
        try:
            model = str(request.json().get("model", ""))
        except ValueError:
            model = ""
        match = BY_MODEL.match(model)
        if match:
            return _synthetic(match)
        return Reply.error(404, {"error": {"message": f"no stream for the model {model!r}"}})
    match = RECORDED.match(request.path)
    if match:
        return Reply.wire(f"{match['dir']}/{match['file']}")
    return Reply.error(404, {"error": {"message": f"no stream at {request.path}"}})


class Server(LoopbackServer):
    """The loopback server with a deep accept queue: a gateway opening 1,000 upstream
    connections at once must not see SYNs dropped (asyncio's default backlog is 100)."""

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=4096)
        return self


async def forget(server: LoopbackServer) -> None:
    while True:
        await asyncio.sleep(1)
        server.requests.clear()
        server.completed.clear()
        server.disconnects.clear()


async def main() -> None:
    async with Server() as server:
        server.routes["/"] = reply_for
        print(server.port, flush=True)
        trimmer = asyncio.ensure_future(forget(server))
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        trimmer.cancel()


if __name__ == "__main__":
    asyncio.run(main())
