"""llmring/serve/_metrics.py: the series /metrics exposes, read back as a scraper parses them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmring.serve._metrics import Metrics, mark_process_dead

Labels = Mapping[str, str]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition: (name, sorted labels) → value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def scrape(metrics: Metrics) -> str:
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    return body.decode()


def observe(metrics: Metrics, **overrides: Any) -> None:
    call: dict[str, Any] = {
        "alias": "chat",
        "status": 200,
        "provider": "openai",
        "first_chunk": 0.03,
        "duration": 0.7,
        "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
        "cost_usd": 0.002,
    }
    metrics.observe(**(call | overrides))


def test_one_request_shows_in_every_series() -> None:
    metrics = Metrics()
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "total_tokens": 42,
        "cached_tokens": 4,
        "reasoning_tokens": 7,
        "cost": 0.5,  # the usage dict's own cost is not read: cost_usd is the one source
    }
    observe(metrics, usage=usage, first_chunk=0.03, duration=0.7, cost_usd=0.002)
    observe(metrics, usage=usage, first_chunk=2.0, duration=3.0, cost_usd=0.001)
    text = scrape(metrics)
    chat = {"alias": "chat", "provider": "openai"}
    assert value(text, "llmring_requests_total", status="200", **chat) == 2
    for kind, count in [("prompt", 24), ("completion", 60), ("cached", 8), ("reasoning", 14)]:
        assert value(text, "llmring_tokens_total", kind=kind, **chat) == count
    assert value(text, "llmring_tokens_total", kind="total", **chat) is None
    assert value(text, "llmring_cost_usd_total", **chat) == pytest.approx(0.003)
    assert value(text, "llmring_unpriced_requests_total", **chat) == 0
    first = "llmring_time_to_first_chunk_seconds"
    assert value(text, f"{first}_count", **chat) == 2
    assert value(text, f"{first}_sum", **chat) == pytest.approx(2.03)
    assert value(text, f"{first}_bucket", le="0.01", **chat) == 0
    assert value(text, f"{first}_bucket", le="0.05", **chat) == 1
    assert value(text, f"{first}_bucket", le="2.5", **chat) == 2
    assert value(text, f"{first}_bucket", le="60.0", **chat) == 2
    duration = "llmring_request_duration_seconds"
    assert value(text, f"{duration}_count", **chat) == 2
    assert value(text, f"{duration}_sum", **chat) == pytest.approx(3.7)


def test_labels_keep_requests_apart_and_no_provider_is_an_empty_label() -> None:
    metrics = Metrics()
    observe(metrics)
    observe(metrics, status=502, first_chunk=None, usage=None, cost_usd=None)
    observe(metrics, alias="fast", provider="anthropic")
    observe(
        metrics, alias="unknown", status=404, provider=None, first_chunk=None, usage=None,
        cost_usd=None, duration=0.001,
    )  # fmt: skip
    text = scrape(metrics)
    requests = "llmring_requests_total"
    assert value(text, requests, alias="chat", status="200", provider="openai") == 1
    assert value(text, requests, alias="chat", status="502", provider="openai") == 1
    assert value(text, requests, alias="fast", status="200", provider="anthropic") == 1
    assert value(text, requests, alias="unknown", status="404", provider="") == 1
    # no content, no first-chunk time (the series exists at 0); every request has a duration
    first = "llmring_time_to_first_chunk_seconds_count"
    assert value(text, first, alias="chat", provider="openai") == 1
    assert value(text, first, alias="unknown", provider="") == 0
    assert value(text, "llmring_request_duration_seconds_count", alias="unknown", provider="") == 1
    assert (
        value(text, "llmring_request_duration_seconds_count", alias="chat", provider="openai") == 2
    )


def test_an_unpriced_call_is_counted_as_unpriced_never_as_a_cost_of_zero() -> None:
    metrics = Metrics()
    observe(metrics, cost_usd=0.25)
    observe(metrics, cost_usd=None)
    observe(metrics, cost_usd=None)
    observe(metrics, cost_usd=0.0)  # priced, and free (a local model): a real 0
    # refused before any provider answered: neither priced nor an unpriced call
    observe(metrics, alias="unknown", status=404, provider=None, usage=None, cost_usd=None)
    text = scrape(metrics)
    chat = {"alias": "chat", "provider": "openai"}
    assert value(text, "llmring_cost_usd_total", **chat) == 0.25
    assert value(text, "llmring_unpriced_requests_total", **chat) == 2
    assert value(text, "llmring_unpriced_requests_total", alias="unknown", provider="") == 0
    assert value(text, "llmring_cost_usd_total", alias="unknown", provider="") == 0


def test_token_counts_that_are_not_counts_are_skipped() -> None:
    metrics = Metrics()
    observe(metrics, usage={"prompt_tokens": True, "completion_tokens": "9", "cached_tokens": -3})
    observe(metrics, usage={"prompt_tokens": 5})
    text = scrape(metrics)
    chat = {"alias": "chat", "provider": "openai"}
    assert value(text, "llmring_tokens_total", kind="prompt", **chat) == 5
    assert value(text, "llmring_tokens_total", kind="completion", **chat) == 0
    assert value(text, "llmring_tokens_total", kind="cached", **chat) == 0


def test_the_active_streams_gauge_goes_up_and_down() -> None:
    metrics = Metrics()
    metrics.stream_started()
    metrics.stream_started()
    metrics.stream_ended()
    assert value(scrape(metrics), "llmring_active_streams") == 1


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()  # a second one would raise "Duplicated timeseries"
    observe(first)
    first.stream_started()
    text = scrape(second)
    assert (
        value(text, "llmring_requests_total", alias="chat", status="200", provider="openai") is None
    )
    assert value(text, "llmring_active_streams") == 0
    global_text = prometheus_client.generate_latest().decode()
    assert "llmring_" not in global_text


def test_render_speaks_openmetrics_to_a_scraper_that_asks_for_it() -> None:
    metrics = Metrics()
    observe(metrics)
    body, content_type = metrics.render(b"application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    assert b'llmring_requests_total{alias="chat",provider="openai",status="200"} 1.0' in body


# -- several workers ----------------------------------------------------------------------------

WORKER = """
import json, sys
from llmring.serve._metrics import Metrics
metrics = Metrics(multiprocess_dir=sys.argv[1])
for line in sys.stdin:
    command = json.loads(line)
    if command == "start":
        metrics.stream_started()
    elif command == "render":
        print(json.dumps(metrics.render()[0].decode()), flush=True)
        continue
    else:
        metrics.observe(**command)
    print(json.dumps("ok"), flush=True)
