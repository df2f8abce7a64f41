"""The test server itself: splits, faults, request recording, disconnect detection."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.loopback import LoopbackServer, Reply


async def test_serves_the_body_in_pieces_and_records_the_request() -> None:
    body = b"data: 1\n\ndata: 2\n\n"
    async with (
        LoopbackServer(Reply(body, splits=[3, 9], delay=0.01)) as server,
        httpx.AsyncClient() as client,
        client.stream("POST", f"{server.base_url}/v1/x", json={"a": 1}) as response,
    ):
        pieces = [piece async for piece in response.aiter_raw()]
    assert b"".join(pieces) == body and len(pieces) == 3
    assert server.requests[0].path == "/v1/x" and server.requests[0].json() == {"a": 1}
    assert server.completed == ["/v1/x"]


async def test_cut_after_breaks_the_body() -> None:
    async with (
        LoopbackServer(Reply(b"0123456789", cut_after=4)) as server,
        httpx.AsyncClient() as client,
    ):
        received = b""
        with pytest.raises(httpx.RemoteProtocolError):
            async with client.stream("GET", server.base_url) as response:
                async for piece in response.aiter_raw():
                    received += piece
    assert received == b"0123"


async def test_client_hang_up_during_a_stall_is_seen() -> None:
    async with (
        LoopbackServer(Reply(b"0123456789", stall_after=2)) as server,
        httpx.AsyncClient() as client,
    ):
        async with client.stream("GET", server.base_url + "/slow") as response:
            async for piece in response.aiter_raw():
                assert piece == b"01"
                break
        disconnect = await server.wait_for_disconnect(1.0)
    assert disconnect.path == "/slow" and disconnect.bytes_sent == 2


async def test_routes_choose_the_reply() -> None:
    async with LoopbackServer() as server, httpx.AsyncClient() as client:
        server.routes["/a"] = Reply.error(429, {"error": "slow"}, {"retry-after": "3"})
        server.routes["/b"] = lambda request: Reply(request.body[::-1])
        first = await client.post(server.base_url + "/a", content=b"x")
        second = await client.post(server.base_url + "/b", content=b"abc")
    assert (first.status_code, first.headers["retry-after"], first.json()) == (
        429,
        "3",
        {"error": "slow"},
    )
    assert second.content == b"cba"


async def test_server_close_cancels_stalled_replies() -> None:
    # A reply stalled forever (the client still listening) must not keep the server open:
    # leaving ``async with`` ends it and drops the connection, without the rest of the body.
    server = LoopbackServer(Reply(b"xy", stall_after=1))
    async with asyncio.timeout(10):  # a guard against a hang, not a measurement
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /stalled HTTP/1.1\r\nhost: x\r\n\r\n")
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
            assert await reader.readuntil(b"x\r\n") == b"1\r\nx\r\n"  # the byte before the stall
            await asyncio.sleep(0.05)
            assert not reader.at_eof() and server.completed == []  # still stalled, still open
        # the server closed: the client sees the connection end, with no "y" and no end chunk
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
    assert server.completed == [] and server.requests[0].path == "/stalled"


async def test_next_request_read_by_the_hangup_watcher_is_not_lost() -> None:
    # Two pipelined requests: while the first reply is sent, the hang-up watcher reads the
    # first byte of the second request; the server must hand it on, not drop it.
    async with LoopbackServer(Reply(b"abc", splits=[1, 2], delay=0.01)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        request = b"GET /one HTTP/1.1\r\nhost: x\r\n\r\n"
        writer.write(request + request.replace(b"/one", b"/two"))
        await writer.drain()
        for _ in range(2):
            await reader.readuntil(b"0\r\n\r\n")
        writer.close()
        await writer.wait_closed()
    assert [r.path for r in server.requests] == ["/one", "/two"]
    assert server.completed == ["/one", "/two"]
