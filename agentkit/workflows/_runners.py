"""What a batch runs per item, and the record each item leaves: `RecipeRunner`,
`FunctionRunner`, the `ItemRunner` protocol they implement, and `run_item`.

Owns the worker side of a batch, the same on every engine: a runner is opened once per
worker (one HTTP client, one rate limiter, offline one shared fake server) and then runs
many items at once through what it yields; `run_item` turns one item into its record (id,
ok, output or error, usage, cost, worker, seconds). Rules: one bad item is recorded, never
raised; runners are plain frozen data, so they pickle to Ray workers; another kind of item
run (a durable one) is another `ItemRunner`.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import socket
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from .._api.client import AsyncClient
from .._api.ratelimit import RateLimiter
from .._errors import RunError
from .._loop.usage import RunUsage

if TYPE_CHECKING:
    from .recipe import Recipe

__all__ = [
    "ITEM_ID",
    "FunctionRunner",
    "ItemRunner",
    "RecipeRunner",
    "RunOne",
    "as_strings",
    "run_item",
    "worker_name",
]

RunOne = Callable[[Any], Awaitable[tuple[Any, RunUsage | None]]]
"""Runs one item's input; returns its output and usage (None if unknown)."""

ITEM_ID: ContextVar[object] = ContextVar("agentkit_batch_item")
"""The id of the item being run, for runners that need it (`DurableRunner`)."""


class ItemRunner(Protocol):
    """What a batch runs: `open(limiter)` once per worker gives the function that runs one
    item's input, sharing the worker's client (paced by `limiter`) between items."""

    def open(self, limiter: RateLimiter | None) -> AbstractAsyncContextManager[RunOne]: ...


def worker_name() -> str:
    """`host:pid` of this process: which worker ran an item."""
    return f"{socket.gethostname()}:{os.getpid()}"


def jsonable(value: Any) -> Any:
    """`value` as JSON data: pydantic models dumped, dataclasses as dicts, the rest as is."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def usage_record(usage: RunUsage | None) -> dict[str, Any] | None:
    """A run's usage totals for a record (without the per-turn list)."""
    if usage is None:
        return None
    data = usage.to_dict()
    del data["turns"]
    return data


async def run_item(
    run: RunOne, item_id: object, value: Any, limiter: RateLimiter | None = None
) -> dict[str, Any]:
    """Run one item and return its record; a failure is recorded, never raised. Its output
    tokens are debited from `limiter` (where the API's headers don't report them)."""
    started = time.perf_counter()
    record: dict[str, Any] = {"id": item_id}
    token = ITEM_ID.set(item_id)
    try:
        output, usage = await run(value)
    except Exception as exc:  # one bad item must not stop the rest
        usage = exc.usage if isinstance(exc, RunError) else None
        cause = exc.__cause__ if isinstance(exc, RunError) else None
        error = f"{type(exc).__name__}: {exc}"
        if cause is not None and str(cause) not in error:
            error += f" ({type(cause).__name__}: {cause})"
        record.update(ok=False, error=error)
    else:
        record.update(ok=True, output=jsonable(output))
    finally:
        ITEM_ID.reset(token)
    if limiter is not None and isinstance(usage, RunUsage):
        limiter.record_output(usage.output_tokens)
    record.update(
        usage=usage_record(usage if isinstance(usage, RunUsage) else None),
        cost_usd=usage.cost_usd if isinstance(usage, RunUsage) else None,
        worker=worker_name(),
        seconds=round(time.perf_counter() - started, 4),
    )
    return record


def as_strings(inputs: Any) -> dict[str, str]:
    """A recipe's inputs from a JSON object: strings as they are, other values as JSON."""
    if not isinstance(inputs, dict):
        raise TypeError(f"a recipe item's input must be a JSON object, got {inputs!r}")
    pairs = cast("dict[str, object]", inputs).items()
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in pairs}


@dataclass(frozen=True)
class RecipeRunner:
    """Runs a recipe per item (inputs: a dict of the recipe's inputs).

    `recipe` is a `Recipe` or the name of an installed one (looked up in the worker).
    Online, one `AsyncClient` per worker serves every item; offline, one loopback fake
    server per worker serves every item's scripted model.
    """

    recipe: Recipe | str
    online: bool = False
    model: str | None = None

    @asynccontextmanager
    async def open(self, limiter: RateLimiter | None) -> AsyncGenerator[RunOne, None]:
        from . import recipe as registry
        from ._offline import SharedFake

        recipe = self.recipe
        if isinstance(recipe, str):
            recipe = registry.find_recipe(recipe)
        if self.online:
            async with AsyncClient(rate_limiter=limiter) as client:

                async def online(inputs: Any) -> tuple[Any, RunUsage | None]:
                    result = await registry.run_recipe(recipe, as_strings(inputs), online=True,
                                                       model=self.model, client=client)
                    return result.output, result.usage

                yield online
            return
        fake = SharedFake(limiter).start()

        async def offline(inputs: Any) -> tuple[Any, RunUsage | None]:
            values = registry.resolve_inputs(recipe, as_strings(inputs))
            key, client = fake.client(recipe.offline_model(values))
            try:
                result = await registry.run_recipe(recipe, values, online=False,
                                                   model=self.model, client=client)
            except BaseException:
                fake.drop(key)  # the run's own error wins over its script's
                raise
            fake.finish(key)
            return result.output, result.usage

        try:
            yield offline
        finally:
            await fake.aclose()


@dataclass(frozen=True)
class FunctionRunner:
    """Runs `fn(input)` per item: any async function of one input.

    If `fn` has a `client` parameter it is given the worker's shared `AsyncClient`
    (paced by the batch's rate limiter). A returned `RunResult` (or anything with `output`
    and `usage`) is recorded as its output and usage.
    """

    fn: Callable[..., Awaitable[Any]]

    @asynccontextmanager
    async def open(self, limiter: RateLimiter | None) -> AsyncGenerator[RunOne, None]:
        wants_client = "client" in inspect.signature(self.fn).parameters
        client = AsyncClient(rate_limiter=limiter) if wants_client else None
        fn = self.fn

        async def run(value: Any) -> tuple[Any, RunUsage | None]:
            result = await (fn(value, client=client) if wants_client else fn(value))
            usage = getattr(result, "usage", None)
            if isinstance(usage, RunUsage) and hasattr(result, "output"):
                return result.output, usage
            return result, None

        try:
            yield run
        finally:
            if client is not None:
                await client.aclose()
