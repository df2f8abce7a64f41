"""No key in anything llmring raises, on every error path, for every provider.

Each test sets a unique sentinel as the key, and the loopback server echoes the credential
headers it received back in the error body (as OpenAI's real 401 does: "Incorrect API key
provided: sk-...") and in a response header. The sentinel must then appear nowhere: not in
the error's ``str``/``repr``, not in its traceback text or what ``logger.exception`` writes,
and not anywhere along its ``__cause__``/``__context__`` chain (each link's message, args,
notes and attributes), nor in the errors of the models tried before (``attempts``,
``stream.failed_attempts``).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import pickle
import traceback
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator
from pathlib import Path

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring._adapters import AdapterPool
from llmring._chain import ScrubbedCause, stand_in
from llmring._stream import ChatStream
from llmring.exceptions import ProviderError, ProviderResponseError, StreamInterruptedError
from llmring.providers.base import ProviderAdapter, ProviderConfig, StreamEvent, TextDelta
from llmring.resolver import Candidate
from tests.hostile import TARGETS, Target, credentials, error_body, json_text, target_ring
from tests.loopback import RecordedRequest, Reply

STATUSES = (401, 429, 400, 503)


def chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and every exception reachable through ``__cause__`` and ``__context__``."""
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        link = todo.pop()
        if any(link is s for s in seen):
            continue
        seen.append(link)
        yield link
        todo += [e for e in (link.__cause__, link.__context__) if e is not None]


def texts(error: BaseException) -> Iterator[str]:
    """Everything a log, a traceback or an error reporter could print about ``error``."""
    yield "".join(traceback.format_exception(error))
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    log = logging.getLogger("tests.hostile.reporter")
    log.addHandler(handler)
    try:
        log.exception("the call failed", exc_info=error)
    finally:
        log.removeHandler(handler)
    yield buffer.getvalue()
    for link in chain(error):
        yield str(link)
        yield repr(link)
        yield repr(link.args)
        yield repr(getattr(link, "__notes__", None))
        yield repr(vars(link))


def assert_no_key(key: str, errors: list[BaseException], logged: str) -> None:
    assert errors and all(isinstance(e, Exception) for e in errors)
    for error in errors:
        assert len(list(chain(error))) >= 1
        for text in texts(error):
            assert key not in text, text
    assert key not in logged


async def failures(
    target: Target,
    reply: Callable[[RecordedRequest], Reply],
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    *,
    fallback: bool = False,
) -> tuple[str, list[BaseException]]:
    """Run one stream against a server answering with ``reply``; return the sentinel key and
    every error the stream produced (the raised one, then those of earlier candidates)."""
    key = f"sentinel{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG, logger="llmring")
    models = [f"{target.name}:first-model", f"{target.name}:second-model"]
    async with target_ring(target, project, monkeypatch, key=key, bindings={"pair": models}) as (
        ring,
        server,
    ):
        server.routes[""] = reply
        request = (
            LLMRequest(model="pair", messages=[Message(role="user", content="hello")])
            if fallback
            else target.request()
        )
        error, earlier = await _consume(ring, request)
    # the key really went out, and the server really echoed it
    assert server.requests and all(key in credentials(r) for r in server.requests)
    assert len(server.requests) == (2 if fallback else 1)
    return key, [error, *earlier]


async def _consume(ring: LLMRing, request: LLMRequest) -> tuple[BaseException, list[BaseException]]:
    return await _consume_stream(ring.chat_stream(request))


async def _consume_stream(stream: ChatStream) -> tuple[BaseException, list[BaseException]]:
    try:
        async with stream:
            async for _ in stream:
                pass
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        return exc, [e for _, e in stream.failed_attempts]
    raise AssertionError("the stream succeeded")


def _echo_status(target: Target, status: int) -> Callable[[RecordedRequest], Reply]:
    def reply(request: RecordedRequest) -> Reply:
        echoed = credentials(request)
        body = error_body(target, status, f"Incorrect API key provided: {echoed}")
        return Reply.error(status, body, {"x-echo": echoed, "retry-after": "1"})

    return reply


#: each status with one model, and a 503 on an alias of two models (so one fell back)
HTTP_CASES = [(status, False) for status in STATUSES] + [(503, True)]


