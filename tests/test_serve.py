"""``llmring serve`` as a client sees it, on the offline mock provider: routes, frames,
headers, the error statuses, the limits and the receipts. Each module-scoped gateway is a real
``llmring serve`` process (tests/serve_process.py); the real SDK clients, the recorded
provider streams and the fault runs are in test_serve_clients.py and test_serve_faults.py."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmring.lockfile._store import read_lockfile
from tests.serve_process import ServeProcess
from tests.wire_harness import lockfile_text

BINDINGS = {
    "chatbot": ["mock:echo"],
    "slow": ["mock:echo?delay=0.3"],
    "limited": ["mock:x?fail=rate_limit&retry_after=7"],
    "refused": ["mock:x?fail=auth"],
    "down": ["mock:x?fail=server"],
    "late": ["mock:x?fail=timeout"],
    "cut": ["mock:x?fail=server&fail_after=2"],
    "fallback": ["mock:first?fail=overloaded", "mock:echo"],
    "reasoner": ["mock:echo?reasoning=thinking"],
}
ASK = {"role": "user", "content": "hello gateway world"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("serve")
    lockfile = root / "llmring.lock"
    lockfile.write_text(lockfile_text({}, BINDINGS))
    with ServeProcess(lockfile, "--no-auth", "--max-body", "4000", "--max-streams", "3") as server:
        yield server


def post(gateway: ServeProcess, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return httpx.post(gateway.base_url + "/chat/completions", json=body, timeout=10, **kwargs)


def frames(response: httpx.Response) -> list[Any]:
    """The SSE ``data:`` payloads of a streamed reply, JSON-decoded (``[DONE]`` as is)."""
    out: list[Any] = []
    for block in response.text.split("\n\n"):
        if block:
            assert block.startswith("data: "), block
            data = block[len("data: ") :]
            out.append(data if data == "[DONE]" else json.loads(data))
    return out


def receipts(gateway: ServeProcess, **where: str) -> list[dict[str, Any]]:
    """The store's rows (matching ``where``), once the writer has stored them (polled)."""
    deadline = time.monotonic() + 5
    while True:
        rows: list[dict[str, Any]] = []
        if gateway.receipts.exists():
            db = sqlite3.connect(gateway.receipts)
            db.row_factory = sqlite3.Row
            try:
                rows = [dict(r) for r in db.execute("SELECT * FROM receipts")]
            except sqlite3.OperationalError:
                rows = []
            finally:
                db.close()
        found = [r for r in rows if all(r.get(k) == v for k, v in where.items())]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


# -- the chat route ----------------------------------------------------------------------------


def test_a_stream_is_openai_chunks_with_the_gateway_headers(gateway: ServeProcess) -> None:
    reply = post(gateway, {"model": "chatbot", "messages": [ASK], "stream": True})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["x-llmring-model"] == "mock:echo"
    request_id = reply.headers["x-llmring-request-id"]
    timing = dict(part.strip().split(";dur=") for part in reply.headers["server-timing"].split(","))
    assert set(timing) == {"gateway", "upstream"} and all(float(v) >= 0 for v in timing.values())
    data = frames(reply)
    assert data[-1] == "[DONE]"
    chunks = data[:-1]
    assert {c["id"] for c in chunks} == {"chatcmpl-" + request_id}
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "hello gateway world"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert not any("usage" in c for c in chunks)  # not asked for


def test_the_usage_chunk_comes_when_asked(gateway: ServeProcess) -> None:
    body = {"model": "chatbot", "messages": [ASK], "stream": True}
    data = frames(post(gateway, {**body, "stream_options": {"include_usage": True}}))
    usage_chunk = data[-2]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == 3
    assert usage_chunk["usage"]["total_tokens"] == (
        usage_chunk["usage"]["prompt_tokens"] + usage_chunk["usage"]["completion_tokens"]
    )


def test_reasoning_streams_as_reasoning_content(gateway: ServeProcess) -> None:
    data = frames(post(gateway, {"model": "reasoner", "messages": [ASK], "stream": True}))
    deltas = [c["choices"][0]["delta"] for c in data[:-1]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "thinking"
    assert "".join(d.get("content", "") for d in deltas) == "hello gateway world"


def test_a_completion_that_is_not_streamed(gateway: ServeProcess) -> None:
    reply = post(gateway, {"model": "chatbot", "messages": [ASK]})
    assert reply.status_code == 200
    body = reply.json()
    assert body["object"] == "chat.completion"
    assert body["id"] == "chatcmpl-" + reply.headers["x-llmring-request-id"]
    assert body["choices"][0]["message"]["content"] == "hello gateway world"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 3


def test_tools_reach_the_model_and_calls_come_back(gateway: ServeProcess) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    body = post(gateway, {"model": "chatbot", "messages": [ASK], "tools": [tool]}).json()
    message = body["choices"][0]["message"]
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"][0]["function"]["name"] == "lookup"
    assert "city" in json.loads(message["tool_calls"][0]["function"]["arguments"])


@pytest.mark.parametrize(
    ("alias", "status", "code"),
    [
        ("nope", 404, "model_not_found"),
        ("limited", 429, "rate_limit_exceeded"),
        ("refused", 401, "upstream_authentication"),
        ("down", 502, "upstream_error"),
        ("late", 504, "timeout"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
def test_a_failure_before_content_is_an_http_status(
    gateway: ServeProcess, alias: str, status: int, code: str, stream: bool
) -> None:
    reply = post(gateway, {"model": alias, "messages": [ASK], "stream": stream})
    assert reply.status_code == status
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["error"]["code"] == code
    assert reply.headers["x-llmring-request-id"]
    if alias == "limited":
        assert reply.headers["retry-after"] == "7"


def test_a_failure_after_content_is_one_error_frame_and_no_done(gateway: ServeProcess) -> None:
    reply = post(gateway, {"model": "cut", "messages": [ASK], "stream": True})
    assert reply.status_code == 200
    data = frames(reply)
    assert "[DONE]" not in data
    *chunks, last = data
    assert set(last) == {"error"} and last["error"]["code"] == "upstream_error"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)


def test_fallback_before_content_is_invisible_to_the_client(gateway: ServeProcess) -> None:
    reply = post(gateway, {"model": "fallback", "messages": [ASK], "stream": True})
    assert reply.status_code == 200
    assert reply.headers["x-llmring-model"] == "mock:echo"
    data = frames(reply)
    assert data[-1] == "[DONE]"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in data[:-1]) == (
        "hello gateway world"
    )


def test_refusals_name_the_field(gateway: ServeProcess) -> None:
    reply = post(gateway, {"model": "chatbot", "messages": [ASK], "base_url": "http://x"})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "base_url"
    broken = httpx.post(gateway.base_url + "/chat/completions", content=b"{not json", timeout=5)
    assert broken.status_code == 400
    assert "not valid JSON" in broken.json()["error"]["message"]


# -- limits ------------------------------------------------------------------------------------


def test_a_body_over_the_cap_is_413(gateway: ServeProcess) -> None:
    big = {"model": "chatbot", "messages": [{"role": "user", "content": "x" * 5000}]}
    reply = post(gateway, big)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "request_too_large"

    def pieces() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"model": "chatbot", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}]}'

    chunked = httpx.post(gateway.base_url + "/chat/completions", content=pieces(), timeout=5)
    assert chunked.status_code == 413


