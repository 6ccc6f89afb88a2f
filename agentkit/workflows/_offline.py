"""One fake Messages API per worker for offline batch items: `SharedFake`.

Owns serving many items' scripted models from one `FakeServer`: each item gets a route
(a path prefix, `/items/<key>`, which the client keeps as a gateway's prefix) and its own
`Script`; one connection pool serves every item's client. Starting a server and a client
per item cost about 9x the time of the item itself.

Rules: an item's script errors are its own (`finish` raises them for that item only); a
route is dropped when its item finishes, so a long batch holds only the items in flight.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx

from .._api.client import AsyncClient
from .._api.ratelimit import RateLimiter
from .._api.transport import LIMITS
from ..testing._model import Script
from ..testing._replies import Plan, error_plan

if TYPE_CHECKING:
    from ..testing import FakeServer, FunctionModel

__all__ = ["SharedFake"]

_PREFIX = "/items/"


class _Routes(Script):
    """A script that hands each request to the item whose route its path starts with."""

    def __init__(self) -> None:
        super().__init__(record=False)
        self.items: dict[str, Script] = {}
        self._guard = threading.Lock()

    def respond(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Plan:
        if target.startswith(_PREFIX):
            key, _, rest = target[len(_PREFIX):].partition("/")
            with self._guard:
                script = self.items.get(key)
            if script is not None:
                return script.respond(method, "/" + rest, headers, raw)
        return error_plan(404, "not_found_error", f"no batch item serves {method} {target}")

    def add(self, key: str, script: Script) -> None:
        with self._guard:
            self.items[key] = script

    def pop(self, key: str) -> Script:
        with self._guard:
            return self.items.pop(key)


class SharedFake:
    """One loopback `FakeServer` and one connection pool, shared by a worker's items."""

    def __init__(self, limiter: RateLimiter | None = None) -> None:
        from ..testing import FakeServer

        self._routes = _Routes()
        self._server: FakeServer = FakeServer(self._routes)
        self._limiter = limiter
        self._keys = itertools.count()
        self._http: httpx.AsyncClient | None = None

    def start(self) -> SharedFake:
        self._server.start()
        return self

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        self._server.stop()

    def client(self, model: FunctionModel) -> tuple[str, AsyncClient]:
        """A route serving `model` and a client on it (sharing the pool); `finish` the key."""
        if self._http is None:  # made in the worker's event loop, which it is bound to
            from httpx_aiohttp import AiohttpTransport

            self._http = httpx.AsyncClient(transport=AiohttpTransport(limits=LIMITS))
        key = str(next(self._keys))
        self._routes.add(key, Script(model, record=False))
        client = AsyncClient(api_key="offline", base_url=f"{self._server.base_url}{_PREFIX}{key}",
                             http_client=self._http, rate_limiter=self._limiter)
        return key, client

    def drop(self, key: str) -> None:
        """Drop the route of an item that failed (its own error says what went wrong)."""
        self._routes.pop(key)

    def finish(self, key: str) -> None:
        """Drop the route; raise the item's script error, if any (as `assert_consumed`)."""
        self._routes.pop(key).assert_consumed()
