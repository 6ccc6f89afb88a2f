"""Tests of `Recipe`, `RecipeContext`, discovery and `run_recipe` (offline, on loopback)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from agentkit import (
    AgentEvent,
    AsyncClient,
    LimitExceeded,
    Limits,
    Recipe,
    RecipeContext,
    RecipeResult,
    RunError,
    TextChunk,
    UsageError,
    run_recipe,
)
from agentkit.testing import FunctionModel, ScriptedTransport, last_user_text, tool_reply
from agentkit.workflows.recipe import discover, resolve_inputs


async def _shout(ctx: RecipeContext) -> str:
    agent = ctx.agent(system="Repeat the user's text in upper case.")
    first = await ctx.run(agent, ctx.inputs["text"])
    second = await ctx.run(agent, first.text + "!")
    return second.text


def _shouting_model(inputs: dict[str, str]) -> FunctionModel:
    return FunctionModel(lambda body: last_user_text(body).upper())


SHOUT = Recipe(
    name="shout",
    description="Upper-cases a text twice.",
    run=_shout,
    offline_model=_shouting_model,
    inputs={"text": "hello"},
)


def test_recipe_names_must_be_cli_friendly() -> None:
    with pytest.raises(UsageError, match="lower-case words joined by hyphens"):
        Recipe(name="Code QA", description="x", run=_shout, offline_model=_shouting_model)


def test_recipe_needs_a_one_line_description() -> None:
    with pytest.raises(UsageError, match="one-line description"):
        Recipe(name="x", description="two\nlines", run=_shout, offline_model=_shouting_model)


def test_inputs_fill_defaults_and_reject_unknown_names_listing_the_valid_ones() -> None:
    assert resolve_inputs(SHOUT, None) == {"text": "hello"}
    assert resolve_inputs(SHOUT, {"text": "hi"}) == {"text": "hi"}
    with pytest.raises(UsageError, match=r"no input named 'txt'; its inputs are: text"):
        resolve_inputs(SHOUT, {"txt": "hi"})


@pytest.mark.asyncio
async def test_run_recipe_offline_serves_the_scripted_model_on_loopback_and_merges_usage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "")
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    events: list[AgentEvent] = []
    result = await run_recipe(SHOUT, {"text": "quiet"}, on_event=events.append)
    assert isinstance(result, RecipeResult)
    assert result.output == "QUIET!"
    assert result.online is False
    assert result.usage.requests == 2
    assert [e.text for e in events if isinstance(e, TextChunk)] == ["QUIET", "QUIET!"]


@pytest.mark.asyncio
async def test_run_recipe_uses_a_given_client_and_model_without_a_fake_server() -> None:
    transport = ScriptedTransport(["ONE", "TWO"])
    async with AsyncClient(api_key="k", transport=transport) as client:
        result = await run_recipe(SHOUT, client=client, model="claude-haiku-4-5", online=True)
    assert result.output == "TWO"
    assert result.online is True
    assert [r.body["model"] for r in transport.requests] == ["claude-haiku-4-5"] * 2
    assert transport.requests[1].body["messages"][0]["content"][0]["text"] == "ONE!"


@pytest.mark.asyncio
async def test_online_defaults_to_whether_credentials_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []

    async def report(ctx: RecipeContext) -> None:
        seen.append(ctx.online)

    recipe = Recipe(name="probe", description="d", run=report, offline_model=_shouting_model)
    transport = ScriptedTransport([])
    async with AsyncClient(api_key="k", transport=transport) as client:
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
        assert (await run_recipe(recipe, client=client)).online is False
        monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "token")
        assert (await run_recipe(recipe, client=client)).online is True
    assert seen == [False, True]


@pytest.mark.asyncio
async def test_a_failed_run_still_counts_its_usage() -> None:
    async def looping(ctx: RecipeContext) -> None:
        agent = ctx.agent(tools=[_noop], limits=Limits(max_turns=2))
        try:
            await ctx.run(agent, "go")
        finally:
            assert ctx.usage.requests == 2

    model = FunctionModel(lambda body: tool_reply("_noop", {}))
    recipe = Recipe(name="loop", description="d", run=looping, offline_model=lambda i: model)
    with pytest.raises(LimitExceeded):
        await run_recipe(recipe, online=False)


def _noop() -> str:
    """Do nothing."""
    return "ok"


@pytest.mark.asyncio
async def test_a_failing_scripted_model_fails_the_run_with_the_reason() -> None:
    def broken(body: dict[str, Any]) -> str:
        raise KeyError("the script has no answer")

    recipe = Recipe(
        name="broken",
        description="d",
        run=_shout,
        offline_model=lambda i: FunctionModel(broken),
        inputs={"text": "x"},
    )
    with pytest.raises(RunError, match="the script has no answer"):
        await run_recipe(recipe, online=False)


def test_discover_finds_every_public_module_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "fake_recipes"
    package.mkdir()
    (package / "__init__.py").write_text("")
    body = (
        "from agentkit import Recipe\n"
        "from agentkit.testing import echo_model\n"
        "async def run(ctx): return 1\n"
        "RECIPE = Recipe(name={name!r}, description='d', run=run,"
        " offline_model=lambda inputs: echo_model)\n"
    )
    (package / "zeta.py").write_text(body.format(name="zeta"))
    (package / "alpha.py").write_text(body.format(name="alpha"))
    (package / "_helpers.py").write_text(body.format(name="hidden"))
    (package / "plain.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        found = discover("fake_recipes")
        assert list(found) == ["alpha", "zeta"]
        (package / "dupe.py").write_text(body.format(name="alpha"))
        with pytest.raises(UsageError, match="two recipes are named 'alpha'"):
            discover("fake_recipes")
    finally:
        for name in [m for m in sys.modules if m.startswith("fake_recipes")]:
            del sys.modules[name]


def test_discover_without_the_package_is_empty() -> None:
    assert discover("no_such_recipes_package_here") == {}
