"""Real clients against a real ``llmring serve``: the official ``openai`` SDK (sync and async,
streamed and whole, a tool-call round trip, ``with_raw_response`` headers) and ``curl -N``.

The providers behind the gateway are loopback servers replaying the recorded wire corpus
(tests/wire), one recording per provider, and what a client reads must be what was read off
that recording (the expectations of tests/test_wire_*.py): the text, the finish reason, the
usage in OpenAI's shape, the model that answered. One gateway serves the whole module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.ci import require_or_skip
from tests.loopback import WIRE, LoopbackServer, Reply
from tests.serve_process import (
    ServeProcess,
    ThreadedLoopback,
    gateway_env,
    receipts,
    wait_for_receipts,
    wait_until,
)
from tests.test_wire_anthropic import WIRE_EXPECTED as ANTHROPIC
from tests.test_wire_google import GEMINI
from tests.test_wire_ollama import EXPECTED as OLLAMA
from tests.test_wire_openai import CHAT
from tests.test_wire_openai_responses import RESPONSES
from tests.wire_contract import Expected, check_text
from tests.wire_harness import lockfile_text

#: provider → (the model asked for, the recording replayed, what was read off it)
UPSTREAMS: dict[str, tuple[str, str, Expected[Any]]] = {
    "openai": (
        "gpt-4o-mini",
        "openai/chat-gpt-4o-mini-text-usage.sse",
        CHAT["chat-gpt-4o-mini-text-usage"],
    ),
    "openai-responses": (
        "gpt-5.5",
        "openai/responses-gpt-5.5-text-after-tool.sse",
        RESPONSES["responses-gpt-5.5-text-after-tool"],
    ),
    "anthropic": (
        "claude-sonnet-4-6",
        "anthropic/claude-sonnet-4-6-text.sse",
        ANTHROPIC["claude-sonnet-4-6-text"],
    ),
    "google": ("gemini-2.5-pro", "gemini/gemini-2.5-pro-text.sse", GEMINI["gemini-2.5-pro-text"]),
    "ollama": ("llama3", "ollama/llama3-text.ndjson", OLLAMA["llama3-text"]),
}

TOOL_CALL = "openai/chat-gpt-4o-mini-single-tool-call-usage"
TOOL_ANSWER = "openai/chat-gpt-4o-mini-text-usage"
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello"}]


def openai_usage(usage: dict[str, int]) -> dict[str, Any]:
    """A recording's usage (llmring's words) as OpenAI's usage object says it: the cached and
    reasoning counts in their ``*_details``, any other count at the top level."""
    result: dict[str, Any] = dict(usage)
    cached, reasoning = result.pop("cached_tokens", None), result.pop("reasoning_tokens", None)
    if cached is not None:
        result["prompt_tokens_details"] = {"cached_tokens": cached}
    if reasoning is not None:
        result["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return result


def usage_of(model: Any) -> dict[str, Any]:
    """The usage object a client got, as the gateway sent it (the SDK's unset fields left out)."""
    dumped: dict[str, Any] = model.model_dump(exclude_unset=True)
    return dumped


# -- one gateway for the module ------------------------------------------------------------------


@pytest.fixture(scope="module")
def loopback() -> Iterator[ThreadedLoopback]:
    with ThreadedLoopback() as served:
        yield served


@pytest.fixture(scope="module")
def gateway(
    loopback: ThreadedLoopback, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("gateway")
    lockfile = root / "llmring.lock"
    bindings = {f"via-{name}": [f"{name}:{model}"] for name, (model, _, _) in UPSTREAMS.items()}
    bindings["assistant"] = ["openai:gpt-4o-mini"]
    providers = {name: loopback.url(name) for name in UPSTREAMS}
    lockfile.write_text(lockfile_text(providers, bindings), encoding="utf-8")
    with ServeProcess(lockfile, "--no-auth", env=gateway_env(UPSTREAMS, root)) as server:
        yield server


@pytest.fixture
def upstream(loopback: ThreadedLoopback) -> LoopbackServer:
    """The module's loopback provider, with nothing recorded and no reply set yet."""
    server = loopback.server
    server.requests.clear()
    server.disconnects.clear()
    server.routes = {}
    server.reply = Reply(status=599)  # a test that forgets to set its reply fails loudly
    return server


def sidecar(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WIRE / f"{name}.json").read_text(encoding="utf-8"))
    return data


# -- every provider, through the official SDK ------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(UPSTREAMS))
def test_every_provider_streams_to_the_sync_sdk(
    provider: str, gateway: ServeProcess, upstream: LoopbackServer
) -> None:
    model, recording, expected = UPSTREAMS[provider]
    upstream.reply = Reply.wire(recording)
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=f"via-{provider}",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-llmring-model"] == f"{provider}:{expected.model}"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    check_text(text, expected.text)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == expected.finish and not any(finishes[:-1])
    *_, usage_chunk = chunks
    assert usage_chunk.choices == [] and usage_chunk.usage is not None
    assert expected.usage is not None
    assert usage_of(usage_chunk.usage) == openai_usage(expected.usage)
    assert {c.model for c in chunks} == {expected.model}
    assert len({c.id for c in chunks}) == 1
    # the gateway asked the provider for the model the alias is bound to
    assert len(upstream.requests) == 1
    assert model in upstream.requests[0].path + upstream.requests[0].body.decode()


@pytest.mark.parametrize("provider", sorted(UPSTREAMS))
async def test_every_provider_answers_the_async_sdk_whole(
    provider: str, gateway: ServeProcess, upstream: LoopbackServer
) -> None:
    _, recording, expected = UPSTREAMS[provider]
    upstream.reply = Reply.wire(recording)
    async with openai.AsyncOpenAI(
        base_url=gateway.base_url, api_key="unused", max_retries=0
    ) as client:
        completion = await client.chat.completions.create(
            model=f"via-{provider}",
            messages=HELLO,
        )
    (choice,) = completion.choices
    assert choice.message.role == "assistant"
    check_text(choice.message.content or "", expected.text)
    assert choice.finish_reason == expected.finish
    assert completion.model == expected.model
    assert completion.usage is not None and expected.usage is not None
    assert usage_of(completion.usage) == openai_usage(expected.usage)


def test_usage_chunk_comes_only_when_asked(gateway: ServeProcess, upstream: LoopbackServer) -> None:
    upstream.reply = Reply.wire(UPSTREAMS["openai"][1])
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="assistant",
            messages=HELLO,
            stream=True,
        )
    )
    assert chunks and all(c.usage is None and c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


# -- a tool-call round trip ------------------------------------------------------------------------


def tool_round_trip_request() -> tuple[
    list[ChatCompletionMessageParam], list[ChatCompletionToolParam]
]:
    """The first request of the recorded round trip: its messages and tools."""
    body = sidecar(TOOL_CALL)["request"]["body"]
    return (
        cast("list[ChatCompletionMessageParam]", body["messages"]),
        cast("list[ChatCompletionToolParam]", body["tools"]),
    )


def check_second_request(upstream: LoopbackServer) -> None:
    """What the provider got on the second turn is what the recorded conversation sent:
    the assistant's tool call (id, name, arguments) and the tool's result, after the question."""
    assert len(upstream.requests) == 2
    sent = upstream.requests[1].json()
    recorded = sidecar(TOOL_ANSWER)["request"]["body"]
    question, call, result = sent["messages"]
    expected_question, expected_call, expected_result = recorded["messages"]
    assert question == expected_question
    assert call["role"] == "assistant" and not call.get("content")
    assert call["tool_calls"] == expected_call["tool_calls"]
    assert result == expected_result
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_capital"]


def test_tool_call_round_trip_sync_whole(gateway: ServeProcess, upstream: LoopbackServer) -> None:
    messages, tools = tool_round_trip_request()
    upstream.reply = Reply.wire(TOOL_CALL + ".sse")
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    first = client.chat.completions.create(
        model="assistant",
        messages=messages,
        tools=tools,
    )
    (choice,) = first.choices
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_ZR5UUuTt3pf61kjwAJIYdVMj",
        "get_capital",
        '{"country":"UK"}',
    )
    upstream.reply = Reply.wire(TOOL_ANSWER + ".sse")
    messages = [
        *messages,
        cast("ChatCompletionMessageParam", choice.message.model_dump(exclude_none=True)),
        {"role": "tool", "tool_call_id": call.id, "content": "London"},
    ]
    second = client.chat.completions.create(
        model="assistant",
        messages=messages,
        tools=tools,
    )
    assert second.choices[0].message.content == "The capital of the UK is London."
    check_second_request(upstream)


