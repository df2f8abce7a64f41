"""AsyncStructuredBot / StructuredBot: validation, retries with feedback, partial objects.

Offline: the mock provider answers each attempt with the next scripted reply (``Scripted``),
and one group of tests runs the real OpenAI adapter against the loopback server.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from contextlib import aclosing
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

import pytest
from pydantic import BaseModel, Field, field_validator

from llmring.bots import (
    AsyncStructuredBot,
    ChatMemory,
    StructuredBot,
    StructuredOutputError,
)
from llmring.bots._partial import partial_object, salvage, strip_fences
from llmring.exceptions import LLMRingError
from llmring.providers.mock import ledger
from llmring.schemas import LLMRequest
from tests.loopback import RecordedRequest, Reply
from tests.wire_harness import provider_ring


class Person(BaseModel):
    name: str
    age: int


class Step(BaseModel):
    title: str
    minutes: int


class Recipe(BaseModel):
    name: str
    steps: list[Step]
    vegetarian: bool = False


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]


ADA = '{"name": "Ada", "age": 36}'
TEA = '{"name": "Tea", "steps": [{"title": "Boil", "minutes": 3}], "vegetarian": true}'
PERSON_SCHEMA = {
    "properties": {
        "name": {"title": "Name", "type": "string"},
        "age": {"title": "Age", "type": "integer"},
    },
    "required": ["name", "age"],
    "title": "Person",
    "type": "object",
}
INSTRUCTION = "Reply with only a JSON object that matches this JSON schema, with no other text:\n"
RETRY = "Reply again with only the corrected JSON object, matching the schema."
M = TypeVar("M", bound=BaseModel)


class Scripted(AsyncStructuredBot[M]):
    """Each attempt is answered with the next of ``replies`` (the mock's ``mock_response``)."""

    def __init__(self, replies: list[str], model: type[M], **kwargs: Any) -> None:
        super().__init__("Extract.", model, model_name="mock:scripted", **kwargs)
        self.replies = iter(replies)

    def request(self, conversation: Any, **overrides: Any) -> LLMRequest:
        return super().request(
            conversation, extra_params={"mock_response": next(self.replies)}, **overrides
        )


def sent(index: int) -> list[tuple[str, str]]:
    request = ledger.records[index].request
    assert request is not None
    return [(m.role, m.text) for m in request.messages]


def rejected(*problems: str) -> str:
    return "Your reply was rejected:\n" + "\n".join(problems) + "\n" + RETRY


# -- one attempt ----------------------------------------------------------------------------------


async def test_valid_first_time_and_the_request_it_sends() -> None:
    bot = AsyncStructuredBot("Extract the person.", Person, mock_response=ADA)
    assert await bot("Ada Lovelace, 36") == Person(name="Ada", age=36)
    assert len(ledger.records) == 1
    request = ledger.last.request
    assert request is not None and request.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": PERSON_SCHEMA, "strict": False},
    }
    assert sent(0) == [
        ("system", "Extract the person.\n\n" + INSTRUCTION + json.dumps(PERSON_SCHEMA)),
        ("user", "Ada Lovelace, 36"),
    ]
    assert bot.last_message is not None and bot.last_message.content == ADA
    assert bot.last_error is None


async def test_request_options_strict_name_and_no_response_format() -> None:
    strict = AsyncStructuredBot("", Page[int], mock_response='{"items": [1]}', strict=True)
    assert await strict("x") == Page[int](items=[1])
    request = ledger.last.request
    assert request is not None and request.response_format is not None
    assert request.response_format["json_schema"]["name"] == "Page_int_"  # OpenAI: [A-Za-z0-9_-]
    assert request.response_format["json_schema"]["strict"] is True
    assert request.messages[0].text.startswith(INSTRUCTION)  # no system prompt: the ask alone
    plain = AsyncStructuredBot("s", Person, mock_response=ADA, response_format=None, max_tokens=50)
    await plain("x")
    assert ledger.last.request is not None
    assert (ledger.last.request.response_format, ledger.last.request.max_tokens) == (None, 50)


async def test_a_fence_around_the_reply_is_removed_but_prose_is_not_guessed() -> None:
    fenced = "```json\n" + ADA + "\n```\n"
    assert await Scripted([fenced], Person)("x") == Person(name="Ada", age=36)
    with pytest.raises(StructuredOutputError) as caught:
        await Scripted(["Here it is: " + ADA], Person)("x", num_attempts=1)
    assert str(caught.value) == (
        "no valid Person in 1 attempt(s):\n"
        "attempt 1: Invalid JSON: expected value at line 1 column 1"
    )


