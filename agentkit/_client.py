"""`Client` and `AsyncClient`: HTTP to the Messages API, and nothing else.

Owns the I/O: sending each `Call` built by `_http.ClientConfig`, sleeping between retries,
reading streams, closing pools. It is the only module that imports httpx. Every decision
(headers, retry or not, which exception) is made in `_http.py`, so the two clients share
the logic and differ only by `await`.

Rules:
- The key or token never appears in a repr, a str, a log line or an exception: errors are
  raised outside `except` blocks, so none chains an httpx exception (whose request holds
  the headers), and error bodies are redacted before they are parsed.
- A stream is retried only until its first event is read, inside `with`/`async with`;
  once the caller can see an event, failures are raised, never retried.
- Hot path: bodies are plain dicts serialized once; pydantic runs once, on the reply; a
  stream builds typed events only for callers that iterate them.
- The default async transport is aiohttp under httpx (`httpx-aiohttp`): measured in
  `benchmarks/transport.py`, httpx's own async pool costs many times more CPU per request.
  That transport's aiohttp session is driven directly (no `httpx.Request` per call; replies
  still come back as `httpx.Response`). Any httpx transport can be passed instead (tests use
  `httpx.MockTransport`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, cast
from urllib.parse import quote

import anyio
import httpx

from ._errors import (
    APIConnectionError,
    APIError,
    APIStreamError,
    APITimeoutError,
    IncompleteStreamError,
    UsageError,
)
from ._http import (
    DEFAULT_ANTHROPIC_VERSION,
    Call,
    ClientConfig,
    error_from_response,
    logger,
    message_body,
)
from ._message_stream import AsyncMessageStream, MessageStream, OpenStream
from ._streaming import MessageAccumulator, aiter_sse_events, iter_sse_events
from ._wire import CountTokensResult, Message, ModelInfo, WireModel

__all__ = ["AsyncClient", "AsyncMessageStream", "Client", "MessageStream"]

_M = TypeVar("_M", bound=WireModel)
_MESSAGE_KEYS = ("model", "max_tokens", "messages")
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=1000, keepalive_expiry=30)


def _connection_error(exc: httpx.TransportError, url: str, during: str) -> APIConnectionError:
    """Our error for an httpx transport failure: its text, but not the request it holds."""
    timed_out = isinstance(exc, httpx.TimeoutException)
    cause = exc.__cause__
    if timed_out and cause is not None and type(cause).__module__.startswith("aiohttp"):
        # httpx-aiohttp maps every aiohttp ClientConnectionError (a server disconnect too)
        # to ConnectTimeout; only a real timeout underneath is reported as one.
        timed_out = isinstance(cause, TimeoutError)
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if timed_out:
        return APITimeoutError(
            f"timed out {during} {url} ({detail}); raise read_timeout, or stream long replies"
        )
    return APIConnectionError(
        f"connection failed {during} {url} ({detail}); check base_url and the network"
    )


def _parse(cls: type[_M], response: httpx.Response) -> _M:
    """Validate a 2xx JSON reply as `cls`, or say the server is not speaking our API."""
    try:
        return cls.model_validate_json(response.content)
    except ValueError as exc:
        detail = str(exc).splitlines()[0]
    raise APIError(
        f"the HTTP {response.status_code} reply is not a valid {cls.__name__} ({detail}); is "
        "base_url an Anthropic-compatible API?",
        request_id=response.headers.get("request-id"),
    )


def _models_page(response: httpx.Response) -> tuple[list[ModelInfo], str | None]:
    """One `GET /v1/models` page, and the `after_id` of the next (None after the last)."""
    page = json.loads(response.content)
    models = [ModelInfo.model_validate(item) for item in page.get("data") or ()]
    return models, (page.get("last_id") if page.get("has_more") else None) or None


def _env_proxies() -> bool:
    """Whether HTTP(S)_PROXY/ALL_PROXY is set: then requests go through an httpx client."""
    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class _ClientBase(ClientConfig):
    """The request side of every method, shared by both clients."""

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
    ) -> Call:
        if method == "count_tokens":
            body = message_body(params, kwargs, method, ("model", "messages"))
            path = "/v1/messages/count_tokens"
        else:
            body = message_body(params, kwargs, method, _MESSAGE_KEYS, stream=stream)
            path = "/v1/messages"
        return self.call(
            "POST", path, body, betas=betas, extra_headers=extra_headers, timeout=timeout
        )

    def _models_call(
        self,
        model_id: str | None,
        after_id: str | None,
        limit: int | None,
        betas: Iterable[str] | None,
        extra_headers: Mapping[str, str] | None,
    ) -> Call:
        if model_id is not None:
            path = f"/v1/models/{quote(model_id, safe='')}"
            return self.call("GET", path, betas=betas, extra_headers=extra_headers)
        query: dict[str, Any] = {}
        if limit is not None:
            query["limit"] = limit
        if after_id is not None:
            query["after_id"] = after_id
        return self.call(
            "GET", "/v1/models", params=query or None, betas=betas, extra_headers=extra_headers
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


# -- streams: the I/O half (the caller's half is `_message_stream.py`) -------------------------


def _broken(exc: httpx.TransportError, acc: MessageAccumulator, url: str) -> APIConnectionError:
    """The error for a connection lost mid-stream: a timeout, or the partial reply."""
    error = _connection_error(exc, url, "while streaming from")
    if isinstance(error, APITimeoutError):
        error.request_id = acc.request_id
        return error
    return IncompleteStreamError(
        f"{error.message}; re-issue the request (.partial holds what arrived)",
        partial=acc.partial(),
        request_id=acc.request_id,
    )


def _empty(acc: MessageAccumulator, url: str) -> IncompleteStreamError:
    return IncompleteStreamError(
        f"the stream from {url} ended before its first event; re-issue the request",
        request_id=acc.request_id,
    )


async def _aguard(
    chunks: AsyncIterator[bytes], acc: MessageAccumulator, url: str
) -> AsyncIterator[bytes]:
    """The body's `chunks`, with transport failures raised as our errors (outside the except
    block, so they do not chain the httpx exception). Wraps bytes, not events: one
    generator hop per network read rather than per event."""
    error: APIConnectionError | None = None
    try:
        async for chunk in chunks:
            yield chunk
    except httpx.TransportError as exc:
        error = _broken(exc, acc, url)
    if error is not None:
        raise error


def _guard(chunks: Iterator[bytes], acc: MessageAccumulator, url: str) -> Iterator[bytes]:
    error: APIConnectionError | None = None
    try:
        yield from chunks
    except httpx.TransportError as exc:
        error = _broken(exc, acc, url)
    if error is not None:
        raise error


# -- the clients --------------------------------------------------------------------------------


class AsyncClient(_ClientBase):
    """The async client: `create`, `stream`, `count_tokens`, `list_models`, `get_model`.

    Configuration (all keyword-only): `api_key` or `auth_token` (else `ANTHROPIC_API_KEY` /
    `ANTHROPIC_AUTH_TOKEN`); `base_url` (else `ANTHROPIC_BASE_URL`, else api.anthropic.com;
    a gateway's path prefix is kept); `auth_scheme` for `api_key` (`"x-api-key"` or
    `"bearer"`); `anthropic_version`; default `betas`; `default_headers`; `connect_timeout`
    and `read_timeout` in seconds; `max_retries`. `transport` takes any httpx async
    transport, `http_client` a ready `httpx.AsyncClient` (not closed by `aclose`).
    Per call: `betas` (added to the defaults), `extra_headers`, `timeout` (read, seconds).

    Raises `UsageError` for bad configuration, e.g. no credentials for a non-loopback URL.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        base_url: str | None = None,
        auth_scheme: Literal["x-api-key", "bearer"] = "x-api-key",
        anthropic_version: str = DEFAULT_ANTHROPIC_VERSION,
        betas: Sequence[str] = (),
        default_headers: Mapping[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        max_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, auth_token=auth_token, base_url=base_url, auth_scheme=auth_scheme,
            anthropic_version=anthropic_version, betas=betas, default_headers=default_headers,
            connect_timeout=connect_timeout, read_timeout=read_timeout, max_retries=max_retries,
        )
        self._setup(http_client, transport)
        self._owns_http = False
        default = transport is None and http_client is None
        if default:
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=_LIMITS)
            if _env_proxies():  # httpx mounts proxy transports; calling ours directly would not
                http_client = httpx.AsyncClient(transport=transport, timeout=self._default_timeout)
                transport, self._owns_http = None, True
        self._http = http_client
        """Set when requests go through an httpx client (yours, or for proxies)."""
        self._transport = transport
        """Set when requests go straight to the transport: the fast path, no client merges."""
        self._sleep: Callable[[float], Any] = anyio.sleep
        self._loop: object = None
        self._loop_bound = default
        """Whether the transport is our aiohttp one, bound to the first loop that uses it."""
        self._aiohttp_timeouts: dict[float | None, Any] = {}

    def _check_loop(self) -> None:
        """aiohttp's pool belongs to the asyncio loop that first used it: say so clearly."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise UsageError(
                "the default transport (aiohttp) needs asyncio; under trio pass "
                "transport=httpx.AsyncHTTPTransport()"
            ) from None
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise UsageError(
                "this AsyncClient was first used in another event loop, and its connection "
                "pool belongs to that loop: make one AsyncClient per asyncio.run()/anyio.run()"
            )

    async def _roundtrip(self, call: Call, stream: bool) -> httpx.Response:
        if self._loop_bound:
            self._check_loop()
        if self._transport is None:
            http = cast(httpx.AsyncClient, self._http)
            request = http.build_request(
                call.method, call.url, headers=call.headers, content=call.content,
                params=call.params, timeout=self._timeout(call),
            )
            return await http.send(request, stream=stream)
        if self._loop_bound:
            return await self._aiohttp_roundtrip(call, stream)
        request = self._request(call)
        response = await self._transport.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    async def _aiohttp_roundtrip(self, call: Call, stream: bool) -> httpx.Response:
        """What our `AiohttpTransport` does, minus the `httpx.Request` it would need and the
        async byte iteration of a whole body: ~0.1 ms of CPU per request, a fifth of an
        agent turn (`benchmarks/bench.py`). Same session, timeouts and error mapping."""
        from httpx_aiohttp.transport import AiohttpResponseStream, map_aiohttp_exceptions

        transport = cast(Any, self._transport)
        session = transport.client
        if session is None or callable(session):
            session = transport.client = transport.get_client()
        timeout = self._aiohttp_timeouts.get(call.read_timeout)
        if timeout is None:
            from aiohttp import ClientTimeout

            limits = self._timeout(call)
            timeout = ClientTimeout(
                sock_connect=limits.connect, sock_read=limits.read, connect=limits.pool
            )
            if len(self._aiohttp_timeouts) < 16:
                self._aiohttp_timeouts[call.read_timeout] = timeout
        with map_aiohttp_exceptions():
            response = await session.request(
                call.method, call.url, params=call.params, headers=call.headers,
                data=call.content or None, allow_redirects=False, auto_decompress=False,
                compress=False, timeout=timeout,
            )
            if stream:
                return httpx.Response(
                    response.status, headers=response.raw_headers,
                    stream=AiohttpResponseStream(response),
                )
            try:
                content = await response.read()
            finally:
                response.release()
        return httpx.Response(response.status, headers=response.raw_headers, content=content)

    async def _send(self, call: Call, *, stream: bool = False) -> httpx.Response:
        """Send `call`, retrying as `_http.retry_delay` decides; a 2xx response or raise."""
        while True:
            headers: httpx.Headers | None = None
            try:
                response = await self._roundtrip(call, stream)
            except httpx.TransportError as exc:
                error: APIError = _connection_error(exc, call.url, "calling")
            else:
                if response.is_success:
                    return self._succeeded(call, response)
                if stream:
                    await response.aread()
                    await response.aclose()
                error, headers = self._status_error(response), response.headers
            delay = call.next_delay(error, headers)
            if delay is None:
                raise error
            await self._sleep(delay)

    async def create(
        self,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Message:
        """`POST /v1/messages`: a request dict and/or keyword params in, the `Message` out.

        Raises an `APIStatusError` subclass for an error reply and `APIConnectionError`
        (or `APITimeoutError`) when none came, once the retries are spent; `UsageError` if
        `model`, `max_tokens` or `messages` is missing.
        """
        call = self._message_call("create", params, kwargs, betas, extra_headers, timeout)
        return _parse(Message, await self._send(call))

    async def create_raw(
        self,
        params: Mapping[str, Any],
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Like `create`, but return the decoded JSON reply without building a `Message`."""
        call = self._message_call("create_raw", params, {}, betas, extra_headers, timeout)
        return json.loads((await self._send(call)).content)

    def stream(
        self,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> AsyncMessageStream:
        """`POST /v1/messages` with `stream: true`, as `async with client.stream(...) as s`."""
        call = self._message_call(
            "stream", params, kwargs, betas, extra_headers, timeout, stream=True
        )
        return AsyncMessageStream(partial(self._open_stream, call))

    async def _open_stream(self, call: Call) -> OpenStream:
        """Send a streamed call and read its first event, retrying until one arrives."""
        while True:
            response = await self._send(call, stream=True)
            acc = MessageAccumulator(
                request_id=response.headers.get("request-id"), redact=self.redact
            )
            events = aiter_sse_events(_aguard(response.aiter_bytes(), acc, call.url))
            error: APIError | None = None
            try:
                first = await anext(events)
                acc.apply(first)
            except StopAsyncIteration:
                error = _empty(acc, call.url)
            except (APIConnectionError, APIStreamError) as exc:
                error = exc
            except BaseException:
                await response.aclose()
                raise
            if error is None:
                return OpenStream(acc, response.headers, first, events, response.aclose)
            await response.aclose()
            delay = call.next_delay(error)
            if delay is None:
                raise error
            await self._sleep(delay)

    async def count_tokens(
        self,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> CountTokensResult:
        """`POST /v1/messages/count_tokens`: the input tokens of this request (an estimate)."""
        call = self._message_call("count_tokens", params, kwargs, betas, extra_headers, None)
        return _parse(CountTokensResult, await self._send(call))

    async def list_models(
        self,
        *,
        limit: int | None = None,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[ModelInfo]:
        """Every model (`GET /v1/models`), fetching `limit`-sized pages while `has_more`."""
        after_id: str | None = None
        while True:
            call = self._models_call(None, after_id, limit, betas, extra_headers)
            models, after_id = _models_page(await self._send(call))
            for model in models:
                yield model
            if after_id is None:
                return

    async def get_model(
        self,
        model_id: str,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ModelInfo:
        """`GET /v1/models/{model_id}`; an alias resolves to the dated model."""
        call = self._models_call(model_id, None, None, betas, extra_headers)
        return _parse(ModelInfo, await self._send(call))

    async def aclose(self) -> None:
        """Close the connection pool (unless it came from `http_client=`)."""
        if self._transport is not None:
            await self._transport.aclose()
        elif self._owns_http and self._http is not None:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class Client(_ClientBase):
    """The sync client: the same configuration and methods as `AsyncClient`, without
    `await` (`transport` takes a sync httpx transport, `http_client` an `httpx.Client`)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        auth_token: str | None = None,
        base_url: str | None = None,
        auth_scheme: Literal["x-api-key", "bearer"] = "x-api-key",
        anthropic_version: str = DEFAULT_ANTHROPIC_VERSION,
        betas: Sequence[str] = (),
        default_headers: Mapping[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 600.0,
        max_retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, auth_token=auth_token, base_url=base_url, auth_scheme=auth_scheme,
            anthropic_version=anthropic_version, betas=betas, default_headers=default_headers,
            connect_timeout=connect_timeout, read_timeout=read_timeout, max_retries=max_retries,
        )
        self._setup(http_client, transport)
        self._owns_http = False
        if transport is None and http_client is None:
            if _env_proxies():
                http_client = httpx.Client(timeout=self._default_timeout, limits=_LIMITS)
                self._owns_http = True
            else:
                transport = httpx.HTTPTransport(limits=_LIMITS)
        self._http = http_client
        self._transport = transport
        self._sleep: Callable[[float], Any] = time.sleep

    def _roundtrip(self, call: Call, stream: bool) -> httpx.Response:
        if self._transport is None:
            http = cast(httpx.Client, self._http)
            request = http.build_request(
                call.method, call.url, headers=call.headers, content=call.content,
                params=call.params, timeout=self._timeout(call),
            )
            return http.send(request, stream=stream)
        request = self._request(call)
        response = self._transport.handle_request(request)
        response.request = request
        if not stream:
            try:
                response.read()
            finally:
                response.close()
        return response

    def _send(self, call: Call, *, stream: bool = False) -> httpx.Response:
        """Send `call`, retrying as `_http.retry_delay` decides; a 2xx response or raise."""
        while True:
            headers: httpx.Headers | None = None
            try:
                response = self._roundtrip(call, stream)
            except httpx.TransportError as exc:
                error: APIError = _connection_error(exc, call.url, "calling")
            else:
                if response.is_success:
                    return self._succeeded(call, response)
                if stream:
                    response.read()
                    response.close()
                error, headers = self._status_error(response), response.headers
            delay = call.next_delay(error, headers)
            if delay is None:
                raise error
            self._sleep(delay)

    def create(
        self,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Message:
        """`POST /v1/messages` (raises as `AsyncClient.create`)."""
        call = self._message_call("create", params, kwargs, betas, extra_headers, timeout)
        return _parse(Message, self._send(call))

    def create_raw(
        self,
        params: Mapping[str, Any],
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Like `create`, but return the decoded JSON reply without building a `Message`."""
        call = self._message_call("create_raw", params, {}, betas, extra_headers, timeout)
        return json.loads(self._send(call).content)

    def stream(
        self,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> MessageStream:
        """`POST /v1/messages` with `stream: true`, as `with client.stream(...) as s`."""
        call = self._message_call(
            "stream", params, kwargs, betas, extra_headers, timeout, stream=True
        )
        return MessageStream(partial(self._open_stream, call))

    def _open_stream(self, call: Call) -> OpenStream:
        """Send a streamed call and read its first event, retrying until one arrives."""
        while True:
            response = self._send(call, stream=True)
            acc = MessageAccumulator(
                request_id=response.headers.get("request-id"), redact=self.redact
            )
            events = iter_sse_events(_guard(response.iter_bytes(), acc, call.url))
            error: APIError | None = None
            try:
                first = next(events)
                acc.apply(first)
            except StopIteration:
                error = _empty(acc, call.url)
            except (APIConnectionError, APIStreamError) as exc:
                error = exc
            except BaseException:
                response.close()
                raise
            if error is None:
                return OpenStream(acc, response.headers, first, events, response.close)
            response.close()
            delay = call.next_delay(error)
            if delay is None:
                raise error
            self._sleep(delay)

    def count_tokens(
        self,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> CountTokensResult:
        """`POST /v1/messages/count_tokens`: the input tokens of this request (an estimate)."""
        call = self._message_call("count_tokens", params, kwargs, betas, extra_headers, None)
        return _parse(CountTokensResult, self._send(call))

    def list_models(
        self,
        *,
        limit: int | None = None,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Iterator[ModelInfo]:
        """Every model (`GET /v1/models`), fetching `limit`-sized pages while `has_more`."""
        after_id: str | None = None
        while True:
            call = self._models_call(None, after_id, limit, betas, extra_headers)
            models, after_id = _models_page(self._send(call))
            yield from models
            if after_id is None:
                return

    def get_model(
        self,
        model_id: str,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ModelInfo:
        """`GET /v1/models/{model_id}`; an alias resolves to the dated model."""
        call = self._models_call(model_id, None, None, betas, extra_headers)
        return _parse(ModelInfo, self._send(call))

    def close(self) -> None:
        """Close the connection pool (unless it came from `http_client=`)."""
        if self._transport is not None:
            self._transport.close()
        elif self._owns_http and self._http is not None:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
