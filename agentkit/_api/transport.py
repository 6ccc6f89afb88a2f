"""Where a client's requests go (`Route`): the transport or httpx client it was given, else
its default one, made here once for both clients: which transport, the TLS trust and pool
limits it gets, an httpx client in front when the environment names a proxy, and what the
client owns (and so closes).

Rules:
- A TLS context is built once per trust and shared by every client (a context costs ~2 ms
  of CPU, loading a CA bundle ~20 ms more).
- aiohttp and the CA bundle are loaded only by a client that uses them.
"""

from __future__ import annotations

import os
import ssl
import threading
import urllib.request
from collections.abc import Callable
from typing import Generic, NamedTuple, TypeVar

import httpx

from .aiohttp_driver import AiohttpDriver
from .sansio import Call

__all__ = ["LIMITS", "Route", "async_route", "env_proxies", "sync_route", "tls_verify"]

LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=30)

_Transport = TypeVar("_Transport", httpx.BaseTransport, httpx.AsyncBaseTransport)
_Http = TypeVar("_Http", httpx.Client, httpx.AsyncClient)


class Route(NamedTuple, Generic[_Transport, _Http]):
    """Where a client's requests go: straight to `transport` (the fast path, no client
    merges), else through `http`; `owned` is what the client's `close` closes (not an
    `http_client=` it was given); `aiohttp` drives the default async transport directly."""

    transport: _Transport | None
    http: _Http | None
    owned: _Transport | _Http | None
    aiohttp: AiohttpDriver | None = None


def async_route(
    base_url: str,
    transport: httpx.AsyncBaseTransport | None,
    http_client: httpx.AsyncClient | None,
    timeout: Callable[[Call], httpx.Timeout],
    default_timeout: httpx.Timeout,
) -> Route[httpx.AsyncBaseTransport, httpx.AsyncClient]:
    """`AsyncClient`'s route: by default aiohttp under httpx (`httpx-aiohttp`), its session
    driven directly; behind a proxy through an httpx client, which mounts the proxy's."""
    if transport is not None or http_client is not None:
        return Route(transport, http_client, transport)
    from httpx_aiohttp import AiohttpTransport

    pool = AiohttpTransport(limits=LIMITS, verify=tls_verify(base_url))
    driver = AiohttpDriver(pool, timeout)
    if env_proxies():  # httpx mounts proxy transports; calling ours directly would not
        http = httpx.AsyncClient(transport=pool, timeout=default_timeout)
        return Route(None, http, http, driver)
    return Route(pool, None, pool, driver)


def sync_route(
    base_url: str,
    transport: httpx.BaseTransport | None,
    http_client: httpx.Client | None,
    default_timeout: httpx.Timeout,
) -> Route[httpx.BaseTransport, httpx.Client]:
    """`Client`'s route: by default httpx's own transport; behind a proxy an httpx client."""
    if transport is not None or http_client is not None:
        return Route(transport, http_client, transport)
    if env_proxies():
        http = httpx.Client(timeout=default_timeout, limits=LIMITS)
        return Route(None, http, http)
    pool = httpx.HTTPTransport(limits=LIMITS, verify=tls_verify(base_url))
    return Route(pool, None, pool)


def env_proxies() -> bool:
    """Whether HTTP(S)_PROXY/ALL_PROXY is set: then requests go through an httpx client."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


_TLS_CONTEXTS: dict[tuple[bool, str | None, str | None], ssl.SSLContext] = {}
_TLS_LOCK = threading.Lock()


def tls_verify(base_url: str) -> ssl.SSLContext:
    """What a transport to `base_url` checks TLS with, built once per process and shared by
    every client (a context costs ~2 ms of CPU, loading the CA bundle ~20 ms more): plain
    http:// (a loopback fake, a local gateway) never speaks TLS, so a context that trusts
    nothing; anything else httpx's default: the CA bundle, or `SSL_CERT_FILE` / `SSL_CERT_DIR`
    (one context per value they have when a client is made)."""
    plain = base_url.lower().startswith("http:")
    key = (True, None, None)
    if not plain:
        key = (False, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _TLS_CONTEXTS.get(key)
    if context is None:
        with _TLS_LOCK:  # two clients made at once in two threads build it once
            context = _TLS_CONTEXTS.get(key)
            if context is None:
                context = (
                    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) if plain else httpx.create_ssl_context()
                )
                _TLS_CONTEXTS[key] = context
    return context
