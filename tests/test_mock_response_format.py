"""The mock answers a JSON-schema ``response_format`` with a valid instance, deterministically.

Every schema here is the one pydantic writes for a model; the instance is checked by pydantic
itself (``model_validate_json``), the validator the schema came from.
"""

from __future__ import annotations

import datetime
import enum
import json
import uuid
from typing import Annotated, Any, Literal

import pytest
from pydantic import AnyUrl, BaseModel, ConfigDict, Field, TypeAdapter

from llmring import LLMRequest, LLMRing, Message
from llmring.exceptions import ConfigurationError
from llmring.providers._schema_instance import schema_instance
from llmring.providers.mock import ledger
from llmring.schemas import ToolCallDict


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
    notes: str | None = None


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 2


class Choices(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mood: Literal["happy", "sad"]
    colour: Colour
    size: Size
    fixed: Literal["only"]
    maybe: Colour | None = None


class Bounded(BaseModel):
    small: Annotated[int, Field(ge=5, le=10)]
    big: Annotated[int, Field(gt=100)]
    negative: Annotated[int, Field(lt=0)]
    sevens: Annotated[int, Field(multiple_of=7, ge=10)]
    fraction: Annotated[float, Field(gt=0.0, lt=0.1)]
    ratio: Annotated[float, Field(ge=2.5, le=2.5)]
    above: Annotated[float, Field(gt=1.5)]
    below: Annotated[float, Field(lt=-3)]
    code: Annotated[str, Field(min_length=8, max_length=10)]
    initial: Annotated[str, Field(max_length=1)]
    pair: Annotated[list[int], Field(min_length=2, max_length=3)]
    none_allowed: Annotated[list[str], Field(max_length=0)]


class Formats(BaseModel):
    when: datetime.datetime
    day: datetime.date
    at: datetime.time
    lasting: datetime.timedelta
    key: uuid.UUID
    home: AnyUrl


class Containers(BaseModel):
    point: tuple[int, str]
    tags: set[str]
    frozen: frozenset[int]
    counts: dict[str, int]
    matrix: list[list[float]]
    anything: Any
    triple: Annotated[set[str], Field(min_length=3)]


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Link(BaseModel):
    value: int
    next: Link | None


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Owner(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    pets: list[Cat | Dog]


class Deep(BaseModel):
    level: int
    label: str = "x"
    inner: Deep | None = None
    rest: list[Deep] = []


MODELS: list[type[BaseModel]] = [
    Person,
    Recipe,
    Choices,
    Bounded,
    Formats,
    Containers,
    Node,
    Link,
    Owner,
    Deep,
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_instance_validates_against_the_model_it_came_from(model: type[BaseModel]) -> None:
    instance = schema_instance(model.model_json_schema())
    model.model_validate_json(json.dumps(instance))  # raises if it does not validate
    assert schema_instance(model.model_json_schema()) == instance  # deterministic


def test_what_the_instances_look_like() -> None:
    assert schema_instance(Person.model_json_schema()) == {"name": "mock", "age": 1}
    assert schema_instance(Recipe.model_json_schema()) == {
        "name": "mock",
        "steps": [{"title": "mock", "minutes": 1}],
        "vegetarian": True,
        "notes": "mock",
    }
    bounded = Bounded.model_validate(schema_instance(Bounded.model_json_schema()))
    assert (bounded.small, bounded.sevens, bounded.ratio, bounded.code) == (5, 14, 2.5, "mockxxxx")
    # a recursive model ends: deep down only what is required, and null where allowed
    assert schema_instance(Link.model_json_schema()) == {
        "value": 1,
        "next": {"value": 1, "next": None},
    }
    assert len(schema_instance(Containers.model_json_schema())["triple"]) == 3


def test_top_level_arrays_and_hand_written_schemas() -> None:
    people = TypeAdapter(list[Person])
    assert people.validate_python(schema_instance(people.json_schema())) == [
        Person(name="mock", age=1)
    ]
    assert schema_instance({"type": ["null", "integer"]}) == 1
    assert schema_instance(
        {"type": "object", "minProperties": 2, "additionalProperties": {"type": "boolean"}}
    ) == {"key1": True, "key2": False}
    assert schema_instance(
        {
            "allOf": [
                {"properties": {"a": {"type": "integer"}}, "required": ["a"]},
                {"properties": {"b": {"const": 2}}},
            ]
        }
    ) == {"a": 1, "b": 2}
    assert schema_instance({"$defs": {"a/b": {"type": "boolean"}}, "$ref": "#/$defs/a~1b"}) is True


@pytest.mark.parametrize(
    ("schema", "complaint"),
    [
        ({"$ref": "#/$defs/Missing"}, "points nowhere"),
        ({"$ref": "https://example.com/schema.json"}, "not local"),
        (
            {
                "$defs": {
                    "N": {
                        "type": "object",
                        "properties": {"n": {"$ref": "#/$defs/N"}},
                        "required": ["n"],
                    }
                },
                "$ref": "#/$defs/N",
            },
            "no finite instance",
        ),
        ({"$defs": {"A": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"}, "refer to themselves"),
    ],
)
def test_impossible_schemas_are_configuration_errors(
    schema: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        schema_instance(schema)


def json_schema_format(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": model.__name__, "schema": model.model_json_schema()},
    }


async def test_the_mock_answers_a_json_schema_request_with_a_valid_instance() -> None:
    request = LLMRequest(
        model="mock:chatbot",
        messages=[Message(role="user", content="A recipe")],
        response_format=json_schema_format(Recipe),
    )
    async with LLMRing() as ring:
        deltas = [chunk.delta async for chunk in ring.chat_stream(request) if chunk.delta]
        again = await ring.chat(request)
    text = "".join(deltas)
    assert Recipe.model_validate_json(text) == Recipe.model_validate_json(again.content)
    assert len(deltas) > 1 and again.finish_reason == "stop"  # streamed in pieces, as any reply
    assert ledger.last.completed


async def test_mock_response_and_tools_still_win_and_json_object_gets_an_object() -> None:
    messages = [Message(role="user", content="hi")]
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    async with LLMRing() as ring:
        scripted = await ring.chat(
            LLMRequest(
                model="mock:x",
                messages=messages,
                response_format=json_schema_format(Person),
                extra_params={"mock_response": "not json"},
            )
        )
        called = await ring.chat(
            LLMRequest(
                model="mock:x",
                messages=messages,
                tools=[tool],
                response_format=json_schema_format(Person),
            )
        )
        plain = await ring.chat(
            LLMRequest(
                model="mock:echo", messages=messages, response_format={"type": "json_object"}
            )
        )
        call: ToolCallDict = {
            "id": "c",
            "type": "function",
            "function": {"name": "f", "arguments": "{}"},
        }
        answered = await ring.chat(
            LLMRequest(
                model="mock:x",
                tools=[tool],
                response_format=json_schema_format(Person),
                messages=[
                    *messages,
                    Message(role="assistant", tool_calls=[call]),
                    Message(role="tool", tool_call_id="c", content="Ada, 36"),
                ],
            )
        )
    assert scripted.content == "not json"
    assert called.finish_reason == "tool_calls"
    assert plain.content == "{}"
    assert Person.model_validate_json(answered.content) == Person(name="mock", age=1)
