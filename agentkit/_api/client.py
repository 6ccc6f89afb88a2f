"""`Client` and `AsyncClient`: HTTP to the Messages API, and nothing else.

Owns the I/O: sending each `Call` built by `sansio.ClientConfig`, sleeping between retries,
reading streams, closing pools. With `client_base.py` (the plumbing both clients share) and
`aiohttp_driver.py` (the default transport) it is the only code that imports httpx. Every
decision (headers, retry or not, which exception) is made in `sansio.py`.

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
  That transport's aiohttp session is driven directly (`aiohttp_driver.AiohttpDriver`: no
  `httpx.Request` per call; replies still come back as `httpx.Response`). Any httpx
  transport can be passed instead (tests use `httpx.MockTransport`).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import Any, Literal, Self, cast

import anyio
import httpx

from .._errors import APIConnectionError, APIError, APIStreamError
from .aiohttp_driver import AiohttpDriver
from .client_base import (
    LIMITS,
    ClientBase,
    aguard,
    connection_error,
    empty_stream_error,
    env_proxies,
    guard,
    models_page,
    parse_reply,
)
from .message_stream import AsyncMessageStream, MessageStream, OpenStream
from .sansio import DEFAULT_ANTHROPIC_VERSION, Call
from .sse import aiter_sse_events, iter_sse_events
from .streaming import MessageAccumulator
from .wire import CountTokensResult, Message, ModelInfo

__all__ = ["AsyncClient", "AsyncMessageStream", "Client", "MessageStream"]


class AsyncClient(ClientBase):
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
        self._aiohttp: AiohttpDriver | None = None
        """Set when the transport is our aiohttp one, bound to the first loop that uses it."""
        if transport is None and http_client is None:
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=LIMITS)
            self._aiohttp = AiohttpDriver(transport, self._timeout)
            if env_proxies():  # httpx mounts proxy transports; calling ours directly would not
                http_client = httpx.AsyncClient(transport=transport, timeout=self._default_timeout)
                transport, self._owns_http = None, True
        self._http = http_client
        """Set when requests go through an httpx client (yours, or for proxies)."""
        self._transport = transport
        """Set when requests go straight to the transport: the fast path, no client merges."""
        self._sleep: Callable[[float], Any] = anyio.sleep

    async def _roundtrip(self, call: Call, stream: bool) -> httpx.Response:
        aiohttp = self._aiohttp
        if aiohttp is not None:
            aiohttp.check_loop()
        if self._transport is None:
            http = cast(httpx.AsyncClient, self._http)
            request = http.build_request(
                call.method, call.url, headers=call.headers, content=call.content,
                params=call.params, timeout=self._timeout(call),
            )
            return await http.send(request, stream=stream)
        if aiohttp is not None:
            return await aiohttp.roundtrip(call, stream)
        request = self._request(call)
        response = await self._transport.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    async def _send(self, call: Call, *, stream: bool = False) -> httpx.Response:
        """Send `call`, retrying as `sansio.retry_delay` decides; a 2xx response or raise."""
        while True:
            headers: httpx.Headers | None = None
            try:
                response = await self._roundtrip(call, stream)
            except httpx.TransportError as exc:
                error: APIError = connection_error(exc, call.url, "calling")
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
        return parse_reply(Message, await self._send(call))

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
            events = aiter_sse_events(aguard(response.aiter_bytes(), acc, call.url))
            try:
                first = await anext(events)
                acc.apply(first)
            except StopAsyncIteration:
                error = empty_stream_error(acc, call.url)
            except (APIConnectionError, APIStreamError) as exc:
                error = exc
            except BaseException:
                await response.aclose()
                raise
            else:
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
        return parse_reply(CountTokensResult, await self._send(call))

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
            models, after_id = models_page(await self._send(call))
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
        return parse_reply(ModelInfo, await self._send(call))

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


class Client(ClientBase):
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
            if env_proxies():
                http_client = httpx.Client(timeout=self._default_timeout, limits=LIMITS)
                self._owns_http = True
            else:
                transport = httpx.HTTPTransport(limits=LIMITS)
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
        """Send `call`, retrying as `sansio.retry_delay` decides; a 2xx response or raise."""
        while True:
            headers: httpx.Headers | None = None
            try:
                response = self._roundtrip(call, stream)
            except httpx.TransportError as exc:
                error: APIError = connection_error(exc, call.url, "calling")
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
        return parse_reply(Message, self._send(call))

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
            events = iter_sse_events(guard(response.iter_bytes(), acc, call.url))
            try:
                first = next(events)
                acc.apply(first)
            except StopIteration:
                error = empty_stream_error(acc, call.url)
            except (APIConnectionError, APIStreamError) as exc:
                error = exc
            except BaseException:
                response.close()
                raise
            else:
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
        return parse_reply(CountTokensResult, self._send(call))

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
            models, after_id = models_page(self._send(call))
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
        return parse_reply(ModelInfo, self._send(call))

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