async def test_tool_call_round_trip_async_streamed(
    gateway: ServeProcess, upstream: LoopbackServer
) -> None:
    messages, tools = tool_round_trip_request()
    upstream.reply = Reply.wire(TOOL_CALL + ".sse")
    async with openai.AsyncOpenAI(
        base_url=gateway.base_url, api_key="unused", max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model="assistant",
            messages=messages,
            tools=tools,
            stream=True,
        )
        calls: dict[int, dict[str, str]] = {}
        finish = None
        async for chunk in stream:
            delta = chunk.choices[0].delta
            finish = chunk.choices[0].finish_reason or finish
            for fragment in delta.tool_calls or []:
                call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += fragment.id or ""
                if fragment.function is not None:
                    call["name"] += fragment.function.name or ""
                    call["arguments"] += fragment.function.arguments or ""
        assert finish == "tool_calls"
        assert calls == {
            0: {
                "id": "call_ZR5UUuTt3pf61kjwAJIYdVMj",
                "name": "get_capital",
                "arguments": '{"country":"UK"}',
            }
        }
        upstream.reply = Reply.wire(TOOL_ANSWER + ".sse")
        assistant: ChatCompletionMessageParam = {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": calls[0]["id"],
                    "type": "function",
                    "function": {"name": calls[0]["name"], "arguments": calls[0]["arguments"]},
                }
            ],
        }
        tool_result: ChatCompletionMessageParam = {
            "role": "tool",
            "tool_call_id": calls[0]["id"],
            "content": "London",
        }
        stream = await client.chat.completions.create(
            model="assistant",
            messages=[*messages, assistant, tool_result],
            tools=tools,
            stream=True,
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "The capital of the UK is London."
    check_second_request(upstream)


# -- the gateway's headers -------------------------------------------------------------------------

_TIMING = re.compile(r"^gateway;dur=(\d+\.\d+), upstream;dur=(\d+\.\d+)$")


def test_raw_response_headers(gateway: ServeProcess, upstream: LoopbackServer) -> None:
    upstream.reply = Reply.wire(UPSTREAMS["openai"][1])
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="assistant",
        messages=HELLO,
    )
    request_id = raw.headers["x-llmring-request-id"]
    assert uuid.UUID(request_id)
    assert raw.headers["x-llmring-model"] == "openai:gpt-4o-mini-2024-07-18"
    timing = _TIMING.match(raw.headers["server-timing"])
    assert timing is not None, raw.headers["server-timing"]
    completion = raw.parse()
    assert completion.id == "chatcmpl-" + request_id
    assert completion.choices[0].message.content == "The capital of the UK is London."
    # another request, another id
    again = client.chat.completions.with_raw_response.create(
        model="assistant",
        messages=HELLO,
    )
    assert again.headers["x-llmring-request-id"] != request_id


