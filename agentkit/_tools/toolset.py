"""Toolsets: named collections of tools, and the per-turn view the engine offers the model.

Owns the `ToolSource` protocol (what the run asks for tools each turn) and `Toolset`, an
immutable collection with prefixing, filtering, combining and per-turn preparation. A toolset
holds tools and other sources (any `ToolSource`, e.g. an MCP server's tools). Rules:

- Names are unique within a toolset; a clash is a `UsageError` at construction, naming both
  functions, never a silent override.
- Every operation returns a new `Toolset`; tools are never mutated (`Tool.replace` copies).
- Preparation runs each turn in a fixed order: the tool's own `prepare`, then the toolset
  hooks from the innermost toolset outwards. A hook returns the tool (possibly changed with
  `tool.replace(...)`) to offer it this turn, or None to hide it. Hooks may be sync or async,
  so `tools_for` is async; with no hooks and no sources it does no awaiting at all.
- A source's tools are asked for each turn, after the toolset's own tools; prefixing,
  filtering and hooks apply to them then, and names must still be unique: a source's tool
  named like one before it is a `UsageError` on a run's first turn (a setup to fix), and on a
  later one is left out with a warning (the source changed mid-run, e.g. an MCP server's
  tool list: failing would end the run and lose its conversation).
- A source that holds something open (an MCP server's process or connection) has an async
  `aclose`; `Toolset.aclose` closes every such source it holds (`Agent.aclose` calls it).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast, runtime_checkable

from .._errors import UsageError
from .context import RunContext
from .tool import Prepare, Tool, tool

__all__ = ["ClosableSource", "ToolSource", "Toolset"]

log = logging.getLogger("agentkit")


@runtime_checkable
class ToolSource(Protocol):
    """Anything the run can get tools from (a `Toolset`, or e.g. an MCP server's tools)."""

    async def tools_for(self, ctx: RunContext[Any]) -> list[Tool]:
        """The tools to offer the model this turn (already prepared for `ctx`)."""
        ...

    def get(self, name: str) -> Tool | None:
        """The tool called `name`, unprepared, or None."""
        ...


@runtime_checkable
class ClosableSource(Protocol):
    """A tool source holding something open (a process, a connection) until `aclose`."""

    async def aclose(self) -> None:
        """Release what the source holds; it may open it again when next asked for tools."""
        ...


class _Entry:
    """One tool plus the toolset-level hooks that wrap it (innermost first)."""

    __slots__ = ("chain", "hooks", "tool")

    def __init__(self, tool: Tool, hooks: tuple[Prepare, ...]) -> None:
        self.tool = tool
        self.hooks = hooks
        self.chain = (tool.prepare, *hooks) if tool.prepare is not None else hooks


class Toolset:
    """An immutable, ordered collection of uniquely named tools.

    Build it from tools, plain functions (wrapped with `@tool` defaults), other toolsets and
    any `ToolSource`: `Toolset([search, fetch, other_toolset])`. Combine with `a + b` or
    `Toolset.combine(...)`. A source is asked for its tools each turn (`tools_for`) and by name
    (`get`); `names`, `len`, iteration and `in` cover the tools held directly.
    """

    __slots__ = ("_entries", "_has_hooks", "_sources")

    def __init__(
        self,
        tools: Iterable[Tool | Toolset | ToolSource | Callable[..., Any]] = (),
        *,
        prepare: Prepare | None = None,
    ) -> None:
        """Collect `tools`; `prepare` is a per-turn hook applied to each of them.

        Raises:
            UsageError: two tools share a name, or an item is not a tool, toolset, tool source
                or callable.
        """
        entries: list[_Entry] = []
        sources: list[ToolSource] = []
        for item in tools:
            if isinstance(item, Toolset):
                entries.extend(item._entries.values())
                sources.extend(item._sources)
            elif isinstance(item, Tool):
                entries.append(_Entry(item, ()))
            elif isinstance(item, ToolSource):
                sources.append(item if isinstance(item, _Checked) else _Checked(item))
            elif callable(item):
                entries.append(_Entry(tool(item), ()))
            else:
                raise UsageError(
                    f"Toolset items must be tools, toolsets, tool sources or functions; got "
                    f"{item!r:.120}. Decorate functions with @tool, or pass them as they are; "
                    "give server tool definitions (dicts) in Agent(tools=[...])."
                )
        if prepare is not None:
            entries = [_Entry(e.tool, (*e.hooks, prepare)) for e in entries]
            sources = [_Prepared(s, prepare) for s in sources]
        self._entries = _index(entries)
        self._has_hooks = any(e.chain for e in entries)
        self._sources = tuple(sources)

    @classmethod
    def combine(cls, *toolsets: Toolset | Tool | ToolSource) -> Toolset:
        """One toolset holding the tools of all `toolsets`, in order (names must not clash)."""
        return cls(toolsets)

    def __add__(self, other: object) -> Toolset:
        if not isinstance(other, Toolset | Tool | ToolSource):
            return NotImplemented
        return Toolset((self, other))

    def prefixed(self, prefix: str, *, sep: str = "_") -> Toolset:
        """A copy whose tool names start with `prefix` + `sep` (e.g. `github_search`).

        Raises:
            UsageError: a resulting name breaks the tool-name rules (e.g. is over 64 chars).
        """
        return self._rebuild(
            (_Entry(e.tool.replace(name=f"{prefix}{sep}{e.tool.name}"), e.hooks)
             for e in self._entries.values()),
            (_Prefixed(s, f"{prefix}{sep}") for s in self._sources),
        )

    def filtered(self, predicate: Callable[[Tool], bool]) -> Toolset:
        """A copy with only the tools for which `predicate(tool)` is true.

        For a choice that depends on the run (the turn, the deps), use `with_prepare`.
        """
        return self._rebuild(
            (e for e in self._entries.values() if predicate(e.tool)),
            (_Filtered(s, predicate) for s in self._sources),
        )

    def with_prepare(self, prepare: Prepare) -> Toolset:
        """A copy whose tools all pass through `prepare(ctx, tool)` each turn (after their own
        and any inner hooks): return the tool, a changed copy, or None to hide it this turn."""
        return Toolset((self,), prepare=prepare)

    def get(self, name: str) -> Tool | None:
        """The tool called `name` as defined (unprepared), or None."""
        entry = self._entries.get(name)
        if entry is not None:
            return entry.tool
        for source in self._sources:
            found = source.get(name)
            if found is not None:
                return found
        return None

    async def tools_for(self, ctx: RunContext[Any]) -> list[Tool]:
        """The tools to offer this turn, each passed through its hooks; hidden ones left out.

        The run should dispatch the model's calls to these tools (not to `get`), so a tool
        hidden this turn cannot be called and the description the model saw is the one used.

        Raises:
            UsageError: hooks renamed two tools to the same name, or a source's tool has the
                name of another tool.
        """
        if not self._has_hooks and not self._sources:
            return [e.tool for e in self._entries.values()]
        offered: list[Tool] = []
        for entry in self._entries.values():
            current = await _through(entry.chain, ctx, entry.tool)
            if current is not None:
                offered.append(current)
        own = len(offered)
        for source in self._sources:
            offered.extend(await source.tools_for(ctx))
        if ctx.turn > 0:
            offered = _taken_left_out(offered, own)
        _index(_Entry(t, ()) for t in offered)  # hooks and sources name freely: stay unique
        return offered

    async def aclose(self) -> None:
        """Close every source this toolset holds that holds something open (MCP servers).

        All are closed even when one fails; the first failure is raised after.
        """
        failure: BaseException | None = None
        for source in self._sources:
            try:
                await _aclose(source)
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    @property
    def static(self) -> bool:
        """Whether every turn offers exactly the tools held directly (`names`): no `prepare`
        hook or tool source decides them."""
        return not self._has_hooks and not self._sources

    @property
    def names(self) -> list[str]:
        """The tool names, in order."""
        return list(self._entries)

    def __iter__(self) -> Iterator[Tool]:
        return (e.tool for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Toolset({self.names!r})"

    def _rebuild(self, entries: Iterable[_Entry], sources: Iterable[ToolSource]) -> Toolset:
        new = Toolset.__new__(Toolset)
        listed = list(entries)
        new._entries = _index(listed)
        new._has_hooks = any(e.chain for e in listed)
        new._sources = tuple(sources)
        return new


async def _through(hooks: Iterable[Prepare], ctx: RunContext[Any], tool: Tool) -> Tool | None:
    """`tool` passed through per-turn hooks in order; None once one hides it."""
    for hook in hooks:
        answer = hook(ctx, tool)
        changed = cast(object, await answer if inspect.isawaitable(answer) else answer)
        if changed is None:
            return None
        if not isinstance(changed, Tool):  # True/False for keep/hide failed later, unnamed
            name = getattr(hook, "__qualname__", None) or repr(hook)
            raise UsageError(
                f"the prepare hook {name} returned {changed!r} for tool `{tool.name}`: return "
                "the tool, a copy made with tool.replace(...), or None to hide it this turn"
            )
        tool = changed
    return tool


# -- what a toolset does to a source it holds, applied to the source's tools each turn ---------


@dataclass(frozen=True, slots=True)
class _Checked:
    """A user's source, its answer checked each turn: a list of tools (from an async or a
    plain `tools_for`), or a `UsageError` naming the source. None, strings or a sync method
    failed the run with a bare TypeError or AttributeError naming neither."""

    source: ToolSource

    async def tools_for(self, ctx: RunContext[Any]) -> list[Tool]:
        answer = self.source.tools_for(ctx)
        given = cast(object, await answer if inspect.isawaitable(answer) else answer)
        name = f"{type(self.source).__qualname__}.tools_for"
        if not isinstance(given, Iterable) or isinstance(given, str | bytes | Mapping):
            kind = type(cast(object, given)).__name__
            raise UsageError(f"the tool source {name} returned a {kind}: it must return a list "
                             "of tools (Tool, e.g. made with @tool)")
        tools = list(cast("Iterable[object]", given))
        for item in tools:
            if not isinstance(item, Tool):
                raise UsageError(
                    f"the tool source {name} returned a list holding a {type(item).__name__}: "
                    "every item must be a Tool (decorate functions with @tool)"
                )
        return cast("list[Tool]", tools)

    def get(self, name: str) -> Tool | None:
        return self.source.get(name)

    async def aclose(self) -> None:
        await _aclose(self.source)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A source whose tools pass through a toolset-level `prepare` hook."""

    source: ToolSource
    hook: Prepare

    async def tools_for(self, ctx: RunContext[Any]) -> list[Tool]:
        prepared = [await _through((self.hook,), ctx, t) for t in await self.source.tools_for(ctx)]
        return [t for t in prepared if t is not None]

    def get(self, name: str) -> Tool | None:
        return self.source.get(name)

    async def aclose(self) -> None:
        await _aclose(self.source)


@dataclass(frozen=True, slots=True)
class _Prefixed:
    """A source whose tool names start with `prefix` (`Toolset.prefixed`)."""

    source: ToolSource
    prefix: str

    async def tools_for(self, ctx: RunContext[Any]) -> list[Tool]:
        return [t.replace(name=self.prefix + t.name) for t in await self.source.tools_for(ctx)]

    def get(self, name: str) -> Tool | None:
        if not name.startswith(self.prefix):
            return None
        found = self.source.get(name[len(self.prefix):])
        return found.replace(name=name) if found is not None else None

    async def aclose(self) -> None:
        await _aclose(self.source)


@dataclass(frozen=True, slots=True)
class _Filtered:
    """A source with only the tools `predicate` keeps (`Toolset.filtered`)."""

    source: ToolSource
    predicate: Callable[[Tool], bool]

    async def tools_for(self, ctx: RunContext[Any]) -> list[Tool]:
        return [t for t in await self.source.tools_for(ctx) if self.predicate(t)]

    def get(self, name: str) -> Tool | None:
        found = self.source.get(name)
        return found if found is not None and self.predicate(found) else None

    async def aclose(self) -> None:
        await _aclose(self.source)


async def _aclose(source: ToolSource) -> None:
    """Close `source` if it holds something open (see `ClosableSource`)."""
    if isinstance(source, ClosableSource):
        await source.aclose()


def _index(entries: Iterable[_Entry]) -> dict[str, _Entry]:
    index: dict[str, _Entry] = {}
    for entry in entries:
        name = entry.tool.name
        if name in index:
            first, second = (_label(index[name].tool), _label(entry.tool))
            raise UsageError(
                f"Two tools are named `{name}` ({first} and {second}); the model could not tell "
                "them apart. Rename one with @tool(name=...) or prefix a toolset with "
                ".prefixed(...)."
            )
        index[name] = entry
    return index


def _taken_left_out(offered: list[Tool], own: int) -> list[Tool]:
    """`offered` without each source's tool (from index `own` on) whose name an earlier tool
    has, each one left out logged: a source's list changed in the middle of a run."""
    kept = offered[:own]
    first = {t.name: t for t in reversed(kept)}
    for t in offered[own:]:
        taken = first.get(t.name)
        if taken is None:
            first[t.name] = t
            kept.append(t)
            continue
        log.warning(
            "Tool %s left out of this turn: `%s` is the name of %s, offered before it (its "
            "tool source changed during the run). Prefix one with .prefixed(...).",
            _label(t), t.name, _label(taken),
        )
    return kept


def _label(t: Tool) -> str:
    return f"`{getattr(t.function, '__qualname__', None) or t.name}`"
