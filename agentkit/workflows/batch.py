"""Batches: one runner over many inputs, results appended as they finish, resumable.

Owns `run_batch` (the driver every engine shares), the results file (resuming skips the ids
recorded ok), reading JSONL inputs as a stream, `LocalEngine` (one process, one event loop)
and choosing an engine (`"ray"` is `_ray.RayEngine`). Rules: inputs are pulled only as
capacity frees up and records are written and flushed as items finish, so memory holds the
items in flight and the set of finished ids, never the inputs; the driver is the only writer,
so each id is recorded at most once per run and a rerun records only what is not yet ok; one
rate limiter is shared by every item of a process (on Ray, each worker has its share).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO, cast

import anyio

from .._api.jsonbytes import escaped_utf8
from .._api.ratelimit import RateLimiter, RateLimitStats
from .._errors import ResultsWriteError, UsageError
from .._loop.usage import RunUsage
from ._runners import FunctionRunner, ItemRunner, RecipeRunner, run_item
from .recipe import Recipe

__all__ = [
    "BatchProgress",
    "BatchReport",
    "Engine",
    "LocalEngine",
    "read_jsonl",
    "run_batch",
]

Submit = Callable[[object, Any], Awaitable[tuple[dict[str, Any], RateLimitStats | None]]]
"""Runs one item somewhere; returns its record and that worker's limiter stats."""


class Engine(Protocol):
    """Where a batch's items run. `start` opens the workers; what it yields runs one item."""

    def start(
        self, runner: ItemRunner, limiter: RateLimiter | None, concurrency: int
    ) -> AbstractAsyncContextManager[Submit]: ...


@dataclass(frozen=True)
class LocalEngine:
    """This process, this event loop: one runner (one client, one limiter) for every item."""

    @asynccontextmanager
    async def start(
        self, runner: ItemRunner, limiter: RateLimiter | None, concurrency: int
    ) -> AsyncGenerator[Submit, None]:
        async with runner.open(limiter) as run:

            async def submit(item_id: object, value: Any) -> tuple[dict[str, Any], Any]:
                record = await run_item(run, item_id, value, limiter)
                return record, limiter.stats if limiter is not None else None

            yield submit


@dataclass
class BatchProgress:
    """Where a batch stands; given to `on_progress` after each item."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    """Ids already recorded ok by an earlier run."""
    total: int | None = None
    """Items in the input, when known."""
    elapsed: float = 0.0
    requests: int = 0
    """Requests the rate limiters let through."""
    rate_limited: int = 0
    """429s met."""
    held_seconds: float = 0.0
    """How long the rate limits held requests back (the longest of any worker)."""

    @property
    def items_per_second(self) -> float:
        return (self.done + self.failed) / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class BatchReport(BatchProgress):
    """What `run_batch` did."""

    usage: RunUsage = field(default_factory=RunUsage)
    """Every item's usage, merged (totals only)."""
    failed_ids: list[object] = field(default_factory=list[object])
    out: str = ""


def read_jsonl(path: str | Path) -> Iterator[tuple[object, dict[str, Any]]]:
    """`(id, object)` per line of a JSONL file, read as a stream; the id is the line's `id`
    (removed from the object), else its line number.

    Raises:
        ValueError: naming the line that is not a JSON object, or a repeated id.
        OSError: the file cannot be read.
    """
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                parsed: object = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path} line {number} is not JSON: {exc}") from exc
            if not isinstance(parsed, dict):
                raise ValueError(f"{path} line {number} is not a JSON object of inputs")
            data = cast("dict[str, Any]", parsed)  # a JSON object: string keys
            item_id = data.pop("id", number)
            if str(item_id) in seen:
                raise ValueError(
                    f"{path} line {number} repeats id {item_id!r} of line {seen[str(item_id)]}; "
                    "ids must be unique so a rerun can skip finished items"
                )
            seen[str(item_id)] = number
            yield item_id, data


def open_results(path: str | Path) -> tuple[set[str], TextIO]:
    """The ids recorded with `ok: true` in the results file, and the file open to append.

    A last line cut short by a crash is ended first, so the next record starts on its own
    line; the cut item has no record and runs again.

    Raises:
        OSError: the file cannot be read or written.
    """
    done: set[str] = set()
    if Path(path).exists() and not Path(path).is_file():
        # A device or a pipe (/dev/stdout): written, never read back (/dev/full reads as an
        # endless line of zeros).
        return done, open(path, "a", encoding="utf-8")
    out = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (closed by the caller)
    out.seek(0)
    line = ""
    for line in out:
        try:
            record: object = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            fields = cast("dict[str, object]", record)  # a JSON object: string keys
            if fields.get("ok") is True:
                done.add(str(fields.get("id")))
    if line and not line.endswith("\n"):
        out.write("\n")
    return done, out


def _runner(task: ItemRunner | Recipe | Callable[..., Awaitable[Any]]) -> ItemRunner:
    if isinstance(task, Recipe):
        return RecipeRunner(task)
    if hasattr(task, "open"):
        return cast(ItemRunner, task)
    if callable(task):
        return FunctionRunner(task)
    raise UsageError(f"run_batch needs a Recipe, an ItemRunner or an async function, got {task!r}")


def _engine(engine: Literal["local", "ray"] | Engine) -> Engine:
    if engine == "local":
        return LocalEngine()
    if engine == "ray":
        from ._ray import RayEngine

        return RayEngine()
    if isinstance(engine, str):
        raise UsageError(f"engine must be 'local', 'ray' or an Engine, got {engine!r}")
    return engine


