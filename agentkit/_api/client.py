"""`Client` and `AsyncClient`: HTTP to the Messages API, and nothing else.

Owns the I/O: each client carries out the flows of `client_base.ClientBase` (send with
retries, open a stream), doing the one round trip, read, close or sleep each step asks for,
and closes its pool. Everything else (headers, retry or not, which exception) is decided in
`sansio.py` and `client_base.py`, written once, so the two clients differ only by `await`
and each is a thin shell around its typed public signature.

Rules:
- The key or token never appears in a repr, a str, a log line or an exception: errors are
  raised outside `except` blocks, so none chains an httpx exception (whose request holds
  the headers), and error bodies are redacted before they are parsed.
- A stream is retried only until its first event is read, inside `with`/`async with`;
  once the caller can see an event, failures are raised, never retried.
- Hot path: bodies are plain dicts serialized once; pydantic runs once, on the reply; a
  stream builds typed events only for callers that iterate them.
- Where requests go is decided once, in `transport.py` (`Route`): the default async
  transport is aiohttp under httpx (`httpx-aiohttp`): measured in `benchmarks/transport.py`,
  httpx's own async pool costs many times more CPU per request. That transport's aiohttp
  session is driven directly (`aiohttp_driver.AiohttpDriver`: no `httpx.Request` per call;
  replies still come back as `httpx.Response`). Any httpx transport can be passed instead
  (tests use `httpx.MockTransport`).
"""

from __future__ import annotations

import json
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, cast

import anyio
import httpx

from .client_base import ClientBase, FirstEvent, Flow, Roundtrip, Sleep, aguard, guard, parse_reply
from .message_stream import AsyncMessageStream, MessageStream, OpenStream
from .sansio import DEFAULT_ANTHROPIC_VERSION, Call
from .sse import aiter_sse_events, iter_sse_events
from .transport import async_route, sync_route
from .wire import CountTokensResult, Message, ModelInfo

if TYPE_CHECKING:  # only a client given one uses it, through its methods
    from .ratelimit import RateLimiter

__all__ = ["AsyncClient", "AsyncMessageStream", "Client", "MessageStream"]

_T = TypeVar("_T")


