"""A durable run's lifecycle as a user meets it: how it ends (an event consumer failing, a
sub-agent's usage, ...), what is stored, and what the same call gives afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentkit import Agent, AsyncClient, RunError, SQLiteStore
from agentkit.events import AgentEvent, RunFinished
from agentkit.testing import ScriptedTransport, text_reply

MODEL = "claude-sonnet-4-5"


def agent_for(transport: ScriptedTransport) -> Agent[str]:
    return Agent(MODEL, client=AsyncClient(api_key="sk", transport=transport, max_retries=0))


@pytest.mark.asyncio
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
async def test_a_callback_failing_on_run_finished_fails_the_run_as_run_error(
    tmp_path: Path, is_async: bool
) -> None:
    # The README: an exception the callback raises fails the run as `RunError`; on the last
    # event it escaped bare, unlike on every other event.
    def fail(event: AgentEvent) -> None:
        if isinstance(event, RunFinished):
            raise ValueError("the display broke")

    async def fail_async(event: AgentEvent) -> None:
        fail(event)

    on_event = fail_async if is_async else fail
    with pytest.raises(RunError, match="the display broke") as plain:
        await agent_for(ScriptedTransport([text_reply("Done.")])).run("Go", on_event=on_event)
    assert isinstance(plain.value.__cause__, ValueError)

    store = SQLiteStore(tmp_path / "runs.db")
    with pytest.raises(RunError, match=r"resume it with the same call \(run_id='r'\)") as durable:
        await agent_for(ScriptedTransport([text_reply("Done.")])).run(
            "Go", run_id="r", store=store, on_event=on_event
        )
    assert isinstance(durable.value.__cause__, ValueError)
    assert store.header("r").status == "failed"  # type: ignore[union-attr]
    again = await agent_for(ScriptedTransport([])).run("Go", run_id="r", store=store)
    assert again.text == "Done." and again.usage.requests == 1
    assert store.header("r").status == "finished"  # type: ignore[union-attr]
