"""The client's credentials and their redaction, in every spelling a reply may echo them.

Owns `credential` (an argument or environment variable, checked), `split_base_url` (a user name
and password in the base URL become a Basic `Authorization` header, and the URL kept for
display, logs and errors has none) and `Redactor`. Why here and not in `sansio.py`: every way
a secret could leak, and the reason it cannot, in one place.

Rules:
- A credential must be printable ASCII, the only thing an HTTP header can carry: anything else
  is refused before the HTTP library could raise an error that quotes it.
- `Redactor.redact` replaces each secret as sent, JSON-escaped (`\\/`, `\\uXXXX`) and
  percent-encoded; a JSON body is also decoded and its strings scrubbed, so no escaping a
  server chooses lets a secret through.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable
from typing import Any, cast
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from .._errors import UsageError
from .jsonbytes import escaped_utf8

__all__ = ["REDACTED", "Redactor", "credential", "split_base_url"]

REDACTED = "<redacted>"


def credential(name: str, value: str | None, variable: str) -> str | None:
    """The argument, else the environment variable, trimmed of surrounding whitespace.

    Raises `UsageError`, without repeating the value, for a line break, a control character
    or a character outside ASCII (a header cannot carry it; the HTTP library's own error
    would quote the whole key).
    """
    value = (value or os.environ.get(variable) or "").strip()
    if not value.isprintable():
        raise UsageError(
            f"{name} (or {variable}) contains a line break or control character; "
            "check how the key was copied or read"
        )
    if not value.isascii():
        position = next(i for i, char in enumerate(value) if not char.isascii())
        raise UsageError(
            f"{name} (or {variable}) contains a non-ASCII character at position {position}; "
            "keys are plain ASCII: check how the key was copied (a typographic quote or dash?)"
        )
    return value or None


def display_url(url: str) -> str:
    """`url` without any user name or password, fit for messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def split_base_url(url: str) -> tuple[str, str | None, tuple[str, ...]]:
    """`url` without its user information; the Basic `Authorization` value it carried (None
    without); and the secrets to redact (the password, the encoded header value).

    Raises `UsageError` (the URL shown without a password) unless it is an http(s) URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"base_url must be an http(s) URL like https://api.anthropic.com: {display_url(url)!r}"
        )
    if "@" not in parts.netloc:
        return url, None, ()
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    for part in (user, password):
        if not (part.isprintable() and part.isascii()):
            raise UsageError(
                "the user name or password in base_url has a non-ASCII or control character"
            )
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    secrets = tuple(s for s in (password, parts.password or "", token) if s)
    return display_url(url), f"Basic {token}", secrets


def _scrub(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` (decoded JSON) with every secret inside a string replaced."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in cast(list[Any], value)]
    if isinstance(value, dict):
        pairs = cast(dict[Any, Any], value).items()
        return {_scrub(key, secrets): _scrub(item, secrets) for key, item in pairs}
    return value


class Redactor:
    """Removes a fixed set of secrets from bodies, however they are escaped."""

    __slots__ = ("_forms", "_secrets")

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        forms: set[str] = set()
        for secret in self._secrets:
            spelled = {
                secret,
                json.dumps(secret)[1:-1],
                json.dumps(secret, ensure_ascii=False)[1:-1],
                quote(secret, safe=""),
            }
            forms |= spelled | {form.replace("/", "\\/") for form in spelled}
        self._forms = tuple(f.encode() for f in sorted(forms, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def redact(self, body: bytes) -> bytes:
        """`body` with every spelling of every secret replaced (a gateway may echo it)."""
        for form in self._forms:
            if form in body:
                body = body.replace(form, REDACTED.encode())
        if self._secrets and b"\\" in body:  # escapes the forms above may not have covered
            try:
                decoded = json.loads(body)
            except ValueError:
                return body
            scrubbed = _scrub(decoded, self._secrets)
            if scrubbed != decoded:
                body = escaped_utf8(json.dumps(scrubbed, ensure_ascii=False))
        return body
