"""`Cassette`: record real exchanges with the Messages API once, replay them offline in tests.

A cassette is a folder of exchange files, one HTTP exchange each, in the format of the
project's own corpus of real recordings (`../shared/conformance/real/`, see its SOURCES.md):
`{source, name, description, provenance, notes, features, request, response}`, the request's
`method`, `host`, `path`, `headers`, `removed_headers` and parsed JSON `body`; the response's
`status`, `headers`, `removed_headers`, and either `body` (parsed JSON, with `text`: the bytes
exactly as received) or `sse` (the event stream exactly as received). So a folder of the corpus
replays as a cassette, and a user's cassette reads like the corpus.

Recording wraps a real transport and writes each exchange as it completes. Credentials never
reach the file: auth headers (`x-api-key`, `authorization`, cookies, organization ids) are
dropped and named in `removed_headers`, and the key itself (read from the request's headers,
plus any string given in `redact=`) is replaced wherever it appears, also JSON-escaped or
URL-encoded, in headers, URLs and bodies; a file that would still hold it is not written.
Replay serves each request the first unplayed exchange whose request matches it, and raises
`CassetteError` (a test failure) naming the nearest recorded request and where it differs.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

import httpx
import orjson

from .._api.jsonbytes import escaped_utf8, stdlib_json
from .._errors import CassetteError

__all__ = ["Cassette", "Matcher"]

Matcher = Callable[[dict[str, Any], dict[str, Any]], str | None]
"""`(recorded request, sent request) -> None` when they match, else what differs (in words).
Both are exchange-file requests: `method`, `path` and `body` (parsed JSON or None)."""

_SECRET_HEADERS = frozenset({
    "x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie",
    "anthropic-organization-id", "anthropic-workspace-id", "openai-organization",
})
_TRANSPORT_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding",
                                "connection", "keep-alive"})
_REDACTED = "<REDACTED>"
_NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)


class Cassette:
    """The exchanges in the folder `path`, recorded or replayed.

    `mode`: `"replay"` serves the recorded exchanges and never touches the network;
    `"record"` sends every request to the real API (through `transport(inner)`) and writes
    the exchanges, replacing what the folder held; `"auto"` (the default) replays when the
    folder holds exchanges and records otherwise. The environment variable
    `AGENTKIT_CASSETTE=record` (or `replay`) overrides it, to record a suite's cassettes again.
    `match`: `"body"` (method, path and JSON body must be equal), `"path"` (method and path),
    or a `Matcher`. `redact`: more strings never to write (the API key is always redacted).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        mode: Literal["auto", "record", "replay"] = "auto",
        match: Literal["body", "path"] | Matcher = "body",
        redact: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        chosen = os.environ.get("AGENTKIT_CASSETTE") or mode
        if chosen not in ("auto", "record", "replay"):
            raise CassetteError(
                f"AGENTKIT_CASSETTE={chosen!r}: use 'record', 'replay' or leave it unset"
            )
        if chosen == "auto":
            chosen = "replay" if _exchange_files(self.path) else "record"
        self.mode: Literal["record", "replay"] = chosen
        self._match = _MATCHERS[match] if isinstance(match, str) else match
        self._redact = [s for s in redact if s]
        self.exchanges: list[dict[str, Any]] = []
        """What was recorded, or what is there to replay, in order."""
        self.played: list[bool] = []
        if self.mode == "replay":
            files = _exchange_files(self.path)
            if not files:
                raise CassetteError(
                    f"cassette {self.path} holds no exchanges to replay; record it first "
                    "(mode='record', or AGENTKIT_CASSETTE=record with a real API key)"
                )
            self.exchanges = [json.loads(f.read_text(encoding="utf-8")) for f in files]
            self.played = [False] * len(self.exchanges)
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            for old in _exchange_files(self.path):
                old.unlink()

    @property
    def recording(self) -> bool:
        return self.mode == "record"

    def transport(self, inner: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncBaseTransport:
        """An async httpx transport for `AsyncClient(transport=...)`: replaying, or recording
        what `inner` exchanges (default: a real HTTP transport that keeps no connection open
        between requests, so a recording client left unclosed leaks nothing)."""
        if self.mode == "replay":
            return _AsyncReplay(self)
        return _AsyncRecord(self, inner or httpx.AsyncHTTPTransport(limits=_NO_KEEPALIVE))

    def sync_transport(self, inner: httpx.BaseTransport | None = None) -> httpx.BaseTransport:
        """The same for the synchronous `Client(transport=...)`."""
        if self.mode == "replay":
            return _SyncReplay(self)
        return _SyncRecord(self, inner or httpx.HTTPTransport(limits=_NO_KEEPALIVE))

    def unplayed(self) -> list[str]:
        """Names of the recorded exchanges no request has asked for (replay)."""
        return [e.get("name", str(i)) for i, e in enumerate(self.exchanges) if not self.played[i]]

    def assert_all_played(self) -> None:
        """Raise `CassetteError` when some recorded exchange was never asked for: the code
        under test now sends fewer requests than when it was recorded."""
        left = self.unplayed() if self.mode == "replay" else []
        if left:
            raise CassetteError(
                f"cassette {self.path}: {len(left)} recorded exchange(s) never requested: "
                f"{', '.join(left)}; the code sends fewer requests than when recorded "
                "(record again with AGENTKIT_CASSETTE=record)"
            )

    # -- replay --------------------------------------------------------------------------------

    def _answer(self, request: httpx.Request, body: bytes) -> httpx.Response:
        sent = _request_record(request, body)
        nearest: tuple[int, str] | None = None
        for i, exchange in enumerate(self.exchanges):
            if self.played[i]:
                continue
            differs = self._match(exchange["request"], sent)
            if differs is None:
                self.played[i] = True
                return _response(exchange["response"], request)
            if nearest is None:
                nearest = (i, differs)
        where = f"{sent['method']} {sent['path']}"
        if nearest is None:
            raise CassetteError(
                f"cassette {self.path}: a request ({where}) after all {len(self.exchanges)} "
                "recorded exchanges were played; the code sends more requests than when "
                "recorded (record again with AGENTKIT_CASSETTE=record)"
            )
        name = self.exchanges[nearest[0]].get("name", str(nearest[0]))
        raise CassetteError(
            f"cassette {self.path}: the request ({where}) matches no unplayed exchange; the "
            f"next one, {name}, differs: {nearest[1]}. Record again with "
            "AGENTKIT_CASSETTE=record, or compare less (match='path' or a function)"
        )

    # -- record --------------------------------------------------------------------------------

    def _record(self, request: httpx.Request, body: bytes, response: httpx.Response,
                content: bytes) -> None:
        secrets = [*self._redact, *_keys(request)]
        index = len(self.exchanges) + 1
        exchange: dict[str, Any] = {
            "source": {
                "recorder": "agentkit.testing.Cassette",
                "recorded": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            "name": f"{index:03d}",
            "description": "",
            "provenance": "live_recording",
            "notes": [],
            "features": [],
            "request": _request_record(request, body, keep_headers=True),
            "response": _response_record(response, content),
        }
        exchange["features"] = _features(exchange)
        text = _scrub(json.dumps(exchange, indent=1, ensure_ascii=False), secrets)
        # A lone surrogate (a body's escaped "\ud800") as the escape it came as: UTF-8 cannot
        # carry it, and json.loads reads it back the same.
        (self.path / f"{index:03d}.json").write_bytes(escaped_utf8(text + "\n"))
        self.exchanges.append(json.loads(text))
        self.played.append(True)


# -- the transports ----------------------------------------------------------------------------


class _AsyncReplay(httpx.AsyncBaseTransport):
    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self.cassette._answer(request, await request.aread())  # pyright: ignore[reportPrivateUsage]


class _SyncReplay(httpx.BaseTransport):
    def __init__(self, cassette: Cassette) -> None:
        self.cassette = cassette

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.cassette._answer(request, request.read())  # pyright: ignore[reportPrivateUsage]


class _AsyncRecord(httpx.AsyncBaseTransport):
    def __init__(self, cassette: Cassette, inner: httpx.AsyncBaseTransport) -> None:
        self.cassette, self.inner = cassette, inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        response = await self.inner.handle_async_request(request)
        try:
            content = b"".join([chunk async for chunk in _decoded(response)])
        finally:
            await response.aclose()
        self.cassette._record(request, body, response, content)  # pyright: ignore[reportPrivateUsage]
        return _replayed(response, content, request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _SyncRecord(httpx.BaseTransport):
    def __init__(self, cassette: Cassette, inner: httpx.BaseTransport) -> None:
        self.cassette, self.inner = cassette, inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        response = self.inner.handle_request(request)
        try:
            content = response.read()
        finally:
            response.close()
        self.cassette._record(request, body, response, content)  # pyright: ignore[reportPrivateUsage]
        return _replayed(response, content, request)

    def close(self) -> None:
        self.inner.close()


async def _decoded(response: httpx.Response) -> AsyncIterator[bytes]:
    async for chunk in response.aiter_bytes():
        yield chunk


# -- exchange files ----------------------------------------------------------------------------


def _exchange_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if p.is_file())


def _request_record(
    request: httpx.Request, body: bytes, *, keep_headers: bool = False
) -> dict[str, Any]:
    path = request.url.raw_path.decode("ascii", "replace")
    record: dict[str, Any] = {"method": request.method, "host": request.url.host, "path": path}
    if keep_headers:
        record["headers"], record["removed_headers"] = _headers(request.headers)
    record["body"] = _json_or_text(body)
    return record


def _response_record(response: httpx.Response, content: bytes) -> dict[str, Any]:
    headers, removed = _headers(response.headers)
    record: dict[str, Any] = {"status": response.status_code, "headers": headers,
                              "removed_headers": removed}
    text = content.decode("utf-8", "replace")
    if "text/event-stream" in response.headers.get("content-type", ""):
        record["sse"] = text
    else:
        record["body"] = _json_or_text(content)
        record["text"] = text
    return record


def _headers(headers: httpx.Headers) -> tuple[dict[str, str], list[str]]:
    kept: dict[str, str] = {}
    removed: list[str] = []
    for name, value in headers.items():
        lower = name.lower()
        if lower in _SECRET_HEADERS or lower in _TRANSPORT_HEADERS:
            removed.append(lower)
        else:
            kept[lower] = value
    return kept, sorted(set(removed))


def _json_or_text(content: bytes) -> Any:
    if not content:
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        pass
    try:  # JSON orjson refuses (an escaped lone surrogate, "\ud800"), as the client reads it
        return json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")


def _response(record: dict[str, Any], request: httpx.Request) -> httpx.Response:
    """The recorded response, as the transport hands it over."""
    headers = dict(record.get("headers") or {})
    if "sse" in record:
        content = str(record["sse"]).encode()
        headers.setdefault("content-type", "text/event-stream")
    elif "text" in record:
        content = str(record["text"]).encode()
    else:  # a corpus file: parsed JSON only
        body = record.get("body")
        content = b"" if body is None else _dumps(body)
        headers.setdefault("content-type", "application/json")
    for name in _TRANSPORT_HEADERS:
        headers.pop(name, None)
    return httpx.Response(int(record["status"]), headers=headers, content=content,
                          request=request)


def _dumps(body: object) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:  # a lone surrogate, a big integer: the stdlib, the surrogate escaped
        return stdlib_json(body)


def _replayed(response: httpx.Response, content: bytes, request: httpx.Request) -> httpx.Response:
    """The live response again, its body already read (and decoded) for the recording."""
    headers = [(k, v) for k, v in response.headers.items()
               if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
    return httpx.Response(response.status_code, headers=headers, content=content,
                          request=request)


def _features(exchange: dict[str, Any]) -> list[str]:
    response = exchange["response"]
    found = {f"status:{response['status']}"}
    body = response.get("body")
    if "sse" in response:
        found.add("stream")
        for stop in ("end_turn", "tool_use", "max_tokens", "pause_turn", "refusal"):
            if f'"stop_reason":"{stop}"' in response["sse"]:
                found.add(f"stop_reason:{stop}")
    elif isinstance(body, dict):
        stop = cast(dict[str, Any], body).get("stop_reason")
        if stop:
            found.add(f"stop_reason:{stop}")
    return sorted(found)


# -- secrets -----------------------------------------------------------------------------------


def _keys(request: httpx.Request) -> list[str]:
    """The credentials a request carries."""
    found: list[str] = []
    for name in ("x-api-key", "authorization", "proxy-authorization"):
        value = request.headers.get(name)
        if value:
            found.append(value)
            if " " in value:  # "Bearer <token>"
                found.append(value.split(" ", 1)[1])
    return [k for k in found if len(k) >= 8]


def _pattern(secret: str) -> re.Pattern[str]:
    """`secret` as it may appear in a recording: as is, JSON-escaped to any depth (`\\/`,
    `\\u00e9`, `\\\\/` when a JSON text is itself kept in a JSON string), percent-encoded."""
    parts: list[str] = []
    for char in secret:
        ways = {re.escape(char)}
        if not (char.isascii() and char.isalnum()):
            ways.add(rf"\\*u{ord(char):04x}")
            ways.add("".join(f"%{b:02x}" for b in char.encode()))
            if char in '/"\\':
                ways.add(r"\\+" + re.escape(char))
            if char == " ":
                ways.add(r"\+")
        parts.append("(?:" + "|".join(sorted(ways)) + ")")
    return re.compile("".join(parts), re.IGNORECASE)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = _pattern(secret).sub(_REDACTED, text)
    return text


# -- matching ----------------------------------------------------------------------------------


def _by_path(recorded: dict[str, Any], sent: dict[str, Any]) -> str | None:
    for key in ("method", "path"):
        if recorded.get(key) != sent.get(key):
            return f"{key}: recorded {recorded.get(key)!r}, sent {sent.get(key)!r}"
    return None


def _by_body(recorded: dict[str, Any], sent: dict[str, Any]) -> str | None:
    return _by_path(recorded, sent) or _difference(recorded.get("body"), sent.get("body"), "body")


def _difference(recorded: object, sent: object, at: str) -> str | None:
    """Where two JSON values first differ, in words; None when equal."""
    leaves: tuple[object, object] = (recorded, sent)
    if isinstance(recorded, dict) and isinstance(sent, dict):
        old, new = cast(dict[str, Any], recorded), cast(dict[str, Any], sent)
        for key in sorted(old.keys() | new.keys()):
            if key not in new:
                return f"{at}.{key} was recorded, not sent"
            if key not in old:
                return f"{at}.{key} is sent, not recorded"
            found = _difference(old[key], new[key], f"{at}.{key}")
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(sent, list):
        old_items, new_items = cast(list[Any], recorded), cast(list[Any], sent)
        for i, (a, b) in enumerate(zip(old_items, new_items, strict=False)):
            found = _difference(a, b, f"{at}[{i}]")
            if found:
                return found
        if len(old_items) != len(new_items):
            return f"{at} has {len(new_items)} items, recorded {len(old_items)}"
        return None
    old_value, new_value = leaves
    if old_value != new_value or type(old_value) is not type(new_value):
        return f"{at}: recorded {_short(old_value)}, sent {_short(new_value)}"
    return None


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


_MATCHERS: dict[str, Matcher] = {"body": _by_body, "path": _by_path}