def test_streams_beyond_the_cap_get_503_with_retry_after(gateway: ServeProcess) -> None:
    started = threading.Barrier(4)
    results: list[int] = []

    def slow() -> None:
        body = {"model": "slow", "messages": [ASK], "stream": True}
        with httpx.stream("POST", gateway.base_url + "/chat/completions", json=body) as reply:
            started.wait(10)
            results.append(reply.status_code)
            reply.read()

    threads = [threading.Thread(target=slow) for _ in range(3)]
    for thread in threads:
        thread.start()
    started.wait(10)  # three streams are open: the cap
    refused = post(gateway, {"model": "chatbot", "messages": [ASK]})
    for thread in threads:
        thread.join(10)
    assert results == [200, 200, 200]
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "server_busy"
    assert post(gateway, {"model": "chatbot", "messages": [ASK]}).status_code == 200


# -- the other routes --------------------------------------------------------------------------


def test_models_lists_the_profiles_aliases(gateway: ServeProcess) -> None:
    body = httpx.get(gateway.base_url + "/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == sorted(BINDINGS)
    assert {m["object"] for m in body["data"]} == {"model"}


def test_health_and_readiness(gateway: ServeProcess) -> None:
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(gateway.url + "/readyz").json()
    assert ready["status"] == "ready"
    assert ready["lockfile"]["digest"] == read_lockfile(gateway.lockfile).digest
    assert ready["store"]["ok"] is True
    assert ready["streams"]["limit"] == 3


def test_unknown_routes_and_methods(gateway: ServeProcess) -> None:
    assert httpx.get(gateway.url + "/v1/nothing").status_code == 404
    assert httpx.get(gateway.base_url + "/chat/completions").status_code == 405
    assert httpx.get(gateway.url + "/").status_code == 404  # no --ui


# -- receipts ----------------------------------------------------------------------------------


def test_every_stream_has_its_receipt_under_the_request_id(gateway: ServeProcess) -> None:
    reply = post(gateway, {"model": "chatbot", "messages": [ASK], "stream": True})
    request_id = reply.headers["x-llmring-request-id"]
    (row,) = receipts(gateway, id=request_id)
    assert row["status"] == "ok"
    assert row["alias"] == "chatbot"
    assert row["provider"] == "mock"


def test_a_refused_request_has_a_rejected_receipt(gateway: ServeProcess) -> None:
    reply = post(gateway, {"model": "nope", "messages": [ASK]})
    (row,) = receipts(gateway, id=reply.headers["x-llmring-request-id"])
    assert row["status"] == "rejected"
    assert row["error_class"]


# -- the command ---------------------------------------------------------------------------------


def refused_start(tmp_path: Path, *args: str, binding: str = "mock:echo") -> str:
    """``llmring serve ARGS`` (``chatbot`` bound to ``binding``) that must exit 1 at once with
    one clear line; its stderr."""
    lockfile = tmp_path / "llmring.lock"
    lockfile.write_text(lockfile_text({}, {"chatbot": [binding]}))
    command = [sys.executable, "-m", "llmring", "serve", "--file", str(lockfile), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    return done.stderr


def test_no_auth_is_refused_off_loopback(tmp_path: Path) -> None:
    stderr = refused_start(tmp_path, "--host", "0.0.0.0", "--no-auth")
    assert "--no-auth is allowed only on a loopback address" in stderr


def test_a_store_that_cannot_be_opened_stops_the_start(tmp_path: Path) -> None:
    stderr = refused_start(
        tmp_path, "--no-auth", "--receipts", "sqlite:////proc/llmring/receipts.db"
    )
    assert "the receipt store /proc/llmring/receipts.db cannot be opened" in stderr


def test_a_lockfile_that_does_not_resolve_stops_the_start(tmp_path: Path) -> None:
    stderr = refused_start(tmp_path, "--no-auth", binding="nosuchprovider:m")
    assert stderr.startswith("error:") and "nosuchprovider" in stderr
