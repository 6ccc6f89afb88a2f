"""`Effects`: the seam through which a durable workflow engine carries out the driver's steps
that touch the world, so the same driver (and the same engine decisions) run under it.

Without one (`None`, every plain or SQLite-stored run) the driver does each step itself.
With one (`agentkit.dbos`), each model call, token count, tool call, back-off and approval
goes through it, and the engine runs that records them (a DBOS workflow: each call a step,
the back-off its durable sleep). The driver still does everything else: the hooks around a
model call, events, the deadline, the engine's bookkeeping.

`RUN_HOST` is the other seam: while it is set (a durable batch item sets it around the item's
code), `Agent.run` hands each run to it, so runs made deep inside a recipe become durable too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Protocol

from .._api.wire import Message
from .._tools.tool import Tool

__all__ = ["RUN_HOST", "Effects", "RunHost"]


class Effects(Protocol):
    """How a run's steps with side effects are carried out, and recorded."""

    @property
    def run_id(self) -> str:
        """The durable run's id: tools see it as `ctx.run_id` (so in `ctx.idempotency_key`)."""
        ...

    def go_on(self, held: bool) -> str:
        """How a run carried out by it that failed goes on, as the `RunError` advises: its
        workflow engine's way, not a plain run's; `held`: an `after_model` hook failed on the
        last reply (`RunState.held`), which that way may or may not keep."""
        ...

    async def model(self, send: Callable[[], Awaitable[Message]]) -> Message:
        """The reply `send` gets (or its error, raised), recorded so it is not sent again."""
        ...

    async def count(self, send: Callable[[], Awaitable[int | None]]) -> int | None:
        """The token count `send` gets (None: it failed), recorded: the context policy decides
        on it, so a replay must get the same."""
        ...

    async def starting(self, calls: Sequence[dict[str, Any]], tools: Mapping[str, Tool]) -> None:
        """These calls are about to start, together (the driver awaits this before any of
        them, in call order): where a non-idempotent call's durable started mark is written."""
        ...

    async def tool(
        self, call: dict[str, Any], run: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        """The `tool_result` of `call` (one that `starting` announced): `run()`'s, recorded."""
        ...

    async def sleep(self, seconds: float) -> None:
        """The back-off the engine asked for, slept durably."""
        ...

    async def approve(
        self, ask: Callable[[], Awaitable[dict[str, bool | str]]]
    ) -> dict[str, bool | str]:
        """The decisions `ask()` gets, recorded so they are not asked again."""
        ...


class RunHost(Protocol):
    """Carries out the `Agent.run` calls made where it is set (`RUN_HOST`), e.g. each as a
    durable workflow. To run one as the agent itself would, it calls `agent.run` again with
    `RUN_HOST` reset to None."""

    async def run(
        self, agent: Any, prompt: str | list[dict[str, Any]] | None, on_event: Any,
        args: Mapping[str, Any],
    ) -> Any:
        """The `RunResult` of `agent.run(prompt, on_event=on_event, **args)`."""
        ...


RUN_HOST: ContextVar[RunHost | None] = ContextVar("agentkit_run_host", default=None)
"""Who carries out `Agent.run` in this context (None: the agent itself). Runs with a `run_id`
(a store's) or a `state` are always the agent's own."""
