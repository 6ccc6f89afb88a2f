"""Toolsets: construction, duplicate names, prefix/filter/combine, and per-turn preparation."""

from __future__ import annotations

from typing import Any

import pytest

from agentkit._errors import UsageError
from agentkit._tools.context import RunContext
from agentkit._tools.tool import Tool, tool
from agentkit._tools.toolset import Toolset, ToolSource


@tool
def search(query: str) -> str:
    """Search the web."""
    return query


@tool
def fetch(url: str) -> str:
    """Fetch a page."""
    return url


def plain(x: int) -> int:
    """A plain function, wrapped on the way in."""
    return x


def ctx(turn: int = 0, deps: Any = None) -> RunContext[Any]:
    return RunContext(deps=deps, turn=turn)


def test_build_from_tools_functions_and_toolsets() -> None:
    inner = Toolset([fetch])
    ts = Toolset([search, plain, inner])
    assert ts.names == ["search", "plain", "fetch"]
    assert len(ts) == 3 and "plain" in ts and "nope" not in ts
    assert isinstance(ts.get("plain"), Tool)
    assert ts.get("search") is search and ts.get("nope") is None
    assert list(ts) == [search, ts.get("plain"), fetch]
    assert isinstance(ts, ToolSource)


def test_duplicate_names_are_refused_naming_both_functions() -> None:
    @tool(name="search")
    def search_again(query: str) -> str:
        """Another search."""
        return query

    with pytest.raises(UsageError) as info:
        Toolset([search, search_again])
    message = str(info.value)
    assert "Two tools are named `search`" in message
    assert "`search`" in message and "search_again`" in message
    assert ".prefixed(" in message
    with pytest.raises(UsageError, match="Two tools are named `search`"):
        Toolset([search]) + Toolset([search_again])


def test_non_tools_are_refused() -> None:
    with pytest.raises(UsageError, match="tools, toolsets, tool sources or functions; got 42"):
        Toolset([42])  # type: ignore[list-item]


def test_prefixed_renames_a_copy() -> None:
    base = Toolset([search, fetch])
    web = base.prefixed("web")
    assert web.names == ["web_search", "web_fetch"]
    assert base.names == ["search", "fetch"] and search.name == "search"
    assert web.get("web_search") is not None
    assert web.get("web_search").input_schema is search.input_schema  # type: ignore[union-attr]
    assert base.prefixed("gh", sep="-").names == ["gh-search", "gh-fetch"]
    with pytest.raises(UsageError, match="must match"):
        base.prefixed("x" * 60)


def test_prefixing_resolves_clashes() -> None:
    combined = Toolset([search]).prefixed("a") + Toolset([search]).prefixed("b")
    assert combined.names == ["a_search", "b_search"]


def test_filtered() -> None:
    ts = Toolset([search, fetch]).filtered(lambda t: t.name != "fetch")
    assert ts.names == ["search"]


def test_combine_and_add_keep_order() -> None:
    assert Toolset.combine(Toolset([fetch]), search).names == ["fetch", "search"]
    assert (Toolset([search]) + fetch).names == ["search", "fetch"]
    with pytest.raises(TypeError):
        Toolset([search]) + 3  # type: ignore[operator]


@pytest.mark.asyncio
async def test_tools_for_without_hooks_is_the_static_list() -> None:
    assert await Toolset([search, fetch]).tools_for(ctx()) == [search, fetch]


@pytest.mark.asyncio
async def test_tool_level_prepare_hides_or_redescribes_per_turn() -> None:
    def only_after_first_turn(c: RunContext[Any], t: Tool) -> Tool | None:
        return t if c.turn > 0 else None

    @tool(prepare=only_after_first_turn)
    def summarize(text: str) -> str:
        """Summarize."""
        return text

    ts = Toolset([search, summarize])
    assert [t.name for t in await ts.tools_for(ctx(turn=0))] == ["search"]
    assert [t.name for t in await ts.tools_for(ctx(turn=1))] == ["search", "summarize"]


@pytest.mark.asyncio
async def test_toolset_hooks_may_be_async_and_run_inner_to_outer() -> None:
    order: list[str] = []

    def inner(c: RunContext[Any], t: Tool) -> Tool:
        order.append(f"inner:{t.name}")
        return t.replace(description=f"{t.description} (for {c.deps})")

    async def outer(c: RunContext[Any], t: Tool) -> Tool | None:
        order.append(f"outer:{t.name}")
        return None if t.name == "fetch" else t

    ts = Toolset([search, fetch], prepare=inner).with_prepare(outer)
    offered = await ts.tools_for(ctx(deps="ada"))
    assert [(t.name, t.description) for t in offered] == [("search", "Search the web. (for ada)")]
    assert order == ["inner:search", "outer:search", "inner:fetch", "outer:fetch"]
    assert ts.get("search") is search  # get() returns the tool as defined
    assert search.description == "Search the web."


