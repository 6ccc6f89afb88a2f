"""JSON Schema reshaping: a clean schema for the model, and the shape strict tool use accepts.

Owns pure transforms of JSON Schema dicts (no validation, no pydantic), and `ref_problem`, the
check that a hand-written schema's `$ref`s can be followed at all. Rules: a transform walks
only the keywords that hold subschemas, so a property that happens to be named like a keyword
(`title`, `items`) is left alone; it returns a new schema and never changes its input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeGuard
from urllib.parse import unquote

__all__ = ["clean_schema", "contains_binary", "is_array", "is_object", "ref_problem",
           "strict_schema"]

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
# Keywords that apply a subschema to the same value (not to a field or item of it).
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_LIST = ("allOf", "anyOf", "oneOf")


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


def ref_problem(schema: dict[str, Any]) -> str | None:
    """What makes `schema`'s `$ref`s impossible to follow, or None: one that points outside
    the schema (nothing is ever fetched), one that points at nothing in it, or a loop of refs
    (and `allOf`-like keywords) that comes back to where it started without going into a field
    or item of the input, which a validator follows until it runs out of stack. A schema with
    an `$id` (refs resolved against it) or refs by anchor (`#name`) is left to the validator."""
    if "$id" in schema:
        return None
    nodes: list[tuple[str, dict[str, Any]]] = []

    def collect(node: Any, path: str) -> None:
        if not is_object(node):
            return
        nodes.append((path, node))
        for key, value in node.items():
            if key in _SCHEMA_MAPS and is_object(value):
                for name, sub in value.items():
                    collect(sub, f"{path}/{key}/{name}")
            elif key in _SCHEMA_ONE:
                collect(value, f"{path}/{key}")
            elif key in _SCHEMA_LIST and is_array(value):
                for i, sub in enumerate(value):
                    collect(sub, f"{path}/{key}/{i}")

    collect(schema, "#")
    where = {id(node): path for path, node in nodes}
    for path, node in nodes:
        ref = node.get("$ref")
        if not isinstance(ref, str) or (ref.startswith("#") and not ref.startswith("#/")
                                        and ref != "#"):
            continue
        if not ref.startswith("#"):
            return (f"the $ref {ref!r} at {path} points outside the schema, and nothing is "
                    "fetched: put what it names in $defs and refer to it as '#/$defs/...'")
        if _pointed(schema, ref) is None:
            return f"the $ref {ref!r} at {path} points at nothing in the schema"

    def same_place(node: dict[str, Any]) -> Iterator[Any]:
        ref = node.get("$ref")
        if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
            yield _pointed(schema, ref)
        yield from (node.get(key) for key in _IN_PLACE_ONE)
        for key in _IN_PLACE_LIST:
            listed: object = node.get(key)
            if is_array(listed):
                yield from listed

    done: set[int] = set()
    for _, start in nodes:  # depth-first along same-place edges; a node met on its own path
        stack: list[tuple[dict[str, Any], Iterator[Any]]] = [(start, same_place(start))]
        on_path = {id(start)}
        while stack:
            node, nexts = stack[-1]
            step = next(nexts, stack)
            if step is stack:
                stack.pop()
                on_path.discard(id(node))
                done.add(id(node))
            elif is_object(step) and id(step) in on_path:
                return (f"the $ref at {where.get(id(node), '#')} loops back to "
                        f"{where.get(id(step), '#')} without going into a field or item of "
                        "the input, so no input could ever be checked against it")
            elif is_object(step) and id(step) not in done:
                stack.append((step, same_place(step)))
                on_path.add(id(step))
    return None


def _pointed(schema: dict[str, Any], ref: str) -> Any:
    """What the JSON pointer `ref` (`#/...`) names in `schema`, or None."""
    node: Any = schema
    for raw in ref[2:].split("/") if ref != "#" else ():
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if is_object(node) and part in node:
            node = node[part]
        elif is_array(node) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
