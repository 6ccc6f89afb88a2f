"""JSON Schema reshaping: a clean schema for the model, and the shape strict tool use accepts.

Owns pure transforms of JSON Schema dicts (no validation, no pydantic). Rules: a transform walks
only the keywords that hold subschemas, so a property that happens to be named like a keyword
(`title`, `items`) is left alone; it returns a new schema and never changes its input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard

__all__ = ["clean_schema", "contains_binary", "is_array", "is_object", "strict_schema"]

# JSON Schema keywords whose value is a map of name → subschema, a subschema, or a list of them.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions",
                          "dependentSchemas"})
_SCHEMA_ONE = frozenset({"items", "additionalProperties", "unevaluatedProperties", "not",
                         "contains", "propertyNames", "if", "then", "else", "unevaluatedItems",
                         "additionalItems"})
_SCHEMA_LIST = frozenset({"anyOf", "allOf", "oneOf", "prefixItems"})
# `title` is noise to the model; `discriminator` is OpenAPI, not JSON Schema, and its mapping
# points at `$defs` entries we may have inlined.
_DROPPED = frozenset({"title", "discriminator", "$defs"})
# Constraints strict tool use cannot enforce (its grammar rejects them); `minItems` above 1 too.
_STRICT_MOVED = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
                 "minLength", "maxLength", "maxItems", "uniqueItems", "minItems")
_DEFS = "#/$defs/"


def is_object(node: object) -> TypeGuard[dict[str, Any]]:
    """Whether a JSON value is an object (JSON objects have string keys)."""
    return isinstance(node, dict)


def is_array(node: object) -> TypeGuard[list[Any]]:
    """Whether a JSON value is an array."""
    return isinstance(node, list)


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Return `schema` without titles, with non-recursive `$defs` inlined.

    Only definitions that refer to themselves (directly or through others) stay in `$defs`;
    everything else is inlined where it is used, so the model reads one self-contained object.
    """
    defs: dict[str, Any] = schema.get("$defs", {})
    recursive = _recursive_defs(defs)

    def walk(node: Any) -> Any:
        if not is_object(node):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS):
            name = ref[len(_DEFS):]
            if name in defs and name not in recursive:
                merged = dict(walk(defs[name]))
                merged.update(walk({k: v for k, v in node.items() if k != "$ref"}))
                return merged
        return _map_subschemas({k: v for k, v in node.items() if k not in _DROPPED}, walk)

    cleaned: dict[str, Any] = walk(schema)
    kept = {name: walk(defs[name]) for name in defs if name in recursive}
    if kept:
        cleaned["$defs"] = kept
    return cleaned


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Return `schema` shaped for a `strict: true` tool definition.

    Every object gets `additionalProperties: false`, and constraints strict mode cannot
    enforce move into the description (as the official SDKs do); agentkit still validates
    them before the call, so nothing is lost.
    """

    def walk(node: Any) -> Any:
        if not is_object(node):
            return node
        moved = {k: node[k] for k in _STRICT_MOVED if k in node
                 and not (k == "minItems" and node[k] in (0, 1))}
        out = _map_subschemas({k: v for k, v in node.items() if k not in moved}, walk)
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("additionalProperties", False)
        if moved:
            note = "{" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in moved.items()) + "}"
            description = out.get("description")
            out["description"] = f"{description}\n\n{note}" if description else note
        return out

    return walk(schema)


def _map_subschemas(node: dict[str, Any], fn: Callable[[Any], Any]) -> dict[str, Any]:
    """Copy one schema object, applying `fn` to each direct subschema (keyword-aware)."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and is_object(value):
            out[key] = {k: fn(v) for k, v in value.items()}
        elif key in _SCHEMA_ONE:
            out[key] = fn(value)
        elif key in _SCHEMA_LIST and is_array(value):
            out[key] = [fn(v) for v in value]
        else:
            out[key] = value
    return out


def _refs(node: object) -> Iterator[str]:
    if is_object(node):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_DEFS):
            yield ref[len(_DEFS):]
        for value in node.values():
            yield from _refs(value)
    elif is_array(node):
        for value in node:
            yield from _refs(value)


def _recursive_defs(defs: dict[str, Any]) -> set[str]:
    edges = {name: set(_refs(d)) for name, d in defs.items()}
    recursive: set[str] = set()
    for start in defs:
        seen: set[str] = set()
        stack = list(edges[start])
        while stack:
            name = stack.pop()
            if name == start:
                recursive.add(start)
                break
            if name not in seen and name in edges:
                seen.add(name)
                stack.extend(edges[name])
    return recursive


def contains_binary(node: object) -> bool:
    """Whether a schema holds a binary string anywhere (pydantic's schema for `bytes`)."""
    if is_object(node):
        if node.get("format") == "binary" and node.get("type") == "string":
            return True
        return any(contains_binary(v) for v in node.values())
    if is_array(node):
        return any(contains_binary(v) for v in node)
    return False
