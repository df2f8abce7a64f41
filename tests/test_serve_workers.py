"""``llmring serve --workers 2``: two processes share the port and the receipt store, and a
SIGHUP to the main process reloads the lockfile in every worker."""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from llmring.lockfile._store import read_lockfile
from tests.serve_process import ServeProcess
from tests.wire_harness import lockfile_text

ASK = {"role": "user", "content": "two workers"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    lockfile = tmp_path_factory.mktemp("workers") / "llmring.lock"
    lockfile.write_text(lockfile_text({}, {"chatbot": ["mock:echo?delay=0.02"]}))
    with ServeProcess(lockfile, "--no-auth", "--workers", "2", "--watch", "0") as server:
        yield server


def _pids_and_digests(gateway: ServeProcess, rounds: int = 40) -> set[tuple[int, str]]:
    """What the workers answering ``/readyz`` say (new connections spread over the workers)."""
    seen = set()
    for _ in range(rounds):
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
        try:
            connection.request("GET", "/readyz")
            ready = json.loads(connection.getresponse().read())
        finally:
            connection.close()
        seen.add((ready["worker"]["pid"], ready["lockfile"]["digest"]))
    return seen


def test_workers_share_the_store(gateway: ServeProcess) -> None:
    with httpx.Client() as client:

        def ask(_: int) -> str:
            reply = client.post(
                gateway.base_url + "/chat/completions",
                json={"model": "chatbot", "messages": [ASK], "stream": True},
                timeout=10,
            )
            assert reply.status_code == 200
            return reply.headers["x-llmring-request-id"]

        with ThreadPoolExecutor(8) as pool:
            ids = set(pool.map(ask, range(40)))
    assert len(ids) == 40
    deadline = time.monotonic() + 5
    while True:
        db = sqlite3.connect(gateway.receipts)
        try:
            stored = {row[0] for row in db.execute("SELECT id FROM receipts WHERE status = 'ok'")}
        finally:
            db.close()
        if ids <= stored or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert ids <= stored
    assert len({pid for pid, _ in _pids_and_digests(gateway)}) == 2


def test_sighup_reloads_every_worker(gateway: ServeProcess) -> None:
    before = read_lockfile(gateway.lockfile).digest
    assert {digest for _, digest in _pids_and_digests(gateway)} == {before}
    gateway.lockfile.write_text(lockfile_text({}, {"chatbot": ["mock:echo"], "new": ["mock:x"]}))
    after = read_lockfile(gateway.lockfile).digest
    gateway.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        seen = _pids_and_digests(gateway)
        if {digest for _, digest in seen} == {after} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert {digest for _, digest in seen} == {after}
    assert len({pid for pid, _ in seen}) == 2  # the same two workers, reloaded in place
