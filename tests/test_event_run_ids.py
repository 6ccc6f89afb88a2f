"""Every event carries the id of the run that sent it, so parallel runs sharing one consumer
(the command line's display) can be told apart."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio
import pytest

from agentkit import Agent, TextChunk
from agentkit.testing import FakeServer, echo_model


def test_events_carry_the_id_of_their_run(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[Any] = []

    async def both() -> None:
        agent = Agent("claude-sonnet-4-6", stream=True)
        async with anyio.create_task_group() as group:
            group.start_soon(partial(agent.run, "one", on_event=events.append))
            group.start_soon(partial(agent.run, "two", on_event=events.append))

    with FakeServer(echo_model) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        anyio.run(both)
    ids = {e.run_id for e in events}
    assert len(ids) == 2 and "" not in ids
    for run in ids:
        text = "".join(e.text for e in events if e.run_id == run and isinstance(e, TextChunk))
        assert text in ("echo: one", "echo: two")
