"""Every recording of the wire corpus, priced: the cost llmring puts on the terminal chunk
(replayed through the real adapter and SDK) equals ``genai-prices``' own calculation on the
provider's RAW usage, read here from the recording's bytes, never from the adapter.

The raw usage is given to ``genai_prices.extract_usage`` (its own mapping of each provider's
usage fields, OpenAI's ``prompt_tokens_details.cached_tokens``, Anthropic's cache and
``server_tool_use`` counts, Gemini's ``thoughtsTokenCount`` and ``toolUsePromptTokenCount``
included) and priced by ``genai_prices.calc_price`` at the stream's own request time. Ollama
has no entry in the table: its recordings are unpriced, or priced by the lockfile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRing
from llmring._costs import Cost
from tests.loopback import WIRE, Reply
from tests.wire_harness import provider_ring, user_request

genai_prices = pytest.importorskip("genai_prices")


@dataclass(frozen=True)
class Raw:
    """What the recording says about its usage: the response-shaped document that
    ``genai_prices.extract_usage`` reads, and how to read it."""

    provider: str  # llmring's adapter
    genai_provider: str | None  # the price table's provider (None: not in the table)
    flavor: str
    document: dict[str, Any] | None  # None: the recording reports no usage


def _sse_data(body: bytes) -> list[Any]:
    """The JSON of every ``data:`` line (each event of these recordings is one line)."""
    events = []
    for line in body.decode().splitlines():
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
            events.append(json.loads(line[5:]))
    return events


def _openai_chat(body: bytes, genai_provider: str) -> Raw:
    chunks = [e for e in _sse_data(body) if isinstance(e, dict)]
    with_usage = [c for c in chunks if c.get("usage")]
    document = None
    if with_usage:
        document = {"model": with_usage[-1]["model"], "usage": with_usage[-1]["usage"]}
    return Raw("openai", genai_provider, "chat", document)


def _openai_responses(body: bytes) -> Raw:
    document = None
    for event in _sse_data(body):
        response = event.get("response") if isinstance(event, dict) else None
        if isinstance(response, dict) and response.get("usage"):
            document = {"model": response["model"], "usage": response["usage"]}
    return Raw("openai-responses", "openai", "responses", document)


def _anthropic(body: bytes) -> Raw:
    """``message_start``'s usage, then ``message_delta``'s cumulative fields over it (a null
    field keeps the earlier value), as Anthropic documents them."""
    model, usage = None, {}
    for event in _sse_data(body):
        if event.get("type") == "message_start":
            model = event["message"]["model"]
            usage.update(event["message"]["usage"])
        elif event.get("type") == "message_delta":
            usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
    return Raw("anthropic", "anthropic", "default", {"model": model, "usage": usage})


def _gemini(body: bytes) -> Raw:
    """The last chunk's ``usageMetadata`` (cumulative) that has counts."""
    document = None
    for event in _sse_data(body):
        meta = event.get("usageMetadata") or {}
        if any(key.endswith("TokenCount") for key in meta):
            document = {"modelVersion": event["modelVersion"], "usageMetadata": meta}
    return Raw("google", "google", "default", document)


def _ollama(body: bytes) -> Raw:
    last = json.loads(body.decode().splitlines()[-1])
    return Raw("ollama", None, "default", last)


def recordings() -> dict[str, Raw]:
    found = {}
    for path in sorted(WIRE.rglob("*")):
        name = str(path.relative_to(WIRE))
        if not name.endswith((".sse", ".ndjson")):
            continue
        found[name] = raw_usage(name, path.read_bytes())
    return found


def raw_usage(name: str, body: bytes) -> Raw:
    """The raw usage of the recording ``name`` (its path under tests/wire) with ``body``."""
    if name.startswith("openai/chat-"):
        return _openai_chat(body, "openai")
    if name.startswith("openai/responses-"):
        return _openai_responses(body)
    if name.startswith("openai-compatible/"):
        return _openai_chat(body, name.split("/")[1].split("-")[0])
    if name.startswith("anthropic/"):
        return _anthropic(body)
    if name.startswith("gemini/"):
        return _gemini(body)
    assert name.startswith("ollama/"), name
    return _ollama(body)


RECORDINGS = recordings()

#: recordings whose stream llmring stops before the usage arrives: nothing to price
STOPPED_BEFORE_USAGE = {
    # the second choice is refused (tests/test_wire_openai.py) before the final usage chunk
    "openai/chat-gpt-4o-mini-n2-multiple-choices.sse",
}


async def _priced(ring: LLMRing, provider: str) -> tuple[Cost, Any, Any]:
    """Stream ``provider:test-model`` through ``ring``; the stream's cost, terminal usage
    (None when it broke) and request time."""
    stream = ring.chat_stream(user_request(f"{provider}:test-model"))
    usage: Any = None
    try:
        async with stream:
            async for chunk in stream:
                if chunk.is_terminal:
                    usage = chunk.usage
    except Exception:  # noqa: BLE001, S110 - a recorded in-band error: its usage is still priced
        pass
    return stream.cost, usage, stream._run.started_at


def _extract(raw: Raw) -> Any:
    """``genai-prices``' reading of the raw usage; ``None`` for a model it does not know."""
    try:
        extracted = genai_prices.extract_usage(
            raw.document, provider_id=raw.genai_provider, api_flavor=raw.flavor
        )
    except LookupError:
        return None
    return extracted if extracted.model is not None else None


def test_the_corpus_is_all_here() -> None:
    """Every stream recording is priced below (a new one cannot be left out)."""
    providers = {raw.provider for raw in RECORDINGS.values()}
    assert providers == {"openai", "openai-responses", "anthropic", "google", "ollama"}
    assert len(RECORDINGS) == 52  # 42 SSE + 10 NDJSON streams (tests/wire/README.md)


