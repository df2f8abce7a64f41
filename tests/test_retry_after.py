"""``retry_after`` is only ever a finite, non-negative number of seconds, or ``None``.

RFC 9110 (section 10.2.3) allows ``Retry-After: <delay-seconds>`` (digits only) or an
HTTP-date; the non-standard ``retry-after-ms`` (OpenAI, Anthropic) is a plain decimal number.
Anything else (``inf``, ``nan``, ``1e400``, ``-1000``...) would give ``asyncio.sleep`` a delay
that never ends, and is ``None``.
"""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import pytest

from llmring import LLMRequest, LLMRing
from llmring.exceptions import ProviderRateLimitError
from llmring.providers._errors import parse_retry_after
from tests.hostile import TARGETS, error_body, target_ring
from tests.loopback import Reply
from tests.wire_harness import run_stream

TABLE: list[tuple[dict[str, str] | None, float | None]] = [
    (None, None),
    ({}, None),
    ({"retry-after": "7"}, 7.0),
    ({"Retry-After": "7"}, 7.0),
    ({"retry-after": "0"}, 0.0),
    ({"retry-after": " 12 "}, 12.0),
    ({"retry-after": "007"}, 7.0),
    ({"retry-after": "1.5"}, None),  # delay-seconds is an integer
    ({"retry-after": "inf"}, None),
    ({"retry-after": "Infinity"}, None),
    ({"retry-after": "nan"}, None),
    ({"retry-after": "1e400"}, None),
    ({"retry-after": "1e3"}, None),
    ({"retry-after": "-1000"}, None),
    ({"retry-after": "-0"}, None),
    ({"retry-after": "+5"}, None),
    ({"retry-after": "1_000"}, None),
    ({"retry-after": "\u0663"}, None),  # ARABIC-INDIC DIGIT THREE: int() takes it, HTTP does not
    ({"retry-after": "9" * 400}, None),  # no float holds it
    ({"retry-after": ""}, None),
    ({"retry-after": "soon"}, None),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # a date past: now
    ({"retry-after": "Wed, 21 Oct 99999 07:28:00 GMT"}, None),
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after-ms": "1.5"}, 0.0015),
    ({"retry-after-ms": "nan"}, None),
    ({"retry-after-ms": "inf"}, None),
    ({"retry-after-ms": "1e400"}, None),
    ({"retry-after-ms": "-1000"}, None),
    ({"retry-after-ms": "9" * 400}, None),
    ({"retry-after-ms": "nan", "retry-after": "3"}, 3.0),  # a junk ms value does not hide it
    ({"retry-after-ms": "250", "retry-after": "3"}, 0.25),  # the finer one wins
]


@pytest.mark.parametrize(("headers", "expected"), TABLE)
def test_parse_retry_after(headers: dict[str, str] | None, expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_an_http_date_ahead_gives_the_seconds_until_then() -> None:
    date = email.utils.formatdate(time.time() + 3600, usegmt=True)
    seconds = parse_retry_after({"retry-after": date})
    assert seconds is not None and 3500 < seconds <= 3600


JUNK = [
    {"retry-after": "inf", "retry-after-ms": "nan"},
    {"retry-after": "1e400"},
    {"retry-after": "-1000"},
    {"retry-after-ms": "-1000"},
    {"retry-after": "nan"},
]


@pytest.mark.parametrize("headers", JUNK, ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()))
@pytest.mark.parametrize("name", ["openai", "openai-responses", "anthropic", "google", "ollama"])
async def test_junk_retry_after_through_the_real_sdk_is_none(
    name: str, headers: dict[str, str], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = TARGETS[name]
    async with target_ring(target, project, monkeypatch) as (ring, server):
        server.reply = Reply.error(429, error_body(target, 429, "slow down"), headers)
        error = await _rate_limited(ring, target.request())
    assert error.retry_after is None


@pytest.mark.parametrize(
    ("delay", "expected"),
    [
        ("37s", 37.0),
        ("1.5s", 1.5),
        ("0.000001s", 0.000001),
        ("infs", None),
        ("nans", None),
        ("1e400s", None),
        ("-5s", None),
        ("5", None),
        (37, None),
    ],
)
async def test_gemini_retry_info_delay(
    delay: object, expected: float | None, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = TARGETS["google"]
    body = error_body(target, 429, "quota exceeded")
    body["error"]["details"] = [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
    ]
    async with target_ring(target, project, monkeypatch) as (ring, server):
        server.reply = Reply.error(429, body)
        error = await _rate_limited(ring, target.request())
    assert error.retry_after == (pytest.approx(expected) if expected is not None else None)


async def _rate_limited(ring: LLMRing, request: LLMRequest) -> ProviderRateLimitError:
    outcome = await run_stream(ring, request)
    assert isinstance(outcome.error, ProviderRateLimitError), outcome.error
    return outcome.error
