"""What both clients share: every step of a call except the I/O itself.

Owns what sits between `sansio.py` (decisions, without httpx) and `client.py` (the I/O): the
procedures of a call, written once as generators that yield the I/O they need and are sent
its result (httpx `auth_flow` style): `ClientBase.send_flow` (send, retrying) and
`stream_flow` (open a stream, retrying until its first event). Also turning a `Call` into
an httpx request, mapping httpx transport failures to our errors (`connection_error`),
parsing replies (`parse_reply`, `models_page`), and guarding stream bodies (`guard`/
`aguard`). With `client.py`, `transport.py` and `aiohttp_driver.py` it is the only code of
the client that imports httpx.

Rules:
- A flow decides, its driver only carries out: each I/O step is one `Op`; the driver
  answers with the step's result, or throws the step's exception back into the flow.
- Secrets: nothing here chains an httpx exception (whose request holds the headers): every
  `httpx.RequestError` (transport failures and undecodable bodies alike) becomes our error,
  built from its text and raised outside `except` blocks.
- Hot path: no pydantic except on a reply, httpx URLs and timeouts cached per client.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar, cast
from urllib.parse import quote, urlsplit

import httpx

from .._errors import (
    APIConnectionError,
    APIError,
    APIStreamError,
    APITimeoutError,
    IncompleteStreamError,
    UsageError,
)
from .message_stream import OpenStream
from .sansio import Call, ClientConfig, error_from_response, logger, message_body
from .streaming import MessageAccumulator
from .wire import Message, ModelInfo, WireModel

__all__ = [
    "ClientBase",
    "Close",
    "FirstEvent",
    "Flow",
    "Roundtrip",
    "Sleep",
    "aguard",
    "connection_error",
    "empty_stream_error",
    "guard",
    "models_page",
    "parse_reply",
]

_M = TypeVar("_M", bound=WireModel)
_T = TypeVar("_T")
_MESSAGE_KEYS = ("model", "max_tokens", "messages")


# -- the I/O a flow asks its driver for -----------------------------------------------------------


class Roundtrip(NamedTuple):
    """Send `call` once. Answer: the `httpx.Response` (its body read, unless `stream`), or
    the `httpx.RequestError` thrown back."""

    call: Call
    stream: bool


class Close(NamedTuple):
    """Release a streamed `response`, after reading the rest of its body if `read`."""

    response: httpx.Response
    read: bool


class FirstEvent(NamedTuple):
    """Start decoding a streamed `response` (through `guard`/`aguard`, into `acc`'s request
    id) and read its first event. Answer: an `OpenStream`, or None if the body ended first."""

    response: httpx.Response
    acc: MessageAccumulator
    url: str


class Sleep(NamedTuple):
    """Wait `seconds` before a retry."""

    seconds: float


Op = Roundtrip | Close | FirstEvent | Sleep
Flow = Generator[Op, Any, _T]
"""A call's procedure: yields the I/O it needs, is sent each result, returns the outcome."""


# -- helpers --------------------------------------------------------------------------------------


def connection_error(exc: httpx.RequestError, url: str, during: str) -> APIConnectionError:
    """Our error for an httpx transport or decoding failure, named for what happened (DNS
    failure, connection refused, TLS to a plain-HTTP server, connect or read timeout, a body
    that does not decode): its text, but not the request it holds (whose headers carry the
    key)."""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.DecodingError):
        return APIConnectionError(
            f"the reply {during} {url} could not be decoded ({detail}): its Content-Encoding "
            "does not match its body; check base_url (a proxy or gateway may alter replies)"
        )
    timed_out = isinstance(exc, httpx.TimeoutException)
    cause = exc.__cause__
    if timed_out and cause is not None and type(cause).__module__.startswith("aiohttp"):
        # httpx-aiohttp maps every aiohttp ClientConnectionError (a server disconnect too)
        # to ConnectTimeout; only a real timeout underneath is reported as one.
        timed_out = isinstance(cause, TimeoutError)
    where = urlsplit(url)
    host = f"{where.hostname}:{where.port or (443 if where.scheme == 'https' else 80)}"
    if timed_out:
        if _connecting(exc):
            plain = " (if it speaks plain HTTP, use http:// in base_url)" if (
                where.scheme == "https") else ""
            return APITimeoutError(
                f"timed out connecting to {host} {during} {url}: the host did not complete "
                f"the connection{plain}; check base_url and the network, or raise "
                f"connect_timeout ({detail})"
            )
        return APITimeoutError(
            f"timed out {during} {url} ({detail}); raise read_timeout, or stream long replies"
        )
    what = _what_failed(exc, where.hostname or "", host, where.scheme)
    if what is not None:
        return APIConnectionError(f"{what} ({during} {url}; {detail})")
    return APIConnectionError(
        f"connection failed {during} {url} ({detail}); check base_url and the network"
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the OS errors aiohttp wraps, each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        os_error: object = getattr(item, "os_error", None)
        todo += [item.__cause__, item.__context__,
                 os_error if isinstance(os_error, BaseException) else None]


def _connecting(exc: httpx.RequestError) -> bool:
    """Whether a timeout happened while connecting (not while waiting for the reply)."""
    cause = exc.__cause__
    if cause is not None and type(cause).__module__.startswith("aiohttp"):
        return type(cause).__name__ == "ConnectionTimeoutError"  # httpx-aiohttp: see above
    return isinstance(exc, httpx.ConnectTimeout)


_PLAIN_HTTP_MARKS = ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE",
                    "PACKET_LENGTH_TOO_LONG")
