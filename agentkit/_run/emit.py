"""How a run's events reach its consumer (`run(on_event=...)`, or the stream `Agent.iter`
reads): each stamped with its run's id and awaited in order, the deltas of a streamed reply
as they come, the blocks of a whole one after it.

Owns the event delivery the driver does around its steps; the driver decides when.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .._api.message_stream import AsyncMessageStream
from .._api.wire import Message, TextBlock, ThinkingBlock, ToolUseBlock
from .._errors import UsageError
from .hooks import maybe_await

if TYPE_CHECKING:  # the events load with the first run that has a consumer
    from . import events as ev

__all__ = ["Emit", "Send", "check_emit", "emit_blocks", "new_run_id", "read_stream", "sender"]

Emit = Callable[["ev.AgentEvent"], object]
"""Where a run's events go (`run(on_event=...)`, or the stream `Agent.iter` reads): a plain
function, or an async one the run awaits before it goes on."""

Send = Callable[["ev.AgentEvent"], Awaitable[None]]
"""An `Emit` as the driver awaits it (`sender`)."""

_RUN_IDS = itertools.count(1)
"""Numbers the runs of this process that are not durable (those have their own run id)."""


def new_run_id() -> str:
    """An id for a run that has none (not durable): `run-1`, `run-2`, … in this process."""
    return f"run-{next(_RUN_IDS)}"


def check_emit(emit: object) -> None:
    """Refuse an `on_event` that would never see an event: a generator function (calling it
    runs none of its body) or something not callable.

    Raises:
        UsageError: naming what was given and what to give instead.
    """
    if not callable(emit):
        raise UsageError(
            f"on_event must be a function that takes each event, got {type(emit).__name__}"
        )
    if inspect.isgeneratorfunction(emit) or inspect.isasyncgenfunction(emit):
        raise UsageError(
            f"on_event={getattr(emit, '__name__', emit)!r} is a generator function: calling "
            "it runs none of its body, so it would see no event. Give a plain or async "
            "function, or read the events as they come: `async with agent.iter(prompt) as "
            "run: async for event in run: ...`"
        )


def sender(emit: Emit, run_id: str) -> Send:
    """`emit` as something the run awaits: an async callback finishes with each event before
    the run goes on, so events arrive in order and its exceptions fail the run as a plain
    callback's do. Each event is stamped with `run_id` first (no copy: it is still the
    driver's own, not yet seen by anyone)."""

    async def send(event: ev.AgentEvent) -> None:
        object.__setattr__(event, "run_id", run_id)  # frozen for consumers, not the maker
        await maybe_await(emit(event))

    return send


async def read_stream(stream: AsyncMessageStream, n: int, emit: Send | None) -> Message:
    """The streamed reply, its deltas sent as events as they come (none without `emit`).

    Reads the decoded event dicts (`raw_events`), not the typed events: no pydantic model
    per event, and the typed events' models are never loaded by a run."""
    if emit is None:
        return await stream.get_final_message()
    from . import events as ev

    names: dict[int, str] = {}
    async for data in stream.raw_events():
        kind = data.get("type")
        if kind == "content_block_delta":
            delta = data["delta"]
            dtype = delta.get("type")
            if dtype == "text_delta":
                await emit(ev.TextChunk(n, delta["text"]))
            elif dtype == "thinking_delta":
                await emit(ev.ThinkingChunk(n, delta["thinking"]))
            elif dtype == "input_json_delta" and data.get("index") in names:
                await emit(ev.ToolInputChunk(n, names[data["index"]], delta["partial_json"]))
        elif kind == "content_block_start" and data["content_block"].get("type") == "tool_use":
            block = data["content_block"]
            names[data["index"]] = block["id"]
            await emit(ev.ToolCallStarted(n, block["id"], block["name"], None))
    return await stream.get_final_message()


async def emit_blocks(message: Message, n: int, emit: Send) -> None:
    """The blocks of a reply read whole, sent as the events a stream of it would send."""
    from . import events as ev

    for block in message.content:
        if isinstance(block, TextBlock):
            await emit(ev.TextChunk(n, block.text))
        elif isinstance(block, ThinkingBlock):
            await emit(ev.ThinkingChunk(n, block.thinking))
        elif isinstance(block, ToolUseBlock):
            await emit(ev.ToolCallStarted(n, block.id, block.name, block.input))
