"""``stop`` through a real ``llmring serve``: the mock ends its reply before the sequence, and
a provider without stop sequences (the Responses API) is a 400 that says so, before any
request upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.serve_process import ServeProcess
from tests.wire_harness import lockfile_text

#: nothing listens there: the Responses adapter must refuse before it connects
NOWHERE = "http://127.0.0.1:9/v1"
TABLES = f'[providers.responses]\ntype = "openai-responses"\nbase_url = "{NOWHERE}"\n'
BINDINGS = {"chatbot": ["mock:echo"], "responder": ["responses:gpt-5"]}
ASK = {"role": "user", "content": "one two three four"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    lockfile = tmp_path_factory.mktemp("serve-stop") / "llmring.lock"
    lockfile.write_text(lockfile_text({}, BINDINGS, tables=TABLES))
    with ServeProcess(lockfile, "--no-auth") as server:
        yield server


def post(gateway: ServeProcess, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gateway.base_url + "/chat/completions", json=body, timeout=10)


def test_the_reply_ends_before_the_stop_sequence(gateway: ServeProcess) -> None:
    reply = post(gateway, {"model": "chatbot", "messages": [ASK], "stop": "three"})
    assert reply.status_code == 200, reply.text
    choice = reply.json()["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("one two ", "stop")
    streamed = post(
        gateway, {"model": "chatbot", "messages": [ASK], "stop": ["four", "two"], "stream": True}
    )
    chunks = [
        json.loads(block[len("data: ") :])
        for block in streamed.text.split("\n\n")
        if block.startswith("data: {")
    ]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert (text, chunks[-1]["choices"][0]["finish_reason"]) == ("one ", "stop")


def test_a_provider_without_stop_sequences_is_a_400(gateway: ServeProcess) -> None:
    reply = post(gateway, {"model": "responder", "messages": [ASK], "stop": ["END"]})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "unsupported_request")
    assert "stop sequences are not supported by the Responses API" in error["message"]