def test_strip_fences() -> None:
    assert strip_fences("```json\n{}\n```") == "{}"
    assert strip_fences('  ```\n{"a": 1}\n  ```  \n') == '{"a": 1}'
    assert strip_fences('```json\n{"a": ') == '{"a": '  # still streaming: no closing fence
    assert strip_fences("```json") == "```json"  # the opening line is not complete yet
    assert strip_fences('{"a": "```"}') == '{"a": "```"}'
    assert strip_fences("text ```json\n{}\n```") == "text ```json\n{}\n```"


# -- retries --------------------------------------------------------------------------------------


async def test_invalid_json_is_fed_back_and_retried() -> None:
    bot = Scripted(['{"name": "Ada", "age": ', ADA], Person)
    assert await bot("Ada, 36") == Person(name="Ada", age=36)
    assert len(ledger.records) == 2
    assert sent(1)[1:] == [
        ("user", "Ada, 36"),
        ("assistant", '{"name": "Ada", "age": '),
        ("user", rejected("Invalid JSON: EOF while parsing a value at line 1 column 23")),
    ]
    assert bot.last_error is None


async def test_schema_violations_are_fed_back_and_retried() -> None:
    bot = Scripted(['{"name": "Ada", "age": "old"}', '{"name": "Ada"}', ADA], Person)
    assert await bot("Ada, 36") == Person(name="Ada", age=36)
    assert sent(2)[1:] == [
        ("user", "Ada, 36"),
        ("assistant", '{"name": "Ada", "age": "old"}'),
        (
            "user",
            rejected("age: Input should be a valid integer, unable to parse string as an integer"),
        ),
        ("assistant", '{"name": "Ada"}'),
        ("user", rejected("age: Field required")),
    ]


async def test_nested_models_and_lists_are_validated_with_their_paths() -> None:
    bad = '{"name": "Tea", "steps": [{"title": "Boil", "minutes": 3}, {"title": "Pour"}]}'
    bot = Scripted([bad, TEA], Recipe)
    result = await bot("tea")
    assert result == Recipe(name="Tea", steps=[Step(title="Boil", minutes=3)], vegetarian=True)
    assert sent(1)[-1] == ("user", rejected("steps.1.minutes: Field required"))


async def test_all_attempts_failing_raises_with_every_error_and_text() -> None:
    memory = ChatMemory()
    texts = ["nope", '{"name": 1, "age": 2}', '{"name": "Ada", "age": ']
    bot = Scripted(texts, Person, memory=memory)
    with pytest.raises(StructuredOutputError) as caught:
        await bot("x", num_attempts=3)
    error = caught.value
    assert isinstance(error, LLMRingError) and bot.last_error is error
    assert (error.model, error.texts, error.last_text) == (Person, texts, texts[-1])
    assert [e.errors(include_url=False)[0]["type"] for e in error.errors] == [
        "json_invalid",
        "string_type",
        "json_invalid",
    ]
    assert str(error) == (
        "no valid Person in 3 attempt(s):\n"
        "attempt 1: Invalid JSON: expected ident at line 1 column 2\n"
        "attempt 2: name: Input should be a valid string\n"
        "attempt 3: Invalid JSON: EOF while parsing a value at line 1 column 23"
    )
    assert len(ledger.records) == 3 and len(memory) == 0
    with pytest.raises(ValueError, match="num_attempts must be at least 1"):
        await bot("x", num_attempts=0)


async def test_allow_failed_validation_returns_the_partial_object_of_the_last_reply() -> None:
    bot = Scripted(['{"name": "Ada", "age": "old"}', '{"name": "Ada", "ag', ADA], Person)
    result = await bot("x", num_attempts=2, allow_failed_validation=True)
    # a salvaged object may hold None where the model's type says int
    salvaged: tuple[object, ...] = (type(result), result.name, result.age, result.model_fields_set)
    assert salvaged == (
        Person,
        "Ada",
        None,
        {"name"},
    )
    assert bot.last_error is not None and bot.last_error.texts == [
        '{"name": "Ada", "age": "old"}',
        '{"name": "Ada", "ag',
    ]
    assert await bot("again", allow_failed_validation=True) == Person(name="Ada", age=36)
    assert bot.last_error is None  # a success clears it
    not_json = await Scripted(["I cannot help."], Person)(
        "x", num_attempts=1, allow_failed_validation=True
    )
    assert (not_json.name, not_json.age, not_json.model_fields_set) == (None, None, set())


async def test_memory_keeps_only_the_validated_turn() -> None:
    memory = ChatMemory()
    bot = Scripted(["{", ADA, '{"name": "Bob", "age": 7}'], Person, memory=memory)
    await bot("first")
    assert [(m.role, m.content) for m in memory.messages] == [("user", "first"), ("assistant", ADA)]
    await bot("second")
    assert sent(2)[1:] == [("user", "first"), ("assistant", ADA), ("user", "second")]
    assert len(memory) == 4


# -- streaming ------------------------------------------------------------------------------------