class AsyncClient(ClientBase):
    """The async client: `create`, `stream`, `count_tokens`, `list_models`, `get_model`.

    Configuration (all keyword-only): `api_key` or `auth_token` (else `ANTHROPIC_API_KEY` /
    `ANTHROPIC_AUTH_TOKEN`); `base_url` (else `ANTHROPIC_BASE_URL`, else api.anthropic.com;
    a gateway's path prefix is kept); `auth_scheme` for `api_key` (`"x-api-key"` or
    `"bearer"`); `anthropic_version`; default `betas`; `default_headers`; `connect_timeout`
    and `read_timeout` in seconds; `max_retries`. `transport` takes any httpx async
    transport, `http_client` a ready `httpx.AsyncClient` (not closed by `aclose`).
    Per call: `betas` (added to the defaults), `extra_headers`, `timeout` (read, seconds),
    `max_retries` (None: the client's; an agent run passes 0 and does its own retrying).
    `rate_limiter`: a `RateLimiter` every request waits on (share it between clients and
    runs that use the same account).

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
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, auth_token=auth_token, base_url=base_url, auth_scheme=auth_scheme,
            anthropic_version=anthropic_version, betas=betas, default_headers=default_headers,
            connect_timeout=connect_timeout, read_timeout=read_timeout, max_retries=max_retries,
        )
        self._setup(http_client, transport)
        self.rate_limiter = rate_limiter
        """Paces every request (each retry too); None: no client-side pacing."""
        self._transport, self._http, self._owned, self._aiohttp = async_route(
            self.base_url, transport, http_client, self._timeout, self._default_timeout
        )
        self._sleep: Callable[[float], Any] = anyio.sleep

    async def _run(self, flow: Flow[_T]) -> _T:
        """Carry out `flow`'s I/O until it returns. Each result is sent back in; each failure,
        cancellation too (so the flow releases what it holds), is thrown back in."""
        answer: Any = None
        failure: BaseException | None = None
        while True:
            try:
                op = flow.send(answer) if failure is None else flow.throw(failure)
            except StopIteration as done:
                return done.value
            answer = failure = None
            try:
                if isinstance(op, Roundtrip):
                    if self.rate_limiter is None:
                        answer = await self._roundtrip(op.call, op.stream)
                    else:
                        answer = await self._limited(self.rate_limiter, op.call, op.stream)
                elif isinstance(op, Sleep):
                    await self._sleep(op.seconds)
                elif isinstance(op, FirstEvent):
                    answer = await self._first_event(op)
                else:
                    if op.read:
                        await op.response.aread()
                    await op.response.aclose()
            except BaseException as exc:
                failure = exc

    async def _limited(self, limiter: RateLimiter, call: Call, stream: bool) -> httpx.Response:
        """`_roundtrip` once `limiter` lets it go, telling it what came back."""
        await limiter.acquire(len(call.content or b"") // 4)
        try:
            response = await self._roundtrip(call, stream)
        except BaseException:
            limiter.observe(None, None)
            raise
        limiter.observe(response.status_code, response.headers)
        return response

    def _roundtrip(self, call: Call, stream: bool) -> Awaitable[httpx.Response]:
        """The send, returned to be awaited by the caller: one coroutine fewer for every
        request in flight to hold (work for the cyclic GC with thousands of them)."""
        aiohttp = self._aiohttp
        if aiohttp is not None:
            aiohttp.check_loop()
            if self._transport is not None:
                return aiohttp.roundtrip(call, stream)
        return self._send_via_httpx(call, stream)

    async def _send_via_httpx(self, call: Call, stream: bool) -> httpx.Response:
        if self._transport is None:
            http = cast(httpx.AsyncClient, self._http)
            return await http.send(self._build_request(http, call), stream=stream)
        request = self._request(call)
        response = await self._transport.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    async def _first_event(self, op: FirstEvent) -> OpenStream | None:
        response = op.response
        events = aiter_sse_events(aguard(response.aiter_bytes(), op.acc, op.url))
        first = await anext(events, None)
        if first is None:
            return None
        return OpenStream(op.acc, response.headers, first, events, response.aclose)

    async def create(
        self,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> Message:
        """`POST /v1/messages`: a request dict and/or keyword params in, the `Message` out.

        Raises an `APIStatusError` subclass for an error reply and `APIConnectionError`
        (or `APITimeoutError`) when none came, once the retries are spent; `UsageError` if
        `model`, `max_tokens` or `messages` is missing.
        """
        call = self._message_call(
            "create", params, kwargs, betas, extra_headers, timeout, max_retries=max_retries
        )
        return parse_reply(Message, await self._run(self.send_flow(call)))

    async def create_raw(
        self,
        params: Mapping[str, Any],
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> dict[str, Any]:
        """Like `create`, but return the decoded JSON reply without building a `Message`."""
        call = self._message_call(
            "create_raw", params, {}, betas, extra_headers, timeout, max_retries=max_retries
        )
        return json.loads((await self._run(self.send_flow(call))).content)

    def stream(
        self,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> AsyncMessageStream:
        """`POST /v1/messages` with `stream: true`, as `async with client.stream(...) as s`."""
        call = self._message_call(
            "stream", params, kwargs, betas, extra_headers, timeout, stream=True,
            max_retries=max_retries,
        )
        return AsyncMessageStream(partial(self._open_stream, call))

    async def _open_stream(self, call: Call) -> OpenStream:
        return await self._run(self.stream_flow(call))

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
        return parse_reply(CountTokensResult, await self._run(self.send_flow(call)))

    async def list_models(
        self,
        *,
        limit: int | None = None,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[ModelInfo]:
        """Every model (`GET /v1/models`), fetching `limit`-sized pages while `has_more`."""
        call: Call | None = self._models_call(None, limit, betas, extra_headers)
        while call is not None:
            models, call = self._next_page(call, await self._run(self.send_flow(call)))
            for model in models:
                yield model

    async def get_model(
        self,
        model_id: str,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ModelInfo:
        """`GET /v1/models/{model_id}`; an alias resolves to the dated model."""
        call = self._models_call(model_id, None, betas, extra_headers)
        return parse_reply(ModelInfo, await self._run(self.send_flow(call)))

    async def aclose(self) -> None:
        """Close the connection pool (unless it came from `http_client=`)."""
        if self._owned is not None:
            await self._owned.aclose()

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
        self._transport, self._http, self._owned, _ = sync_route(
            self.base_url, transport, http_client, self._default_timeout
        )
        self._sleep: Callable[[float], Any] = time.sleep

    def _run(self, flow: Flow[_T]) -> _T:
        """Carry out `flow`'s I/O until it returns (as `AsyncClient._run`)."""
        answer: Any = None
        failure: BaseException | None = None
        while True:
            try:
                op = flow.send(answer) if failure is None else flow.throw(failure)
            except StopIteration as done:
                return done.value
            answer = failure = None
            try:
                if isinstance(op, Roundtrip):
                    answer = self._roundtrip(op.call, op.stream)
                elif isinstance(op, Sleep):
                    self._sleep(op.seconds)
                elif isinstance(op, FirstEvent):
                    answer = self._first_event(op)
                else:
                    if op.read:
                        op.response.read()
                    op.response.close()
            except BaseException as exc:
                failure = exc

    def _roundtrip(self, call: Call, stream: bool) -> httpx.Response:
        if self._transport is None:
            http = cast(httpx.Client, self._http)
            return http.send(self._build_request(http, call), stream=stream)
        request = self._request(call)
        response = self._transport.handle_request(request)
        response.request = request
        if not stream:
            try:
                response.read()
            finally:
                response.close()
        return response

    def _first_event(self, op: FirstEvent) -> OpenStream | None:
        response = op.response
        events = iter_sse_events(guard(response.iter_bytes(), op.acc, op.url))
        first = next(events, None)
        if first is None:
            return None
        return OpenStream(op.acc, response.headers, first, events, response.close)

    def create(
        self,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> Message:
        """`POST /v1/messages` (raises as `AsyncClient.create`)."""
        call = self._message_call(
            "create", params, kwargs, betas, extra_headers, timeout, max_retries=max_retries
        )
        return parse_reply(Message, self._run(self.send_flow(call)))

    def create_raw(
        self,
        params: Mapping[str, Any],
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> dict[str, Any]:
        """Like `create`, but return the decoded JSON reply without building a `Message`."""
        call = self._message_call(
            "create_raw", params, {}, betas, extra_headers, timeout, max_retries=max_retries
        )
        return json.loads(self._run(self.send_flow(call)).content)

    def stream(
        self,
        params: Mapping[str, Any] | None = None,
        /,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> MessageStream:
        """`POST /v1/messages` with `stream: true`, as `with client.stream(...) as s`."""
        call = self._message_call(
            "stream", params, kwargs, betas, extra_headers, timeout, stream=True,
            max_retries=max_retries,
        )
        return MessageStream(partial(self._open_stream, call))

    def _open_stream(self, call: Call) -> OpenStream:
        return self._run(self.stream_flow(call))

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
        return parse_reply(CountTokensResult, self._run(self.send_flow(call)))

    def list_models(
        self,
        *,
        limit: int | None = None,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Iterator[ModelInfo]:
        """Every model (`GET /v1/models`), fetching `limit`-sized pages while `has_more`."""
        call: Call | None = self._models_call(None, limit, betas, extra_headers)
        while call is not None:
            models, call = self._next_page(call, self._run(self.send_flow(call)))
            yield from models

    def get_model(
        self,
        model_id: str,
        *,
        betas: Iterable[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ModelInfo:
        """`GET /v1/models/{model_id}`; an alias resolves to the dated model."""
        call = self._models_call(model_id, None, betas, extra_headers)
        return parse_reply(ModelInfo, self._run(self.send_flow(call)))

    def close(self) -> None:
        """Close the connection pool (unless it came from `http_client=`)."""
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
