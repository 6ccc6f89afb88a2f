"""A durable run in its own process, for the crash test: killed and restarted until it ends.

argv: base_url db_path log_path run_id [synchronous [shape [hold]]]. Prints "ready" once
imported, then the run's outcome as JSON (its text, structured output, messages, requests, and
the limit that ended it, if one did). `shape` shapes the agent: "flat" (the plain run), "sub"
(the tools are a sub-agent's, `as_tool`, that the run's agent calls once: the sub-run is killed
and resumed with its caller), "stream" (`stream=True`, its events consumed: `report`),
"output" (`output_type=Receipt`), "approval" (`charge` needs approval: an `approve` callback
that takes a moment, denying order 2; its events consumed too) or "limit"
(`Limits(max_tool_calls=LIMIT)`, which ends the run mid-plan). `hold` ("charge", "lookup",
"approve") names what blocks once it started, so the test kills the process there.
Every side effect is logged (and fsynced) before and after it happens, so the test can see
what ran, how often, and with which idempotency key.
"""

from __future__ import annotations

import json
import os
import sys

import anyio
from pydantic import BaseModel

from agentkit import Agent, AsyncClient, Limits, RunContext, SQLiteStore, tool
from agentkit.errors import LimitExceeded
from agentkit.events import AgentEvent, ToolCallFinished, TurnFinished

LOG = sys.argv[3] if __name__ == "__main__" else ""
HOLD = sys.argv[7] if __name__ == "__main__" and len(sys.argv) > 7 else "none"
SHAPES = ("flat", "sub", "stream", "output", "approval", "limit")
LIMIT = 4
"""The "limit" shape's `max_tool_calls`: the plan's first two turns make four calls, so the
third turn's calls are refused and the run ends with `LimitExceeded`."""


def record(line: str) -> None:
    with open(LOG, "a", encoding="utf-8") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())


async def held(name: str) -> None:
    """Block forever where `HOLD` names (the test kills the process there)."""
    if name == HOLD:
        await anyio.sleep_forever()


@tool(idempotent=True)
async def lookup(ctx: RunContext[None], key: str) -> str:
    """Look a value up (read-only: safe to repeat)."""
    record(f"lookup {ctx.tool_use_id} {ctx.idempotency_key}")
    await held("lookup")
    await anyio.sleep(0.02)
    return f"value-{key}"


@tool
async def charge(ctx: RunContext[None], order: int) -> str:
    """Charge an order (a side effect: never run twice)."""
    record(f"charge-start {ctx.tool_use_id} {ctx.idempotency_key} {order}")
    await held("charge")
    await anyio.sleep(0.04)
    record(f"charge-done {ctx.tool_use_id}")
    return f"charged order {order}"


async def approve(ctx: RunContext[None], call: dict[str, object]) -> bool | str:
    """Approves every charge but order 2's, after a moment (where a kill may land)."""
    record(f"approve {call['id']}")
    await held("approve")
    await anyio.sleep(0.03)
    return "order 2 is on hold" if call["input"] == {"order": 2} else True


async def report(event: AgentEvent) -> None:
    """The "stream" and "approval" shapes' event consumer: logs each finished turn and tool
    call it is told of, with the result it was told (a checkpoint is committed before the
    event reporting it, and a resume reports no journaled step again)."""
    if isinstance(event, TurnFinished):
        record(f"event-turn {event.turn}")
    elif isinstance(event, ToolCallFinished):
        record(f"event-tool {event.id} {json.dumps(event.result)}")


class Receipt(BaseModel):
    """The "output" shape's structured output."""

    orders: list[int]


PROMPT = "Charge the open orders"


CLERK = "You are the clerk: handle the orders you are given."


def make_agent(client: AsyncClient | None = None, shape: str = "flat") -> Agent[object]:
    model = "claude-sonnet-4-5"
    if shape == "sub":
        clerk = Agent(model, name="clerk", description="Handles orders.", system=CLERK,
                      tools=[lookup, charge], client=client)
        return Agent(model, tools=[clerk.as_tool()], client=client)
    if shape == "approval":
        gated = charge.replace(requires_approval=True)
        return Agent(model, tools=[lookup, gated], approve=approve, client=client)
    return Agent(
        model, tools=[lookup, charge], client=client, stream=shape == "stream",
        output_type=Receipt if shape == "output" else None,  # pyright: ignore[reportArgumentType]
        limits=Limits(max_tool_calls=LIMIT) if shape == "limit" else None,
    )


async def main(base_url: str, db: str, run_id: str, synchronous: str, shape: str) -> None:
    store = SQLiteStore(db, synchronous="FULL" if synchronous == "FULL" else "NORMAL")
    async with AsyncClient(api_key="sk-test", base_url=base_url, max_retries=0) as client:
        agent = make_agent(client, shape)
        print("ready", flush=True)
        try:
            on_event = report if shape in ("stream", "approval") else None
            result = await agent.run(PROMPT, run_id=run_id, store=store, on_event=on_event)
        except LimitExceeded as exc:
            result, limit = exc.result, exc.limit
        else:
            limit = None
        output = result.output.model_dump() if isinstance(result.output, Receipt) else None
        print(json.dumps({"text": result.text, "output": output, "messages": result.messages,
                          "requests": result.usage.requests, "limit": limit,
                          "stop_reason": result.stop_reason,
                          "tokens": [result.usage.input_tokens, result.usage.output_tokens]}),
              flush=True)


if __name__ == "__main__":
    synchronous = sys.argv[5] if len(sys.argv) > 5 else "NORMAL"
    shape = sys.argv[6] if len(sys.argv) > 6 else "flat"
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[4], synchronous, shape)
