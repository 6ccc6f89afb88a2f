"""`agentkit batch`: a recipe over a JSONL file of inputs, results appended as JSONL.

Owns the command: checking the inputs in one streamed pass before anything runs, choosing
the engine (`--engine local|ray`, `--address`), the rate limits, and showing progress (a
bar on a terminal, plain lines otherwise, with the pace and how long the rate limits held
it back). Running, resuming and recording are `agentkit.workflows.run_batch`'s; parsing,
online/offline and exit codes are `main`'s and `common`'s. The parser needs only
`add_batch_options`: the rest is imported by `cmd_batch`.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from agentkit import UsageError

from .common import fail, find_recipe, guarded, online_for

if TYPE_CHECKING:  # imported where used: `agentkit --help` loads none of them
    from rich.progress import Progress, TaskID

    from agentkit.workflows import BatchProgress, Engine, Recipe

    from .display import Display

__all__ = ["add_batch_options", "cmd_batch"]


def add_batch_options(batch: argparse.ArgumentParser) -> None:
    """The engine and rate-limit options of `agentkit batch`."""
    batch.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="where items run: this process, or a Ray cluster (agentkit[ray])")
    batch.add_argument("--address", metavar="HOST:PORT",
                       help="with --engine ray: the cluster's head, or 'auto' (default: a "
                       "local Ray on 127.0.0.1)")
    batch.add_argument("--workers", type=int, metavar="N",
                       help="with --engine ray: worker actors (default: one per cluster CPU)")
    batch.add_argument("--max-attempts", type=int, metavar="N",
                       help="with --engine ray: how many times an item's worker may die while "
                       "running it before the item is recorded as failed (default 4)")
    batch.add_argument("--restart-timeout", type=float, metavar="SECONDS",
                       help="with --engine ray: how long items wait for a worker when none is "
                       "live (Ray restarting them after a node is lost; default 300)")
    batch.add_argument("--rpm", type=float, metavar="N",
                       help="requests per minute for the whole batch (default: learned from "
                       "the API's rate-limit headers)")
    batch.add_argument("--itpm", type=float, metavar="N", help="input tokens per minute")
    batch.add_argument("--otpm", type=float, metavar="N", help="output tokens per minute")
    batch.add_argument("--durable", action="store_true",
                       help="checkpoint every model and tool call on DBOS (agentkit[dbos]), so "
                       "a rerun after a crash resumes each unfinished item where it stopped")
    batch.add_argument("--db", metavar="URL",
                       help="with --durable: the DBOS system database, sqlite:///file or "
                       "postgresql://... (default: $DBOS_SYSTEM_DATABASE_URL, else "
                       "sqlite:///OUT.dbos.sqlite next to the results)")
    batch.add_argument("--batch-id", metavar="ID",
                       help="with --durable: what this batch's runs are kept under (default: "
                       "from the results file's path); a rerun must use the same")


def check_inputs(recipe: Recipe, path: str) -> int:
    """Read the whole input file once, as a stream; how many items it has.

    Raises:
        ValueError: a line is not a JSON object, or repeats an id.
        UsageError: an input the recipe does not take.
        OSError: the file cannot be read.
    """
    from agentkit.workflows import read_jsonl
    from agentkit.workflows._runners import as_strings
    from agentkit.workflows.recipe import resolve_inputs

    count = 0
    for item_id, inputs in read_jsonl(path):
        try:
            resolve_inputs(recipe, as_strings(inputs))
        except UsageError as exc:
            raise UsageError(f"{path}: item {item_id!r}: {exc}") from None
        count += 1
    return count


def _database(args: argparse.Namespace) -> str | None:
    """The system database of a --durable batch (None: not durable)."""
    if not args.durable:
        return None
    if args.db:
        return str(args.db)
    import os

    from_env = os.environ.get("DBOS_SYSTEM_DATABASE_URL")
    if from_env:
        return from_env
    return f"sqlite:///{os.path.abspath(args.out)}.dbos.sqlite"


def _shown(url: str) -> str:
    """`url` without its password, to print."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _engine(args: argparse.Namespace) -> Engine | Literal["local"]:
    if args.engine == "local":
        return "local"
    from agentkit.workflows import RayEngine

    given = {"max_attempts": args.max_attempts, "restart_timeout": args.restart_timeout}
    return RayEngine(address=args.address, workers=args.workers,
                     **{k: v for k, v in given.items() if v is not None})


