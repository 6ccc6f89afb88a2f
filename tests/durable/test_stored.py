"""A durable run's stored result read back by the same call (issue #9): with nothing left to
ask the model, the call needs no API key; a run that goes on still calls the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentkit import Agent, AsyncClient, Limits, SQLiteStore, tool
from agentkit.errors import LimitExceeded, UsageError
from agentkit.testing import FakeServer, ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"
PROMPT = "Charge order 1"


@tool
async def charge(order: int) -> str:
    """Charge an order."""
    return f"charged {order}"


def steps() -> list[Any]:
    return [reply(tool_calls=[("charge", {"order": 1}, "toolu_1")]), text_reply("All done.")]


def scripted(script: list[Any], **kwargs: Any) -> Agent[Any]:
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(script), max_retries=0)
    return Agent(MODEL, tools=[charge], client=client, **kwargs)


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "runs.db")


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials and no base URL: `AsyncClient()` raises `UsageError`."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UsageError):
        AsyncClient()


@pytest.mark.asyncio
@pytest.mark.usefixtures("no_key")
async def test_a_finished_run_is_read_back_without_an_api_key(store: SQLiteStore) -> None:
    first = await scripted(steps()).run(PROMPT, run_id="r1", store=store)
    stored = store.entries("r1")

    keyless = Agent(MODEL, tools=[charge], store=store)  # its runs make their own client
    again = await keyless.run(PROMPT, run_id="r1")
    assert again.text == "All done." and again.messages == first.messages
    assert (await keyless.run(run_id="r1")).text == "All done."  # resumed without the prompt
    async with keyless.iter(PROMPT, run_id="r1") as run:
        events = [type(e).__name__ async for e in run]
    assert run.result is not None and run.result.text == "All done."
    assert events == ["RunFinished"]
    assert store.entries("r1") == stored


@pytest.mark.usefixtures("no_key")
def test_a_finished_run_is_read_back_by_run_sync_without_an_api_key(store: SQLiteStore) -> None:
    scripted(steps()).run_sync(PROMPT, run_id="r1", store=store)
    again = Agent(MODEL, tools=[charge], store=store).run_sync(PROMPT, run_id="r1")
    assert again.text == "All done."


@pytest.mark.asyncio
@pytest.mark.usefixtures("no_key")
async def test_a_paused_run_is_handed_back_paused_without_an_api_key(store: SQLiteStore) -> None:
    needs_approval = charge.replace(requires_approval=True)
    client = AsyncClient(api_key="sk-test", transport=ScriptedTransport(steps()), max_retries=0)
    paused = await Agent(MODEL, tools=[needs_approval], client=client).run(
        PROMPT, run_id="r1", store=store
    )
    assert [c["id"] for c in paused.pending_approvals] == ["toolu_1"]

    again = await Agent(MODEL, tools=[needs_approval], store=store).run(PROMPT, run_id="r1")
    assert [c["id"] for c in again.pending_approvals] == ["toolu_1"]
    assert store.header("r1").status == "paused"  # type: ignore[union-attr]


@pytest.mark.asyncio
@pytest.mark.usefixtures("no_key")
async def test_a_run_ended_by_a_limit_ends_there_again_without_an_api_key(
    store: SQLiteStore,
) -> None:
    limits = Limits(max_turns=1)
    with pytest.raises(LimitExceeded):
        await scripted(steps(), limits=limits).run(PROMPT, run_id="r1", store=store)

    keyless = Agent(MODEL, tools=[charge], store=store, limits=limits)
    with pytest.raises(LimitExceeded) as raised:
        await keyless.run(PROMPT, run_id="r1")
    assert raised.value.limit == "max_turns"
    assert store.header("r1").status == "finished"  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_run_that_goes_on_makes_its_client_from_the_environment(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = Limits(max_turns=1)
    with pytest.raises(LimitExceeded):
        await scripted(steps(), limits=limits).run(PROMPT, run_id="r1", store=store)

    # The same call under a raised limit goes on: its client comes from the environment.
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env")
    with FakeServer([text_reply("All done.")]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        result = await Agent(MODEL, tools=[charge], store=store).run(PROMPT, run_id="r1")
    assert result.text == "All done." and len(server.requests) == 1


@pytest.mark.asyncio
@pytest.mark.usefixtures("no_key")
async def test_a_run_that_must_call_the_model_without_a_key_fails_and_stores_nothing(
    store: SQLiteStore,
) -> None:
    with pytest.raises(UsageError, match="ANTHROPIC_API_KEY"):
        await Agent(MODEL, tools=[charge], store=store).run(PROMPT, run_id="r1")
    assert store.header("r1") is None
