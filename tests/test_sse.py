"""llmring.sse: bot replies as SSE event dicts, chat streams as OpenAI frames, over real HTTP.

The HTTP tests serve the example app (``examples.fastapi_chat``) or a small OpenAI-compatible
app with a real uvicorn on 127.0.0.1, and read it with httpx plus llmring's own SSE decoder, or
with the official openai SDK.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any, cast

import httpx
import openai
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from sse_starlette import EventSourceResponse

from examples.fastapi_chat import create_app
from llmring import LLMRequest, LLMRing, Message, StreamChunk
from llmring.bots import AsyncQueryBot, AsyncSimpleBot, HumanMessage
from llmring.providers._framing import ServerSentEvent, SSEDecoder
from llmring.providers.mock import MockStreamRecord, ledger
from llmring.schemas import Usage
from llmring.sse import INTERNAL_ERROR, openai_frames, openai_usage, sse_stream
from tests.asgi_server import serve

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        },
    },
}


@pytest.fixture
async def ring() -> AsyncIterator[LLMRing]:
    async with LLMRing() as ring:
        yield ring


def bot(ring: LLMRing, model: str) -> AsyncSimpleBot:
    return AsyncSimpleBot(model_name=model, ring=ring)


async def events(stream: AsyncIterator[dict[str, str]]) -> list[dict[str, str]]:
    return [event async for event in stream]


class FakeBot:
    """A bot replying with fixed deltas, then raising ``error`` (if any); records closing."""

    def __init__(self, deltas: list[str], error: BaseException | None = None) -> None:
        self.deltas, self.error = deltas, error
        self.closed = False
        self.received: list[tuple[tuple[Any, ...], dict[str, Any]]] = []  # one per stream

    async def stream_async(self, *messages: Any, **options: Any) -> AsyncIterator[str]:
        self.received.append((messages, options))
        try:
            for delta in self.deltas:
                yield delta
            if self.error is not None:
                raise self.error
        finally:
            self.closed = True


# -- sse_stream -----------------------------------------------------------------------------------


async def test_one_event_per_delta_then_done_with_empty_data(ring: LLMRing) -> None:
    assert await events(sse_stream(bot(ring, "mock:echo"), "one two three")) == [
        {"event": "message", "data": "one"},
        {"event": "message", "data": " two"},
        {"event": "message", "data": " three"},
        {"event": "done", "data": ""},
    ]
    assert ledger.last.chunks_sent == 3 and ledger.last.closed


async def test_event_names_and_request_options_are_the_callers(ring: LLMRing) -> None:
    stream = sse_stream(
        bot(ring, "mock:echo"),
        ["one two three"],
        event_type="delta",
        done_event="end",
        max_tokens=2,
    )
    assert await events(stream) == [
        {"event": "delta", "data": "one"},
        {"event": "delta", "data": " two"},
        {"event": "end", "data": ""},
    ]
    request = ledger.last.request
    assert request is not None and request.max_tokens == 2


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("mock:x?fail=server", "mock: internal server error"),
        ("mock:x?fail=rate_limit", "mock rate limit: slow down"),
    ],
)
async def test_an_error_before_content_is_one_error_event(
    ring: LLMRing, model: str, message: str
) -> None:
    assert await events(sse_stream(bot(ring, model), "hi")) == [{"event": "error", "data": message}]


async def test_an_error_after_content_is_one_error_event_and_no_done(ring: LLMRing) -> None:
    stream = sse_stream(
        bot(ring, "mock:echo?fail=server&fail_after=2"), "one two three", error_event="failure"
    )
    assert await events(stream) == [
        {"event": "message", "data": "one"},
        {"event": "message", "data": " two"},
        {
            "event": "failure",
            "data": "mock:echo: the stream broke after content was delivered "
            "(mock: internal server error); partial_response holds "
            "the 7 characters received",
        },
    ]
    assert ledger.last.closed and ledger.last.chunks_sent == 2


async def test_an_error_message_is_scrubbed_of_keys(
    ring: LLMRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefghij")
    bot = AsyncSimpleBot(model_name="openai:gpt-5-mini", ring=ring)
    sent = await events(sse_stream(bot, "hi"))
    assert len(sent) == 1 and sent[0]["event"] == "error"
    assert "0123456789abcdefghij" not in sent[0]["data"]


async def test_other_exceptions_reach_the_client_as_a_fixed_sentence_and_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeBot(["partial"], RuntimeError("db password=hunter2 at /srv/app.py"))
    with caplog.at_level(logging.ERROR, logger="llmring.sse"):
        sent = await events(sse_stream(fake, "hi"))
    assert sent == [
        {"event": "message", "data": "partial"},
        {"event": "error", "data": INTERNAL_ERROR},
    ]
    assert INTERNAL_ERROR == "internal error while generating the reply"
    [record] = caplog.records
    assert (
        record.exc_info is not None
        and str(record.exc_info[1]) == "db password=hunter2 at /srv/app.py"
    )
    assert fake.closed


async def test_cancellation_is_never_turned_into_an_error_event() -> None:
    fake = FakeBot(["a"], asyncio.CancelledError())
    stream = sse_stream(fake, "hi")
    assert await anext(stream) == {"event": "message", "data": "a"}
    with pytest.raises(asyncio.CancelledError):
        await anext(stream)
    assert fake.closed


async def test_closing_the_events_closes_the_bots_stream_at_once(ring: LLMRing) -> None:
    stream = sse_stream(bot(ring, "mock:echo?delay=0.01"), "one two three")
    assert await anext(stream) == {"event": "message", "data": "one"}
    await stream.aclose()  # what EventSourceResponse does when a send fails
    assert ledger.last.closed and ledger.last.chunks_sent == 1


async def test_a_list_is_unpacked_into_the_bots_arguments_and_options_go_as_given() -> None:
    # LlamaBot's contract: stream_async(*messages); a single string or message is one argument
    fake = FakeBot(["x"])
    one = HumanMessage(content="hi")
    await events(sse_stream(fake, ["a", "b"], temperature=0.5))
    await events(sse_stream(fake, ("t",)))
    await events(sse_stream(fake, "hi"))
    await events(sse_stream(fake, one))
    assert fake.received == [
        (("a", "b"), {"temperature": 0.5}),
        (("t",), {}),
        (("hi",), {}),
        ((one,), {}),
    ]


class OneDocument:
    def retrieve(self, query: str, n_results: int = 10) -> list[str]:
        return ["Aliases choose the models."]


async def test_a_query_bot_behind_sse_stream_gets_its_query(ring: LLMRing) -> None:
    bot = AsyncQueryBot(
        "Answer from the documents.",
        OneDocument(),
        mock_response="Aliases.",
        ring=ring,
        stream_target="none",
    )
    assert await events(sse_stream(bot, ["How are models chosen?"])) == [
        {"event": "message", "data": "Aliases."},
        {"event": "done", "data": ""},
    ]
    request = ledger.last.request
    assert request is not None and request.messages[-1].text.endswith(
        "Query: How are models chosen?"
    )
    assert "Aliases choose the models." in request.messages[-1].text


async def test_the_seeds_sse_call_with_a_simple_bot() -> None:
    bot = AsyncSimpleBot(
        system_prompt="Test", model_name="gpt-4o-mini", mock_response="ab", stream_target="none"
    )
    sent = await events(sse_stream(bot, ["x"]))
    assert sent[-1] == {"event": "done", "data": ""}
    assert "".join(e["data"] for e in sent if e["event"] == "message") == "ab"


async def test_carriage_returns_become_line_feeds_even_when_a_crlf_is_split() -> None:
    # SSE ends a data line at CR, LF or CRLF and the client joins lines with LF: a CR cannot
    # be carried, and a CRLF cut between two deltas must not become two line breaks.
    deltas = ["a\r", "\nb", "c\r\nd", "e\rf", "\r", "\n", "\n", "g\r", "h"]
    sent = await events(sse_stream(FakeBot(deltas), "hi"))
    assert sent == [
        {"event": "message", "data": d}
        for d in ["a\n", "b", "c\nd", "e\nf", "\n", "\n", "g\n", "h"]
    ] + [{"event": "done", "data": ""}]
    assert "".join(e["data"] for e in sent) == "a\r\nbc\r\nde\rf\r\n\ng\rh".replace(
        "\r\n", "\n"
    ).replace("\r", "\n")


def test_importing_llmring_sse_imports_no_web_framework() -> None:
    code = "import llmring.sse, sys; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "llmring.sse" in loaded
    assert [m for m in loaded if m.split(".")[0] in {"fastapi", "starlette", "sse_starlette"}] == []


# -- over HTTP: EventSourceResponse served by uvicorn ---------------------------------------


@pytest.fixture
def chat_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """examples.fastapi_chat served with a bot on the model named by the test's parameter."""
    with serve(create_app(AsyncSimpleBot(model_name=request.param))) as url:
        yield url


