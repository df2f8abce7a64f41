"""The shared assembler on hand-made event sequences: what every adapter relies on."""

from __future__ import annotations

from collections.abc import Sequence

from llmring._assembler import StreamAssembler
from llmring.providers.base import (
    Finish,
    ModelReport,
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallFragment,
    UsageReport,
)
from llmring.schemas import StreamChunk


def feed_all(events: Sequence[StreamEvent]) -> tuple[StreamAssembler, list[StreamChunk]]:
    assembler = StreamAssembler("prov", "requested")
    chunks = [c for e in events if (c := assembler.feed(e)) is not None]
    return assembler, chunks


def test_empty_pieces_yield_nothing() -> None:
    assembler, chunks = feed_all([TextDelta(""), ReasoningDelta(""), ToolCallFragment(0)])
    assert chunks == []
    assert not assembler.delivered


def test_interleaved_tool_fragments_are_keyed_by_index() -> None:
    # Later fragments carry no id: they must be joined by index, even when interleaved.
    events: list[StreamEvent] = [
        ToolCallFragment(0, id="call_a", name="add", arguments=""),
        ToolCallFragment(1, id="call_b", name="mul", arguments='{"x"'),
        ToolCallFragment(0, arguments='{"a": 1,'),
        ToolCallFragment(1, arguments=": 2}"),
        ToolCallFragment(0, arguments=' "b": 2}'),
        Finish("tool_calls", "tool_calls"),
        StreamEnd(),
    ]
    assembler, chunks = feed_all(events)
    assert len(chunks) == 5  # a first fragment with empty arguments still names its call
    assert assembler.tool_calls == [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
        },
        {"id": "call_b", "type": "function", "function": {"name": "mul", "arguments": '{"x": 2}'}},
    ]
    terminal = assembler.terminal()
    assert terminal.tool_calls == assembler.tool_calls
    assert terminal.finish_reason == "tool_calls"


def test_calls_without_ids_get_stable_ids_and_empty_arguments_become_an_object() -> None:
    events = [ToolCallFragment(0, name="ping"), ToolCallFragment(1, name="pong", arguments="{}")]
    first, _ = feed_all(events)
    second, _ = feed_all(events)
    ids = [c["id"] for c in first.tool_calls or []]
    assert ids == [c["id"] for c in second.tool_calls or []]
    assert ids[0] != ids[1] and all(i.startswith("call_") for i in ids)
    assert (first.tool_calls or [])[0]["function"]["arguments"] == "{}"


def test_provider_data_travels_with_the_call() -> None:
    assembler, _ = feed_all(
        [ToolCallFragment(0, id="c", name="f", arguments="{}", extra={"thought_signature": "sig"})]
    )
    assert (assembler.tool_calls or [])[0]["provider_data"] == {"thought_signature": "sig"}


def test_usage_fields_merge_last_value_wins_never_summed() -> None:
    events = [
        UsageReport({"prompt_tokens": 10}),  # e.g. Anthropic message_start
        UsageReport({"prompt_tokens": 10, "completion_tokens": 3}),  # cumulative update
        UsageReport({"completion_tokens": 7, "reasoning_tokens": 2}),  # last wins
    ]
    assembler, _ = feed_all(events)
    assert assembler.usage == {
        "prompt_tokens": 10,
        "completion_tokens": 7,
        "reasoning_tokens": 2,
        "total_tokens": 17,
    }


def test_reported_total_is_kept() -> None:
    assembler, _ = feed_all(
        [UsageReport({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 9})]
    )
    assert assembler.usage == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 9}


def test_a_cost_is_added_to_the_finalised_usage_never_taken_from_an_adapter() -> None:
    # an OpenAI-compatible server may report its own "cost" (OpenRouter's is 0 for a free
    # route): llmring's cost comes from its pricer, and the float does not void the counts
    assembler, _ = feed_all(
        [UsageReport({"prompt_tokens": 1, "completion_tokens": 2, "cost": 0.25}), StreamEnd()]
    )
    assert assembler.usage == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert assembler.terminal().usage == assembler.usage
    priced = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "cost": 0.001}
    assert assembler.terminal(cost=0.001).usage == priced
    assert assembler.response(0.001).usage == priced
    assert assembler.usage is not None and "cost" not in assembler.usage  # not kept


def test_no_usage_is_none_not_zero() -> None:
    assembler, _ = feed_all([TextDelta("x"), Finish("stop", "stop"), StreamEnd()])
    assert assembler.usage is None
    assert assembler.terminal().usage is None


def test_model_report_names_the_answering_model() -> None:
    assembler, chunks = feed_all([TextDelta("a"), ModelReport("gpt-x-2025"), TextDelta("b")])
    assert [c.model for c in chunks] == ["requested", "gpt-x-2025"]
    assert assembler.terminal().model == "gpt-x-2025"


def test_missing_finish_reason_is_other_never_stop() -> None:
    assembler, _ = feed_all([TextDelta("a"), StreamEnd()])
    terminal = assembler.terminal()
    assert (terminal.finish_reason, terminal.finish_reason_raw) == ("other", None)


def test_long_text_is_kept_exactly() -> None:
    pieces = [f"{i}," for i in range(5000)]
    assembler, chunks = feed_all([TextDelta(p) for p in pieces])
    assert assembler.text == "".join(pieces)
    assert len(chunks) == 5000
    assert assembler.response().content == "".join(pieces)


def test_response_matches_terminal() -> None:
    assembler, _ = feed_all(
        [
            ReasoningDelta("think"),
            TextDelta("hi"),
            UsageReport({"prompt_tokens": 1, "completion_tokens": 1}),
            Finish("length", "max_tokens"),
            StreamEnd(),
        ]
    )
    response, terminal = assembler.response(), assembler.terminal()
    assert response.content == "hi" and response.reasoning == "think"
    assert (response.finish_reason, response.finish_reason_raw) == ("length", "max_tokens")
    assert (terminal.finish_reason, terminal.finish_reason_raw, terminal.usage) == (
        response.finish_reason,
        response.finish_reason_raw,
        response.usage,
    )