def chunked(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def test_stream_async_yields_the_raw_json_text_then_validates() -> None:
    memory = ChatMemory()
    bot = AsyncStructuredBot(
        "s",
        Person,
        model_name="mock:x?chunk_size=5",
        memory=memory,
        extra_params={"mock_response": "```json\n" + ADA + "\n```"},
    )
    deltas = [d async for d in bot.stream_async("who?")]
    assert deltas == chunked("```json\n" + ADA + "\n```", 5)
    assert [m.role for m in memory.messages] == ["user", "assistant"]
    bad = AsyncStructuredBot(
        "s",
        Person,
        model_name="mock:x?chunk_size=5",
        memory=memory,
        extra_params={"mock_response": '{"name": "Ada"}'},
    )
    seen: list[str] = []
    with pytest.raises(StructuredOutputError, match="attempt 1: age: Field required"):
        async for delta in bad.stream_async("who?"):
            seen.append(delta)
    assert seen == chunked('{"name": "Ada"}', 5) and len(memory) == 2 and len(ledger.records) == 2


TEA_PARTIALS = [
    ("Te", None, False, {"name"}),
    ("Tea", None, False, {"name"}),
    ("Tea", [(None, None)], False, {"name", "steps"}),
    ("Tea", [("Bo", None)], False, {"name", "steps"}),
    ("Tea", [("Boil", None)], False, {"name", "steps"}),
    ("Tea", [("Boil", 3)], False, {"name", "steps"}),
    ("Tea", [("Boil", 3)], True, {"name", "steps", "vegetarian"}),
]


def described(recipe: Recipe) -> tuple[Any, ...]:
    steps = None if recipe.steps is None else [(s.title, s.minutes) for s in recipe.steps]
    return recipe.name, steps, recipe.vegetarian, recipe.model_fields_set


# the same reply in a fence: other chunk boundaries, so a string is seen empty before it grows
FENCED_TEA_PARTIALS = [
    ("", None, False, {"name"}),
    ("Tea", None, False, {"name"}),
    ("Tea", [(None, None)], False, {"name", "steps"}),
    ("Tea", [("", None)], False, {"name", "steps"}),
    ("Tea", [("Boi", None)], False, {"name", "steps"}),
    *TEA_PARTIALS[4:],
]


@pytest.mark.parametrize(
    ("reply", "expected"), [(TEA, TEA_PARTIALS), ("```json\n" + TEA + "\n```", FENCED_TEA_PARTIALS)]
)
async def test_stream_partial_yields_progressing_partials_ending_with_the_result(
    reply: str, expected: list[tuple[Any, ...]]
) -> None:
    memory = ChatMemory()
    bot = AsyncStructuredBot(
        "s",
        Recipe,
        model_name="mock:x?chunk_size=3",
        memory=memory,
        extra_params={"mock_response": reply},
    )
    partials = [p async for p in bot.stream_partial("tea")]
    assert [described(p) for p in partials] == expected
    assert all(type(p) is Recipe for p in partials)
    assert all(isinstance(s, Step) for s in partials[-1].steps)
    assert all(a != b for a, b in itertools.pairwise(partials))
    assert partials[-1] == Recipe.model_validate_json(TEA)
    assert len(memory) == 2


async def test_stream_partial_yields_the_validated_object_when_it_differs() -> None:
    class Tagged(BaseModel):
        tag: str

        @field_validator("tag")
        @classmethod
        def upper(cls, value: str) -> str:  # the model's validators run on the result only
            return value.upper()

    bot = AsyncStructuredBot(
        "s",
        Tagged,
        model_name="mock:x?chunk_size=1",
        extra_params={"mock_response": '{"tag": "ab"}'},
    )
    partials = [p async for p in bot.stream_partial("x")]
    assert [p.tag for p in partials] == ["", "a", "ab", "AB"]


async def test_stream_partial_invalid_at_the_end_raises_and_breaking_off_closes() -> None:
    memory = ChatMemory()
    bot = AsyncStructuredBot(
        "s",
        Person,
        model_name="mock:x?chunk_size=4",
        memory=memory,
        extra_params={"mock_response": '{"name": "Ada", "age": "x"}'},
    )
    names: list[str | None] = []
    with pytest.raises(StructuredOutputError, match="age: Input should be a valid integer"):
        async for partial in bot.stream_partial("x"):
            names.append(partial.name)
    assert names == ["Ad", "Ada"] and len(memory) == 0
    slow = AsyncStructuredBot(
        "s",
        Person,
        model_name="mock:x?chunk_size=4&delay=0.01",
        memory=memory,
        extra_params={"mock_response": ADA},
    )
    async with aclosing(slow.stream_partial("x")) as partials:
        async for _partial in partials:
            break
    assert ledger.last.closed and not ledger.last.completed and len(memory) == 0


# -- partial objects ------------------------------------------------------------------------------


class Inner(BaseModel):
    code: Annotated[str, Field(min_length=3)]
    count: int = 0


class Outer(BaseModel):
    label: str = Field(alias="Label")
    inner: Inner | None = None
    numbers: list[int] = []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("[1, 2", None),
        # "ab" is too short for min_length=3: left out until the third character arrives
        ('{"Label": "x", "inner": {"code": "ab', ("x", (None, 0, set()), [], {"label", "inner"})),
        (
            '{"Label": "x", "inner": {"code": "abc"}, "numbers": [1, "t',
            ("x", ("abc", 0, {"code"}), [1], {"label", "inner", "numbers"}),
        ),
        (
            '{"inner": {"count": "many"}, "numbers": ["a", 2]',
            (None, (None, 0, set()), [2], {"inner", "numbers"}),
        ),
    ],
)
def test_partial_object_rules(text: str, expected: Any) -> None:
    partial = partial_object(Outer, text)
    if expected is None:
        assert partial is None
        return
    assert partial is not None and partial.inner is not None
    inner = (partial.inner.code, partial.inner.count, partial.inner.model_fields_set)
    assert (partial.label, inner, partial.numbers, partial.model_fields_set) == expected


