"""`AsyncMessageStream` and `MessageStream`: what `client.stream(...)` gives the caller.

Owns the caller's view of a streamed reply: typed events, text deltas, raw event dicts, the
final `Message`, the request id and headers. The client owns the I/O: it opens the stream
(retrying until the first event has arrived) and hands over an `OpenStream`, whose event
iterator already maps transport failures to agentkit errors. So this module imports no
httpx, and the sync and async classes differ only by `await`.

Rules:
- Every event is folded into the reducer exactly once, in order, whichever way it is read.
- Typed events (a pydantic model each) are built only for callers that iterate the stream;
  `get_final_message()`, `raw_events()` and `text_stream()` stay on plain dicts.
- Nothing is retried here: once the caller can see an event, failures are raised.
"""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from .._errors import UsageError
from .streaming import MessageAccumulator
from .wire import Message

__all__ = ["AsyncMessageStream", "MessageStream", "OpenStream"]


@dataclass(slots=True)
class OpenStream:
    """A stream the client has opened: its first event is already folded into `acc`."""

    acc: MessageAccumulator
    """The reducer; its `request_id` is the response's `request-id`."""
    headers: Mapping[str, str]
    """The HTTP response headers."""
    first: dict[str, Any] | None
    """The first event, not yet shown to the caller."""
    events: Any
    """The remaining decoded events (a sync or async iterator of dicts)."""
    close: Callable[[], Any]
    """Releases the connection (a coroutine function for async streams)."""


class _StreamBase:
    """What both stream flavours expose once entered."""

    _open: OpenStream | None = None

    @property
    def request_id(self) -> str | None:
        """The `request-id` response header (None before entering, or if the server sent none)."""
        return self._open.acc.request_id if self._open else None

    @property
    def response_headers(self) -> Mapping[str, str]:
        """The HTTP response headers: rate limits, `request-id`, gateway extras."""
        return self._entered().headers

    def current_message(self) -> Message | None:
        """The reply assembled so far (None before `message_start`). Never run its tools."""
        return self._entered().acc.partial()

    def _entered(self) -> OpenStream:
        if self._open is None:
            raise UsageError("enter the stream first: `with client.stream(...) as stream:`")
        return self._open

    def _take_first(self) -> dict[str, Any] | None:
        opened = self._entered()
        first, opened.first = opened.first, None
        return first


class AsyncMessageStream(_StreamBase):
    """A streamed reply: `async with client.stream(...) as s:`, then `async for event in s`
    (typed events) and/or `await s.get_final_message()`.

    Entering sends the request, retrying (per the client's policy) until the first event
    arrives: an error status, a dropped connection, an empty body or a retryable `error`
    event first. Nothing is retried after that.
    """

    def __init__(self, opener: Callable[[], Awaitable[OpenStream]]) -> None:
        self._opener = opener
        self._events = self._decoded()

    def __repr__(self) -> str:
        return f"<AsyncMessageStream request_id={self.request_id!r}>"

    async def __aenter__(self) -> Self:
        self._open = await self._opener()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._events.aclose()
        if self._open is not None:
            await self._open.close()

    async def _decoded(self) -> AsyncGenerator[dict[str, Any], None]:
        first = self._take_first()
        if first is not None:
            yield first
        opened = self._entered()
        apply = opened.acc.apply
        async for data in opened.events:
            apply(data)
            yield data

    async def __aiter__(self) -> AsyncIterator[Any]:
        """Typed events (`stream_events.parse_event`), `message_start` first, unknown ones too."""
        from .stream_events import parse_event  # its models load only for typed iteration

        async for data in self._events:
            yield parse_event(data)

    def raw_events(self) -> AsyncIterator[dict[str, Any]]:
        """The decoded event dicts, each already folded into the final message: the cheap
        way to watch a stream (no pydantic per event). Read them; don't mutate them."""
        return self._events

    async def text_stream(self) -> AsyncIterator[str]:
        """Only the text deltas, as they arrive: `async for text in s.text_stream()`."""
        async for data in self._events:
            if data.get("type") == "content_block_delta" and data["delta"].get("text"):
                yield data["delta"]["text"]

    async def get_final_message(self) -> Message:
        """Read the rest of the stream; return the complete `Message`.

        Raises `IncompleteStreamError` if the stream ends (or the connection drops) before
        `message_stop`, `APIStreamError` on an `error` event, `MalformedStreamError` on bad
        JSON, `APITimeoutError` when no data arrives within `read_timeout`.
        """
        opened = self._entered()
        self._take_first()  # already folded in on entry
        apply = opened.acc.apply
        # Straight from the source, one generator hop less per event than `_events`; safe
        # because `_events` keeps no state but "first shown", and reads the same source.
        async for data in opened.events:
            apply(data)
        return opened.acc.message()


class MessageStream(_StreamBase):
    """The sync twin of `AsyncMessageStream`: `with client.stream(...) as s:`."""

    def __init__(self, opener: Callable[[], OpenStream]) -> None:
        self._opener = opener
        self._events = self._decoded()

    def __repr__(self) -> str:
        return f"<MessageStream request_id={self.request_id!r}>"

    def __enter__(self) -> Self:
        self._open = self._opener()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._events.close()
        if self._open is not None:
            self._open.close()

    def _decoded(self) -> Generator[dict[str, Any], None, None]:
        first = self._take_first()
        if first is not None:
            yield first
        opened = self._entered()
        apply = opened.acc.apply
        for data in opened.events:
            apply(data)
            yield data

    def __iter__(self) -> Iterator[Any]:
        """Typed events, `message_start` first."""
        from .stream_events import parse_event  # its models load only for typed iteration

        for data in self._events:
            yield parse_event(data)

    def raw_events(self) -> Iterator[dict[str, Any]]:
        """The decoded event dicts, already folded into the final message (see the async one)."""
        return self._events

    def text_stream(self) -> Iterator[str]:
        """Only the text deltas, as they arrive."""
        for data in self._events:
            if data.get("type") == "content_block_delta" and data["delta"].get("text"):
                yield data["delta"]["text"]

    def get_final_message(self) -> Message:
        """Read the rest of the stream; return the complete `Message` (raises as the async one)."""
        opened = self._entered()
        self._take_first()
        apply = opened.acc.apply
        for data in opened.events:
            apply(data)
        return opened.acc.message()
