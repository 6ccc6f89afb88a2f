"""A run that an agentkit from before context policies were fingerprinted (before 9301428)
stored for an agent with a policy: the same agent and prompt resume it, its header is moved on
to the new fingerprint once, in the claim; any other stored fingerprint is still refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentkit import Agent, AsyncClient, RunContext, SQLiteStore, tool
from agentkit._run import durable as durable_module
from agentkit._run.fingerprint import fingerprint, former
from agentkit.context import Trim
from agentkit.errors import RunMismatchError
from agentkit.testing import ScriptedTransport, reply, text_reply

PROMPT = "Charge the open orders"
LEGACY = "dd179e5dd47256fa-b9f121cb2c28a439"
"""The fingerprint the agentkit before 9301428 gave `agent()` and `PROMPT` (its rule: the agent
half hashes model, system, tool names and output tool, never the policy), computed by that
code and pinned here so the test cannot drift with today's."""


class Crash(BaseException):
    """Stands for the process dying: nothing turns it into a result."""


def agent(transport: ScriptedTransport, looked: list[str], crash: bool = False) -> Agent[str]:
    @tool(idempotent=True)
    async def lookup(ctx: RunContext[None], key: str) -> str:
        """Look a value up."""
        if crash:
            raise Crash
        looked.append(ctx.idempotency_key)
        return f"value-{key}"

    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    return Agent(
        "claude-sonnet-4-6",
        system="You charge orders.",
        tools=[lookup],
        context=Trim(),
        client=client,
    )


def now(looked: list[str]) -> str:
    config = agent(ScriptedTransport([]), looked)
    return fingerprint(config.config, config.toolset.names, config.first_messages(PROMPT, None))


def test_the_former_fingerprint_of_an_agent_with_a_policy_is_the_one_stored_before() -> None:
    built = agent(ScriptedTransport([]), [])
    given = now([])
    assert given != LEGACY and former(built.config, built.toolset.names, given) == LEGACY
    plain = Agent("claude-sonnet-4-6", system="You charge orders.")
    assert former(plain.config, plain.toolset.names, "a-p") is None  # it never changed


async def stored_before(path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Run `agent()` as the agentkit before 9301428 did (its fingerprint, no former one),
    killed in its tool call after its first reply was journaled; what the tool did."""
    looked: list[str] = []
    transport = ScriptedTransport([reply(tool_calls=[("lookup", {"key": "a"}, "toolu_1")])])
    with monkeypatch.context() as patched:
        patched.setattr(durable_module, "fingerprint", lambda *args: LEGACY)
        patched.setattr(durable_module, "former", lambda *args: None, raising=False)
        with SQLiteStore(path) as store, pytest.raises(Crash):
            await agent(transport, looked, crash=True).run(PROMPT, run_id="r", store=store)
    with SQLiteStore(path) as store:
        header = store.header("r")
        assert header is not None and header.fingerprint == LEGACY
        assert store.entries("r")[0].payload["fingerprint"] == LEGACY
    return looked


@pytest.mark.asyncio
@pytest.mark.parametrize("prompt", [PROMPT, None], ids=["same-prompt", "no-prompt"])
async def test_a_run_stored_before_policies_were_fingerprinted_resumes_and_moves_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prompt: str | None
) -> None:
    path = tmp_path / "runs.db"
    looked = await stored_before(path, monkeypatch)
    transport = ScriptedTransport([text_reply("All done.")])
    with SQLiteStore(path) as store:
        result = await agent(transport, looked).run(prompt, run_id="r", store=store)
        assert result.text == "All done."
        assert len(transport.requests) == 1  # the journaled reply was not asked for again
        assert len(looked) == 1
        header = store.header("r")
        assert header is not None and header.fingerprint == now(looked)  # moved on, once
        assert store.entries("r")[0].payload["fingerprint"] == LEGACY  # the journal as it was
        again = await agent(ScriptedTransport([]), looked).run(PROMPT, run_id="r", store=store)
        assert again.text == "All done."  # the moved-on run is still this agent's


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "stored",
    [LEGACY.split("-")[0] + "-0000000000000000", "0000000000000000-" + LEGACY.split("-")[1]],
    ids=["legacy-agent-another-prompt", "another-agent-same-prompt"],
)
async def test_any_other_stored_fingerprint_is_still_refused_and_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored: str
) -> None:
    path = tmp_path / "runs.db"
    with monkeypatch.context() as patched:
        patched.setattr(durable_module, "fingerprint", lambda *args: stored)
        patched.setattr(durable_module, "former", lambda *args: None, raising=False)
        with SQLiteStore(path) as store:
            transport = ScriptedTransport([text_reply("Done.")])
            await agent(transport, []).run(PROMPT, run_id="r", store=store)
    transport = ScriptedTransport([])
    with SQLiteStore(path) as store:
        before: Any = store.header("r")
        with pytest.raises(RunMismatchError):
            await agent(transport, []).run(PROMPT, run_id="r", store=store)
        assert store.header("r") == before and transport.requests == []