async def post_chat(url: str, text: str) -> tuple[list[ServerSentEvent], bytes]:
    """POST one user message to /chat; the events (decoded by llmring's SSE decoder) and body."""
    async with (
        httpx.AsyncClient() as client,
        client.stream(
            "POST", f"{url}/chat", json={"messages": [{"role": "user", "content": text}]}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        body = b"".join([piece async for piece in response.aiter_raw()])
    decoder = SSEDecoder()
    return decoder.feed(body) + decoder.finish(), body


async def test_the_example_takes_user_and_assistant_turns_only() -> None:
    app = create_app(AsyncSimpleBot(model_name="mock:echo"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        for messages in ([], [{"role": "system", "content": "obey me"}]):
            response = await client.post("/chat", json={"messages": messages})
            assert response.status_code == 422
        assert (await client.get("/model")).json() == {"model": "mock:echo"}
    assert ledger.records == []


MULTILINE = "first line\nsecond\r\nthird\rfourth\n\n  indented\n"


@pytest.mark.parametrize("chat_server", ["mock:echo?chunk_size=3"], indirect=True)
async def test_multi_line_data_survives_the_trip_through_sse_starlette(chat_server: str) -> None:
    received, body = await post_chat(chat_server, MULTILINE)
    text = "".join(e.data for e in received if e.event == "message")
    assert text == "first line\nsecond\nthird\nfourth\n\n  indented\n"
    assert [(e.event, e.data) for e in received][-1] == ("done", "")
    # 3-character chunks: the CRLF of "second" is cut between "nd\r" and "\nth" (one line
    # break, not two); a delta with line breaks travels as several data: lines
    assert [e.data for e in received if e.event == "message"] == [
        "fir",
        "st ",
        "lin",
        "e\ns",
        "eco",
        "nd\n",
        "th",
        "ird",
        "\nfo",
        "urt",
        "h\n\n",
        "  i",
        "nde",
        "nte",
        "d\n",
    ]
    assert b"event: message\r\ndata: nd\r\ndata: \r\n\r\n" in body
    assert b"event: message\r\ndata: h\r\ndata: \r\ndata: \r\n\r\n" in body


@pytest.mark.parametrize("chat_server", ["mock:x?fail=server"], indirect=True)
async def test_an_error_event_over_http(chat_server: str) -> None:
    received, _ = await post_chat(chat_server, "hi")
    assert [(e.event, e.data) for e in received] == [("error", "mock: internal server error")]


@pytest.mark.parametrize("chat_server", ["mock:echo?delay=0.05"], indirect=True)
async def test_a_client_that_hangs_up_closes_the_provider_stream(chat_server: str) -> None:
    words = " ".join(f"w{i}" for i in range(40))  # 40 chunks, 2 s at 0.05 s each
    async with httpx.AsyncClient() as client:
        async with client.stream(
            "POST", f"{chat_server}/chat", json={"messages": [{"role": "user", "content": words}]}
        ) as response:
            async with aclosing(aiter_sse(response.aiter_raw())) as received:
                first = await anext(received)
            assert (first.event, first.data) == ("message", "w0")
        hung_up = time.monotonic()  # leaving the block closed the connection mid-body
    record = await wait_closed(ledger.records, timeout=1.0)
    assert time.monotonic() - hung_up < 1.0
    # (the mock marks `completed` only after its end marker, which the facade never pulls
    # past, so `chunks_sent` is what proves the stream stopped early)
    assert record.closed and not record.completed
    assert 1 <= record.chunks_sent < 40


async def aiter_sse(chunks: AsyncIterator[bytes]) -> AsyncGenerator[ServerSentEvent, None]:
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event


async def wait_closed(records: list[MockStreamRecord], timeout: float) -> MockStreamRecord:
    deadline = time.monotonic() + timeout
    while not (records and records[-1].closed) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert len(records) == 1
    return records[0]


# -- openai_frames --------------------------------------------------------------------------

HEAD = '"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"echo"'


def frame(delta: str, finish: str = "null") -> bytes:
    return (
        f'data: {{{HEAD},"choices":[{{"index":0,"delta":{delta},"logprobs":null,'
        f'"finish_reason":{finish}}}]}}\n\n'
    ).encode()


async def frames(ring: LLMRing, request: LLMRequest, **options: Any) -> list[bytes]:
    stream = openai_frames(
        ring.chat_stream(request), completion_id="chatcmpl-1", created=7, **options
    )
    return [f async for f in stream]


def ask(model: str, text: str = "hi there", **fields: Any) -> LLMRequest:
    return LLMRequest(model=model, messages=[Message(role="user", content=text)], **fields)


async def test_openai_frames_of_a_text_reply_with_reasoning(ring: LLMRing) -> None:
    assert await frames(ring, ask("mock:echo?reasoning=think+hard")) == [
        frame('{"role":"assistant","content":""}'),
        frame('{"reasoning_content":"think"}'),
        frame('{"reasoning_content":" hard"}'),
        frame('{"content":"hi"}'),
        frame('{"content":" there"}'),
        frame("{}", '"stop"'),
        f'data: {{{HEAD},"choices":[],"usage":{{"prompt_tokens":2,"completion_tokens":4,'
        '"total_tokens":6}}\n\n'.encode(),
        b"data: [DONE]\n\n",
    ]


async def test_openai_frames_of_a_tool_call_carry_the_id_and_name_on_the_first_fragment(
    ring: LLMRing,
) -> None:
    sent = await frames(ring, ask("mock:echo", tools=[WEATHER_TOOL]), include_usage=False)
    assert sent[0] == frame('{"role":"assistant","content":""}')
    assert sent[-2:] == [frame("{}", '"tool_calls"'), b"data: [DONE]\n\n"]
    deltas = [json.loads(f.removeprefix(b"data: "))["choices"][0]["delta"] for f in sent[1:-2]]
    assert deltas == [
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_mock_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":'},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": ' "mock",'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": ' "days":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]},
    ]


async def test_openai_frames_model_can_be_named_and_usage_left_out(ring: LLMRing) -> None:
    sent = await frames(ring, ask("mock:echo", "hi"), model="my-alias", include_usage=False)
    assert [json.loads(f[6:])["model"] for f in sent[:-1]] == ["my-alias"] * 3
    assert [json.loads(f[6:])["choices"][0]["delta"] for f in sent[:-1]] == [
        {"role": "assistant", "content": ""},
        {"content": "hi"},
        {},
    ]
    assert sent[-1] == b"data: [DONE]\n\n"


def test_usage_takes_openais_shape_and_keeps_unknown_fields() -> None:
    usage: Usage = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cached_tokens": 4,
        "reasoning_tokens": 2,
        "cache_creation_tokens": 3,
    }
    assert openai_usage(usage) == {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cache_creation_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    assert openai_usage({"prompt_tokens": 1}) == {"prompt_tokens": 1}


async def test_openai_frames_end_in_one_error_frame_and_no_done(ring: LLMRing) -> None:
    assert await frames(ring, ask("mock:x?fail=rate_limit")) == [
        b'data: {"error":{"message":"mock rate limit: slow down",'
        + b'"type":"ProviderRateLimitError","code":429}}\n\n'
    ]
    sent = await frames(ring, ask("mock:echo?fail=server&fail_after=1"))
    assert sent == [
        frame('{"role":"assistant","content":""}'),
        frame('{"content":"hi"}'),
        (
            b'data: {"error":{"message":"mock:echo: the stream broke after content was delivered '
            b'(mock: internal server error); partial_response holds the 2 characters received",'
            b'"type":"StreamInterruptedError","code":null}}\n\n'
        ),
    ]


async def test_a_chunk_stream_without_a_terminal_chunk_is_an_error() -> None:
    async def cut() -> AsyncIterator[StreamChunk]:
        yield StreamChunk(delta="hi", model="m")

    head = b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
    assert [f async for f in openai_frames(cut(), completion_id="c", created=1)] == [
        head
        + b'[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,'
        + b'"finish_reason":null}]}\n\n',
        head + b'[{"index":0,"delta":{"content":"hi"},"logprobs":null,"finish_reason":null}]}\n\n',
        b'data: {"error":{"message":"internal error while generating the reply",'
        + b'"type":"server_error","code":null}}\n\n',
    ]


async def test_openai_frames_default_to_a_fresh_id_and_the_current_time(ring: LLMRing) -> None:
    async def heads() -> set[tuple[str, int]]:
        sent = [f async for f in openai_frames(ring.chat_stream(ask("mock:echo")))]
        assert sent[-1] == b"data: [DONE]\n\n"
        return {(json.loads(f[6:])["id"], json.loads(f[6:])["created"]) for f in sent[:-1]}

    before = int(time.time())
    [(first_id, created)] = await heads()
    [(second_id, _)] = await heads()
    assert first_id.startswith("chatcmpl-") and len(first_id) == 41 and first_id != second_id
    assert before <= created <= int(time.time())


async def test_closing_the_frames_closes_the_chat_stream(ring: LLMRing) -> None:
    stream = openai_frames(ring.chat_stream(ask("mock:echo?delay=0.01", "a b c d")))
    await anext(stream)
    await stream.aclose()
    assert ledger.last.closed and ledger.last.chunks_sent == 1


# -- the openai SDK reading openai_frames from uvicorn --------------------------------------------


def openai_compatible_app(ring: LLMRing, with_sse_starlette: bool) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(http: Request) -> Response:
        body = await http.json()
        request = LLMRequest(
            model=body["model"], messages=body["messages"], tools=body.get("tools")
        )
        frames = openai_frames(ring.chat_stream(request), model=body["model"])
        if with_sse_starlette:
            return EventSourceResponse(frames)  # bytes go out as they are, plus ": ping"s
        return StreamingResponse(frames, media_type="text/event-stream")

    return app


@pytest.fixture(params=[False, True], ids=["StreamingResponse", "EventSourceResponse"])
def openai_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An OpenAI-compatible endpoint serving openai_frames through either response class."""
    with serve(openai_compatible_app(LLMRing(), request.param)) as url:
        yield f"{url}/v1"


async def test_the_openai_sdk_reassembles_text_finish_and_usage(openai_url: str) -> None:
    text = "héllo wörld\u2028next\nline, 日本語"
    async with openai.AsyncOpenAI(base_url=openai_url, api_key="test", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="mock:echo?chunk_size=4",
            messages=[{"role": "user", "content": text}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {c.model for c in chunks} == {"mock:echo?chunk_size=4"}
    usage = chunks[-1].usage
    assert chunks[-1].choices == [] and usage is not None
    # the mock counts words and punctuation: héllo wörld next line , 日本語
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (6, 6, 12)


async def test_the_openai_sdk_reassembles_a_tool_call(openai_url: str) -> None:
    async with openai.AsyncOpenAI(base_url=openai_url, api_key="test", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="mock:echo",
            messages=[{"role": "user", "content": "weather?"}],
            tools=cast(Any, [WEATHER_TOOL]),
            stream=True,
        )
        calls: dict[int, dict[str, str]] = {}
        finish = None
        async for chunk in stream:
            for choice in chunk.choices:
                finish = choice.finish_reason or finish
                for fragment in choice.delta.tool_calls or []:
                    call = calls.setdefault(fragment.index, {"id": "", "name": "", "arguments": ""})
                    call["id"] += fragment.id or ""
                    if fragment.function is not None:
                        call["name"] += fragment.function.name or ""
                        call["arguments"] += fragment.function.arguments or ""
    assert calls == {
        0: {"id": "call_mock_0", "name": "get_weather", "arguments": '{"city": "mock", "days": 1}'}
    }
    assert finish == "tool_calls"


async def test_the_openai_sdk_raises_the_error_frame(openai_url: str) -> None:
    async with openai.AsyncOpenAI(base_url=openai_url, api_key="test", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="mock:echo?fail=server&fail_after=1",
            messages=[{"role": "user", "content": "one two"}],
            stream=True,
        )
        received = []
        with pytest.raises(openai.APIError) as caught:
            async for chunk in stream:
                received.append(chunk.choices[0].delta.content)
    assert received == ["", "one"]
    assert caught.value.message == (
        "mock:echo: the stream broke after content was delivered (mock: internal server "
        "error); partial_response holds the 3 characters received"
    )


async def test_an_openai_client_that_hangs_up_closes_the_provider_stream(openai_url: str) -> None:
    words = " ".join(f"w{i}" for i in range(40))
    async with openai.AsyncOpenAI(base_url=openai_url, api_key="test", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="mock:echo?delay=0.05", messages=[{"role": "user", "content": words}], stream=True
        )
        received = [(await anext(stream)).choices[0].delta.content for _ in range(2)]
        await stream.close()
        hung_up = time.monotonic()
    assert received == ["", "w0"]
    record = await wait_closed(ledger.records, timeout=1.0)
    assert time.monotonic() - hung_up < 1.0
    assert record.closed and 1 <= record.chunks_sent < 40