@pytest.mark.parametrize("name", sorted(n for n, r in RECORDINGS.items() if r.genai_provider))
async def test_cost_equals_genai_prices_on_the_raw_usage(
    name: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await check_priced_as_genai(name, RECORDINGS[name], Reply.wire(name), project, monkeypatch)


async def check_priced_as_genai(
    name: str, raw: Raw, reply: Reply, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert raw.genai_provider is not None
    async with provider_ring(
        raw.provider, reply, project, monkeypatch, None, raw.genai_provider
    ) as (
        ring,
        _,
    ):
        cost, usage, when = await _priced(ring, raw.provider)
    if raw.document is None or name in STOPPED_BEFORE_USAGE:
        assert cost == Cost(None, "no_usage")
        return
    extracted = _extract(raw)
    if extracted is None:  # a model the table does not know
        assert cost == Cost(None, "unpriced")
        assert usage is None or "cost" not in usage
        return
    expected = genai_prices.calc_price(
        extracted.usage,
        extracted.model.id,
        provider_id=raw.genai_provider,
        genai_request_timestamp=when,
    )
    assert cost.status == "priced" and cost.source == "genai-prices"
    assert cost.version == genai_prices.__version__
    assert cost.usd == pytest.approx(float(expected.total_price), rel=1e-12, abs=0)
    if usage is not None:  # a complete stream: the terminal chunk carries the same cost
        assert usage["cost"] == cost.usd


def test_most_of_the_corpus_is_priced_by_the_table() -> None:
    """The test above is not vacuous: the table knows the models of most recordings."""
    known = 0
    for raw in RECORDINGS.values():
        if raw.genai_provider and raw.document:
            known += _extract(raw) is not None
    assert known >= 38


OLLAMA = sorted(n for n, r in RECORDINGS.items() if r.provider == "ollama")


@pytest.mark.parametrize("name", OLLAMA)
async def test_ollama_is_unpriced_without_lockfile_prices(
    name: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with provider_ring("ollama", Reply.wire(name), project, monkeypatch) as (ring, _):
        cost, usage, _ = await _priced(ring, "ollama")
    assert cost == Cost(None, "unpriced")
    assert usage is not None and "cost" not in usage


@pytest.mark.parametrize("name", OLLAMA)
async def test_ollama_is_priced_by_the_lockfile(
    name: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = '\n[prices."ollama:test-model"]\ninput = 0.25\noutput = 2.5\n'
    reply = Reply.wire(name)
    async with provider_ring("ollama", reply, project, monkeypatch, tables=prices) as (ring, _):
        cost, usage, _ = await _priced(ring, "ollama")
        digest = ring.lockfile.digest
    done = RECORDINGS[name].document
    assert done is not None
    expected = (done.get("prompt_eval_count", 0) * 0.25 + done["eval_count"] * 2.5) / 1e6
    assert (cost.status, cost.source, cost.version) == ("priced", "lockfile", digest)
    assert cost.usd == pytest.approx(expected)
    assert usage is not None and usage["cost"] == cost.usd


#: recordings with cache counts set, to price every token class through the adapters (the
#: corpus reports no cache hits): recording → (the bytes replaced, what they become)
CACHED = {
    "openai/chat-gpt-4o-mini-text-usage.sse": [(b'"cached_tokens":0', b'"cached_tokens":64')],
    "openai/responses-gpt-5-reasoning-summary.sse": [(b'"cached_tokens":0', b'"cached_tokens":32')],
    "anthropic/claude-sonnet-4-6-text.sse": [
        (
            (
                b'"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":'
                b'{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}'
            ),
            (
                b'"cache_creation_input_tokens":3000,"cache_read_input_tokens":2000,'
                b'"cache_creation":{"ephemeral_5m_input_tokens":2000,"ephemeral_1h_input_tokens":1000}'
            ),
        ),
        (
            b'"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens"',
            b'"cache_creation_input_tokens":3000,"cache_read_input_tokens":2000,"output_tokens"',
        ),
    ],
    "gemini/gemini-2.5-pro-thought-parts.sse": [
        (b'"promptTokenCount": 34,', b'"promptTokenCount": 34,"cachedContentTokenCount": 20,')
    ],
}


@pytest.mark.parametrize("name", sorted(CACHED))
async def test_cache_reads_and_writes_are_priced_as_genai_prices_prices_them(
    name: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = Reply.wire(name)
    body = recorded.body
    for old, new in CACHED[name]:
        assert old in body, old
        body = body.replace(old, new)
    raw = raw_usage(name, body)
    assert raw.document is not None and _extract(raw) is not None
    cached = _extract(raw).usage
    assert cached.cache_read_tokens > 0  # the derived recording does read the cache
    reply = Reply(body, headers=recorded.headers)
    await check_priced_as_genai(name, raw, reply, project, monkeypatch)


@pytest.mark.parametrize(
    "name", ["openai/chat-gpt-5-text-usage.sse", "gemini/gemini-2.5-pro-thought-parts.sse"]
)
async def test_chat_and_chat_stream_cost_the_same(
    name: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = RECORDINGS[name]
    async with provider_ring(
        raw.provider, Reply.wire(name), project, monkeypatch, None, raw.genai_provider
    ) as (ring, _):
        request = user_request(f"{raw.provider}:test-model")
        response = await ring.chat(request)
        async with ring.chat_stream(request) as stream:
            terminal = [chunk async for chunk in stream][-1]
    assert response.usage is not None and response.usage["cost"] > 0
    assert response.usage == terminal.usage == stream.response.usage
