"""One fault contract for every adapter: cut bodies, stalls, malformed data, in-band errors,
HTTP errors before the body, refused connections, and closing the connection on break/cancel.

A provider's test module subclasses :class:`FaultContract` and fills in its wire format (the
class attributes); pytest then runs every test below against that provider's real SDK. The
``openai`` and ``anthropic`` SDKs run it twice: on their aiohttp transport (what the adapters
use when aiohttp is installed) and on httpx2's own (``transport = "httpx2"``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from llmring import LLMRequest, LLMRing
from llmring._resource import AsyncResource
from llmring.agents import Agent
from llmring.exceptions import (
    ModelNotFoundError,
    ProviderAuthenticationError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderResponseError,
    StreamInterruptedError,
)
from llmring.streaming import (
    GenerationClosedError,
    PartialValidationResult,
    Requirement,
    StreamingManager,
    stream_with_chunking,
)
from tests.loopback import WIRE, Reply
from tests.wire_harness import PROVIDERS, provider_ring, run_stream, user_request

HTTP_ERRORS = [
    # a rejected key raises: a broken production key must not be served by the fallback
    (401, ProviderAuthenticationError, False),
    (403, ProviderAuthenticationError, False),
    (404, ModelNotFoundError, True),
    (429, ProviderRateLimitError, True),
    (400, ProviderResponseError, False),
    (500, ProviderResponseError, True),
    (529, ProviderResponseError, True),
]


class OneWordOnly(Requirement):
    """Fails the second chunk."""

    def __init__(self) -> None:
        self.seen = 0

    async def stream_validate(self, chunk: str) -> PartialValidationResult:
        self.seen += 1
        return PartialValidationResult("pass" if self.seen == 1 else "fail", "a second word")


async def assert_no_pending_tasks() -> None:
    """Nothing the stream started may outlive it (a leaked reader, a forgotten close)."""
    await asyncio.sleep(0)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == [], others


class FaultContract:
    provider: ClassVar[str]
    model: ClassVar[str] = "test-model"
    #: the wire format has an end marker (``[DONE]``, ``message_stop``, ``done``); Gemini's
    #: has none, and its body's end is the stream's end
    end_marker: ClassVar[bool] = True
    #: the HTTP transport under the openai and anthropic SDKs (the others have one)
    transport: ClassVar[str] = "aiohttp"
    #: a recorded text stream (relative to tests/wire) and its full text
    text_wire: ClassVar[str]
    expected_text: ClassVar[str]
    #: a body that delivers ``inband_partial`` and then an in-band error event
    inband_error_body: ClassVar[bytes]
    inband_partial: ClassVar[str]
    inband_message: ClassVar[str]
    #: a body that delivers ``malformed_partial`` and then a line that is not valid JSON
    malformed_body: ClassVar[bytes]
    malformed_partial: ClassVar[str]
    #: content type of stream bodies
    content_type: ClassVar[str] = "text/event-stream"

    # -- provider-specific -----------------------------------------------------------------

    def error_payload(self, status: int, message: str) -> dict[str, Any]:
        """The provider's JSON error body for ``status``."""
        raise NotImplementedError

    def stream_reply(self, body: bytes, **kwargs: Any) -> Reply:
        return Reply(body, headers={"content-type": self.content_type}, **kwargs)

    def request(self, **kwargs: Any) -> LLMRequest:
        return user_request(f"{self.provider}:{self.model}", **kwargs)

    @pytest.fixture(autouse=True)
    def _transport(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from llmring.providers import _stainless

        monkeypatch.setattr(_stainless, "AIOHTTP", self.transport == "aiohttp")

    # -- the contract ----------------------------------------------------------------------

    @pytest.fixture
    def wire_body(self) -> bytes:
        return (WIRE / self.text_wire).read_bytes()

    async def test_body_cut_at_random_points(
        self, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        rng = random.Random(f"{self.provider}-cut")
        points = sorted(rng.sample(range(1, len(wire_body)), 12))
        interrupted = 0
        async with provider_ring(self.provider, Reply(), project, monkeypatch) as (ring, server):
            for point in points:
                server.reply = self.stream_reply(wire_body, cut_after=point, splits=[point // 2])
                outcome = await run_stream(ring, self.request())
                delivered = outcome.text
                assert self.expected_text.startswith(delivered), point
                if outcome.error is None:  # everything, end marker included, was before the cut
                    assert delivered == self.expected_text, point
                elif isinstance(outcome.error, StreamInterruptedError):
                    interrupted += 1
                    assert outcome.error.partial_response == delivered, point
                    assert isinstance(outcome.error.__cause__, ProviderError), point
                else:  # cut before any content: a retryable provider error, never a success
                    assert isinstance(outcome.error, ProviderError), (point, outcome.error)
                    assert outcome.error.retryable and not any(c.delta for c in outcome.chunks)
        assert interrupted >= 3  # most cut points fall after the first content

    async def test_stall_longer_than_the_idle_timeout(
        self, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        reply = self.stream_reply(wire_body, stall_after=len(wire_body) * 2 // 3)
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, server):
            outcome = await run_stream(ring, self.request(timeout={"idle": 0.3}))
            await server.wait_for_disconnect(1.0)
        error = outcome.error
        assert isinstance(error, StreamInterruptedError), error
        assert error.partial_response == outcome.text and outcome.text
        assert "idle" in str(error)

    async def test_malformed_json_line(
        self, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        reply = self.stream_reply(self.malformed_body)
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, _):
            outcome = await run_stream(ring, self.request())
        error = outcome.error
        assert isinstance(error, StreamInterruptedError), error
        assert error.partial_response == self.malformed_partial == outcome.text
        assert isinstance(error.__cause__, ProviderResponseError)
        assert "malformed" in str(error.__cause__).lower()

    async def test_inband_error_event(self, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        reply = self.stream_reply(self.inband_error_body)
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, _):
            outcome = await run_stream(ring, self.request())
        error = outcome.error
        cause = error.__cause__ if isinstance(error, StreamInterruptedError) else error
        assert isinstance(cause, ProviderResponseError), error
        assert self.inband_message in str(cause)
        if self.inband_partial:
            assert isinstance(error, StreamInterruptedError)
            assert error.partial_response == self.inband_partial

    @pytest.mark.parametrize(("status", "error_class", "retryable"), HTTP_ERRORS)
    async def test_http_error_before_the_body(
        self,
        status: int,
        error_class: type[ProviderError],
        retryable: bool,
        project: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        message = f"simulated failure {status}"
        headers = {"retry-after": "7"} if status == 429 else {}
        reply = Reply.error(status, self.error_payload(status, message), headers)
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, server):
            outcome = await run_stream(ring, self.request())
        error = outcome.error
        assert type(error) is error_class, error
        assert isinstance(error, ProviderError)
        assert (error.provider, error.model, error.status_code) == (
            self.provider,
            self.model,
            status,
        )
        assert error.retryable is retryable
        assert message in str(error)
        if status == 429:
            assert isinstance(error, ProviderRateLimitError) and error.retry_after == 7
        assert len(server.requests) == 1  # no hidden SDK retries by default
        assert outcome.chunks == []

    async def test_key_echoed_by_the_provider_is_scrubbed(
        self, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        key = PROVIDERS[self.provider][1] or "not-a-key"
        reply = Reply.error(401, self.error_payload(401, f"Incorrect API key provided: {key}"))
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, _):
            outcome = await run_stream(ring, self.request())
        assert isinstance(outcome.error, ProviderAuthenticationError)
        assert key not in str(outcome.error) and key not in repr(outcome.error.args)

    async def test_connection_refused(self, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        async with provider_ring(self.provider, Reply(), project, monkeypatch) as (_, server):
            port = server.port
        # the server is gone: nothing listens on its port any more
        from tests.wire_harness import lockfile_text, set_fake_key

        set_fake_key(self.provider, monkeypatch)
        path = project / "refused.lock"
        path.write_text(
            lockfile_text({self.provider: f"http://127.0.0.1:{port}{PROVIDERS[self.provider][2]}"})
        )
        async with LLMRing(path) as ring:
            outcome = await run_stream(ring, self.request())
        assert isinstance(outcome.error, ProviderConnectionError), outcome.error
        assert outcome.error.retryable and outcome.error.provider == self.provider

    async def test_connection_is_reused_after_a_complete_stream(
        self, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The adapter reads the body to its end after the end marker, so the connection goes
        # back to the pool instead of being closed and opened again for the next request.
        async with provider_ring(
            self.provider, self.stream_reply(wire_body), project, monkeypatch
        ) as (ring, server):
            for _ in range(3):
                outcome = await run_stream(ring, self.request())
                assert outcome.text == self.expected_text
        assert len(server.completed) == 3 and server.connections == 1

    async def test_a_late_body_terminator_does_not_hold_back_the_end(
        self, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The provider's end marker completes the reply, so the terminal chunk follows the
        # last content at once; the body's terminator (here 0.2 s late) is read when the
        # stream is closed, and the connection is still reused. Without an end marker only
        # the body's end completes the reply, so the terminal chunk waits for it.
        reply = self.stream_reply(wire_body, end_delay=0.2)
        loop = asyncio.get_running_loop()
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, server):
            for _ in range(2):
                last_content = ended = None
                async with ring.chat_stream(self.request()) as stream:
                    async for chunk in stream:
                        if chunk.is_terminal:
                            ended = loop.time()
                        elif chunk.delta:
                            last_content = loop.time()
                assert last_content is not None and ended is not None
                if self.end_marker:
                    assert ended - last_content < 0.1, ended - last_content
                else:
                    assert ended - last_content >= 0.2, ended - last_content
        assert len(server.completed) == 2 and server.connections == 1

    async def test_break_closes_the_connection(
        self, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        splits = list(range(64, len(wire_body), 64))
        reply = self.stream_reply(wire_body, splits=splits, delay=0.05)
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, server):
            async with ring.chat_stream(self.request()) as stream:
                async for chunk in stream:
                    assert chunk.delta or chunk.reasoning or chunk.tool_call_delta
                    break
            disconnect = await server.wait_for_disconnect(1.0)
        assert disconnect.bytes_sent < len(wire_body)
        assert server.completed == []
        await assert_no_pending_tasks()

    async def test_bare_break_closes_the_connection(
        self, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # No ``async with``: dropping the stream lets the event loop close it on its next turn.
        reply = self.stream_reply(wire_body, splits=list(range(64, len(wire_body), 64)), delay=0.05)
        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, server):
            async for _chunk in ring.chat_stream(self.request()):
                break
            await server.wait_for_disconnect(1.0)
        assert server.completed == []
        await assert_no_pending_tasks()

    async def test_cancelling_the_consumer_closes_the_connection(
        self, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        reply = self.stream_reply(wire_body, splits=list(range(64, len(wire_body), 64)), delay=0.05)
        got_one = asyncio.Event()

        async def consume(ring: LLMRing) -> None:
            async for _ in ring.chat_stream(self.request()):
                got_one.set()

        async with provider_ring(self.provider, reply, project, monkeypatch) as (ring, server):
            task = asyncio.create_task(consume(ring))
            await asyncio.wait_for(got_one.wait(), 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await server.wait_for_disconnect(1.0)
        assert server.completed == []
        await assert_no_pending_tasks()

    # -- the streaming toolkit closes the provider's connection too ---------------------------

    def paced(self, wire_body: bytes) -> Reply:
        """The recording in 64-byte pieces, 50 ms apart: seconds in all, so an early stop shows."""
        return self.stream_reply(wire_body, splits=list(range(64, len(wire_body), 64)), delay=0.05)

    async def test_manager_interrupt_closes_the_connection(
        self, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        delivered = ""
        async with (
            provider_ring(self.provider, self.paced(wire_body), project, monkeypatch) as (
                ring,
                server,
            ),
            StreamingManager() as manager,
        ):
            stream = manager.stream_with_timeout(
                ring.chat_stream(self.request()), stream_id="chat-1"
            )
            with pytest.raises(StreamInterruptedError) as caught:
                async for chunk in stream:
                    delivered += chunk.delta
                    if delivered:
                        assert manager.interrupt("chat-1")
            disconnect = await server.wait_for_disconnect(1.0)
            assert not manager.interrupt("chat-1")  # no longer running
        assert delivered and caught.value.partial_response == delivered
        assert self.expected_text.startswith(delivered) and delivered != self.expected_text
        assert disconnect.bytes_sent < len(wire_body) and server.completed == []
        await assert_no_pending_tasks()

    async def test_manager_deadline_counts_the_provider_not_the_consumer(
        self, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The consumer dawdles 0.5 s over the first chunk (more than the 0.3 s idle limit, not
        # counted); then the provider stalls, which is.
        stalled = self.stream_reply(wire_body, stall_after=len(wire_body) * 2 // 3)
        delivered = ""
        async with (
            provider_ring(self.provider, self.stream_reply(wire_body), project, monkeypatch) as (
                ring,
                server,
            ),
            StreamingManager(idle_timeout=0.3) as manager,
        ):
            # One whole stream first: the SDK's import and client set-up (seconds when this
            # test runs first in a process) would count against the first chunk's 0.3 s.
            assert (await run_stream(ring, self.request())).text == self.expected_text
            server.reply = stalled
            stream = manager.stream_with_timeout(ring.chat_stream(self.request()))
            with pytest.raises(StreamInterruptedError) as caught:
                async for chunk in stream:
                    if not delivered and chunk.delta:
                        await asyncio.sleep(0.5)
                    delivered += chunk.delta
            await server.wait_for_disconnect(1.0)
        assert delivered and caught.value.partial_response == delivered
        assert "0.3s" in str(caught.value)
        assert len(server.completed) == 1 and len(server.requests) == 2  # the whole stream only
        await assert_no_pending_tasks()

    async def test_failed_chunk_check_closes_the_connection(
        self, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async with provider_ring(self.provider, self.paced(wire_body), project, monkeypatch) as (
            ring,
            server,
        ):
            stream = stream_with_chunking(self.request(), "word", [OneWordOnly()], ring=ring)
            released = [chunk async for chunk in stream.astream()]
            disconnect = await server.wait_for_disconnect(1.0)
        assert stream.outcome == "chunk_check_failed" and len(released) == 1
        assert self.expected_text.startswith(released[0])
        assert disconnect.bytes_sent < len(wire_body) and server.completed == []
        await assert_no_pending_tasks()

    async def test_closing_a_generation_closes_the_connection(
        self, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async with provider_ring(self.provider, self.paced(wire_body), project, monkeypatch) as (
            ring,
            server,
        ):
            thunk = ring.generate(self.request())
            first = await thunk.astream()
            await thunk.aclose()
            disconnect = await server.wait_for_disconnect(1.0)
        assert first and self.expected_text.startswith(first) and thunk.is_computed()
        assert disconnect.bytes_sent < len(wire_body) and server.completed == []
        await assert_no_pending_tasks()

    # -- a close from another task (a Stop button, a server that saw its client leave) ---------

    def handle(
        self, how: str, ring: LLMRing, manager: StreamingManager
    ) -> tuple[AsyncResource, AsyncIterable[Any]]:
        """What ``how`` streams ``self.request()`` through: the object to close, and what the
        consumer iterates (chunks, or text)."""
        if how == "chat_stream":
            stream = ring.chat_stream(self.request())
            return stream, stream
        if how == "managed":
            managed = manager.stream_with_timeout(ring.chat_stream(self.request()))
            return managed, managed
        if how == "agent":
            agent = Agent(model=f"{self.provider}:{self.model}", ring=ring).stream("hello")
            return agent, agent
        if how == "thunk":
            thunk = ring.generate(self.request())
            return thunk, thunk
        chunked = stream_with_chunking(self.request(), "word", ring=ring)
        return chunked, chunked.astream()

    @pytest.mark.parametrize("how", ["chat_stream", "managed", "agent", "thunk", "chunked"])
    async def test_aclose_from_another_task_closes_the_connection(
        self, how: str, wire_body: bytes, project: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The consumer waits in ``async for`` on a provider that stalled after some content;
        # another task closes the stream. The provider's connection closes at once, and the
        # consumer's loop raises with exactly the text it got: never a silent, short end.
        reply = self.stream_reply(wire_body, stall_after=len(wire_body) * 2 // 3)
        received: list[str] = []

        async def consume(items: AsyncIterable[Any]) -> None:
            async for item in items:
                received.append(item if isinstance(item, str) else item.delta)

        async with (
            provider_ring(self.provider, reply, project, monkeypatch) as (ring, server),
            StreamingManager() as manager,
        ):
            closeable, items = self.handle(how, ring, manager)
            consumer = asyncio.create_task(consume(items))
            # (the first request of a process imports the SDK: seconds on a busy machine)
            while not server.requests or (how != "chunked" and not received):
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)  # the consumer reads up to the stall, then waits there
            assert not consumer.done()
            await closeable.aclose()
            disconnect = await server.wait_for_disconnect(1.0)
            with pytest.raises(StreamInterruptedError) as caught:
                await consumer
            await closeable.aclose()  # idempotent
        delivered = "".join(received)
        assert caught.value.partial_response == delivered
        assert self.expected_text.startswith(delivered) and delivered != self.expected_text
        assert delivered or how == "chunked"  # words are released whole: maybe none yet
        if how in ("thunk", "chunked"):
            assert isinstance(caught.value, GenerationClosedError)
        assert disconnect.bytes_sent < len(wire_body) and server.completed == []
        await assert_no_pending_tasks()