def test_the_request_id_is_the_receipt_id(gateway: ServeProcess, upstream: LoopbackServer) -> None:
    upstream.reply = Reply.wire(UPSTREAMS["openai"][1])
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="assistant",
        messages=HELLO,
        stream=True,
    )
    list(raw.parse())
    request_id = raw.headers["x-llmring-request-id"]
    # waits for this request's receipt itself: counting rows would race with the receipts of
    # earlier tests' requests that the writer is still flushing
    wait_until(
        lambda: request_id in {row["id"] for row in receipts(gateway.receipts)},
        f"the receipt {request_id}",
    )


def test_the_sdk_with_a_key(
    loopback: ThreadedLoopback, upstream: LoopbackServer, tmp_path: Path
) -> None:
    store = tmp_path / "keys.db"
    lockfile = tmp_path / "llmring.lock"
    lockfile.write_text(
        lockfile_text({"openai": loopback.url("openai")}, {"assistant": ["openai:gpt-4o-mini"]}),
        encoding="utf-8",
    )
    env = gateway_env(["openai"], tmp_path)
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmring",
            "keys",
            "create",
            "ci",
            "--receipts",
            f"sqlite:///{store}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    upstream.reply = Reply.wire(UPSTREAMS["openai"][1])
    with ServeProcess(lockfile, receipts=store, env=env) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0)
        completion = client.chat.completions.create(
            model="assistant",
            messages=HELLO,
        )
        assert completion.choices[0].message.content == "The capital of the UK is London."
        stranger = openai.OpenAI(base_url=server.base_url, api_key="sk-not-a-key", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            stranger.chat.completions.create(
                model="assistant",
                messages=HELLO,
            )
        rows = wait_for_receipts(store, 2)
    assert len(upstream.requests) == 1  # the stranger never reached the provider
    assert sorted(row["status"] for row in rows) == ["ok", "rejected"]
    (ok,) = (row for row in rows if row["status"] == "ok")
    assert ok["key_id"]
    assert key not in server.log


# -- curl -N ---------------------------------------------------------------------------------------


def curl() -> str:
    found = shutil.which("curl")
    require_or_skip(found is not None, "curl is not installed (apt-get install curl)")
    assert found is not None
    return found


def curl_command(gateway: ServeProcess, body: dict[str, Any], *extra: str) -> list[str]:
    return [
        curl(),
        "-sS",
        "-N",
        *extra,
        "-H",
        "content-type: application/json",
        "-d",
        json.dumps(body),
        gateway.base_url + "/chat/completions",
    ]


def data_frames(output: str) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order (every frame is one ``data:`` line)."""
    frames = output.split("\n\n")
    assert frames[-1] == "", "the body ends with a whole frame"
    payloads = []
    for frame in frames[:-1]:
        assert frame.startswith("data: ") and "\n" not in frame, frame
        payloads.append(frame.removeprefix("data: "))
    return payloads


def test_curl_reads_the_stream(
    gateway: ServeProcess, upstream: LoopbackServer, tmp_path: Path
) -> None:
    upstream.reply = Reply.wire(UPSTREAMS["anthropic"][1])
    headers = tmp_path / "headers.txt"
    body = {
        "model": "via-anthropic",
        "messages": HELLO,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    done = subprocess.run(
        curl_command(gateway, body, "-D", str(headers)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    head = headers.read_text(encoding="utf-8").lower()
    assert head.startswith("http/1.1 200")
    assert "content-type: text/event-stream" in head
    assert "x-llmring-model: anthropic:claude-sonnet-4-6" in head
    *frames, last = data_frames(done.stdout)
    assert last == "[DONE]"
    chunks = [json.loads(frame) for frame in frames]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    expected = UPSTREAMS["anthropic"][2]
    assert text == expected.text and expected.usage is not None
    assert chunks[-1]["usage"] == openai_usage(expected.usage)


def test_curl_gets_each_frame_as_it_comes(gateway: ServeProcess, upstream: LoopbackServer) -> None:
    # The provider sends two text deltas, then stalls with the stream open: curl -N must
    # print both frames now, not when the stream ends (nothing is buffered on the way).
    recording = UPSTREAMS["anthropic"][1]
    raw = (WIRE / recording).read_bytes()
    lines = raw.decode().splitlines()
    events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    texts = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    deltas = [m.end() for m in re.finditer(rb"text_delta[^\n]*\n\n", raw)]
    upstream.reply = Reply.wire(recording, stall_after=deltas[1])
    body = {"model": "via-anthropic", "messages": HELLO, "stream": True}
    with subprocess.Popen(
        curl_command(gateway, body), stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        contents: list[str] = []
        try:
            for line in process.stdout:
                if line.startswith("data: "):
                    delta = json.loads(line[6:])["choices"][0]["delta"]
                    if delta.get("content"):
                        contents.append(delta["content"])
                if len(contents) == 2:
                    break
        finally:
            process.terminate()
    assert contents == texts[:2]
    # curl went away: the gateway closed the provider's stream
    wait_until(lambda: bool(upstream.disconnects), "the provider saw its client go")