"""OpenSSL's reasons when the other end answers a ClientHello in plain text."""


def _what_failed(exc: BaseException, hostname: str, host: str, scheme: str) -> str | None:
    """What a connection failure was, for a person: None when the chain does not say."""
    for e in _chain(exc):
        if isinstance(e, socket.gaierror) or type(e).__name__ == "ClientConnectorDNSError":
            return (
                f"DNS lookup failed: the host name {hostname!r} could not be resolved; check "
                "the host in base_url (or ANTHROPIC_BASE_URL) and your DNS"
            )
        if isinstance(e, ConnectionRefusedError):
            return (
                f"connection refused by {host}: nothing is listening there; check the port in "
                "base_url, or start the server"
            )
        if isinstance(e, ssl.SSLError) and scheme == "https":
            reason = str(getattr(e, "reason", None) or e)  # aiohttp's subclass has no reason
            if any(mark in reason for mark in _PLAIN_HTTP_MARKS):
                return (
                    f"TLS handshake failed: base_url is https:// but the server at {host} "
                    "answered in plain HTTP; use http:// for it"
                )
            if type(e) is ssl.SSLError or isinstance(e, ssl.SSLCertVerificationError):
                return f"TLS handshake with {host} failed: {reason}"
    return None


def parse_reply(cls: type[_M], response: httpx.Response) -> _M:
    """Validate a 2xx JSON reply as `cls`, or say the server is not speaking our API."""
    try:
        if cls is Message:  # keeps its bytes: a durable run journals them as they came
            return cast(_M, Message.from_json(response.content))
        return cls.parse_json(response.content)
    except ValueError as exc:
        detail = str(exc).splitlines()[0]
    raise APIError(
        f"the HTTP {response.status_code} reply is not a valid {cls.__name__} ({detail}); is "
        "base_url an Anthropic-compatible API?",
        request_id=response.headers.get("request-id"),
    )


def models_page(response: httpx.Response) -> tuple[list[ModelInfo], str | None]:
    """One `GET /v1/models` page, and the `after_id` of the next (None after the last)."""
    page = json.loads(response.content)
    models = [ModelInfo.model_validate(item) for item in page.get("data") or ()]
    return models, (page.get("last_id") if page.get("has_more") else None) or None


