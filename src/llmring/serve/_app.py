"""The gateway: a bare ASGI application over ``LLMRing.chat_stream``.

Routes (docs/serve.md): ``POST /v1/chat/completions`` (streamed or not), ``GET /v1/models``,
``GET /healthz``, ``GET /readyz``, ``GET /metrics`` and, with ``--ui``, the chat page at ``/``.

One chat request, in order: the key (401), a free stream slot (503), the body (413), the
mapping (400), the alias (404), the key's limits (429, 402; :mod:`llmring.serve._admit`) — each
refusal answered before any upstream call and logged as a ``rejected`` receipt. Then the
stream runs; its receipt is the stream's own (``ok``, ``error``, ``interrupted``,
``cancelled``, ``deadline``), so every request has exactly one; an admitted request of a
limited key is settled when its response ends, whatever ended it.

The response starts only when the first chunk is in: until then a failure (after the alias's
fallbacks) is an HTTP status that matches it, and ``x-llmring-model`` can name who answered.
After content, a failure is one ``data: {"error": ...}`` frame and no ``[DONE]``.

A client that hangs up cancels its request at once, whatever it is waiting for: a watcher
awaits the ASGI ``http.disconnect`` and cancels the request's task, which closes the provider
stream (``aclosing`` in the stream) and makes the receipt ``cancelled``.

The reply itself (frames, errors, headers, the watch for a hang-up) is
:mod:`llmring.serve._respond`; frames already received leave together (:mod:`._body`).

Why bare ASGI and not Starlette: the hot path is one ``send`` per batch of frames; a framework
adds per-request objects and, for streamed responses, its own disconnect task, and there are
only five routes. uvicorn (uvloop, httptools) does all of HTTP.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from llmring.exceptions import LLMRingError
from llmring.serve._admit import bounded
from llmring.serve._errors import APIError, api_error
from llmring.serve._limits import ClientGone, Slots, read_body
from llmring.serve._openai_api import chat_request, json_body
from llmring.serve._respond import (
    Exchange,
    Receive,
    Scope,
    Send,
    header,
    respond,
    send_error,
    stream_reply,
    watched,
    whole_reply,
)
from llmring.serve._settings import ServeSettings

if TYPE_CHECKING:
    from llmring._receipts import ReceiptStatus, ReceiptWriter
    from llmring._receipts._admission import Grant, KeyLimits
    from llmring._receipts._settings import StoreURL
    from llmring._stream import ChatStream
    from llmring.serve._admit import Limiter
    from llmring.serve._auth import KeyChecker
    from llmring.serve._metrics import Metrics
    from llmring.serve._reload import Snapshot, Snapshots

__all__ = ["Gateway", "create_app"]

logger = logging.getLogger("llmring.serve")


class Gateway:
    """The ASGI application of one worker; see the module docstring."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.slots = Slots(settings.max_streams)
        self.snapshots: Snapshots | None = None
        self.keys: KeyChecker | None = None
        self.limiter: Limiter | None = None
        self.metrics: Metrics | None = None
        self.store: StoreURL | None = None
        self.price_version: str | None = None
        self._routes: dict[tuple[str, str], Callable[[Scope, Receive, Send], Awaitable[None]]] = {
            ("POST", "/v1/chat/completions"): self._chat,
            ("GET", "/v1/models"): self._models,
            ("GET", "/healthz"): self._healthz,
            ("GET", "/readyz"): self._readyz,
            ("GET", "/metrics"): self._metrics,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            route = self._routes.get((scope["method"], scope["path"]))
            if route is not None:
                await route(scope, receive, send)
            else:
                await self._other(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # -- start and stop ------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        try:
            await self.start()
        except Exception as exc:  # noqa: BLE001 - reported to uvicorn, which exits
            from llmring._chain import describe

            logger.error("llmring serve could not start: %s", describe(exc)[1])
            await send({"type": "lifespan.startup.failed", "message": describe(exc)[1]})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown: uvicorn has let in-flight requests finish
        await self.stop()
        await send({"type": "lifespan.shutdown.complete"})

    async def start(self) -> None:
        """Load the lockfile, warm the price table, open the key store, start watching."""
        from llmring.serve._reload import Snapshots, load_snapshot, warm_prices
        from llmring.serve._store import open_store, store_url

        settings = self.settings
        self.store = store = await asyncio.to_thread(store_url, settings)
        if store is not None:
            await asyncio.to_thread(open_store, store)
        receipts = store.url if store is not None else "off"
        args = (settings.lockfile, settings.profile, receipts, settings.log_content)
        first = await asyncio.to_thread(load_snapshot, *args)
        self.snapshots = Snapshots(
            first,
            lockfile=settings.lockfile,
            profile=settings.profile,
            receipts=receipts,
            log_content=settings.log_content,
        )
        self.price_version = await asyncio.to_thread(warm_prices)
        if not settings.no_auth:
            from llmring._receipts._settings import open_receipt_store
            from llmring.serve._admit import Limiter
            from llmring.serve._auth import KeyChecker

            assert store is not None  # store_url refuses "off" with keys
            self.keys = KeyChecker(lambda: open_receipt_store(store))
            self.limiter = Limiter.for_store(store)
        self.metrics = _metrics()
        self.snapshots.start_watching(settings.watch)
        # Everything loaded so far (the SDKs, the price table) lives as long as the worker:
        # out of the collector's sight, a full collection no longer walks it, which held the
        # loop for 100-400 ms every few dozen requests (gc.freeze's documented use).
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        """Close the provider clients and store every queued receipt."""
        if self.snapshots is not None:
            await self.snapshots.aclose()
        if self.limiter is not None:
            await self.limiter.aclose()
        if self.keys is not None:
            self.keys.close()

    # -- small routes ---------------------------------------------------------------------------

    async def _healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 200, {"status": "ok"})

    async def _readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        snapshots = self.snapshots
        if snapshots is None:
            await respond(send, 503, {"status": "starting"})
            return
        from llmring.serve._status import readiness
        from llmring.serve._store import store_health

        store = await asyncio.to_thread(store_health, self.store)
        body = readiness(snapshots, store, self.price_version, self.slots)
        await respond(send, 200, body)

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await self._authorized(scope, send):
            return
        assert self.snapshots is not None
        from llmring.serve._status import model_list

        await respond(send, 200, model_list(self.snapshots.current.ring))

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not await self._authorized(scope, send):
            return
        if self.metrics is None:
            await respond(send, 404, {"error": {"message": "metrics are not available"}})
            return
        body, content_type = self.metrics.render(header(scope, b"accept"))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if self.settings.ui and method in ("GET", "HEAD"):
            from llmring.serve._ui import send_asset

            if await send_asset(path, method == "HEAD", send):
                return
        if any(route_path == path for _, route_path in self._routes):
            error = APIError(405, "invalid_request_error", f"{method} is not allowed on {path}")
        else:
            error = APIError(404, "invalid_request_error", f"no route {path} on this gateway")
        await respond(send, error.status, error.body)

    async def _authorized(self, scope: Scope, send: Send) -> bool:
        if self.keys is None:
            return True
        try:
            await self.keys.check(header(scope, b"authorization"))
        except APIError as error:
            await respond(send, error.status, error.body, error.headers)
            return False
        return True

    # -- the chat route --------------------------------------------------------------------------

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        from llmring._receipts._receipt import uuid7

        exchange = Exchange(uuid7())
        snapshots = self.snapshots
        assert snapshots is not None
        snapshot: Snapshot | None = None
        limits: KeyLimits | None = None
        grant: Grant | None = None
        slot = False
        try:
            if self.keys is not None:
                exchange.key_id = await self.keys.check(header(scope, b"authorization"))
                limits = self.keys.limits(exchange.key_id)
            self.slots.take()
            slot = True
            length = header(scope, b"content-length")
            body = await read_body(
                receive, self.settings.max_body, int(length) if length is not None else None
            )
            # the body and its JSON are not kept for the stream's life: only the mapped call
            call = bounded(chat_request(json_body(body)), limits)
            del body
            exchange.alias = call.request.model
            snapshot = snapshots.acquire()
            stream = snapshot.ring.chat_stream(
                call.request, receipt_id=exchange.request_id, key_id=exchange.key_id
            )
            if limits is not None:
                assert self.limiter is not None and exchange.key_id is not None
                grant = await self.limiter.admit(exchange.key_id, limits, stream)
        except ClientGone as exc:
            self._reject(exchange, snapshot, exc, status="cancelled")
            self._release(snapshot, slot)
            return
        except (APIError, LLMRingError) as exc:
            error = api_error(exc)
            self._reject(exchange, snapshot, error)
            self._release(snapshot, slot)
            await send_error(send, exchange, error)
            return
        except BaseException:
            self._release(snapshot, slot)
            raise
        metrics = self.metrics
        if metrics is not None:
            metrics.stream_started()
        status = 500
        try:
            if call.stream:
                work = stream_reply(stream, call.include_usage, send, exchange)
            else:
                work = whole_reply(stream, send, exchange)
            status = await watched(work, receive, exchange)
        finally:
            if grant is not None and grant.settles:
                assert self.limiter is not None
                self.limiter.settle(grant, stream, cancelled=_cancelled(exchange, status))
            self._release(snapshot, slot)
            if metrics is not None:
                metrics.stream_ended()
                self._observe(metrics, exchange, snapshot, stream, status)

    # -- helpers ---------------------------------------------------------------------------------

    def _reject(
        self,
        exchange: Exchange,
        snapshot: Snapshot | None,
        error: BaseException,
        status: ReceiptStatus = "rejected",
    ) -> None:
        """The receipt of a request refused before any upstream call."""
        from llmring._receipts import Rejection

        snapshots = self.snapshots
        assert snapshots is not None
        current = snapshot or snapshots.current
        writer: ReceiptWriter | None = current.ring.receipts
        if self.metrics is not None:
            code = error.status if isinstance(error, APIError) else 499
            self.metrics.observe(
                alias="(rejected)",
                status=code,
                provider=None,
                first_chunk=None,
                duration=time.perf_counter() - exchange.started,
                usage=None,
                cost_usd=None,
            )
        if writer is None:
            return
        writer.put(
            Rejection(
                receipt_id=exchange.request_id,
                started_at=exchange.started_at,
                alias=exchange.alias,
                profile=current.ring.profile,
                error=error,
                key_id=exchange.key_id,
                lockfile_digest=current.digest,
                duration=time.perf_counter() - exchange.started,
                status=status,
            )
        )

    def _release(self, snapshot: Snapshot | None, slot: bool) -> None:
        if slot:
            self.slots.give_back()
        if snapshot is not None:
            assert self.snapshots is not None
            self.snapshots.release(snapshot)

    def _observe(
        self,
        metrics: Metrics,
        exchange: Exchange,
        snapshot: Snapshot | None,
        stream: ChatStream,
        status: int,
    ) -> None:
        alias = exchange.alias or "(unknown)"
        if (
            snapshot is not None
            and alias not in snapshot.ring.lockfile.profile(snapshot.ring.profile).bindings
        ):
            alias = "(direct)"  # provider:model: not a bounded label
        # the terminal chunk's price, or (cancelled, interrupted) the usage seen so far
        cost = stream.cost.usd if stream.usage else None
        metrics.observe(
            alias=alias,
            status=status,
            provider=stream.provider,
            first_chunk=stream.first_chunk_latency,
            duration=time.perf_counter() - exchange.started,
            usage=stream.usage,
            cost_usd=cost,
        )


def _cancelled(exchange: Exchange, status: int) -> bool:
    """Whether the request ended cancelled (the client went, or the gateway is stopping)."""
    task = asyncio.current_task()
    return exchange.gone or status == 499 or (task is not None and task.cancelling() > 0)


def _metrics() -> Metrics | None:
    try:
        from llmring.serve._metrics import Metrics
    except ImportError:  # prometheus-client is missing: the extra is not installed
        logger.warning("llmring serve: /metrics is off: prometheus-client is not installed")
        return None
    return Metrics(multiprocess_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def create_app() -> Gateway:
    """The app of one worker, from the settings ``llmring serve`` put in the environment."""
    from llmring.serve._server import log_to_stderr

    log_to_stderr()
    return Gateway(ServeSettings.from_env())