@pytest.mark.asyncio
async def test_hooks_survive_prefixing_and_combining() -> None:
    def hide(c: RunContext[Any], t: Tool) -> Tool | None:
        return None

    ts = Toolset([search], prepare=hide).prefixed("web") + Toolset([fetch])
    assert [t.name for t in await ts.tools_for(ctx())] == ["fetch"]


@pytest.mark.asyncio
async def test_hooks_that_rename_into_a_clash_are_refused() -> None:
    def rename(c: RunContext[Any], t: Tool) -> Tool:
        return t.replace(name="same")

    with pytest.raises(UsageError, match="Two tools are named `same`"):
        await Toolset([search, fetch], prepare=rename).tools_for(ctx())


@pytest.mark.asyncio
@pytest.mark.parametrize("where", ["tool", "toolset"])
async def test_a_prepare_hook_returning_no_tool_is_refused_naming_it(where: str) -> None:
    # True or False ("keep"/"hide") failed later with "'bool' object has no attribute ...".
    def keep(c: RunContext[Any], t: Tool) -> Any:
        return True

    ts = Toolset([search.replace(prepare=keep)]) if where == "tool" else Toolset(
        [search], prepare=keep)
    with pytest.raises(UsageError, match=r"the prepare hook .*keep returned True for tool "
                       r"`search`: return the tool, a copy made with tool.replace"):
        await ts.tools_for(ctx())


# -- any ToolSource ------------------------------------------------------------------------------


class Remote:
    """A `ToolSource` that is not a Toolset (as an MCP server's tools will be): its tools are
    known only when asked, and may change from turn to turn."""

    def __init__(self) -> None:
        self.asked = 0

    async def tools_for(self, ctx: RunContext[Any]) -> list[Tool]:
        self.asked += 1
        return [lookup] if ctx.turn == 0 else [lookup, ping]

    def get(self, name: str) -> Tool | None:
        return {"lookup": lookup, "ping": ping}.get(name)


@tool
def lookup(key: str) -> str:
    """Look a key up remotely."""
    return f"value of {key}"


@tool
def ping() -> str:
    """Ping the remote side."""
    return "pong"


@pytest.mark.asyncio
async def test_a_tool_source_is_asked_each_turn_after_the_toolset_s_own_tools() -> None:
    remote = Remote()
    ts = Toolset([search, remote])
    assert ts.names == ["search"]
    assert [t.name for t in await ts.tools_for(ctx(turn=0))] == ["search", "lookup"]
    assert [t.name for t in await ts.tools_for(ctx(turn=1))] == ["search", "lookup", "ping"]
    assert remote.asked == 2
    assert ts.get("lookup") is lookup and ts.get("nope") is None


@pytest.mark.asyncio
async def test_prefix_filter_and_hooks_apply_to_a_source_s_tools() -> None:
    def shout(c: RunContext[Any], t: Tool) -> Tool:
        return t.replace(description=t.description.upper())

    ts = (Toolset([Remote()]) + fetch).filtered(lambda t: t.name != "ping").prefixed("r")
    ts = ts.with_prepare(shout)
    offered = await ts.tools_for(ctx(turn=1))
    assert [(t.name, t.description) for t in offered] == [
        ("r_fetch", "FETCH A PAGE."), ("r_lookup", "LOOK A KEY UP REMOTELY."),
    ]
    found = ts.get("r_lookup")
    assert found is not None and found.name == "r_lookup"
    assert ts.get("r_ping") is None and ts.get("lookup") is None


@pytest.mark.asyncio
async def test_a_source_s_tool_may_not_take_a_name_already_offered() -> None:
    @tool(name="lookup")
    def local_lookup(key: str) -> str:
        """Look a key up here."""
        return key

    with pytest.raises(UsageError, match="Two tools are named `lookup`"):
        await Toolset([local_lookup, Remote()]).tools_for(ctx())


@pytest.mark.asyncio
async def test_a_source_s_tool_named_like_another_later_in_a_run_is_left_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The source's list changed mid-run (an MCP server's `list_changed`): ending the run with
    # a UsageError lost its conversation. The tool offered first keeps the name.
    @tool(name="ping")
    def local_ping() -> str:
        """Ping here."""
        return "local pong"

    ts = Toolset([local_ping, Remote()])
    assert [t.name for t in await ts.tools_for(ctx(turn=0))] == ["ping", "lookup"]
    offered = await ts.tools_for(ctx(turn=1))  # Remote now has a `ping` too
    assert [(t.name, t.description) for t in offered] == [
        ("ping", "Ping here."), ("lookup", "Look a key up remotely."),
    ]
    assert "Tool `ping` left out of this turn: `ping` is the name of `" in caplog.text
    assert ".prefixed(...)" in caplog.text