class ClientBase(ClientConfig):
    """Everything both clients do but the I/O: each method's `Call`, the flows that carry it
    out, the httpx requests, and what a reply means."""

    def _message_call(
        self,
        method: str,
        params: Mapping[str, Any] | None,
        kwargs: dict[str, Any],
        betas: Iterable[str] | None,
        extra_headers: Mapping[str, str] | None,
        timeout: float | None,
        *,
        stream: bool = False,
        max_retries: int | None = None,
    ) -> Call:
        if method == "count_tokens":
            body = message_body(params, kwargs, method, ("model", "messages"))
            path = "/v1/messages/count_tokens"
        else:
            body = message_body(params, kwargs, method, _MESSAGE_KEYS, stream=stream)
            path = "/v1/messages"
        call = self.call(
            "POST", path, body, betas=betas, extra_headers=extra_headers, timeout=timeout
        )
        if max_retries is not None:
            if max_retries < 0:
                raise UsageError(f"max_retries must be 0 or more, got {max_retries}")
            call.max_retries = max_retries
        return call

    def _models_call(
        self,
        model_id: str | None,
        limit: int | None,
        betas: Iterable[str] | None,
        extra_headers: Mapping[str, str] | None,
    ) -> Call:
        path, query = "/v1/models", None if limit is None else {"limit": limit}
        if model_id is not None:
            path, query = f"/v1/models/{quote(model_id, safe='')}", None
        return self.call("GET", path, params=query, betas=betas, extra_headers=extra_headers)

    def _next_page(
        self, call: Call, response: httpx.Response
    ) -> tuple[list[ModelInfo], Call | None]:
        """The models of a `GET /v1/models` page, and the call for the next (None after the
        last): `call` again, asking for what comes after this page."""
        models, after_id = models_page(response)
        if after_id is None:
            return models, None
        params = {**(call.params or {}), "after_id": after_id}
        return models, Call(
            call.method, call.url, call.headers, None, params, max_retries=call.max_retries
        )

    def _timeout(self, call: Call) -> httpx.Timeout:
        if call.read_timeout is None:
            return self._default_timeout
        return httpx.Timeout(call.read_timeout, connect=self.connect_timeout)

    def _request(self, call: Call) -> httpx.Request:
        """The httpx request for `call`, for a transport called directly (no client merges)."""
        url = self._urls.get(call.url)
        if url is None:
            url = httpx.URL(call.url)
            if len(self._urls) < 64:
                self._urls[call.url] = url
        timeout = self._timeout_ext if call.read_timeout is None else self._timeout(call).as_dict()
        return httpx.Request(
            call.method, url, params=call.params, headers=call.headers, content=call.content,
            extensions={"timeout": timeout},
        )

    def _build_request(self, http: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
        """The httpx request for `call`, through an httpx client (which merges its settings)."""
        return http.build_request(
            call.method, call.url, headers=call.headers, content=call.content,
            params=call.params, timeout=self._timeout(call),
        )

    def _setup(self, http_client: object, transport: object) -> None:
        if http_client is not None and transport is not None:
            raise UsageError("pass transport= or http_client=, not both")
        self._default_timeout = httpx.Timeout(self.read_timeout, connect=self.connect_timeout)
        self._timeout_ext = self._default_timeout.as_dict()
        self._urls: dict[str, httpx.URL] = {}

    def _succeeded(self, call: Call, response: httpx.Response) -> httpx.Response:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d (request-id %s)", call.method, call.url, response.status_code,
                response.headers.get("request-id"),
            )
        return response

    def _status_error(self, response: httpx.Response) -> APIError:
        return error_from_response(
            response.status_code, response.headers, self.redact(response.content)
        )

    # -- the flows ------------------------------------------------------------------------------

    def send_flow(self, call: Call, stream: bool = False) -> Flow[httpx.Response]:
        """Send `call`, retrying as `Call.next_delay` decides; a 2xx response or raise."""
        while True:
            try:
                response: httpx.Response = yield Roundtrip(call, stream)
            except httpx.RequestError as exc:  # transport failures, and undecodable bodies
                error: APIError = connection_error(exc, call.url, "calling")
            else:
                if response.is_success:
                    return self._succeeded(call, response)
                if stream:
                    yield Close(response, read=True)
                error = self._status_error(response)
            delay = call.next_delay(error)
            if delay is None:
                raise error
            yield Sleep(delay)

    def stream_flow(self, call: Call) -> Flow[OpenStream]:
        """Send a streamed call and read its first event, retrying until one arrives."""
        while True:
            response = yield from self.send_flow(call, stream=True)
            acc = MessageAccumulator(
                request_id=response.headers.get("request-id"), redact=self.redact
            )
            try:
                opened: OpenStream | None = yield FirstEvent(response, acc, call.url)
                if opened is not None and opened.first is not None:
                    acc.apply(opened.first)
                    return opened
                error: APIError = empty_stream_error(acc, call.url)
            except (APIConnectionError, APIStreamError) as exc:
                error = exc
            except BaseException:
                yield Close(response, read=False)
                raise
            yield Close(response, read=False)
            delay = call.next_delay(error)
            if delay is None:
                raise error
            yield Sleep(delay)


# -- streams: the I/O half (the caller's half is `message_stream.py`) ----------------------------


def _broken(exc: httpx.RequestError, acc: MessageAccumulator, url: str) -> APIConnectionError:
    """The error for a connection lost mid-stream: a timeout, or the partial reply."""
    error = connection_error(exc, url, "while streaming from")
    if isinstance(error, APITimeoutError):
        error.request_id = acc.request_id
        return error
    return IncompleteStreamError(
        f"{error.message}; re-issue the request (.partial holds what arrived)",
        partial=acc.partial(),
        request_id=acc.request_id,
    )


def empty_stream_error(acc: MessageAccumulator, url: str) -> IncompleteStreamError:
    """The error for a stream that closed before its first event (retried like a cut)."""
    return IncompleteStreamError(
        f"the stream from {url} ended before its first event; re-issue the request",
        request_id=acc.request_id,
    )


async def aguard(
    chunks: AsyncIterator[bytes], acc: MessageAccumulator, url: str
) -> AsyncIterator[bytes]:
    """The body's `chunks`, with transport failures raised as our errors (outside the except
    block, so they do not chain the httpx exception). Wraps bytes, not events: one
    generator hop per network read rather than per event."""
    error: APIConnectionError | None = None
    try:
        async for chunk in chunks:
            yield chunk
    except httpx.RequestError as exc:
        error = _broken(exc, acc, url)
    if error is not None:
        raise error


def guard(chunks: Iterator[bytes], acc: MessageAccumulator, url: str) -> Iterator[bytes]:
    """The sync `aguard`."""
    error: APIConnectionError | None = None
    try:
        yield from chunks
    except httpx.RequestError as exc:
        error = _broken(exc, acc, url)
    if error is not None:
        raise error
