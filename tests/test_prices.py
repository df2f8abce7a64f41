"""``llmring.prices`` with the price table: which price wins, the request time, long-context
tiers, which endpoint bills as which table provider, and a pricer that fails.

The expected figures are ``genai-prices``' own ``calc_price`` on the same counts (its
``input_tokens`` is the whole prompt, as llmring's ``prompt_tokens`` is), or arithmetic
spelled out for the lockfile's prices.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring._configs import provider_configs
from llmring._costs import Cost
from llmring.lockfile._parse import parse_lockfile
from llmring.prices import Prices
from llmring.schemas import Usage
from tests.helpers import write_lockfile

genai_prices = pytest.importorskip("genai_prices")

JAN, JUN = datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 6, 10, tzinfo=UTC)


def prices(text: str = "") -> Prices:
    lockfile = parse_lockfile(text)
    return Prices(lockfile, provider_configs(lockfile.providers))


def genai(provider: str, model: str, when: datetime, **counts: int) -> float:
    usage = genai_prices.Usage(**counts)
    calculation = genai_prices.calc_price(
        usage, model, provider_id=provider, genai_request_timestamp=when
    )
    return float(calculation.total_price)


def test_the_lockfile_price_wins_over_the_table() -> None:
    usage: Usage = {"prompt_tokens": 1000, "completion_tokens": 500}
    table = prices().cost("openai", "openai", "gpt-4o-mini", usage, JUN)
    expected = genai("openai", "gpt-4o-mini", JUN, input_tokens=1000, output_tokens=500)
    assert table.usd == pytest.approx(expected)
    assert (table.status, table.source) == ("priced", "genai-prices")
    assert table.version == genai_prices.__version__
    override = prices('[prices."openai:gpt-4o-mini"]\ninput = 1\noutput = 2\n')
    cost = override.cost("openai", "openai", "gpt-4o-mini", usage, JUN)
    assert cost.usd == pytest.approx(2000 / 1e6) and cost.source == "lockfile"
    assert cost.version is not None and cost.version.startswith("sha256:")


def test_the_lockfile_prices_the_model_asked_for_or_the_one_that_answered() -> None:
    ring = prices('[prices."openai:gpt-4o"]\ninput = 1\noutput = 1\n')
    usage: Usage = {"prompt_tokens": 10, "completion_tokens": 0}
    dated = ring.cost("openai", "openai", "gpt-4o", usage, JUN, reported_model="gpt-4o-2024-08-06")
    alias = ring.cost("openai", "openai", "my-gpt", usage, JUN, reported_model="gpt-4o")
    assert dated.source == alias.source == "lockfile"


def test_prices_are_those_of_the_request_time() -> None:
    # claude-sonnet-4-6: a long-context tier until 2026-03-13, one flat price after it
    usage: Usage = {"prompt_tokens": 300_000, "completion_tokens": 1000}
    before = prices().cost("anthropic", "anthropic", "claude-sonnet-4-6", usage, JAN)
    after = prices().cost("anthropic", "anthropic", "claude-sonnet-4-6", usage, JUN)
    assert before.usd == pytest.approx(
        genai("anthropic", "claude-sonnet-4-6", JAN, input_tokens=300_000, output_tokens=1000)
    )
    assert after.usd == pytest.approx(
        genai("anthropic", "claude-sonnet-4-6", JUN, input_tokens=300_000, output_tokens=1000)
    )
    assert before.usd is not None and after.usd is not None and before.usd > after.usd


def test_a_long_prompt_is_priced_at_its_tier() -> None:
    def cost(prompt: int) -> float | None:
        usage: Usage = {"prompt_tokens": prompt, "completion_tokens": 0}
        return prices().cost("google", "google", "gemini-3-pro-preview", usage, JUN).usd

    short, long = cost(150_000), cost(250_000)
    assert short == pytest.approx(
        genai("google", "gemini-3-pro-preview", JUN, input_tokens=150_000)
    )
    assert long == pytest.approx(genai("google", "gemini-3-pro-preview", JUN, input_tokens=250_000))
    assert short is not None and long is not None
    assert long / 250_000 == pytest.approx(2 * short / 150_000)  # past 200k: twice the rate


def test_every_token_class_is_billed_at_its_own_rate() -> None:
    usage: Usage = {
        "prompt_tokens": 10_000,
        "completion_tokens": 2_000,
        "cached_tokens": 3_000,
        "cache_creation_tokens": 4_000,
        "cache_creation_1h_tokens": 1_000,
        "reasoning_tokens": 1_500,
        "web_search_requests": 2,
    }
    cost = prices().cost("anthropic", "anthropic", "claude-sonnet-4-5", usage, JUN)
    expected = genai(
        "anthropic",
        "claude-sonnet-4-5",
        JUN,
        input_tokens=10_000,
        cache_read_tokens=3_000,
        cache_write_tokens=4_000,
        cache_write_1h_tokens=1_000,
        output_tokens=2_000,
        output_reasoning_tokens=1_500,
        web_searches=2,
    )
    # spelled out: 3,000 uncached at $3, 3,000 read at $0.30, 3,000 5-minute writes at $3.75,
    # 1,000 one-hour writes at $6, 2,000 out at $15 (thinking included), 2 searches at $10/1000
    spelled = (3000 * 3 + 3000 * 0.3 + 3000 * 3.75 + 1000 * 6 + 2000 * 15) / 1e6 + 2 * 0.01
    assert cost.usd == pytest.approx(expected) == pytest.approx(spelled)


@pytest.mark.parametrize(
    ("table", "billed_as"),
    [
        ("", None),  # ollama at its default endpoint: no table provider bills for it
        (
            '[providers.groq]\ntype = "openai"\nbase_url = "https://api.groq.com/openai/v1"\n',
            "groq",
        ),
        ('[providers.local]\ntype = "openai"\nbase_url = "http://127.0.0.1:8080/v1"\n', None),
        (
            (
                '[providers.local]\ntype = "openai"\nbase_url = "http://127.0.0.1:8080/v1"\n'
                'priced_as = "openai"\n'
            ),
            "openai",
        ),
        ('[providers.openai]\nbase_url = "https://proxy.example/v1"\n', None),
    ],
)
def test_each_endpoint_bills_as_the_table_provider_it_is(table: str, billed_as: str | None) -> None:
    ring = prices(table)
    name = table.partition("[providers.")[2].partition("]")[0] or "ollama"
    assert ring.route(name) == billed_as


def test_the_vendors_own_endpoints_bill_as_the_vendor() -> None:
    ring = prices()
    routes = {name: ring.route(name) for name in ("openai", "openai-responses", "anthropic")}
    assert routes == {"openai": "openai", "openai-responses": "openai", "anthropic": "anthropic"}
    assert (ring.route("google"), ring.route("ollama"), ring.route("mock")) == (
        "google",
        None,
        None,
    )


def test_usage_the_table_cannot_price_is_unpriced_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    usage: Usage = {"prompt_tokens": 10, "completion_tokens": 1, "cached_tokens": 50}
    cost = prices().cost("anthropic", "anthropic", "claude-sonnet-4-5", usage, JUN)
    assert cost == Cost(None, "unpriced")
    assert "genai-prices cannot price" in caplog.text


class Recorder:
    """A pricer that records what it was asked, or fails."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[Any, ...]] = []

    def cost(
        self,
        provider_type: str,
        provider: str,
        model: str,
        usage: Usage | None,
        when: datetime,
        *,
        reported_model: str | None = None,
    ) -> Cost:
        self.calls.append((provider_type, provider, model, usage, when, reported_model))
        if self.fail:
            raise RuntimeError("the price table is broken")
        return Cost(0.5, "priced", "test")


def request() -> LLMRequest:
    return LLMRequest(model="chatbot", messages=[Message(role="user", content="hi")])


async def test_a_stream_is_priced_once_at_its_start_time(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]})
    async with LLMRing() as ring:
        ring._pricer = recorder = Recorder()
        async with ring.chat_stream(request()) as stream:
            chunks = [chunk async for chunk in stream]
        assert stream.cost == Cost(0.5, "priced", "test")  # no second look-up
    [(kind, provider, model, usage, when, reported)] = recorder.calls
    assert (kind, provider, model, reported) == ("mock", "mock", "chatbot", "chatbot")
    assert when == stream._run.started_at and usage == {
        k: v for k, v in (chunks[-1].usage or {}).items() if k != "cost"
    }
    assert chunks[-1].usage is not None and chunks[-1].usage["cost"] == 0.5


async def test_a_failing_pricer_leaves_the_call_unpriced_and_the_stream_whole(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]})
    async with LLMRing() as ring:
        ring._pricer = Recorder(fail=True)
        response = await ring.chat(request())
    assert response.content and response.usage is not None and "cost" not in response.usage
    assert "the pricer failed" in caplog.text
