"""A recipe for durable batch tests (loaded by path: `agentkit batch .../durable_orders.py`).

Per order: two check agents run in parallel, then an order agent reserves (an idempotent
tool) and charges (a non-idempotent one) in one turn, ships in the next, and answers. Every
side effect and every model request is appended to the file `$DURABLE_LOG` (fsynced), so a
test counts what ran. An order listed in `$DURABLE_HOLD` (comma-separated) holds its last
model request once: it writes its pid to `$DURABLE_MARKERS/<order>` and answers only after
an hour, so the test can kill the batch (or the Ray worker) while that item's tools are done
and its last model call is in flight. An order listed in `$DURABLE_FAIL` gets a 500 (not to
be retried) for that request instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentkit import Recipe, RecipeContext, RunContext, parallel_map, tool
from agentkit.testing import Fault, FunctionModel, last_user_text, reply, text_reply


def record(line: str) -> None:
    """Append `line` to `$DURABLE_LOG`, on disk before going on (a kill loses nothing)."""
    log = os.environ.get("DURABLE_LOG")
    if not log:
        return
    with open(log, "a", encoding="utf-8") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())


@tool(idempotent=True)
async def reserve(ctx: RunContext[None], order: str) -> str:
    """Reserve the order's goods (safe to repeat)."""
    record(f"tool reserve {order} {ctx.idempotency_key}")
    return f"reserved {order}"


@tool
async def charge(ctx: RunContext[None], order: str) -> str:
    """Charge the order (never twice)."""
    record(f"tool charge {order}")
    return f"charged {order}"


@tool
async def ship(ctx: RunContext[None], order: str) -> str:
    """Ship the order (never twice)."""
    record(f"tool ship {order}")
    return f"shipped {order}"


def offline_model(inputs: dict[str, str]) -> FunctionModel:
    order = inputs["order"]
    held = order in os.environ.get("DURABLE_HOLD", "").split(",")

    def play(body: dict[str, Any]) -> Any:
        system = str(body.get("system", ""))
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        record(f"model {order} {system.split()[0] if system else '-'} {turn}")
        if system.startswith("Check"):
            return text_reply(f"{system.split()[1].rstrip('.')} ok for {order}")
        if turn == 0:
            return reply(tool_calls=[("reserve", {"order": order}), ("charge", {"order": order})])
        if turn == 1:
            return reply(tool_calls=[("ship", {"order": order})])
        final = text_reply(f"order {order} done after: {last_user_text(body)}")
        if order in os.environ.get("DURABLE_FAIL", "").split(","):
            return Fault.error(500, should_retry=False)  # the run fails; a rerun retries it
        marker = Path(os.environ.get("DURABLE_MARKERS", "."), order)
        if held and not marker.exists():  # held once: the item's rerun goes through
            marker.write_text(str(os.getpid()))  # the process to kill
            return Fault.slow(3600, reply=final)  # the test kills the process before
        return final

    return FunctionModel(play)


async def _run(ctx: RecipeContext) -> dict[str, Any]:
    order = ctx.inputs["order"]

    async def check(what: str) -> str:
        return (await ctx.run(ctx.agent(system=f"Check {what}."), f"Check order {order}")).text

    checks = await parallel_map(check, ["stock", "fraud"])
    agent = ctx.agent(system="Process orders.", tools=[reserve, charge, ship])
    result = await ctx.run(agent, f"Process order {order} ({'; '.join(checks)})")
    return {"order": order, "answer": result.text}


RECIPE = Recipe(name="durable-orders", description="Checks, charges and ships one order.",
                run=_run, offline_model=offline_model, inputs={"order": "1"})
