"""`agentkit batch`: a recipe over a JSONL file of inputs, results appended as JSONL.

Owns reading the inputs, the results file and resuming from it, and running the items
concurrently. Rules: one bad item is recorded and the rest go on; each record is written
and flushed as its item finishes, so a rerun after a crash skips the ids recorded with
`ok: true` and runs the rest; parsing, online/offline and exit codes are `_cli`'s.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO, cast

import anyio

from agentkit import AgentkitError, RunError, RunUsage

from .common import describe, fail, find_recipe, guarded, jsonable, online_for
from .display import Display, progress_bar

if TYPE_CHECKING:
    from rich.progress import Progress

    from agentkit import AsyncClient  # imported where used: `agentkit --help` loads no client
    from agentkit.workflows import Recipe

__all__ = ["cmd_batch"]

def read_items(path: str) -> list[tuple[object, dict[str, str]]]:
    """`(id, inputs)` per JSONL line; the id is the line's `id`, else its line number.

    Raises:
        ValueError: naming the line that is not a JSON object, or a repeated id.
    """
    items: list[tuple[object, dict[str, str]]] = []
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
            data = cast("dict[str, object]", parsed)  # a JSON object: string keys
            item_id = data.pop("id", number)
            if str(item_id) in seen:
                raise ValueError(
                    f"{path} line {number} repeats id {item_id!r} of line {seen[str(item_id)]}; "
                    "ids must be unique so a rerun can skip finished items"
                )
            seen[str(item_id)] = number
            inputs = {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
            items.append((item_id, inputs))
    return items


def open_results(path: str) -> tuple[set[str], TextIO]:
    """The ids recorded with `ok: true` in the results file, and the file open to append.

    A last line cut short by a crash is ended first, so the next record starts on its own
    line; the cut item has no record and runs again.

    Raises:
        OSError: the file cannot be read or written.
    """
    done: set[str] = set()
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


def usage_record(usage: RunUsage | None) -> dict[str, Any] | None:
    """A run's usage totals for a results line (without the per-turn list)."""
    if usage is None:
        return None
    data = usage.to_dict()
    del data["turns"]
    return data


@dataclass
class _Tally:
    """What a batch did so far: the merged usage, and the ids that succeeded and failed."""

    total: RunUsage = field(default_factory=RunUsage)
    succeeded: list[object] = field(default_factory=list[object])
    failed: list[object] = field(default_factory=list[object])


async def run_item(
    recipe: Recipe, item_id: object, inputs: dict[str, str], args: argparse.Namespace, *,
    online: bool, client: AsyncClient | None, display: Display, tally: _Tally,
) -> dict[str, Any]:
    """Run one item and return its results line; a failure is told and recorded, never raised."""
    from agentkit.workflows import recipe as registry

    record: dict[str, Any] = {"id": item_id}
    try:
        result = await registry.run_recipe(recipe, inputs, online=online, model=args.model,
                                           client=client)
    except Exception as exc:  # one bad item must not stop the rest
        usage = exc.usage if isinstance(exc, RunError) else None
        record.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        tally.failed.append(item_id)
        told = describe(exc) if isinstance(exc, AgentkitError) else record["error"]
        display.line(f"item {item_id} failed: {told}", style="red")
    else:
        usage = result.usage
        tally.succeeded.append(item_id)
        record.update(ok=True, output=jsonable(result.output))
    if usage is not None:
        tally.total.merge(usage)
    cost = usage.cost_usd if usage is not None else None
    record.update(usage=usage_record(usage), cost_usd=cost)
    return record


def cmd_batch(args: argparse.Namespace) -> int:
    """`agentkit batch`: a recipe over a JSONL file, resumable, item failures recorded."""
    display = Display()
    recipe = find_recipe(args.recipe)
    if recipe is None:
        return 2
    try:
        items = read_items(args.inputs)
    except (OSError, ValueError) as exc:
        fail(str(exc))
        return 2
    online = online_for(recipe, (inputs for _, inputs in items), args, display)
    if online is None:
        return 2
    try:
        done, out = open_results(args.out)
    except OSError as exc:
        fail(f"cannot use {args.out} for results: {exc.strerror or exc}")
        return 2
    todo = [(i, inputs) for i, inputs in items if str(i) not in done]
    if len(todo) < len(items):
        display.note(f"skipping {len(items) - len(todo)} items already done in {args.out}")
    tally = _Tally()

    async def batch(out: TextIO, progress: Progress) -> None:
        task = progress.add_task(recipe.name, total=len(todo))
        from agentkit import AsyncClient

        limiter = anyio.CapacityLimiter(args.concurrency)
        client = AsyncClient() if online else None

        async def one(item_id: object, inputs: dict[str, str]) -> None:
            async with limiter:
                record = await run_item(recipe, item_id, inputs, args, online=online,
                                        client=client, display=display, tally=tally)
            out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            out.flush()  # written as it finishes, so a rerun after a crash resumes here
            progress.advance(task)

        try:
            async with anyio.create_task_group() as tg:
                for item_id, inputs in todo:
                    tg.start_soon(one, item_id, inputs)
        finally:
            if client is not None:
                await client.aclose()

    with out, progress_bar(display.console) as progress:
        code, _ = guarded(display, lambda: anyio.run(batch, out, progress))
    done_now, failed = len(tally.succeeded), len(tally.failed)
    left = len(todo) - done_now - failed
    display.line(
        f"{done_now} done, {failed} failed, {len(items) - len(todo)} skipped"
        + (f", {left} not run" if left else "")
        + f"; results in {args.out}"
    )
    if left or failed:
        display.note("rerun the same command to run the failed and unfinished items")
    display.usage(tally.total, prefix="total: ")
    return code or (1 if failed else 0)