@pytest.mark.parametrize(("status", "fallback"), HTTP_CASES)
@pytest.mark.parametrize("name", sorted(TARGETS))
async def test_an_echoed_key_is_nowhere_in_an_http_error(
    name: str,
    status: int,
    fallback: bool,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = TARGETS[name]
    key, errors = await failures(
        target, _echo_status(target, status), project, monkeypatch, caplog, fallback=fallback
    )
    error = errors[0]
    assert isinstance(error, ProviderError) and error.status_code == status
    assert "Incorrect API key provided: " in str(error) and "***" in str(error)
    assert len(error.attempts) == len(errors) - 1 == (1 if fallback else 0)
    assert_no_key(key, errors, caplog.text)


@pytest.mark.parametrize("name", sorted(TARGETS))
async def test_an_echoed_key_is_nowhere_in_an_inband_error(
    name: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = TARGETS[name]
    contract = target.contract

    def reply(request: RecordedRequest) -> Reply:
        echoed = credentials(request)
        body = contract.inband_error_body.replace(
            contract.inband_message.encode(), json_text(f"{contract.inband_message} {echoed}")
        )
        return Reply(body, headers={"content-type": contract.content_type, "x-echo": echoed})

    key, errors = await failures(target, reply, project, monkeypatch, caplog)
    error = errors[0]
    assert isinstance(error, StreamInterruptedError)
    assert error.partial_response == contract.inband_partial
    assert f"{contract.inband_message} " in str(error.__cause__) and "***" in str(error.__cause__)
    assert_no_key(key, errors, caplog.text)


@pytest.mark.parametrize("name", sorted(TARGETS))
async def test_an_echoed_key_is_nowhere_when_the_stream_is_cut(
    name: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = TARGETS[name]
    recorded = Reply.wire(target.contract.text_wire)

    def reply(request: RecordedRequest) -> Reply:
        headers = {**recorded.headers, "x-echo": credentials(request)}
        return dataclasses.replace(recorded, headers=headers, cut_after=len(recorded.body) * 2 // 3)

    key, errors = await failures(target, reply, project, monkeypatch, caplog)
    error = errors[0]
    assert isinstance(error, StreamInterruptedError) and error.partial_response
    assert_no_key(key, errors, caplog.text)


# -- the safety net of the facade's candidate loop, for any adapter (the mock, third parties) --


class LeakyAdapter(ProviderAdapter):
    """Yields ``text``, then fails the way a hand-written adapter might: a foreign exception
    carrying the key in its message, its notes and its context, unmapped or wrapped by hand."""

    def __init__(self, key: str, text: str, wrap: bool) -> None:
        super().__init__(ProviderConfig("leaky", "leaky"))
        self.key, self.text, self.wrap = key, text, wrap

    async def stream(self, request: LLMRequest, model: str) -> AsyncGenerator[StreamEvent, None]:
        yield TextDelta(self.text)
        try:
            raise KeyError(f"header x-api-key={self.key}")
        except KeyError:
            failure = RuntimeError(f"request failed: Bearer {self.key}")
            failure.add_note(f"while sending {self.key}")
            if not self.wrap:
                raise failure from None
            try:
                raise failure
            except RuntimeError as exc:
                raise ProviderResponseError("the endpoint failed", provider="leaky") from exc


@pytest.mark.parametrize(("text", "wrap"), [("Hello", False), ("Hello", True), ("", True)])
async def test_the_candidate_loop_scrubs_what_any_adapter_raises(
    text: str, wrap: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"sentinel{uuid.uuid4().hex}"
    monkeypatch.setenv("LEAKY_API_KEY", key)
    adapter = LeakyAdapter(key, text, wrap)
    request = LLMRequest(model="leaky:m", messages=[Message(role="user", content="hi")])
    candidates = [Candidate("leaky", "m", config=adapter.config)]
    stream = ChatStream(request, candidates, AdapterPool(lambda _: adapter))
    error, _ = await _consume_stream(stream)
    if text:  # after content: interrupted, the foreign failure as a scrubbed cause
        assert isinstance(error, StreamInterruptedError) and error.partial_response == "Hello"
    else:
        assert isinstance(error, ProviderResponseError)
    names = [getattr(link, "type_name", type(link).__name__) for link in chain(error)]
    assert "RuntimeError" in names  # the type of the original failure is still told
    assert_no_key(key, [error], "")


def test_a_stand_in_keeps_type_status_and_redacted_notes(monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"sentinel{uuid.uuid4().hex}"
    monkeypatch.setenv("SOME_SERVICE_TOKEN", key)

    class StatusError(Exception):
        status_code = 503

    foreign = StatusError(f"upstream said {key}")
    foreign.add_note(f"note with {key}")
    foreign.__context__ = ValueError(f"earlier {key}")
    foreign.__context__.__context__ = foreign  # a cycle, as a careless hand-made chain can have
    copy = stand_in(foreign)
    assert isinstance(copy, ScrubbedCause) and copy.status_code == 503
    assert copy.type_name.endswith("StatusError") and str(copy).endswith("upstream said ***")
    assert copy.__notes__ == ["note with ***"]
    assert_no_key(key, [copy], "")
    assert pickle.loads(pickle.dumps(copy)).type_name == copy.type_name
