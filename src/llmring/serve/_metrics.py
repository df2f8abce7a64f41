"""The gateway's Prometheus series (``GET /metrics``), kept apart from the request path.

One :class:`Metrics` per app. It owns a ``CollectorRegistry`` of its own, never
prometheus-client's global one, so several apps (or tests) in one process do not collide and no
process or platform collector is mixed in. ``prometheus_client`` is imported when the first
``Metrics`` is built, never by ``import llmring.serve``: it ships with ``llmring[serve]``.

Several workers (``llmring serve --workers N``) share one directory in prometheus-client's
multiprocess mode: each worker writes its values to memory-mapped files there, and whichever
worker answers ``GET /metrics`` sums every worker's files (the active-streams gauge over live
workers only). prometheus-client picks the mode when it is first imported, from
``$PROMETHEUS_MULTIPROC_DIR``, so the server sets that variable to a fresh empty directory
before it starts the workers. A worker that died leaves its counters (a counter never goes
back), and its share of the gauge is dropped at the next scrape (:func:`forget_dead_workers`).

Labels are bounded by the caller: ``alias`` is an alias of the lockfile or a fixed word such as
``"(direct)"`` (never the request's raw ``model``, which a client could vary without end: each
value is a series kept for the life of the process), ``provider`` a configured provider name or
``""`` when none answered, ``status`` an HTTP status.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmring._install import install_hint

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# looked up, not imported (prometheus-client picks its mode when imported): a missing package is
# an ImportError here, so a server can import this module to learn whether metrics are possible
if importlib.util.find_spec("prometheus_client") is None:
    raise ImportError(f"llmring serve's /metrics needs prometheus-client: {install_hint('serve')}")

__all__ = ["MULTIPROC_ENV", "Metrics", "forget_dead_workers", "mark_process_dead"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: seconds to the first chunk: a cached small model answers in tens of ms, a reasoning model
#: may think for a minute
FIRST_CHUNK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: seconds to the end: long answers stream for minutes
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: ``usage`` key → the ``kind`` label of ``llmring_tokens_total``
TOKEN_KINDS = {
    "prompt_tokens": "prompt",
    "completion_tokens": "completion",
    "cached_tokens": "cached",
    "reasoning_tokens": "reasoning",
}


class Metrics:
    """The gateway's series; ``observe`` is called once per request, at its end.

    The label children are bound once per label set and kept, so a request costs a dict lookup
    and a few increments: no label validation or formatting on the request path.
    """

    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        self._multiprocess_dir = multiprocess_dir
        if multiprocess_dir is not None:
            _enter_multiprocess_mode(multiprocess_dir)
        import prometheus_client as prom

        # multiprocess mode: the series write to the directory's files and are not registered
        # (registering them too would export each one twice, the files being read as well)
        own: CollectorRegistry | None = None
        if multiprocess_dir is None:
            own = prom.CollectorRegistry(auto_describe=True)
        self._requests: Counter = prom.Counter(
            "llmring_requests",
            "Requests answered, by alias, HTTP status and the provider that answered",
            ["alias", "status", "provider"],
            registry=own,
        )
        self._active: Gauge = prom.Gauge(
            "llmring_active_streams",
            "Replies being streamed now (summed over live workers)",
            registry=own,
            multiprocess_mode="livesum",
        )
        self._first_chunk: Histogram = prom.Histogram(
            "llmring_time_to_first_chunk_seconds",
            "Seconds from the request to its first content chunk",
            ["alias", "provider"],
            registry=own,
            buckets=FIRST_CHUNK_BUCKETS,
        )
        self._duration: Histogram = prom.Histogram(
            "llmring_request_duration_seconds",
            "Seconds from the request to its last byte",
            ["alias", "provider"],
            registry=own,
            buckets=DURATION_BUCKETS,
        )
        self._tokens: Counter = prom.Counter(
            "llmring_tokens",
            "Tokens reported (or estimated) by kind: prompt, completion, cached, reasoning",
            ["alias", "provider", "kind"],
            registry=own,
        )
        self._cost: Counter = prom.Counter(
            "llmring_cost_usd",
            "US dollars spent on priced calls (unpriced calls are in unpriced_requests_total)",
            ["alias", "provider"],
            registry=own,
        )
        self._unpriced: Counter = prom.Counter(
            "llmring_unpriced_requests",
            "Requests a provider answered whose cost is unknown (missing from cost_usd_total)",
            ["alias", "provider"],
            registry=own,
        )
        self._registry = own
        self._by_status: dict[tuple[str, int, str], Any] = {}
        self._by_model: dict[tuple[str, str], _Children] = {}

    def stream_started(self) -> None:
        self._active.inc()

    def stream_ended(self) -> None:
        self._active.dec()

    def observe(
        self,
        *,
        alias: str,
        status: int,
        provider: str | None,
        first_chunk: float | None,
        duration: float,
        usage: Mapping[str, Any] | None,
        cost_usd: float | None,
    ) -> None:
        """Count one finished request. ``first_chunk`` is ``None`` when no content came;
        ``cost_usd`` ``None`` when the call is unpriced (counted as such when a provider
        answered, never as a cost of 0)."""
        provider = provider or ""
        counter = self._by_status.get((alias, status, provider))
        if counter is None:
            counter = self._requests.labels(alias, str(status), provider)
            self._by_status[alias, status, provider] = counter
        counter.inc()
        children = self._by_model.get((alias, provider))
        if children is None:
            children = self._by_model[alias, provider] = self._bind(alias, provider)
        if first_chunk is not None:
            children.first_chunk.observe(first_chunk)
        children.duration.observe(duration)
        if usage:
            for key, tokens in children.tokens:
                count = usage.get(key)
                if type(count) is int and count > 0:  # bool and junk are not token counts
                    tokens.inc(count)
        if cost_usd is not None:
            children.cost.inc(cost_usd)
        elif provider:
            children.unpriced.inc()

    def render(self, accept: bytes | None = None) -> tuple[bytes, str]:
        """The exposition for ``GET /metrics``: the body and its content type, in the format
        the scraper's ``Accept`` header asks for (OpenMetrics or Prometheus text)."""
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder

        registry = self._registry
        if registry is None:  # multiprocess mode: every worker's files, read at each scrape
            from prometheus_client.multiprocess import MultiProcessCollector

            assert self._multiprocess_dir is not None
            forget_dead_workers(self._multiprocess_dir)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
        encode, content_type = choose_encoder(accept.decode("latin-1") if accept else "")
        return encode(registry), content_type

    def _bind(self, alias: str, provider: str) -> _Children:
        return _Children(
            first_chunk=self._first_chunk.labels(alias, provider),
            duration=self._duration.labels(alias, provider),
            tokens=tuple(
                (key, self._tokens.labels(alias, provider, kind))
                for key, kind in TOKEN_KINDS.items()
            ),
            cost=self._cost.labels(alias, provider),
            unpriced=self._unpriced.labels(alias, provider),
        )


