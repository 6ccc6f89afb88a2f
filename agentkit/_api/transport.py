"""Where a client's requests go (`Route`): the transport or httpx client it was given, else
its default one, made here once for both clients: which transport, the TLS trust and pool
limits it gets, an httpx client in front when the environment names a proxy, and what the
client owns (and so closes).

Rules:
- A TLS context is built once per trust and shared by every client (a context costs ~2 ms
  of CPU, loading a CA bundle ~20 ms more), and built again when the bundle on disk changes.
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
    driven directly; behind a proxy through an httpx client that mounts aiohttp transports
    for the environment's proxies (and its `NO_PROXY`), with no transport of ours given it:
    httpx mounts no proxy for a client given one."""
    if transport is not None or http_client is not None:
        return Route(transport, http_client, transport)
    if env_proxies():
        from httpx_aiohttp import HttpxAiohttpClient

        # The default trust whatever `base_url` is: an https:// proxy speaks TLS to an http one.
        http = HttpxAiohttpClient(timeout=default_timeout, limits=LIMITS, verify=tls_verify(""))
        return Route(None, http, http)
    from httpx_aiohttp import AiohttpTransport

    pool = AiohttpTransport(limits=LIMITS, verify=tls_verify(base_url))
    return Route(pool, None, pool, AiohttpDriver(pool, timeout))


def sync_route(
    base_url: str,
    transport: httpx.BaseTransport | None,
    http_client: httpx.Client | None,
    default_timeout: httpx.Timeout,
) -> Route[httpx.BaseTransport, httpx.Client]:
    """`Client`'s route: by default httpx's own transport; behind a proxy an httpx client."""
    if transport is not None or http_client is not None:
        return Route(transport, http_client, transport)
    if env_proxies():  # the shared default trust (as above): httpx's own loads the CAs twice
        http = httpx.Client(timeout=default_timeout, limits=LIMITS, verify=tls_verify(""))
        return Route(None, http, http)
    pool = httpx.HTTPTransport(limits=LIMITS, verify=tls_verify(base_url))
    return Route(pool, None, pool)


def env_proxies() -> bool:
    """Whether HTTP(S)_PROXY/ALL_PROXY is set: then requests go through an httpx client."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


_Trust = tuple[str, str]
"""Where a context's CAs come from: ("cafile", path), ("capath", folder) or ("none", "")."""
_Stamp = tuple[int, int, int] | None
"""The trust's file as last seen on disk (inode, mtime in ns, size); None: not there."""
_TLS_CONTEXTS: dict[_Trust, tuple[_Stamp, ssl.SSLContext]] = {}
_TLS_LOCK = threading.Lock()
_PLAIN: _Trust = ("none", "")


def tls_verify(base_url: str) -> ssl.SSLContext:
    """What a transport to `base_url` checks TLS with, shared by every client: plain http://
    (a loopback fake, a local gateway) never speaks TLS, so a context that trusts nothing;
    anything else httpx's default trust: `SSL_CERT_FILE`, else `SSL_CERT_DIR`, else certifi's
    CA bundle, as they are when a client is made (a bundle rewritten on disk, e.g. certifi
    upgraded in place, gives later clients a new context; one `os.stat` tells)."""
    trust = _PLAIN if base_url.lower().startswith("http:") else _trust()
    stamp = None if trust is _PLAIN else _stamp(trust[1])
    cached = _TLS_CONTEXTS.get(trust)
    if cached is None or cached[0] != stamp:
        with _TLS_LOCK:  # two clients made at once in two threads build it once
            cached = _TLS_CONTEXTS.get(trust)
            if cached is None or cached[0] != stamp:
                cached = _TLS_CONTEXTS[trust] = (stamp, _context(trust))
    return cached[1]


def _trust() -> _Trust:
    """The CAs `httpx.create_ssl_context()` would load, named, so the cache can watch them."""
    if cafile := os.environ.get("SSL_CERT_FILE"):
        return ("cafile", cafile)
    if capath := os.environ.get("SSL_CERT_DIR"):
        return ("capath", capath)
    import certifi

    return ("cafile", certifi.where())


def _stamp(path: str) -> _Stamp:
    try:
        stat = os.stat(path)
    except OSError:  # building the context says what is wrong, as it always has
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _context(trust: _Trust) -> ssl.SSLContext:
    """httpx's default context for `trust` (what `create_ssl_context()` builds), or for plain
    HTTP one that trusts nothing."""
    kind, where = trust
    if kind == "cafile":
        return ssl.create_default_context(cafile=where)
    if kind == "capath":
        return ssl.create_default_context(capath=where)
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
