"""An agent as a tool another agent calls (`Agent.as_tool`): the sub-run's usage counted in
the caller's, and what the caller's model is handed back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from .._api.jsonbytes import to_json
from .._errors import RunError, ToolError
from .._loop.state import RunState
from .._loop.usage import RunUsage
from .._tools.context import RunContext
from .._tools.tool import Tool
from .result import RunResult

__all__ = ["agent_tool"]


def agent_tool(
    name: str, description: str, run: Callable[[str, Any, RunState], Awaitable[RunResult[Any]]]
) -> Tool:
    """The tool `name` whose call runs `run(task, deps, state)` (the sub-agent's run, in
    `state` when the agent runs it itself) with the caller's deps. The caller's model gets the
    sub-run's structured output as JSON, else its answer's text; an `is_error` result naming
    the calls when the sub-run paused for approval. Its usage counts in the caller's however it
    ends: a sub-run cancelled (the caller's timeout, the caller cancelled) spent tokens too.
    """

    async def handler(input: dict[str, Any], ctx: RunContext[Any]) -> str:
        state = RunState()
        try:
            result = await run(input["task"], ctx.deps, state)
        except RunError as exc:
            # A sub-run that failed still spent tokens: count them, then report it.
            if isinstance(exc.usage, RunUsage):
                ctx.usage.merge(exc.usage)
            raise
        except BaseException:
            if state.usage.requests:  # what the sub-run spent until it was stopped
                ctx.usage.merge(state.usage)
            raise
        ctx.usage.merge(result.usage)
        if result.pending_approvals:  # a pause no one can answer here: say so, not ""
            raise ToolError(_paused(name, result.pending_approvals))
        return _handed_over(result)

    return Tool.from_schema(
        name=name,
        description=description,
        input_schema={
            "type": "object",
            "properties": {"task": {"type": "string", "description": "What to do, in full."}},
            "required": ["task"],
        },
        handler=handler,
    )


def _handed_over(result: RunResult[Any]) -> str:
    """What a sub-run gives the model that called it: its output as JSON (spelled as the model
    wrote it, aliases kept), else its answer's text."""
    output = result.state.output
    if output is None:
        return result.text
    return to_json(output, by_alias=True).decode()


def _paused(name: str, calls: Sequence[Mapping[str, Any]]) -> str:
    """What the model that called a sub-agent is told when the sub-run paused for approval."""
    waiting = ", ".join(f"{c['name']} ({c['id']})" for c in calls)
    return (
        f"Not done: the agent {name!r} stopped to wait for approval of {waiting}, and no one "
        "can approve a call inside a tool call, so those calls were not run. To let it run "
        "them, give that agent an approve callback (Agent(approve=...))."
    )
