"""JSON as UTF-8 bytes for any value the wire holds, lone surrogates included.

A reply may spell a lone surrogate as an escape (`"a\\ud800b"`: valid JSON, read by the
stdlib as the str `'a\\ud800b'`), and a tool's text may hold one (an OS file name decoded with
`surrogateescape`). UTF-8 cannot carry such a character, so the fast encoders (orjson,
pydantic_core) refuse the whole value, and `json.dumps(..., ensure_ascii=False).encode()`
fails. Rules kept here:

- **Nothing is lost.** A lone surrogate is written back as the `\\udXXX` escape it came as:
  the JSON means what it meant, and the API reads it as it sent it.
- **The fast encoder goes first.** The fallback runs only when it refuses, so a value without
  a lone surrogate costs nothing more.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core

__all__ = ["ESCAPE", "escaped_text", "escaped_utf8", "stdlib_json", "to_json"]

ESCAPE = "backslashreplace"
"""The codec error handler that writes a character the encoding cannot carry (for UTF-8, a lone
surrogate) as its escape, `\\ud800`: JSON's own spelling of it, and one a person can read. Also
what a text stream showing such values uses (the command line's stdout and stderr)."""


def escaped_utf8(text: str) -> bytes:
    """JSON text as UTF-8, each lone surrogate as its `\\udXXX` escape. In JSON text such a
    character can only stand inside a string, where the escape means the same."""
    return text.encode(errors=ESCAPE)


def escaped_text(text: str) -> str:
    """`text` as a str UTF-8 can carry, each lone surrogate as its `\\udXXX` escape (`text`
    itself when it holds none: ASCII text at once). For text going where UTF-8 is required and
    no JSON escaping happens: a tool result's text, a span attribute, a SQLite value."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return escaped_utf8(text).decode()
    return text


def stdlib_json(value: Any, **options: Any) -> bytes:
    """`value` as compact JSON by the stdlib, non-ASCII kept, lone surrogates escaped: what the
    fast encoders refuse (also integers beyond 64 bits, non-string keys). `options` go to
    `json.dumps` (`sort_keys`, `default`). Raises `TypeError`/`ValueError` as it does."""
    return escaped_utf8(json.dumps(value, ensure_ascii=False, separators=(",", ":"), **options))


def to_json(value: Any, **options: Any) -> bytes:
    """`pydantic_core.to_json(value, **options)`, or, for a value holding a lone surrogate it
    refuses, the same JSON by the stdlib with the surrogate escaped.

    Raises `pydantic_core.PydanticSerializationError` for a value that is not JSON at all.
    """
    try:
        return pydantic_core.to_json(value, **options)
    except pydantic_core.PydanticSerializationError as exc:
        try:
            jsonable = pydantic_core.to_jsonable_python(value, **options)  # raises as to_json did
        except ValueError:  # bytes not UTF-8, a value holding itself: no JSON, as to_json said
            raise exc from None
        return stdlib_json(jsonable)
