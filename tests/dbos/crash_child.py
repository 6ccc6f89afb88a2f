"""A `DBOSAgent` run in its own process, for the crash test: killed, then restarted.

argv: base_url system_database_url log_path workflow_id hold [variant]. Makes the durable agent,
launches DBOS with a fixed executor id (a restart recovers that executor's unfinished runs),
prints "ready", runs (or attaches to) the workflow, and prints the result as JSON. Every side
effect is logged and fsynced before and after it happens (`tests/durable/crash_child.py`'s
`record`). `hold` names a tool whose calls block once started, so the test can kill the
process in the middle of one; "attach" blocks nothing and only attaches to the workflow (no
prompt: it cannot start one), so it finishes only if `DBOS.launch()` recovered the run; "auto"
blocks nothing and attaches when the workflow exists, else starts it (the random-kill test).

`variant` shapes the agent: "plain", "stream" (`stream=True`), "output" (`output_type=`),
"approval" (`charge` needs approval: an `approve` callback that takes a moment, denying order
2) or "sub" (the tools are a sub-agent's, `as_tool`).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import anyio
from dbos import DBOS
from pydantic import BaseModel

from agentkit import Agent, AsyncClient, RunContext, tool
from agentkit.dbos import DBOSAgent

_spec = importlib.util.spec_from_file_location(
    "sqlite_crash_child", Path(__file__).parents[1] / "durable" / "crash_child.py"
)
assert _spec is not None and _spec.loader is not None
sqlite_child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sqlite_child)

PROMPT = sqlite_child.PROMPT
EXECUTOR = "crash-executor"
HOLD = sys.argv[5] if __name__ == "__main__" else "none"
VARIANTS = ("plain", "stream", "output", "approval", "sub")


class Receipt(BaseModel):
    """The "output" variant's structured output."""

    orders: list[int]


async def held(name: str) -> None:
    if name == HOLD:
        await anyio.sleep_forever()  # the test kills the process here
    if HOLD == "auto":
        await anyio.sleep(0.03)  # a call that takes a moment, where a random kill may land


@tool(idempotent=True)
async def lookup(ctx: RunContext[None], key: str) -> str:
    """Look a value up (read-only: safe to repeat)."""
    sqlite_child.record(f"lookup {ctx.tool_use_id} {ctx.idempotency_key}")
    await held("lookup")
    return f"value-{key}"


@tool
async def charge(ctx: RunContext[None], order: int) -> str:
    """Charge an order (a side effect: never run twice)."""
    sqlite_child.record(f"charge-start {ctx.tool_use_id} {ctx.idempotency_key} {order}")
    await held("charge")
    sqlite_child.record(f"charge-done {ctx.tool_use_id}")
    return f"charged order {order}"


async def approve(ctx: RunContext[None], call: dict[str, object]) -> bool | str:
    """Approves every charge but order 2's, after a moment (where a kill may land)."""
    sqlite_child.record(f"approve {call['id']}")
    await anyio.sleep(0.03)
    return "order 2 is on hold" if call["input"] == {"order": 2} else True


def make_agent(client: AsyncClient, variant: str) -> Agent[object]:
    if variant == "sub":
        clerk = Agent("claude-sonnet-4-5", name="clerk", description="Handles orders.",
                      system=sqlite_child.CLERK, tools=[lookup, charge], client=client)
        return Agent("claude-sonnet-4-5", tools=[clerk.as_tool()], client=client)
    if variant == "approval":
        gated = charge.replace(requires_approval=True)
        return Agent("claude-sonnet-4-5", tools=[lookup, gated], approve=approve, client=client)
    return Agent("claude-sonnet-4-5", tools=[lookup, charge], client=client,
                 stream=variant == "stream",
                 output_type=Receipt if variant == "output" else None)  # pyright: ignore[reportArgumentType]


async def main(base_url: str, system_db: str, workflow_id: str, variant: str) -> None:
    async with AsyncClient(api_key="sk-test", base_url=base_url, max_retries=0) as client:
        durable = DBOSAgent(make_agent(client, variant), name="crash-orders")
        DBOS(config={"name": "agentkit-crash", "system_database_url": system_db,
                     "executor_id": EXECUTOR, "application_version": "crash-test",
                     "log_level": "WARNING"})
        DBOS.launch()  # in this event loop: the runs it recovers run here, with this client
        try:
            print("ready", flush=True)
            exists = await DBOS.get_workflow_status_async(workflow_id) is not None
            if HOLD == "attach" or (HOLD == "auto" and exists):
                result = await durable.run(workflow_id=workflow_id)
            else:
                result = await durable.run(PROMPT, workflow_id=workflow_id)
            output = result.output.model_dump() if isinstance(result.output, Receipt) else None
            print(json.dumps({"text": result.text, "output": output,
                              "messages": result.messages,
                              "requests": result.usage.requests}), flush=True)
        finally:
            DBOS.destroy()


if __name__ == "__main__":
    sqlite_child.LOG = sys.argv[3]
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[4],
              sys.argv[6] if len(sys.argv) > 6 else "plain")
