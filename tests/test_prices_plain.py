"""Prices without the price table: a plain install (no ``genai-prices``) prices what the
lockfile prices, leaves everything else unpriced (no ``cost`` key, never 0), and says how to
install the table wherever it is needed (``llmring models``, ``llmring lock verify``).

Runs in the development venv with ``genai_prices`` made to look absent (as
tests/test_plain_install.py hides the SDKs) and, marked ``plain``, in ``.venv-plain`` where it
is absent for real: this module imports nothing beyond llmring, pytest, typer and the stdlib.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring._costs import Cost
from llmring._install import install_hint
from llmring.lockfile._parse import parse_lockfile
from llmring.prices import Prices
from llmring.schemas import Usage
from tests.helpers import run, write_lockfile

pytestmark = pytest.mark.plain

PRICES = """
[prices."mock:chatbot"]
input = 2
output = 10
cache_read = 0.5
"""


@pytest.fixture(autouse=True)
def no_table(monkeypatch: pytest.MonkeyPatch) -> None:
    for loaded in [m for m in sys.modules if m.split(".")[0] == "genai_prices"]:
        monkeypatch.delitem(sys.modules, loaded)
    monkeypatch.setitem(sys.modules, "genai_prices", None)


def request(alias: str = "chatbot") -> LLMRequest:
    return LLMRequest(model=alias, messages=[Message(role="user", content="Count to 10")])


async def test_the_lockfile_prices_a_stream_and_chat_alike(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]}, PRICES)
    async with LLMRing() as ring:
        async with ring.chat_stream(request()) as stream:
            chunks = [chunk async for chunk in stream]
        response = await ring.chat(request())
    usage = chunks[-1].usage
    assert usage is not None and usage["prompt_tokens"] == 3  # "Count to 10"
    expected = (usage["prompt_tokens"] * 2 + usage["completion_tokens"] * 10) / 1e6
    assert usage["cost"] == pytest.approx(expected)
    assert stream.cost == Cost(usage["cost"], "priced", "lockfile", ring.lockfile.digest)
    assert stream.response.usage == usage
    assert response.usage == usage  # chat() and chat_stream() cost the same
    assert not [c for c in chunks[:-1] if c.usage]  # only the terminal chunk carries it


async def test_an_unpriced_model_has_no_cost_key_and_says_so(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]})
    async with LLMRing() as ring:
        async with ring.chat_stream(request()) as stream:
            chunks = [chunk async for chunk in stream]
        response = await ring.chat(request())
    usage = chunks[-1].usage
    assert usage is not None and usage["total_tokens"] > 0 and "cost" not in usage
    assert response.usage is not None and "cost" not in response.usage
    assert stream.cost == Cost(None, "unpriced")


def test_without_the_table_vendor_models_are_unpriced_unless_the_lockfile_prices_them() -> None:
    from llmring._configs import provider_configs

    lockfile = parse_lockfile('[prices."openai:gpt-5-mini"]\ninput = 0.25\noutput = 2\n')
    prices = Prices(lockfile, provider_configs())
    usage: Usage = {"prompt_tokens": 1000, "completion_tokens": 100, "cached_tokens": 400}
    when = datetime(2026, 6, 1, tzinfo=UTC)
    # cache reads default to the input price: (600 + 400) * 0.25 + 100 * 2 per million
    cost = prices.cost("openai", "openai", "gpt-5-mini", usage, when)
    assert cost.usd == pytest.approx(450 / 1e6)
    assert (cost.status, cost.source, cost.version) == ("priced", "lockfile", lockfile.digest)
    assert prices.cost("openai", "openai", "gpt-4o", usage, when) == Cost(None, "unpriced")
    assert prices.cost("openai", "openai", "gpt-4o", None, when) == Cost(None, "no_usage")


def test_models_lists_the_lockfile_and_says_how_to_install_the_table(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]}, PRICES)
    result = run("models", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "model": "mock:chatbot",
            "source": "lockfile",
            "input": 2.0,
            "output": 10.0,
            "cache_read": 0.5,
            "cache_write": 2.0,  # unset: billed as input
        }
    ]
    assert install_hint("prices") in result.stderr


def test_lock_verify_names_the_unpriced_model_and_the_install_command(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["openai:gpt-5-mini"]})
    result = run("lock", "verify")
    assert result.exit_code == 1
    assert result.stdout.startswith("sha256:")
    assert "alias 'chatbot': openai:gpt-5-mini has no price in the lockfile" in result.stderr
    assert install_hint("prices") in result.stderr


def test_chat_prints_the_cost_in_its_summary(project: Path) -> None:
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]}, PRICES)
    result = run("chat", "chatbot", "Count to 10")
    assert result.exit_code == 0, result.stderr
    assert "tokens in=3 " in result.stderr and "| cost $0.0" in result.stderr
    write_lockfile(project / "llmring.lock", {"chatbot": ["mock:chatbot"]})
    assert "cost" not in run("chat", "chatbot", "Count to 10").stderr  # unpriced: no figure