"""


class Worker:
    """A process of its own with ``$PROMETHEUS_MULTIPROC_DIR`` set, as a uvicorn worker is."""

    def __init__(self, directory: Path) -> None:
        env = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def send(self, command: object) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        reply: str = json.loads(self.process.stdout.readline())
        return reply

    def stop(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)
        self.process.stdout.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    pair = Worker(tmp_path), Worker(tmp_path)
    try:
        yield pair
    finally:
        for worker in pair:
            if worker.process.poll() is None:
                worker.stop()


def request(**overrides: Any) -> dict[str, Any]:
    call: dict[str, Any] = {
        "alias": "chat",
        "status": 200,
        "provider": "openai",
        "first_chunk": 0.03,
        "duration": 0.7,
        "usage": {"prompt_tokens": 10, "completion_tokens": 20},
        "cost_usd": 0.5,
    }
    return call | overrides


def test_any_worker_shows_the_sum_over_every_worker(workers: tuple[Worker, Worker]) -> None:
    one, two = workers
    one.send(request())
    one.send("start")
    one.send("start")
    two.send(request(cost_usd=0.25))
    two.send(request(cost_usd=None, status=502))
    two.send("start")
    for worker in (one, two):
        text = worker.send("render")
        chat = {"alias": "chat", "provider": "openai"}
        assert value(text, "llmring_requests_total", status="200", **chat) == 2
        assert value(text, "llmring_requests_total", status="502", **chat) == 1
        assert value(text, "llmring_tokens_total", kind="prompt", **chat) == 30
        assert value(text, "llmring_cost_usd_total", **chat) == 0.75
        assert value(text, "llmring_unpriced_requests_total", **chat) == 1
        assert value(text, "llmring_request_duration_seconds_count", **chat) == 3
        assert value(text, "llmring_active_streams") == 3


def test_a_dead_worker_keeps_its_counts_but_not_its_streams(
    workers: tuple[Worker, Worker], tmp_path: Path
) -> None:
    one, two = workers
    one.send(request())
    one.send("start")
    two.send(request())
    two.send("start")
    two.stop()  # it died with a stream open: that stream is no longer being served
    text = one.send("render")
    assert value(text, "llmring_active_streams") == 1
    assert value(text, "llmring_requests_total", alias="chat", status="200", provider="openai") == 2


def test_mark_process_dead_drops_that_workers_streams(
    workers: tuple[Worker, Worker], tmp_path: Path
) -> None:
    one, two = workers
    one.send("start")
    two.send("start")
    assert value(one.send("render"), "llmring_active_streams") == 2
    mark_process_dead(two.process.pid, str(tmp_path))
    assert value(one.send("render"), "llmring_active_streams") == 1


def test_several_workers_mode_needs_the_variable_before_prometheus_is_imported(
    tmp_path: Path,
) -> None:
    # this process imported prometheus_client above, without $PROMETHEUS_MULTIPROC_DIR
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        Metrics(multiprocess_dir=str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        Metrics(multiprocess_dir=str(tmp_path / "missing"))


def test_importing_the_server_package_does_not_import_prometheus() -> None:
    code = "import sys, llmring, llmring.serve; print('prometheus_client' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_without_prometheus_client_the_module_says_which_extra_to_install() -> None:
    # how a server learns that /metrics is off: importing the module raises ImportError
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "try:\n    import llmring.serve._metrics\nexcept ImportError as exc:\n    print(exc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "needs prometheus-client" in result.stdout and "[serve]" in result.stdout
