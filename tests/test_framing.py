"""The framers on byte lists: SSE and NDJSON split by their specs, whatever the read
boundaries, in work linear in the bytes, with a cap on line length."""

from __future__ import annotations

import json
import random
from typing import Any, SupportsIndex

import pytest

from llmring.providers._framing import (
    MAX_LINE,
    FrameError,
    NDJSONLines,
    ServerSentEvent,
    SSEDecoder,
    SSELines,
)


def decode(chunks: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.finish()


def ndjson(chunks: list[bytes]) -> list[bytes]:
    lines = NDJSONLines()
    return [line for chunk in chunks for line in lines.feed(chunk)] + lines.finish()


def random_pieces(body: bytes, rng: random.Random, most: int = 40) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(body)), rng.randint(1, most)))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]


# -- SSE ------------------------------------------------------------------------------------


def test_basic_events_with_names_and_comments() -> None:
    body = b": keep-alive\n\nevent: ping\ndata: {}\n\ndata: one\ndata: two\nid: 7\nretry: 300\n\n"
    assert decode([body]) == [
        ServerSentEvent("{}", "ping"),
        ServerSentEvent("one\ntwo", None, "7", 300),
    ]


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(ending: bytes) -> None:
    body = ending.join([b"data: a", b"", b"event: e", b"data: b", b"", b""])
    assert decode([body]) == [ServerSentEvent("a"), ServerSentEvent("b", "e")]


def test_crlf_split_across_reads_is_one_line_ending() -> None:
    # A CR at the end of one read and its LF at the start of the next must not make a blank
    # line (which would dispatch early and split the event).
    chunks = [b"data: x\r", b"\ndata: y\r", b"\n\r", b"\n"]
    assert decode(chunks) == [ServerSentEvent("x\ny")]


def test_a_cr_ends_its_line_at_once() -> None:
    # The line is complete at its CR: nothing waits for the next read to see whether an LF
    # follows, so the event is dispatched by the read that carries its blank line.
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r\r") == [ServerSentEvent("x")]
    assert decoder.feed(b"\ndata: y\r") == []
    assert decoder.feed(b"\n\n") == [ServerSentEvent("y")]


def test_multibyte_character_split_across_reads() -> None:
    body = "data: café ☕ 𝄞\n\n".encode()
    cut = body.index("☕".encode()) + 1
    assert decode([body[:cut], body[cut:]]) == [ServerSentEvent("café ☕ 𝄞")]


def test_unicode_line_separators_inside_data_are_kept() -> None:
    body = "data: a\u2028b\u2029c\x85d\x0be\x0cf\x1cg\n\n".encode()
    assert decode([body]) == [ServerSentEvent("a\u2028b\u2029c\x85d\x0be\x0cf\x1cg")]


def test_field_without_space_and_without_colon() -> None:
    assert decode([b"data:no-space\ndata\n\n"]) == [ServerSentEvent("no-space\n")]


def test_bom_is_dropped_at_the_start_only() -> None:
    assert decode(["\ufeffdata: x\n\n".encode()]) == [ServerSentEvent("x")]
    # split across reads, it is still the stream's first bytes
    assert decode([b"\xef", b"\xbb\xbfdata: x\n\n"]) == [ServerSentEvent("x")]
    # anywhere else it is data
    assert decode(["data: \ufeffx\n\n".encode()]) == [ServerSentEvent("\ufeffx")]


def test_event_without_data_is_not_dispatched() -> None:
    assert decode([b"event: error\n\ndata: real\n\n"]) == [ServerSentEvent("real")]


def test_eof_completes_an_event_whose_lines_arrived() -> None:
    assert decode([b"data: [DONE]\n"]) == [ServerSentEvent("[DONE]")]
    assert decode([b"data: [DONE]\r"]) == [ServerSentEvent("[DONE]")]


def test_eof_discards_a_cut_line() -> None:
    assert decode([b'data: {"a": 1}\n\ndata: {"b": ']) == [ServerSentEvent('{"a": 1}')]


def test_random_splits_give_the_same_events() -> None:
    body = (
        "".join(f'event: e{i}\r\ndata: {{"n": {i}, "t": "é\u2028"}}\r\n\r\n' for i in range(50))
        + ": done\r\n"
    ).encode()
    expected = decode([body])
    assert len(expected) == 50
    rng = random.Random(1234)
    for _ in range(200):
        assert decode(random_pieces(body, rng)) == expected
    assert decode([bytes([b]) for b in body]) == expected


def test_sse_lines_split_at_cr_lf_and_crlf_only() -> None:
    lines = SSELines()
    assert lines.feed(b"a\rb\nc\r\nd\x85e") == [b"a", b"b", b"c"]
    assert lines.feed(b"f\r") == [b"d\x85ef"]
    assert lines.feed(b"\n\n") == [b""]  # the LF ends the CRLF; the next LF a blank line
    assert lines.feed(b"cut") == []
    assert lines.finish() == b"cut"


