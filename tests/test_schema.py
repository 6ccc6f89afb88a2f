"""Schema snapshots (signature → input_schema), definition-time refusals, and validation errors."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import inspect
import sys
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, NotRequired, Optional

import docstring_parser
import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from agentkit._errors import UsageError
from agentkit._tools.context import RunContext
from agentkit._tools.json_schema import strict_schema
from agentkit._tools.schema import function_schema
from agentkit._tools.validation import FieldError

# -- types used by the snapshot matrix -------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Point(BaseModel):
    """A point on the plane."""

    x: int
    y: int = 0
    title: str = Field("", description="A label (a property called title must survive).")


class TreeNode(BaseModel):
    value: int
    children: list[TreeNode] = []


@dataclasses.dataclass
class Box:
    width: float
    label: str = "box"


class Address(TypedDict):
    street: str
    zip: NotRequired[str]


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


OBJ = {"type": "object", "additionalProperties": False}
INT = {"type": "integer"}
STR = {"type": "string"}
POINT = {
    "description": "A point on the plane.",
    "type": "object",
    "properties": {
        "x": INT,
        "y": {"type": "integer", "default": 0},
        "title": {
            "type": "string",
            "default": "",
            "description": "A label (a property called title must survive).",
        },
    },
    "required": ["x"],
}

CASES: list[tuple[Callable[..., Any], dict[str, Any]]] = []


def snapshot(expected: dict[str, Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        CASES.append((func, {**OBJ, **expected}))
        return func

    return register


# -- the matrix -----------------------------------------------------------------------------------


@snapshot({"properties": {}})
def no_params() -> None:
    """Nothing."""


@snapshot({
    "properties": {"i": INT, "f": {"type": "number"}, "s": STR, "b": {"type": "boolean"}},
    "required": ["i", "f", "s", "b"],
})
def scalars(i: int, f: float, s: str, b: bool) -> None:
    """Scalars."""


@snapshot({
    "properties": {
        "name": STR,
        "count": {"type": "integer", "default": 3},
        "ratio": {"type": "number", "default": 0.5},
        "flag": {"type": "boolean", "default": False},
    },
    "required": ["name"],
})
def defaults(name: str, count: int = 3, ratio: float = 0.5, flag: bool = False) -> None:
    """Defaults are shown and make a parameter optional."""


@snapshot({"properties": {"xs": {"type": "array", "items": INT}}, "required": ["xs"]})
def list_of_int(xs: list[int]) -> None:
    """List."""


@snapshot({
    "properties": {
        "pair": {"type": "array", "prefixItems": [INT, STR], "minItems": 2, "maxItems": 2}
    },
    "required": ["pair"],
})
def fixed_tuple(pair: tuple[int, str]) -> None:
    """Tuple of two."""


@snapshot({"properties": {"xs": {"type": "array", "items": INT}}, "required": ["xs"]})
def variadic_tuple(xs: tuple[int, ...]) -> None:
    """Tuple of any length."""


@snapshot({
    "properties": {"tags": {"type": "array", "items": STR, "uniqueItems": True}},
    "required": ["tags"],
})
def set_of_str(tags: set[str]) -> None:
    """Set."""


@snapshot({
    "properties": {"scores": {"type": "object", "additionalProperties": INT}},
    "required": ["scores"],
})
def dict_of_int(scores: dict[str, int]) -> None:
    """Dict."""


@snapshot({"properties": {"x": {"anyOf": [INT, {"type": "null"}]}}, "required": ["x"]})
def optional_without_default(x: Optional[int]) -> None:  # noqa: UP045 (the spelling under test)
    """Optional with no default is required but nullable."""


@snapshot({"properties": {"x": {"anyOf": [INT, {"type": "null"}], "default": None}}})
def pipe_none_default(x: int | None = None) -> None:
    """X | None = None is optional."""


@snapshot({"properties": {"v": {"anyOf": [INT, STR]}}, "required": ["v"]})
def union(v: int | str) -> None:
    """Union."""


@snapshot({
    "properties": {"unit": {"type": "string", "enum": ["c", "f"], "default": "c"}},
})
def literal(unit: Literal["c", "f"] = "c") -> None:
    """Literal."""


@snapshot({"properties": {"one": {"type": "integer", "const": 1}}, "required": ["one"]})
def literal_single(one: Literal[1]) -> None:
    """A single-valued Literal is a const."""


@snapshot({
    "properties": {"color": {"type": "string", "enum": ["red", "blue"]}},
    "required": ["color"],
})
def str_enum(color: Color) -> None:
    """Enum, inlined (no $defs)."""


@snapshot({
    "properties": {"level": {"type": "integer", "enum": [1, 2], "default": 1}},
})
def int_enum(level: Level = Level.LOW) -> None:
    """IntEnum with an enum default, shown as its value."""


@snapshot({
    "properties": {
        "days": {"type": "integer", "minimum": 1, "maximum": 14, "description": "How many days."}
    },
    "required": ["days"],
})
def field_constraints(
    days: Annotated[int, Field(ge=1, le=14, description="How many days.")],
) -> None:
    """Field constraints."""


@snapshot({
    "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$", "minLength": 3}},
    "required": ["code"],
})
def field_pattern(code: Annotated[str, Field(pattern=r"^[A-Z]{3}$", min_length=3)]) -> None:
    """Pattern."""


@snapshot({
    "properties": {"city": {"type": "string", "description": "The city, in English."}},
    "required": ["city"],
})
def annotated_text(city: Annotated[str, "The city, in English."]) -> None:
    """Annotated[T, "text"] describes the parameter.

    Args:
        city: Loses to the Annotated text.
    """


@snapshot({
    "properties": {"q": {"type": "string", "description": "From Field."}},
    "required": ["q"],
})
def field_wins(q: Annotated[str, "From Annotated.", Field(description="From Field.")]) -> None:
    """Field(description=...) beats Annotated text and the docstring.

    Args:
        q: From the docstring.
    """


@snapshot({
    "properties": {"n": {"type": "integer", "default": 5, "description": "As a default."}},
})
def field_as_default(n: int = Field(5, description="As a default.")) -> None:
    """Field(...) given as the default value."""


@snapshot({"properties": {"p": POINT}, "required": ["p"]})
def nested_model(p: Point) -> None:
    """A pydantic model, inlined with its docstring as description."""


@snapshot({
    "properties": {"a": POINT, "b": {"anyOf": [POINT, {"type": "null"}], "default": None}},
    "required": ["a"],
})
def model_twice(a: Point, b: Point | None = None) -> None:
    """A model used twice is inlined twice: $defs only for recursion."""


@snapshot({
    "properties": {"points": {"type": "array", "items": POINT}},
    "required": ["points"],
})
def list_of_models(points: list[Point]) -> None:
    """List of models."""


@snapshot({
    "properties": {"root": {"$ref": "#/$defs/TreeNode"}},
    "required": ["root"],
    "$defs": {
        "TreeNode": {
            "type": "object",
            "properties": {
                "value": INT,
                "children": {"type": "array", "items": {"$ref": "#/$defs/TreeNode"}, "default": []},
            },
            "required": ["value"],
        }
    },
})
def recursive_model(root: TreeNode) -> None:
    """Recursive models keep $defs."""


@snapshot({
    "properties": {
        "box": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "width": {"type": "number"},
                "label": {"type": "string", "default": "box"},
            },
            "required": ["width"],
        }
    },
    "required": ["box"],
})
def dataclass_param(box: Box) -> None:
    """Dataclass."""


@snapshot({
    "properties": {
        "address": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"street": STR, "zip": STR},
            "required": ["street"],
        }
    },
    "required": ["address"],
})
def typed_dict(address: Address) -> None:
    """TypedDict with NotRequired."""


@snapshot({
    "properties": {
        "pet": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"kind": {"type": "string", "const": "cat"}, "lives": INT},
                    "required": ["kind", "lives"],
                },
                {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "const": "dog"},
                        "good": {"type": "boolean"},
                    },
                    "required": ["kind", "good"],
                },
            ]
        }
    },
    "required": ["pet"],
})
def tagged_union(pet: Annotated[Cat | Dog, Field(discriminator="kind")]) -> None:
    """Discriminated union: the OpenAPI `discriminator` is dropped with the inlined $defs."""


@snapshot({"properties": {"anything": {}}, "required": ["anything"]})
def any_value(anything: Any) -> None:
    """Any accepts any JSON value."""


@snapshot({
    "properties": {"when": {"type": "string", "format": "date-time"}},
    "required": ["when"],
})
def date_time(when: datetime.datetime) -> None:
    """Datetimes are ISO strings."""


@snapshot({"properties": {"city": STR}, "required": ["city"]})
def with_context(ctx: RunContext[int], city: str) -> None:
    """The RunContext parameter is not in the schema."""


@snapshot({
    "properties": {
        "city": {"type": "string", "description": "The city name."},
        "days": {"type": "integer", "default": 1, "description": "How many days\nto forecast."},
    },
    "required": ["city"],
})
def google_doc(city: str, days: int = 1) -> None:
    """Get the forecast.

    Args:
        city: The city name.
        days (int): How many days
            to forecast.

    Returns:
        The forecast.
    """


@snapshot({
    "properties": {
        "city": {"type": "string", "description": "The city name."},
        "days": {"type": "integer", "default": 1, "description": "How many days."},
    },
    "required": ["city"],
})
def numpy_doc(city: str, days: int = 1) -> None:
    """Get the forecast.

    Parameters
    ----------
    city : str
        The city name.
    days : int, optional
        How many days.
    """


@snapshot({
    "properties": {
        "city": {"type": "string", "description": "The city name."},
        "days": {"type": "integer", "default": 1, "description": "How many days."},
    },
    "required": ["city"],
})
def sphinx_doc(city: str, days: int = 1) -> None:
    """Get the forecast.

    :param city: The city name.
    :param days: How many days.
    :returns: The forecast.
    """


@snapshot({
    "properties": {
        "model_config": STR,
        "json": INT,
        "_private": {"type": "boolean", "default": False},
    },
    "required": ["model_config", "json"],
})
def awkward_names(model_config: str, json: int, _private: bool = False) -> None:
    """Names that would clash with pydantic (BaseModel attributes, underscores) still work."""


def test_awkward_names_validate_to_the_right_parameters() -> None:
    kwargs, _ = function_schema(awkward_names).validate({"model_config": "a", "json": 1})
    assert kwargs == {"model_config": "a", "json": 1, "_private": False}


def test_matrix_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize(("func", "expected"), CASES, ids=[f.__name__ for f, _ in CASES])
def test_schema_snapshot(func: Callable[..., Any], expected: dict[str, Any]) -> None:
    schema = function_schema(func).input_schema
    assert schema == expected
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(("func", "expected"), CASES, ids=[f.__name__ for f, _ in CASES])
def test_no_titles_anywhere(func: Callable[..., Any], expected: dict[str, Any]) -> None:
    def titles(node: Any, parent_key: str = "") -> int:
        if isinstance(node, dict):
            own = int("title" in node and parent_key != "properties")
            return own + sum(titles(v, k) for k, v in node.items())
        if isinstance(node, list):
            return sum(titles(v) for v in node)
        return 0

    assert titles(function_schema(func).input_schema) == 0


# -- descriptions ---------------------------------------------------------------------------------


def test_description_is_summary_and_body_without_sections() -> None:
    assert function_schema(google_doc).description == "Get the forecast."

    def long(x: int) -> None:
        """Summary line.

        More detail here.

        Args:
            x: An x.
        """

    assert function_schema(long).description == "Summary line.\n\nMore detail here."


def test_unparsable_docstring_warns_and_is_used_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_doc: str) -> Any:
        raise docstring_parser.ParseError("nope")

    monkeypatch.setattr(docstring_parser, "parse", broken)

    def f(x: int) -> None:
        """Do a thing.

        Args:
            x: An x.
        """

    with pytest.warns(UserWarning, match=r"Could not parse the docstring of `.*f`"):
        schema = function_schema(f)
    assert schema.description.startswith("Do a thing.")
    assert "description" not in schema.input_schema["properties"]["x"]


@pytest.mark.parametrize(
    "line",
    [
        "Add two integers.",
        "  Look it up  ",
        "Returns the sum",
        "Args",
        "Raises ValueError",
        "- a bullet",
        "`code` and *emph*",
        "Ünïcode ✓",
        "Parameters",
        "-----",
    ],
)
def test_a_one_line_docstring_is_described_as_docstring_parser_reads_it(line: str) -> None:
    # One line with no ':' or '@' skips the parser (its first parse costs ~5 ms of CPU at
    # start-up); this pins that the result is the parser's.
    def f(x: int) -> None: ...

    f.__doc__ = line
    parsed = docstring_parser.parse(inspect.getdoc(f) or "")
    parts = (parsed.short_description, parsed.long_description)
    expected = "\n\n".join(p for p in parts if p).strip()
    schema = function_schema(f)
    assert schema.description == expected == line.strip()
    assert "description" not in schema.input_schema["properties"]["x"]


def test_method_skips_self() -> None:
    class Service:
        def lookup(self, key: str) -> None:
            """Look up."""

    schema = function_schema(Service.lookup, skip_first=True)
    assert schema.input_schema["properties"] == {"key": STR}


# -- refusals at definition time ------------------------------------------------------------------


def star_args(*names: str) -> None:
    """Varargs."""


def star_kwargs(**options: int) -> None:
    """Kwargs."""


def unannotated(x) -> None:  # type: ignore[no-untyped-def]
    """No annotation."""


def bare_object(x: object) -> None:
    """Object."""


def callable_param(fn: Callable[[int], int]) -> None:
    """Callable."""


def bytes_param(data: bytes) -> None:
    """Bytes."""


def nested_bytes(chunks: list[bytes]) -> None:
    """Bytes in a list."""


class _Plain:
    pass


def arbitrary_class(thing: _Plain) -> None:
    """A class pydantic cannot describe."""


class _OldTypedDict(typing.TypedDict):
    a: int


def typing_typed_dict(d: _OldTypedDict) -> None:
    """typing.TypedDict is refused by pydantic on Python < 3.12."""


def two_contexts(a: RunContext[Any], b: RunContext[Any]) -> None:
    """Two contexts."""


@pytest.mark.parametrize(
    ("func", "fragment"),
    [
        (star_args, "`*names` in `star_args`"),
        (star_kwargs, "`**options` in `star_kwargs`"),
        (unannotated, "parameter `x` of `unannotated` has no type annotation"),
        (bare_object, "parameter `x` of `bare_object` is annotated `object`"),
        (callable_param, "parameter `fn` of `callable_param` has a type the model cannot"),
        (bytes_param, "parameter `data` of `bytes_param` is or contains `bytes`"),
        (nested_bytes, "parameter `chunks` of `nested_bytes` is or contains `bytes`"),
        (arbitrary_class, "parameter `thing` of `arbitrary_class` has a type the model cannot"),
        (two_contexts, "parameter `b` of `two_contexts`"),
    ],
    ids=lambda v: getattr(v, "__name__", "msg"),
)
def test_refused_with_function_and_parameter_named(
    func: Callable[..., Any], fragment: str
) -> None:
    with pytest.raises(UsageError) as info:
        function_schema(func)
    assert fragment in str(info.value)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="typing.TypedDict works from 3.12")
def test_typing_typed_dict_refused_before_312() -> None:
    pattern = r"parameter `d` of `typing_typed_dict`.*typing_extensions"
    with pytest.raises(UsageError, match=pattern):
        function_schema(typing_typed_dict)


def test_unresolvable_string_annotation() -> None:
    def f(x: NotDefinedAnywhere) -> None:  # type: ignore[name-defined] # noqa: F821
        """Forward ref to nothing."""

    with pytest.raises(UsageError, match=r"Cannot resolve the type annotations of `.*f`"):
        function_schema(f)


# -- validation -----------------------------------------------------------------------------------


class Order(BaseModel):
    sku: str
    qty: Annotated[int, Field(ge=1)]


def order(items: list[Order], note: str = "", urgent: bool = False) -> None:
    """Place an order."""


ORDER = function_schema(order)


def test_valid_input_gives_python_values() -> None:
    kwargs, errors = ORDER.validate({"items": [{"sku": "a", "qty": 2}]})
    assert errors == []
    assert kwargs == {"items": [Order(sku="a", qty=2)], "note": "", "urgent": False}


def test_errors_name_field_path_expected_and_received() -> None:
    kwargs, errors = ORDER.validate({"items": [{"sku": "a", "qty": 0}, {"qty": "x"}], "urgnt": 1})
    assert kwargs is None
    assert errors == [
        FieldError("items[0].qty", "Input should be greater than or equal to 1",
                   '{"minimum":1,"type":"integer"}', "0"),
        FieldError("items[1].sku", "Field required", '{"type":"string"}', None),
        FieldError("items[1].qty", "Input should be a valid integer, unable to parse string as "
                   "an integer", '{"minimum":1,"type":"integer"}', '"x"'),
        FieldError("urgnt", "Extra inputs are not permitted",
                   "no such parameter (the parameters are: `items`, `note`, `urgent`)", "1"),
    ]


def test_missing_required_parameter() -> None:
    _, errors = ORDER.validate({})
    assert [(e.path, e.message, e.received) for e in errors] == [
        ("items", "Field required", None)
    ]
    assert errors[0].expected is not None and '"type":"array"' in errors[0].expected


def test_input_that_is_not_an_object() -> None:
    _, errors = ORDER.validate(["items"])
    assert errors == [FieldError("", "Input should be a JSON object",
                                 "a JSON object of the tool's parameters", '["items"]')]


def test_union_member_tags_are_not_shown_as_fields() -> None:
    def f(v: int | list[int], p: Point | str) -> None:
        """Union."""

    _, errors = function_schema(f).validate({"v": "x", "p": {"x": "y"}})
    assert [e.path for e in errors] == ["v", "v", "p.x", "p"]


def test_long_values_are_previewed_briefly() -> None:
    _, errors = ORDER.validate({"items": "z" * 5000})
    assert errors[0].received is not None and len(errors[0].received) <= 200
    assert errors[0].received.endswith("…")


# -- strict mode ----------------------------------------------------------------------------------


def test_strict_schema_closes_objects_and_moves_constraints_to_descriptions() -> None:
    def f(
        days: Annotated[int, Field(ge=1, le=14, description="Days.")],
        tags: Annotated[list[str], Field(min_length=1, max_length=3)],
        box: Box,
    ) -> None:
        """Strict."""

    schema = strict_schema(function_schema(f).input_schema)
    assert schema["properties"] == {
        "days": {"type": "integer", "description": 'Days.\n\n{minimum: 1, maximum: 14}'},
        "tags": {"type": "array", "items": STR, "minItems": 1, "description": "{maxItems: 3}"},
        "box": {**function_schema(dataclass_param).input_schema["properties"]["box"]},
    }
    assert strict_schema({"type": "object", "properties": {"p": POINT}})["properties"]["p"][
        "additionalProperties"] is False
    Draft202012Validator.check_schema(schema)
