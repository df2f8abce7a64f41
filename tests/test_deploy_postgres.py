"""docs/deploy.md past one machine: two ``llmring serve`` gateways ("hosts") behind the
shipped nginx site, sharing one real PostgreSQL (tests/postgres.py) for keys, limits, budgets
and receipts, with a loopback provider (tests/loopback.py) in a thread of this process.

What must hold across the hosts (issue 15's proofs; the SIGKILL one is
tests/test_deploy_nginx.py's ``test_when_a_gateway_dies_the_other_serves[postgresql]``, the
store restart tests/test_store_outage.py's):

- a key's rpm is one count for both: 100 rpm admits at most 100 in the minute, and at least 95;
- a budget of N requests' worth admits N (± 1), then refuses with no upstream call;
- every request the clients made, whatever became of it (served, refused, failed upstream,
  cut, hung up on before or after the first chunk), has exactly one receipt.

Every request goes through nginx, which spreads them over both gateways; the provider's record
(each gateway calls it with a provider key of its own, :func:`tests.nginx.provider_key`) shows
that both served.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.loopback import WIRE, RecordedRequest, Reply
from tests.nginx import Deployment, provider_key, two_hosts
from tests.postgres import migrated
from tests.serve_process import ThreadedLoopback, stored_receipts, wait_until
from tests.test_serve_keys import keys_cli

RECORDING = "openai/chat-gpt-4o-mini-text-usage.sse"
#: the byte offset of each event's end in the recording: a stream split there, paced, is
#: still running when a client hangs up on it
EVENT_ENDS = list(
    itertools.accumulate(
        len(event) + 2 for event in (WIRE / RECORDING).read_bytes().split(b"\n\n") if event
    )
)
TEXT = "The capital of the UK is London."
#: the recording's usage: 78 prompt tokens, 9 completion tokens
PROMPT_TOKENS, COMPLETION_TOKENS = 78, 9
#: a prompt the receipts' estimate (4 characters a token) puts at the recording's 78 tokens,
#: so a request with ``max_tokens`` 9 reserves exactly what it will cost
PROMPT = ("What is the capital of the United Kingdom? " * 8)[: PROMPT_TOKENS * 4]


@dataclass
class Site:
    deployment: Deployment
    loopback: ThreadedLoopback
    store_url: str

    def key(self, name: str, *limits: str) -> str:
        """A new API key in the shared store, made as an operator would."""
        made = keys_cli(self.store_url, "create", name, *limits)
        assert made.returncode == 0, made.stderr
        return made.stdout.strip()

    def post(self, key: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            self.deployment.base_url + "/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {key}"},
            timeout=30,
        )

    def receipts(self) -> list[dict[str, Any]]:
        return stored_receipts(self.store_url)

    def receipts_once(self, count: int) -> list[dict[str, Any]]:
        """The store's receipts once there are ``count`` (the writers flush every 0.1 s)."""
        wait_until(lambda: len(self.receipts()) >= count, f"{count} receipts", timeout=20)
        time.sleep(0.3)  # one more batch window: a duplicate would show now
        return self.receipts()

    def both_gateways_served(self) -> bool:
        sent = {r.headers["authorization"] for r in self.loopback.server.requests}
        return sent == {f"Bearer {provider_key(n)}" for n in range(2)}


@pytest.fixture
def site(pg_url: str, tmp_path: Path) -> Iterator[Site]:
    url = migrated(pg_url).url
    with (
        ThreadedLoopback() as loopback,
        two_hosts(tmp_path, loopback, url, priced_as="openai") as deployment,
    ):
        loopback.server.reply = Reply.wire(RECORDING)
        yield Site(deployment, loopback, url)


def ask(content: str = PROMPT, **extra: Any) -> dict[str, Any]:
    return {"model": "chatbot", "messages": [{"role": "user", "content": content}], **extra}


# -- one rpm for both hosts -----------------------------------------------------------------------


def test_a_keys_rpm_is_one_count_across_two_hosts_behind_nginx(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    key = site.key("rated", "--rpm", "100")
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda _: site.post(key, ask()), range(130)))
    took = time.monotonic() - started
    statuses = Counter(r.status_code for r in replies)
    with capsys.disabled():
        print(f"\nrpm 100 across two hosts: {dict(statuses)} of 130 in {took:.1f} s")
    assert took < 50, f"the load took {took:.0f} s: the window moved under it"
    assert set(statuses) <= {200, 429}, [r.text for r in replies if r.status_code not in (200, 429)]
    assert 95 <= statuses[200] <= 100, statuses  # not 2 x 100: one count for both hosts
    refused = [r for r in replies if r.status_code == 429]
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert len(site.loopback.server.requests) == statuses[200]  # no refusal reached it
    assert site.both_gateways_served()
    # one receipt each, the refusals included
    rows = site.receipts_once(130)
    assert Counter(row["status"] for row in rows) == {"ok": statuses[200], "rejected": 30}
    assert {row["id"] for row in rows} == {r.headers["x-llmring-request-id"] for r in replies}