# -- NDJSON ---------------------------------------------------------------------------------


def test_ndjson_splits_at_lf_only_and_skips_blank_lines() -> None:
    first = json.dumps({"t": "a\u2028b\x85c\rd"}, ensure_ascii=False).encode()
    body = first + b"\n\n  \n" + b'{"n": 2}\r\n'
    assert ndjson([body]) == [first, b'{"n": 2}\r']


def test_ndjson_random_splits_give_the_same_lines() -> None:
    body = b"".join(
        json.dumps({"n": i, "t": "é\u2028\x85"}, ensure_ascii=False).encode() + b"\n"
        for i in range(50)
    )
    expected = ndjson([body])
    assert len(expected) == 50
    rng = random.Random(4321)
    for _ in range(200):
        assert ndjson(random_pieces(body, rng)) == expected


def test_ndjson_last_line_without_newline_is_a_frame_when_whole() -> None:
    assert ndjson([b'{"a": 1}\n{"done": ', b"true}"]) == [b'{"a": 1}', b'{"done": true}']
    assert ndjson([b'{"a": 1}\n  ']) == [b'{"a": 1}']


def test_ndjson_body_cut_inside_a_line() -> None:
    lines = NDJSONLines()
    assert lines.feed(b'{"a": 1}\n{"done": tr') == [b'{"a": 1}']
    with pytest.raises(FrameError, match=r"ended in the middle of a line \(11 bytes"):
        lines.finish()


# -- work linear in the bytes, and a cap on line length -------------------------------------


class Counted(bytes):
    """A read that counts, in bytes, every scan or copy the framer makes of it."""

    work = 0

    def _count(self, size: int) -> None:
        Counted.work += size

    def splitlines(self, keepends: bool = False) -> list[bytes]:
        self._count(len(self))
        return super().splitlines(keepends)

    def split(self, sep: Any = None, maxsplit: SupportsIndex = -1) -> list[bytes]:
        self._count(len(self))
        return super().split(sep, maxsplit)

    def __contains__(self, item: Any) -> bool:
        self._count(len(self))
        return super().__contains__(item)

    def __add__(self, other: Any) -> bytes:
        self._count(len(self) + len(other))
        return bytes(self) + bytes(other)

    def __radd__(self, other: Any) -> bytes:  # ``pending + chunk``: a copy of both
        self._count(len(self) + len(other))
        return bytes(other) + bytes(self)


def long_line_reads(prefix: bytes, size: int, read: int = 16 * 1024) -> list[Counted]:
    body = prefix + b"x" * (size - len(prefix)) + b"\n\n"
    return [Counted(body[i : i + read]) for i in range(0, len(body), read)]


@pytest.mark.parametrize(("framer", "prefix"), [(SSEDecoder, b"data: "), (NDJSONLines, b'{"t": "')])
def test_a_long_line_costs_work_linear_in_its_bytes(framer: Any, prefix: bytes) -> None:
    size = 15 * 1024 * 1024  # under the cap; 960 reads of 16 KiB
    reads = long_line_reads(prefix, size)
    Counted.work = 0
    decoder = framer()
    frames = [frame for chunk in reads for frame in decoder.feed(chunk)]
    # each read is scanned once (a framer that rescans what is pending does ~480x this)
    assert Counted.work <= 2 * (size + 2)
    (frame,) = frames
    if framer is SSEDecoder:
        assert len(frame.data) == size - len(prefix)
    else:
        assert len(frame) == size


@pytest.mark.parametrize(("framer", "prefix"), [(SSEDecoder, b"data: "), (NDJSONLines, b'{"t": "')])
def test_a_20_mb_line_is_refused_at_the_cap_in_linear_work(framer: Any, prefix: bytes) -> None:
    reads = long_line_reads(prefix, 20_000_000)
    Counted.work = 0
    decoder = framer()
    with pytest.raises(FrameError, match="longer than 16 MiB") as raised:
        for chunk in reads:
            decoder.feed(chunk)
    assert Counted.work <= 2 * MAX_LINE
    assert "xxx" not in str(raised.value)


def test_a_long_line_in_one_read_is_refused_too() -> None:
    with pytest.raises(FrameError, match="longer than 16 MiB"):
        SSEDecoder().feed(b"data: " + b"x" * MAX_LINE + b"\n\n")
    with pytest.raises(FrameError, match="longer than 16 MiB"):
        NDJSONLines().feed(b"x" * (MAX_LINE + 1) + b"\n")


def test_a_line_of_exactly_the_cap_passes() -> None:
    line = b"data: " + b"x" * (MAX_LINE - 6)
    decoder = SSEDecoder()
    events = [e for chunk in (line[:1000], line[1000:], b"\n\n") for e in decoder.feed(chunk)]
    assert len(events) == 1 and len(events[0].data) == MAX_LINE - 6
