"""A durable run in its own process, for the crash test: killed and restarted until it ends.

argv: base_url db_path log_path run_id [synchronous [shape]]. Prints "ready" once imported,
then the result as JSON. `shape` "sub" gives the tools to a sub-agent (`as_tool`) that the
run's agent calls once: the sub-run is killed and resumed with its caller.
Every side effect is logged (and fsynced) before and after it happens, so the test can see
what ran, how often, and with which idempotency key.
"""

from __future__ import annotations

import json
import os
import sys

import anyio

from agentkit import Agent, AsyncClient, RunContext, SQLiteStore, tool

LOG = sys.argv[3] if __name__ == "__main__" else ""


def record(line: str) -> None:
    with open(LOG, "a", encoding="utf-8") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())


@tool(idempotent=True)
async def lookup(ctx: RunContext[None], key: str) -> str:
    """Look a value up (read-only: safe to repeat)."""
    record(f"lookup {ctx.tool_use_id} {ctx.idempotency_key}")
    await anyio.sleep(0.02)
    return f"value-{key}"


@tool
async def charge(ctx: RunContext[None], order: int) -> str:
    """Charge an order (a side effect: never run twice)."""
    record(f"charge-start {ctx.tool_use_id} {ctx.idempotency_key}")
    await anyio.sleep(0.04)
    record(f"charge-done {ctx.tool_use_id}")
    return f"charged order {order}"


PROMPT = "Charge the open orders"


CLERK = "You are the clerk: handle the orders you are given."


def make_agent(client: AsyncClient | None = None, shape: str = "flat") -> Agent[str]:
    if shape == "flat":
        return Agent("claude-sonnet-4-5", tools=[lookup, charge], client=client)
    clerk = Agent("claude-sonnet-4-5", name="clerk", description="Handles orders.",
                  system=CLERK, tools=[lookup, charge], client=client)
    return Agent("claude-sonnet-4-5", tools=[clerk.as_tool()], client=client)


async def main(base_url: str, db: str, run_id: str, synchronous: str, shape: str) -> None:
    store = SQLiteStore(db, synchronous="FULL" if synchronous == "FULL" else "NORMAL")
    async with AsyncClient(api_key="sk-test", base_url=base_url, max_retries=0) as client:
        agent = make_agent(client, shape)
        print("ready", flush=True)
        result = await agent.run(PROMPT, run_id=run_id, store=store)
        print(json.dumps({"text": result.text}), flush=True)


if __name__ == "__main__":
    synchronous = sys.argv[5] if len(sys.argv) > 5 else "NORMAL"
    shape = sys.argv[6] if len(sys.argv) > 6 else "flat"
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[4], synchronous, shape)
