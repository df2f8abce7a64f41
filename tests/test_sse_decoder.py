"""The SSE decoder on byte lists: splits by the spec, whatever the read boundaries."""

from __future__ import annotations

import random

import pytest

from llmring.providers._sse import ServerSentEvent, SSEDecoder


def decode(chunks: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.finish()


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


def test_multibyte_character_split_across_reads() -> None:
    body = "data: café ☕ 𝄞\n\n".encode()
    cut = body.index("☕".encode()) + 1
    assert decode([body[:cut], body[cut:]]) == [ServerSentEvent("café ☕ 𝄞")]


def test_unicode_line_separators_inside_data_are_kept() -> None:
    body = "data: a\u2028b\u2029c\x85d\n\n".encode()
    assert decode([body]) == [ServerSentEvent("a\u2028b\u2029c\x85d")]


def test_field_without_space_and_without_colon() -> None:
    assert decode([b"data:no-space\ndata\n\n"]) == [ServerSentEvent("no-space\n")]


def test_bom_is_dropped_at_the_start_only() -> None:
    assert decode(["\ufeffdata: x\n\n".encode()]) == [ServerSentEvent("x")]


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
        cuts = sorted(rng.sample(range(1, len(body)), rng.randint(1, 40)))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        assert decode(pieces) == expected
    assert decode([bytes([b]) for b in body]) == expected
