"""Structured output: an `output_type` becomes a tool the model calls with its final answer.

A tool works with every model and gateway, and with thinking on (where forcing a tool is
rejected, the engine leaves `tool_choice` on auto and asks again if the model answers in
text). Object types (pydantic models, dataclasses, TypedDicts) are the tool's input as is;
any other type is wrapped as `{"result": ...}` because a tool input must be an object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, PydanticUserError, TypeAdapter, ValidationError

from .._errors import UsageError
from .json_schema import clean_schema, is_object

__all__ = ["OUTPUT_TOOL_NAME", "OutputSpec"]

OUTPUT_TOOL_NAME = "final_result"


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """How to ask for and check one output type."""

    tool_param: dict[str, Any]
    adapter: TypeAdapter[Any]
    wrapped: bool

    @classmethod
    def build(cls, output_type: Any, *, name: str = OUTPUT_TOOL_NAME) -> OutputSpec:
        """Raises `UsageError` for a type the model cannot be asked for, naming it."""
        try:
            adapter: TypeAdapter[Any] = TypeAdapter(output_type)
            schema = clean_schema(adapter.json_schema())
        except PydanticUserError as exc:
            # pydantic's advice (`arbitrary_types_allowed` in a model_config) is not for this.
            reason = str(exc).split("\n", 1)[0].split(" Set `arbitrary_types_allowed", 1)[0]
            reason = reason.rstrip(".")
            raise UsageError(
                f"output_type={output_type!r} is a type the model cannot be asked for "
                f"({reason}). Use a pydantic model, a dataclass, a TypedDict (from "
                "typing_extensions before Python 3.12) or a JSON-friendly type: str, int, "
                "float, bool, list[...], dict[str, ...], Literal, Enum"
            ) from exc
        wrapped = schema.get("type") != "object"
        if wrapped:
            schema = {"type": "object", "properties": {"result": schema}, "required": ["result"]}
        description = "Give the final answer of the task. Call this once, when you are done."
        doc = getattr(output_type, "__doc__", None)
        if isinstance(output_type, type) and issubclass(output_type, BaseModel) and doc:
            description += f" The answer: {doc.strip()}"
        param = {"name": name, "description": description, "input_schema": schema}
        return cls(param, adapter, wrapped)

    def parse(self, data: object) -> Any:
        """Validate the model's answer; raises ValueError naming each field that is wrong."""
        if self.wrapped:
            if not is_object(data) or "result" not in data:
                raise ValueError('expected an object {"result": ...}')
            data = data["result"]
        try:
            return self.adapter.validate_python(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']} (got {e['input']!r:.80})"
                for e in exc.errors()
            )
            raise ValueError(problems) from None