# -- one budget for both hosts --------------------------------------------------------------------


def test_a_budget_of_n_requests_worth_admits_n_across_two_hosts(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    # what one request costs, by the price table, as a receipt says
    body = ask(max_tokens=COMPLETION_TOKENS, stream=True)
    assert site.post(site.deployment.key, body).status_code == 200
    [calibration] = site.receipts_once(1)
    assert calibration["prompt_tokens"] == PROMPT_TOKENS
    cost = float(calibration["cost_usd"])
    assert cost > 0, calibration
    site.loopback.server.requests.clear()

    n = 12
    key = site.key("capped", "--budget", f"{n * cost:.12f}/day")
    replies: list[httpx.Response] = []
    lock = threading.Lock()

    def client() -> None:  # 4 of them at once, until 2 n + 8 requests were sent
        while True:
            with lock:
                if len(replies) >= 2 * n + 8:
                    return
            reply = site.post(key, body)
            with lock:
                replies.append(reply)

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(120)
    admitted = [r for r in replies if r.status_code == 200]
    refused = [r for r in replies if r.status_code != 200]
    with capsys.disabled():
        print(f"\na budget of {n} requests' worth: {len(admitted)} of {len(replies)} admitted")
    assert n - 1 <= len(admitted) <= n + 1, Counter(r.status_code for r in replies)
    assert {(r.status_code, r.json()["error"]["code"]) for r in refused} == {
        (402, "budget_exceeded")
    }
    # once spent it stays spent: the last requests, with nothing running, were all refused
    assert [r.status_code for r in replies[-4:]] == [402] * 4
    assert all(streamed_text(r.text) == TEXT for r in admitted)
    assert len(site.loopback.server.requests) == len(admitted)  # refusals never reached it
    assert site.both_gateways_served()
    rows = [row for row in site.receipts_once(1 + len(replies)) if row["id"] != calibration["id"]]
    assert Counter(row["status"] for row in rows) == {
        "ok": len(admitted),
        "rejected": len(refused),
    }
    charged = sum(float(row["cost_usd"] or 0) for row in rows)
    assert charged == pytest.approx(len(admitted) * cost)


# -- row parity -----------------------------------------------------------------------------------


@dataclass
class Made:
    """One request a client made: what kind, the status it saw (0: it hung up before any),
    and the gateway's request id when the response's headers came."""

    kind: str
    status: int
    request_id: str | None


#: the receipt status each kind of request must leave (the rpm-limited key: either)
RECEIPT_STATUS = {
    "stream": {"ok"},
    "plain": {"ok"},
    "bad_key": {"rejected"},
    "unknown_model": {"rejected"},
    "unknown_field": {"rejected"},
    "limited": {"ok", "rejected"},
    "upstream_error": {"error"},
    "cut": {"interrupted"},
    "hang_up_mid_stream": {"cancelled"},
    "hang_up_before_the_first_chunk": {"cancelled"},
}
HTTP_STATUS = {
    "stream": {200},
    "plain": {200},
    "bad_key": {401},
    "unknown_model": {404},
    "unknown_field": {400},
    "limited": {200, 429},
    "upstream_error": {502},
    "cut": {200},
    "hang_up_mid_stream": {200},
    "hang_up_before_the_first_chunk": {0},
}


def provider_reply(request: RecordedRequest) -> Reply:
    """What the provider answers, by the marker the client put in the prompt."""
    prompt = request.json()["messages"][-1]["content"]
    if prompt.startswith("fail"):
        return Reply.error(500, {"error": {"message": "boom", "type": "server_error"}})
    if prompt.startswith("cut"):
        return Reply.wire(RECORDING, splits=EVENT_ENDS[:4], delay=0.02, cut_after=EVENT_ENDS[3])
    if prompt.startswith("wait"):
        return Reply.wire(RECORDING, first_delay=5.0)
    return Reply.wire(RECORDING, splits=EVENT_ENDS, delay=0.01)


def content_of(line: str) -> str:
    """The content in one SSE line of a ``chat.completion.chunk``."""
    choices = json.loads(line.removeprefix("data: "))["choices"]
    return "".join(choice["delta"].get("content") or "" for choice in choices)


def streamed_text(body: str) -> str:
    """The content of a whole SSE response body (it must end with ``[DONE]``)."""
    assert body.rstrip().endswith("data: [DONE]"), body[-200:]
    lines = body.splitlines()
    return "".join(content_of(line) for line in lines if line.startswith("data: {"))


class Client:
    """One load-generating client: makes each kind of request through nginx."""

    def __init__(self, site: Site, keys: dict[str, str]) -> None:
        self.site, self.keys = site, keys
        self.url = site.deployment.base_url + "/chat/completions"

    def make(self, kind: str) -> Made:
        if kind == "hang_up_before_the_first_chunk":
            return self._hang_up_early()
        key = self.keys["limited" if kind == "limited" else "bad" if kind == "bad_key" else "ok"]
        body = ask("hello", stream=kind != "plain")
        if kind == "unknown_model":
            body["model"] = "no-such-alias"
        elif kind == "unknown_field":
            body["frobnicate"] = True
        elif kind in ("upstream_error", "cut"):
            body["messages"][0]["content"] = "fail" if kind == "upstream_error" else "cut"
        headers = {"authorization": f"Bearer {key}"}
        with httpx.stream("POST", self.url, json=body, headers=headers, timeout=30) as reply:
            request_id = reply.headers.get("x-llmring-request-id")
            if kind == "hang_up_mid_stream":
                for line in reply.iter_lines():  # up to the first content, then hang up
                    if line.startswith("data: {") and content_of(line):
                        break
                return Made(kind, reply.status_code, request_id)  # leaving closes it
            text = reply.read().decode()
        if kind == "cut":
            assert '"error"' in text and "[DONE]" not in text, text
        return Made(kind, reply.status_code, request_id)

    def _hang_up_early(self) -> Made:
        """Send a request the provider holds for 5 s, and hang up once it has reached the
        provider: before the response's headers, so the client never learns its id."""
        marker = f"wait {uuid.uuid4()}"
        body = json.dumps(ask(marker, stream=True)).encode()
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {self.keys['ok']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        requests = self.site.loopback.server.requests
        with socket.create_connection(("127.0.0.1", self.site.deployment.nginx_port)) as sock:
            sock.sendall(head.encode() + body)
            wait_until(
                lambda: any(marker.encode() in r.body for r in list(requests)),
                "the held request at the provider",
            )
        return Made("hang_up_before_the_first_chunk", 0, None)


def test_every_request_through_either_host_has_exactly_one_receipt(site: Site) -> None:
    site.loopback.server.routes["/"] = provider_reply
    keys = {
        "ok": site.deployment.key,
        "limited": site.key("limited", "--rpm", "6"),
        "bad": "llmr-" + "x" * 43,
    }
    kinds = list(RECEIPT_STATUS)
    made: list[Made] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        one = Client(site, keys)
        for round_ in range(3):  # every kind, in an order of the client's own
            for kind in kinds[number + round_ :] + kinds[: number + round_]:
                done = one.make(kind)
                with lock:
                    made.append(done)

    run_all(client, 4)
    assert len(made) == 4 * 3 * len(kinds)
    wrong = [m for m in made if m.status not in HTTP_STATUS[m.kind]]
    assert not wrong, wrong
    assert Counter(m.status for m in made if m.kind == "limited")[200] == 6
    assert site.both_gateways_served()

    rows = site.receipts_once(len(made))
    assert len(rows) == len(made), Counter(row["status"] for row in rows)
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == len(rows)  # no receipt twice
    for m in made:
        if m.request_id is not None:
            assert by_id[m.request_id]["status"] in RECEIPT_STATUS[m.kind], (m, by_id[m.request_id])
    # the requests whose ids the clients never saw: one cancelled receipt each
    early = [m for m in made if m.request_id is None]
    unseen = set(by_id) - {m.request_id for m in made}
    assert len(unseen) == len(early)
    assert {by_id[i]["status"] for i in unseen} == {"cancelled"}
    # and the provider saw each of those clients go
    wait_until(
        lambda: len(site.loopback.server.disconnects) >= len(early) + 4 * 3,
        "the provider seeing every hung-up stream go",
    )


def run_all(client: Callable[[int], None], count: int) -> None:
    """Run ``client(0)`` ... ``client(count - 1)`` at once; re-raise the first failure."""
    failures: list[BaseException] = []

    def guarded(number: int) -> None:
        try:
            client(number)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if failures:
        raise failures[0]
