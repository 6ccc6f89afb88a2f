"""Toolsets: named collections of tools, and the per-turn view the engine offers the model.

Owns the `ToolSource` protocol (what the run asks for tools each turn) and `Toolset`, an
immutable collection with prefixing, filtering, combining and per-turn preparation. Rules:

- Names are unique within a toolset; a clash is a `UsageError` at construction, naming both
  functions, never a silent override.
- Every operation returns a new `Toolset`; tools are never mutated (`Tool.replace` copies).
- Preparation runs each turn in a fixed order: the tool's own `prepare`, then the toolset
  hooks from the innermost toolset outwards. A hook returns the tool (possibly changed with
  `tool.replace(...)`) to offer it this turn, or None to hide it. Hooks may be sync or async,
  so `tools_for` is async; with no hooks it does no awaiting at all.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from .._errors import UsageError
from .context import RunContext
from .tool import Prepare, Tool, tool

__all__ = ["ToolSource", "Toolset"]


@runtime_checkable
class ToolSource(Protocol):
    """Anything the run can get tools from (a `Toolset`, or e.g. an MCP server's tools)."""

    async def tools_for(self, ctx: RunContext[Any]) -> list[Tool]:
        """The tools to offer the model this turn (already prepared for `ctx`)."""
        ...

    def get(self, name: str) -> Tool | None:
        """The tool called `name`, unprepared, or None."""
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

    Build it from tools, plain functions (wrapped with `@tool` defaults) and other toolsets:
    `Toolset([search, fetch, other_toolset])`. Combine with `a + b` or `Toolset.combine(...)`.
    """

    __slots__ = ("_entries", "_has_hooks")

    def __init__(
        self,
        tools: Iterable[Tool | Toolset | Callable[..., Any]] = (),
        *,
        prepare: Prepare | None = None,
    ) -> None:
        """Collect `tools`; `prepare` is a per-turn hook applied to each of them.

        Raises:
            UsageError: two tools share a name, or an item is not a tool, toolset or callable.
        """
        entries: list[_Entry] = []
        for item in tools:
            if isinstance(item, Toolset):
                entries.extend(item._entries.values())
            elif isinstance(item, Tool):
                entries.append(_Entry(item, ()))
            elif callable(item):
                entries.append(_Entry(tool(item), ()))
            else:
                raise UsageError(
                    f"Toolset items must be tools, toolsets or functions; got {item!r}. "
                    "Decorate functions with @tool, or pass them as they are."
                )
        if prepare is not None:
            entries = [_Entry(e.tool, (*e.hooks, prepare)) for e in entries]
        self._entries = _index(entries)
        self._has_hooks = any(e.chain for e in entries)

    @classmethod
    def combine(cls, *toolsets: Toolset | Tool) -> Toolset:
        """One toolset holding the tools of all `toolsets`, in order (names must not clash)."""
        return cls(toolsets)

    def __add__(self, other: Toolset | Tool) -> Toolset:
        if not isinstance(other, Toolset | Tool):
            return NotImplemented
        return Toolset((self, other))

    def prefixed(self, prefix: str, *, sep: str = "_") -> Toolset:
        """A copy whose tool names start with `prefix` + `sep` (e.g. `github_search`).

        Raises:
            UsageError: a resulting name breaks the tool-name rules (e.g. is over 64 chars).
        """
        return self._rebuild(_Entry(e.tool.replace(name=f"{prefix}{sep}{e.tool.name}"), e.hooks)
                             for e in self._entries.values())

    def filtered(self, predicate: Callable[[Tool], bool]) -> Toolset:
        """A copy with only the tools for which `predicate(tool)` is true.

        For a choice that depends on the run (the turn, the deps), use `with_prepare`.
        """
        return self._rebuild(e for e in self._entries.values() if predicate(e.tool))

    def with_prepare(self, prepare: Prepare) -> Toolset:
        """A copy whose tools all pass through `prepare(ctx, tool)` each turn (after their own
        and any inner hooks): return the tool, a changed copy, or None to hide it this turn."""
        return Toolset((self,), prepare=prepare)

    def get(self, name: str) -> Tool | None:
        """The tool called `name` as defined (unprepared), or None."""
        entry = self._entries.get(name)
        return entry.tool if entry is not None else None

    async def tools_for(self, ctx: RunContext[Any]) -> list[Tool]:
        """The tools to offer this turn, each passed through its hooks; hidden ones left out.

        The run should dispatch the model's calls to these tools (not to `get`), so a tool
        hidden this turn cannot be called and the description the model saw is the one used.

        Raises:
            UsageError: hooks renamed two tools to the same name.
        """
        if not self._has_hooks:
            return [e.tool for e in self._entries.values()]
        offered: list[Tool] = []
        for entry in self._entries.values():
            current: Tool | None = entry.tool
            for hook in entry.chain:
                answer = hook(ctx, current)  # type: ignore[arg-type]
                current = await answer if inspect.isawaitable(answer) else answer
                if current is None:
                    break
            if current is not None:
                offered.append(current)
        _index(_Entry(t, ()) for t in offered)  # a hook may rename: names must stay unique
        return offered

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

    def _rebuild(self, entries: Iterable[_Entry]) -> Toolset:
        new = Toolset.__new__(Toolset)
        listed = list(entries)
        new._entries = _index(listed)
        new._has_hooks = any(e.chain for e in listed)
        return new


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


def _label(t: Tool) -> str:
    return f"`{getattr(t.function, '__qualname__', None) or t.name}`"