@pytest.mark.asyncio
async def test_hooks_that_give_two_of_its_own_tools_one_name_fail_on_any_turn() -> None:
    def same(c: RunContext[Any], t: Tool) -> Tool:
        return t.replace(name="same")

    with pytest.raises(UsageError, match="Two tools are named `same`"):
        await Toolset([search, fetch, Remote()], prepare=same).tools_for(ctx(turn=3))


@pytest.mark.asyncio
async def test_an_agent_offers_and_runs_a_custom_tool_source_s_tools() -> None:
    from agentkit import Agent, AsyncClient
    from agentkit.testing import ScriptedTransport, text_reply, tool_reply

    transport = ScriptedTransport([tool_reply("lookup", {"key": "k1"}), text_reply("Done.")])
    async with AsyncClient(api_key="sk-test", transport=transport, max_retries=0) as client:
        agent = Agent("claude-sonnet-4-5", client=client, tools=[Remote()])
        result = await agent.run("Look up k1.")
    assert result.text == "Done."
    first, second = (r.body for r in transport.requests)
    assert [t["name"] for t in first["tools"]] == ["lookup"]
    answer = second["messages"][-1]["content"][0]
    assert answer["type"] == "tool_result" and answer["content"] == "value of k1"



# -- sources that hold something open --------------------------------------------------------------


class Held(Remote):
    """A source holding something open (as an MCP server's connection), until `aclose`."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.closed = 0
        self.fail = fail

    async def aclose(self) -> None:
        self.closed += 1
        if self.fail:
            raise OSError("could not close")


@pytest.mark.asyncio
async def test_aclose_reaches_held_sources_through_prefix_filter_and_hooks() -> None:
    held, plain_source = Held(), Remote()
    ts = (Toolset([held, plain_source]).prefixed("r").filtered(lambda t: True)
          .with_prepare(lambda c, t: t))
    await ts.aclose()
    assert held.closed == 1


@pytest.mark.asyncio
async def test_aclose_closes_every_source_before_raising_the_first_failure() -> None:
    failing, other = Held(fail=True), Held()
    with pytest.raises(OSError, match="could not close"):
        await Toolset([failing, other]).aclose()
    assert (failing.closed, other.closed) == (1, 1)


@pytest.mark.asyncio
async def test_an_agent_closes_its_sources_when_its_block_ends_and_on_aclose() -> None:
    from agentkit import Agent

    held = Held()
    async with Agent("claude-sonnet-4-5", tools=[held]) as agent:
        assert held.closed == 0
    assert held.closed == 1
    await agent.aclose()
    assert held.closed == 2


class Odd:
    """A source whose `tools_for` answers with `answer`, awaited or not."""

    def __init__(self, answer: object, *, sync: bool = False) -> None:
        self.answer, self.sync = answer, sync

    def tools_for(self, ctx: RunContext[Any]) -> Any:
        if self.sync:
            return self.answer

        async def later() -> object:
            return self.answer

        return later()

    def get(self, name: str) -> Tool | None:
        return None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (None, "returned a NoneType: it must return a list of tools"),
        ("lookup", "returned a str: it must return a list of tools"),
        ({"lookup": lookup}, "returned a dict: it must return a list of tools"),
        (["lookup"], "returned a list holding a str: every item must be a Tool"),
        ([lookup.function], "returned a list holding a function: every item must be a Tool"),
    ],
)
@pytest.mark.parametrize("wrapped", ["plain", "prefixed"])
async def test_a_tool_source_answering_with_no_list_of_tools_is_refused_naming_it(
    answer: object, said: str, wrapped: str
) -> None:
    # None failed the run with "'NoneType' object is not iterable", a name or a function with
    # "'str' object has no attribute 'prepare'": naming neither the source nor what to return.
    ts = Toolset([search, Odd(answer)])
    ts = ts.prefixed("remote") if wrapped == "prefixed" else ts
    with pytest.raises(UsageError, match=rf"the tool source Odd.tools_for {said}"):
        await ts.tools_for(ctx())


@pytest.mark.asyncio
async def test_a_tool_source_may_answer_without_awaiting_and_with_any_iterable() -> None:
    # A plain `def tools_for` failed with "object list can't be used in 'await' expression".
    offered = await Toolset([Odd((lookup, ping), sync=True)]).tools_for(ctx())
    assert [t.name for t in offered] == ["lookup", "ping"]
