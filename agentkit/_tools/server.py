"""Server tools: tools the API runs itself (web search, web fetch, code execution, …).

A server tool is given as the API spells it, a dict with a versioned `type` and a `name`
(`{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}`), in an agent's
`tools=` next to its client tools. Rules:
- it is sent as given (a copy), after the client tools of each turn;
- its name is unique among all the tools of a turn (a clash is a `UsageError`);
- the model's calls to it and their results are blocks of the assistant turn
  (`server_tool_use`, `web_search_tool_result`), echoed as received: the run never runs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

from .._errors import UsageError
from .._loop.request_rules import check_tool_names

__all__ = ["split_server_tools"]

T = TypeVar("T")


def split_server_tools(
    items: Iterable[T | Mapping[str, Any]],
) -> tuple[list[T], list[dict[str, Any]]]:
    """The client tools and the server tool definitions (checked copies) among `items`.

    Raises:
        UsageError: a dict that is not a server tool definition, or two with one name.
    """
    client: list[T] = []
    server: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping):
            server.append(_definition(cast("Mapping[str, Any]", item)))
        else:
            client.append(item)
    check_tool_names([], server)
    return client, server


def _definition(item: Mapping[str, Any]) -> dict[str, Any]:
    kind, name = item.get("type"), item.get("name")
    if "input_schema" in item or kind == "custom":
        raise UsageError(
            f"{dict(item)!r:.120} is a client tool definition: a client tool needs code to run. "
            "Pass a function, or Tool.from_schema(name=..., description=..., input_schema=..., "
            "handler=...)."
        )
    if not isinstance(kind, str) or not kind:
        raise UsageError(
            f"the server tool definition {dict(item)!r:.120} has no 'type': give the versioned "
            "type the API names it by, e.g. {'type': 'web_search_20250305', 'name': "
            "'web_search'}."
        )
    if not isinstance(name, str) or not name:
        raise UsageError(
            f"the server tool definition {dict(item)!r:.120} has no 'name': give the name the "
            f"API documents for {kind!r}, e.g. 'web_search'."
        )
    return dict(item)