def _durable(
    runner: ItemRunner, engine: Engine, url: str | None, batch_id: str | None, out: str | Path
) -> ItemRunner:
    """`runner`, made durable when a database is given; refuses what cannot work."""
    from ._durable import DurableRunner, default_batch_id
    from ._ray import RayEngine

    if url is None:
        if batch_id is not None:
            raise UsageError("batch_id names a durable batch: pass durable= too")
    elif isinstance(runner, DurableRunner):
        raise UsageError("the runner is a DurableRunner already: leave durable= out")
    else:
        runner = DurableRunner(runner, db=url, batch_id=batch_id or default_batch_id(out))
    db = runner.db if isinstance(runner, DurableRunner) else ""
    if isinstance(engine, RayEngine) and (db is None or db.startswith("sqlite")):
        raise UsageError(
            "a durable batch on Ray needs a database every worker reaches: give a "
            "postgresql:// URL (SQLite is a file on one machine), or use the local engine"
        )
    return runner


async def run_batch(
    task: ItemRunner | Recipe | Callable[..., Awaitable[Any]],
    items: Iterable[tuple[object, Any]] | str | Path,
    *,
    out: str | Path,
    concurrency: int = 16,
    engine: Literal["local", "ray"] | Engine = "local",
    rate_limiter: RateLimiter | None = None,
    total: int | None = None,
    on_record: Callable[[dict[str, Any]], Any] | None = None,
    on_progress: Callable[[BatchProgress], Any] | None = None,
    durable: str | None = None,
    batch_id: str | None = None,
) -> BatchReport:
    """Run `task` once per item and append each item's record to `out` (JSONL).

    `task`: a `Recipe` (inputs: dicts of its inputs, offline unless you pass
    `RecipeRunner(recipe, online=True)`), an async function of one input, or any
    `ItemRunner`. `items`: `(id, input)` pairs, consumed lazily, or a JSONL file path (see
    `read_jsonl`). Ids already recorded ok in `out` are skipped, so rerunning after a crash
    finishes the batch. `concurrency` items run at once; `engine` is `"local"`, `"ray"`
    (the Ray cluster `ray.init` connects to), or an `Engine` such as
    `RayEngine(address=...)`. `rate_limiter` paces every request of every item (on Ray each
    worker gets its share). A record is `{"id", "ok", "output" or "error", "usage",
    "cost_usd", "worker", "seconds"}`.

    `durable`: a DBOS system database URL (`sqlite:///file` on one machine,
    `postgresql://...`; extra `agentkit[dbos]`): every agent run of every item is checkpointed
    there, so a rerun after a crash resumes each unfinished item from its last step instead
    of starting it over (see `DurableRunner`). `batch_id` names the batch there (default: from
    the results file's path), so a rerun must use the same.

    Raises:
        UsageError: a bad option. An item's failure is recorded, never raised.
    """
    if concurrency < 1:
        raise UsageError(f"concurrency must be 1 or more, got {concurrency}")
    runner, chosen = _runner(task), _engine(engine)
    runner = _durable(runner, chosen, durable, batch_id, out)
    if isinstance(items, str | Path):
        items = read_jsonl(items)
    done, results = open_results(out)
    report = BatchReport(total=total, out=str(out))
    stats: dict[str, RateLimitStats] = {}
    started = time.perf_counter()

    def finished(record: dict[str, Any], limiter_stats: RateLimitStats | None) -> None:
        try:
            # A lone surrogate (a reply's escaped "\ud800", a surrogateescape file name) is
            # written as its escape: UTF-8 cannot carry it, and json.loads reads it back.
            line = escaped_utf8(json.dumps(record, ensure_ascii=False, default=str)).decode()
            results.write(line + "\n")
            results.flush()  # written as it finishes, so a rerun after a crash resumes here
        except OSError as exc:
            raise ResultsWriteError(out, exc) from exc
        if record["ok"]:
            report.done += 1
        else:
            report.failed += 1
            report.failed_ids.append(record["id"])
        if record.get("usage"):
            report.usage.merge(RunUsage.from_dict(record["usage"]))
        if limiter_stats is not None:
            stats[str(record.get("worker"))] = limiter_stats
            report.requests = sum(s.requests for s in stats.values())
            report.rate_limited = sum(s.rate_limited for s in stats.values())
            report.held_seconds = max(s.held_seconds for s in stats.values())
        report.elapsed = time.perf_counter() - started
        if on_record is not None:
            on_record(record)
        if on_progress is not None:
            on_progress(report)

    try:
        await _feed(chosen, runner, rate_limiter, concurrency, items, done, report, finished)
    except* ResultsWriteError as group:  # the batch stops: nothing more can be recorded
        raise group.exceptions[0] from None
    finally:
        with contextlib.suppress(OSError):  # the write that failed said why
            results.close()
    report.elapsed = time.perf_counter() - started
    return report


async def _feed(
    chosen: Engine,
    runner: ItemRunner,
    rate_limiter: RateLimiter | None,
    concurrency: int,
    items: Iterable[tuple[object, Any]],
    done: set[str],
    report: BatchReport,
    finished: Callable[[dict[str, Any], RateLimitStats | None], None],
) -> None:
    """Submit every item not done yet, `concurrency` at a time, each record to `finished`."""
    bad_input: Exception | None = None
    async with chosen.start(runner, rate_limiter, concurrency) as submit:
        slots = anyio.Semaphore(concurrency)

        async def one(item_id: object, value: Any) -> None:
            try:
                record, limiter_stats = await submit(item_id, value)
                finished(record, limiter_stats)
            finally:
                slots.release()

        async with anyio.create_task_group() as tg:
            try:
                for item_id, value in items:
                    if str(item_id) in done:
                        report.skipped += 1
                        continue
                    await slots.acquire()
                    tg.start_soon(one, item_id, value)
            except Exception as exc:  # a bad input line: the items in flight still finish
                bad_input = exc
    if bad_input is not None:
        raise bad_input
