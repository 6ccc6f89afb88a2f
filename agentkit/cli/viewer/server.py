"""The viewer's web server: JSON over a `RunReader`, a live feed per run, and the page's files.

Routes, GET only (the viewer only reads):

- `/`, `/app.js`, `/app.css`: the page, from this package's `static/` folder (no build step,
  nothing fetched from elsewhere: it works offline).
- `/api/runs?status=&q=&limit=&offset=`: a page of the runs a user started (their sub-runs
  counted, not listed), newest first, with counts per status.
- `/api/run?id=&from=`: one run's timeline, its items from index `from` on (a page that has
  items asks from its last one, which may have grown); an agent's call names its sub-run,
  a sub-run its caller.
- `/api/run/events?id=`: server-sent events: `change` each time the run's journal or status
  changes, checked every `poll` seconds; the page then asks `/api/run` for what is new.

Rules: it is meant to listen on 127.0.0.1 only, and it answers only requests addressed to
127.0.0.1 or localhost (a web page reaching the port through a name of its own, DNS
rebinding, gets 421). Every answer carries a strict Content-Security-Policy (scripts, styles
and requests to this server only, nothing inline, no frames), `nosniff` and no referrer. No
answer contains the API key: the values of `ANTHROPIC_API_KEY` and `ANTHROPIC_AUTH_TOKEN`,
and anything shaped like an Anthropic key, become `[redacted]`, even inside a tool result.
Store reads run in a worker thread, so one slow read holds up no live feed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import orjson
from aiohttp import web

from agentkit._durable.journal import STATUSES
from agentkit._durable.subruns import caller_of

from .reader import RunReader
from .timeline import timeline

__all__ = ["CSP", "make_app"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
_STATIC = {
    "/": ("index.html", "text/html"),
    "/app.js": ("app.js", "text/javascript"),
    "/app.css": ("app.css", "text/css"),
}
_KEY_SHAPE = rb"sk-ant-[A-Za-z0-9_\-]{8,}"
_CREDENTIALS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
_MAX_PAGE = 200
_HEARTBEAT = 15.0

READER = web.AppKey("reader", RunReader)
CLOSING = web.AppKey("closing", asyncio.Event)


@dataclass(frozen=True, slots=True)
class _Settings:
    poll: float
    clock: Callable[[], float]
    redact: re.Pattern[bytes]
    """What `_json` replaces with `[redacted]`: the credentials and key-shaped strings."""
    files: dict[str, tuple[bytes, str]]


SETTINGS = web.AppKey("settings", _Settings)


def make_app(
    reader: RunReader,
    *,
    poll: float = 0.5,
    clock: Callable[[], float] = time.time,
    environ: Mapping[str, str] = os.environ,
) -> web.Application:
    """The viewer's application over `reader`; `poll` is how often a live feed checks its run
    (seconds), `environ` where the credentials to hide are read."""
    app = web.Application(middlewares=[_local_only])
    app[READER] = reader
    app[CLOSING] = asyncio.Event()
    secrets = [re.escape(environ[n].encode()) for n in _CREDENTIALS if len(environ.get(n, "")) >= 8]
    app[SETTINGS] = _Settings(
        poll=poll,
        clock=clock,
        redact=re.compile(b"|".join([*secrets, _KEY_SHAPE])),
        files={route: (_static(name), kind) for route, (name, kind) in _STATIC.items()},
    )
    for route in _STATIC:
        app.router.add_get(route, _file)
    app.router.add_get("/favicon.ico", _no_icon)
    app.router.add_get("/api/runs", _runs)
    app.router.add_get("/api/run", _run)
    app.router.add_get("/api/run/events", _events)
    app.on_response_prepare.append(_secure)
    app.on_shutdown.append(_close_feeds)
    return app


def _static(name: str) -> bytes:
    return (resources.files("agentkit.cli.viewer") / "static" / name).read_bytes()


@web.middleware
async def _local_only(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    name = request.host.lower()
    name = name if name.endswith("]") else name.rsplit(":", 1)[0]
    if name not in _LOCAL_NAMES:
        return web.Response(
            status=421,
            text=f"this viewer answers only http://127.0.0.1 or http://localhost, not {name}\n",
        )
    response: web.StreamResponse = await handler(request)
    return response


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(_HEADERS)


async def _close_feeds(app: web.Application) -> None:
    app[CLOSING].set()


async def _file(request: web.Request) -> web.Response:
    body, kind = request.app[SETTINGS].files[request.path]
    return web.Response(body=body, content_type=kind, charset="utf-8")


def _dumps(data: object) -> bytes:
    """`data` as JSON. What orjson refuses but a journal holds as the reply came (integers
    beyond 64 bits, lone surrogates) the stdlib writes, escaped, as the page reads it."""
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data).encode()


async def _no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)


def _json(request: web.Request, data: object, status: int = 200) -> web.Response:
    body = request.app[SETTINGS].redact.sub(b"[redacted]", _dumps(data))
    return web.Response(body=body, status=status, content_type="application/json")


def _bad(request: web.Request, message: str, status: int = 400) -> web.Response:
    return _json(request, {"error": message}, status)


def _number(request: web.Request, name: str, default: int, most: int) -> int | None:
    text = request.query.get(name, "")
    if not text:
        return default
    # ASCII only: "²" is a digit to `isdigit` but no number to `int`.
    return int(text) if text.isascii() and text.isdigit() and int(text) <= most else None


async def _runs(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        return _bad(request, f"status={status!r}: use one of {', '.join(STATUSES)}, or none")
    limit = _number(request, "limit", 50, _MAX_PAGE)
    offset = _number(request, "offset", 0, 2**62)
    if not limit or offset is None:
        return _bad(request, f"limit is a whole number from 1 to {_MAX_PAGE}, offset one from 0")
    reader = request.app[READER]
    page = await asyncio.to_thread(
        reader.page, status=status, text=request.query.get("q", ""), limit=limit, offset=offset
    )
    now = request.app[SETTINGS].clock()
    return _json(request, {
        "runs": [run.to_json(now) for run in page.runs],
        "total": page.total,
        "counts": page.counts,
        "limit": limit,
        "offset": offset,
        "store": reader.path,
        "now": now,
    })


async def _run(request: web.Request) -> web.Response:
    run_id = request.query.get("id")
    start = _number(request, "from", 0, 2**62)
    if not run_id or start is None:
        return _bad(request, "give the run as ?id=RUN_ID (and from=N, a whole number)")
    reader = request.app[READER]
    found = await asyncio.to_thread(reader.run, run_id)
    if found is None:
        return _bad(request, f"no run {run_id!r} in this store", 404)
    subs = await asyncio.to_thread(reader.sub_runs, run_id)
    caller = caller_of(run_id)
    stored = caller is not None and await asyncio.to_thread(reader.exists, caller[0])
    now = request.app[SETTINGS].clock()
    view = timeline(*found, now=now, store=reader.path, sub_runs=set(subs), caller_stored=stored)
    items = view["items"]
    view.update(items=items[start:], count=len(items), now=now)
    view["from"] = start
    return _json(request, view)


async def _events(request: web.Request) -> web.StreamResponse:
    run_id = request.query.get("id")
    if not run_id:
        return _bad(request, "give the run as ?id=RUN_ID")
    app = request.app
    reader, closing, poll = app[READER], app[CLOSING], app[SETTINGS].poll
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    seen: object = ()
    quiet = 0.0
    try:
        while not closing.is_set():
            version = await asyncio.to_thread(reader.version, run_id)
            if version != seen:
                seen, quiet = version, 0.0
                data = {"entries": version[0], "status": version[1]} if version else None
                await response.write(b"event: change\ndata: " + _dumps(data) + b"\n\n")
            elif quiet >= _HEARTBEAT:  # a comment line keeps proxies and the browser patient
                quiet = 0.0
                await response.write(b": alive\n\n")
            try:
                await asyncio.wait_for(closing.wait(), poll)
            except TimeoutError:
                quiet += poll
    except ConnectionResetError:  # the page went away
        pass
    return response
