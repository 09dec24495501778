"""fleet.sim.schema_instance: every generated instance validates against its schema (jsonschema)."""

from __future__ import annotations

import datetime as dt
import random
from enum import StrEnum
from typing import Annotated, Any, Literal

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, HttpUrl

from fleet.sim.schema_instance import SchemaError, instance


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


class Address(BaseModel):
    street: str
    city: str = Field(min_length=2, max_length=20)
    postcode: str | None = None


class Person(BaseModel):
    name: str
    age: int = Field(ge=0, le=130)
    height_m: float = Field(gt=0.3, lt=2.5)
    email: str = Field(json_schema_extra={"format": "email"})
    homepage: HttpUrl | None = None
    born: dt.date
    updated: dt.datetime
    colour: Colour
    tags: list[str] = Field(min_length=2, max_length=4)
    scores: dict[str, int]
    address: Address
    previous: list[Address] = []
    kind: Literal["person"] = "person"
    active: bool
    nothing: None = None


class Node(BaseModel):  # recursive: $ref to itself
    value: int
    children: list[Node] = []


class Cat(BaseModel):
    pet: Literal["cat"]
    meows: int = Field(multiple_of=3, ge=1, le=30)


class Dog(BaseModel):
    pet: Literal["dog"]
    barks: float = Field(ge=0.5, le=0.5)


class Owner(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="pet")]  # oneOf + discriminator
    either: int | str  # anyOf
    code: str = Field(pattern=r"^[A-Z]{2}-\d{3}$")  # no candidate matches: best effort fails loudly below
    nums: Annotated[list[int], Field(json_schema_extra={"uniqueItems": True})] = []


MODELS: list[type[BaseModel]] = [Address, Person, Node, Cat, Dog]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("seed", range(40))
def test_pydantic_schemas_give_valid_instances(model: type[BaseModel], seed: int) -> None:
    schema = model.model_json_schema()
    value = instance(schema, random.Random(seed))
    jsonschema.validate(value, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    model.model_validate(value)


def test_unions_and_discriminators() -> None:
    schema = Owner.model_json_schema()
    del schema["properties"]["code"]["pattern"]  # patterns are best effort (tested separately)
    kinds = set()
    for seed in range(60):
        value = instance(schema, random.Random(seed))
        jsonschema.validate(value, schema)
        kinds.add(value["pet"]["pet"])
        assert len(set(value.get("nums", []))) == len(value.get("nums", []))
    assert kinds == {"cat", "dog"}  # both branches are taken


def test_same_seed_same_instance_and_variety() -> None:
    schema = Person.model_json_schema()
    assert instance(schema, random.Random(7)) == instance(schema, random.Random(7))
    assert len({repr(instance(schema, random.Random(s))) for s in range(10)}) == 10


def test_openai_tool_parameters_and_json_object() -> None:
    params = {"type": "object", "properties": {"location": {"type": "string"},
                                               "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
              "required": ["location", "unit"], "additionalProperties": False}
    for seed in range(20):
        value = instance(params, random.Random(seed))
        jsonschema.validate(value, params)
        assert set(value) == {"location", "unit"}
    obj = instance({"type": "object"}, random.Random(1))
    assert isinstance(obj, dict) and obj  # json_object mode: a non-empty object


@pytest.mark.parametrize("schema", [False, {"enum": []}, {"$ref": "#/$defs/Missing"},
                                    {"type": "integer", "minimum": 5, "maximum": 4},
                                    {"type": "string", "pattern": "^zz[0-9]{40}$"}])
def test_unsatisfiable_schemas_raise(schema: Any) -> None:
    with pytest.raises(SchemaError):
        instance(schema, random.Random(0))


_scalar = st.sampled_from([{"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"},
                           {"type": "null"}, {"type": ["string", "null"]}, {"enum": ["a", 1, None]},
                           {"const": "x"}, {"type": "string", "format": "date-time"},
                           {"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 9},
                           {"type": "number", "minimum": -2.5, "maximum": -1.5},
                           {"type": "string", "minLength": 30, "maxLength": 31}])


def _compound(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    props = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), children, max_size=4)
    return st.one_of(
        st.builds(lambda items, lo: {"type": "array", "items": items, "minItems": lo}, children,
                  st.integers(0, 3)),
        st.builds(lambda p, extra: {"type": "object", "properties": p, "required": sorted(p)[:2],
                                    "additionalProperties": extra}, props, st.booleans()),
        st.builds(lambda bs: {"anyOf": bs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda a, b: {"allOf": [{"type": "object", "properties": {"x": a}, "required": ["x"]},
                                          {"properties": {"y": b}, "required": ["y"]}]}, children, children),
    )


@settings(max_examples=150, deadline=None)
@given(schema=st.recursive(_scalar, _compound, max_leaves=12), seed=st.integers(0, 2**32))
def test_generated_schemas(schema: Any, seed: int) -> None:
    value = instance(schema, random.Random(seed))
    jsonschema.validate(value, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