class _Children:
    """The series children of one (alias, provider), bound once."""

    __slots__ = ("cost", "duration", "first_chunk", "tokens", "unpriced")

    def __init__(
        self,
        *,
        first_chunk: Histogram,
        duration: Histogram,
        tokens: tuple[tuple[str, Counter], ...],
        cost: Counter,
        unpriced: Counter,
    ) -> None:
        self.first_chunk = first_chunk
        self.duration = duration
        self.tokens = tokens
        self.cost = cost
        self.unpriced = unpriced


def mark_process_dead(pid: int, multiprocess_dir: str) -> None:
    """Drop a dead worker's share of the live gauges (its counters stay: they never go back)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, multiprocess_dir)  # type: ignore[no-untyped-call]


def forget_dead_workers(multiprocess_dir: str) -> None:
    """:func:`mark_process_dead` for every worker whose process is gone, whoever restarted it:
    the active-streams gauge never counts the streams of a crashed worker."""
    for path in Path(multiprocess_dir).glob("gauge_live*_*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _alive(int(pid)):
            mark_process_dead(int(pid), multiprocess_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive, and not ours to judge
        return True
    return True


def _enter_multiprocess_mode(directory: str) -> None:
    """Make sure prometheus-client writes to ``directory``'s files, or say why it cannot.

    The mode is chosen when ``prometheus_client`` is first imported, from the environment, so
    the variable is set here when it is still unset and the library not yet loaded.
    """
    import sys

    if not Path(directory).is_dir():
        raise ValueError(f"the metrics directory {directory!r} does not exist")
    current = os.environ.get(MULTIPROC_ENV)
    if current is None and "prometheus_client" not in sys.modules:
        os.environ[MULTIPROC_ENV] = current = directory
    if current is None or os.path.realpath(current) != os.path.realpath(directory):
        raise RuntimeError(
            f"metrics for several workers need ${MULTIPROC_ENV}={directory} set before "
            f"prometheus_client is imported (it is {current!r})"
        )
    from prometheus_client import values

    if not getattr(values.ValueClass, "_multiprocess", False):
        raise RuntimeError(
            f"prometheus_client was imported before ${MULTIPROC_ENV} was set: "
            "set it before the worker process starts"
        )