def test_salvage_of_no_json_is_the_empty_object() -> None:
    empty = salvage(Outer, "sorry")
    salvaged: tuple[object, ...] = (empty.label, empty.inner, empty.numbers, empty.model_fields_set)
    assert salvaged == (
        None,
        None,
        [],
        set(),
    )


# -- sync -----------------------------------------------------------------------------------------


def test_sync_structured_bot() -> None:
    bot = StructuredBot(
        "s",
        Recipe,
        model_name="mock:x?chunk_size=3",
        extra_params={"mock_response": TEA},
        memory=ChatMemory(),
    )
    assert bot("tea") == Recipe.model_validate_json(TEA)
    assert "".join(bot.stream("tea")) == TEA
    assert [described(p) for p in bot.stream_partial("tea")] == TEA_PARTIALS
    assert bot.memory is not None and len(bot.memory) == 6
    assert bot.last_message is not None and bot.last_message.content == TEA
    assert repr(bot) == "<StructuredBot Recipe model='mock:x?chunk_size=3'>"
    failing = StructuredBot("s", Person, mock_response="{}")
    with pytest.raises(StructuredOutputError, match="in 2 attempt"):
        failing("x", num_attempts=2)
    assert failing.last_error is not None and failing.last_error.texts == ["{}", "{}"]


async def test_sync_bot_inside_a_running_event_loop() -> None:
    assert StructuredBot("s", Person, mock_response=ADA)("x") == Person(name="Ada", age=36)


# -- a real adapter -------------------------------------------------------------------------------


def sse(pieces: list[str]) -> bytes:
    def event(choice: dict[str, Any]) -> bytes:
        data = {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "gpt-test",
            "choices": [{"index": 0, **choice}],
        }
        return b"data: " + json.dumps(data).encode() + b"\n\n"

    body = b"".join(event({"delta": {"content": p}, "finish_reason": None}) for p in pieces)
    return body + event({"delta": {}, "finish_reason": "stop"}) + b"data: [DONE]\n\n"


def replies(*bodies: bytes) -> Callable[[RecordedRequest], Reply]:
    queue = list(bodies)
    return lambda request: Reply(body=queue.pop(0))


async def test_over_the_openai_adapter(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with provider_ring("openai", Reply(), project, monkeypatch) as (ring, server):
        server.routes["/v1/chat/completions"] = replies(
            sse(['{"name": "Tea", ', '"steps": [']),
            sse(
                [
                    '{"name": "Tea", "st',
                    'eps": [{"title": "Bo',
                    'il", "minutes": 3}], ',
                    '"vegetarian": true}',
                ]
            ),
            sse(chunked(TEA, 3)),
        )
        bot = AsyncStructuredBot("Recipes.", Recipe, model_name="openai:gpt-test", ring=ring)
        assert await bot("tea?") == Recipe.model_validate_json(TEA)
        partials = [described(p) async for p in bot.stream_partial("tea?")]
    first, second = (r.json() for r in server.requests[:2])
    assert first["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Recipe", "schema": Recipe.model_json_schema(), "strict": False},
    }
    assert first["messages"][1:] == [{"role": "user", "content": "tea?"}]
    assert second["messages"][1:] == [
        {"role": "user", "content": "tea?"},
        {"role": "assistant", "content": '{"name": "Tea", "steps": ['},
        {
            "role": "user",
            "content": rejected("Invalid JSON: EOF while parsing a list at line 1 column 26"),
        },
    ]
    assert partials == TEA_PARTIALS
    assert first["messages"][0] == {
        "role": "system",
        "content": "Recipes.\n\n" + INSTRUCTION + json.dumps(Recipe.model_json_schema()),
    }