class _Progress:
    """Progress on a terminal (a bar) or as plain lines (each tenth, or every 30 s)."""

    def __init__(self, display: Display, bar: Progress, name: str, total: int) -> None:
        self.display, self.bar, self.name = display, bar, name
        self.task: TaskID = bar.add_task(name, total=total)
        self.plain = not display.console.is_terminal
        self.step = max(1, total // 10)
        self.last_line = time.monotonic()

    def pace(self, p: BatchProgress) -> str:
        text = f"{p.items_per_second:.1f} items/s"
        if p.held_seconds >= 0.1 or p.rate_limited:
            text += f", rate limits held it {p.held_seconds:.1f} s, {p.rate_limited} 429s"
        return text

    def record(self, record: dict[str, Any]) -> None:
        if not record["ok"]:
            self.display.line(f"item {record['id']} failed: {record['error']}", style="red")

    def update(self, p: BatchProgress) -> None:
        finished = p.done + p.failed
        self.bar.update(self.task, completed=finished, description=f"{self.name} {self.pace(p)}")
        now = time.monotonic()
        if self.plain and (finished % self.step == 0 or now - self.last_line >= 30):
            self.last_line = now
            self.display.line(f"{finished}/{p.total or '?'} items ({p.failed} failed), "
                              f"{self.pace(p)}", style="dim")


def cmd_batch(args: argparse.Namespace) -> int:
    """`agentkit batch`: a recipe over a JSONL file, resumable, item failures recorded."""
    from agentkit import RateLimiter
    from agentkit._run.loop import run_loop
    from agentkit.workflows import RecipeRunner, run_batch

    from .display import Display, progress_bar

    display = Display()
    ray_only = {"--address": args.address, "--workers": args.workers,
                "--max-attempts": args.max_attempts, "--restart-timeout": args.restart_timeout}
    given = [name for name, value in ray_only.items() if value is not None]
    if args.engine != "ray" and given:
        fail(f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} for --engine ray; "
             "add --engine ray")
        return 2
    try:
        engine = _engine(args)
    except UsageError as exc:
        fail(str(exc))
        return 2
    if not args.durable and (args.db or args.batch_id):
        fail("--db and --batch-id are for durable batches; add --durable")
        return 2
    recipe = find_recipe(args.recipe)
    if recipe is None:
        return 2
    try:
        total = check_inputs(recipe, args.inputs)
    except (OSError, ValueError, UsageError) as exc:
        fail(str(exc))
        return 2
    online = online_for(recipe, (), args, display)
    if online is None:
        return 2
    try:
        limiter = RateLimiter(requests_per_minute=args.rpm, input_tokens_per_minute=args.itpm,
                              output_tokens_per_minute=args.otpm)
    except UsageError as exc:
        fail(str(exc))
        return 2
    try:
        open(args.out, "a", encoding="utf-8").close()  # only checking it can be written
    except OSError as exc:
        fail(f"cannot use {args.out} for results: {exc.strerror or exc}")
        return 2
    runner = RecipeRunner(recipe, online=online, model=args.model)
    database = _database(args)
    if database is not None:
        from agentkit.workflows._durable import default_batch_id

        batch_id = args.batch_id or default_batch_id(args.out)
        display.note(f"durable: batch {batch_id!r}, checkpoints in {_shown(database)}")
    with progress_bar(display.console) as bar:
        shown = _Progress(display, bar, recipe.name, total)
        call = partial(run_batch, runner, args.inputs, out=args.out, total=total,
                       concurrency=args.concurrency, engine=engine, rate_limiter=limiter,
                       on_record=shown.record, on_progress=shown.update,
                       durable=database, batch_id=args.batch_id)
        code, report = guarded(display, lambda: run_loop(call))
    if report is None:
        return code
    if report.skipped:
        display.note(f"skipping {report.skipped} items already done in {args.out}")
    left = total - report.skipped - report.done - report.failed
    display.line(
        f"{report.done} done, {report.failed} failed, {report.skipped} skipped"
        + (f", {left} not run" if left else "")
        + f"; results in {args.out}"
        + f" ({report.items_per_second:.1f} items/s)"
    )
    if left or report.failed:
        display.note("rerun the same command to run the failed and unfinished items")
    display.usage(report.usage, prefix="total: ")
    return 1 if report.failed else 0
