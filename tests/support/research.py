"""A long research run for the context tests, the recipe's tests and the benchmark: a model
that fetches one page a round (each result `page_chars` long) until `rounds` pages are read,
then answers; a summary request (`tool_choice: none`) gets a summary. Its state is a counter,
not the history, so it behaves the same whatever a context policy did to the history."""

from __future__ import annotations

import itertools
from typing import Any

from agentkit import Agent, AsyncClient, Tool, tool
from agentkit.testing import FunctionModel, ScriptedTransport, reply

SUMMARY = "<summary>Read pages 0 to {n}; each says the answer is 42. Next: read more.</summary>"


def researcher(rounds: int, *, thinking: bool = False) -> FunctionModel:
    served = itertools.count()
    pages = itertools.count()

    def answer(body: dict[str, Any]) -> Any:
        next(served)
        if body.get("tool_choice") == {"type": "none"}:
            return SUMMARY.format(n=rounds)
        page = next(pages)
        if page >= rounds:
            return reply(f"Read {rounds} pages: the answer is 42.")
        think = f"Page {page} next." if thinking else None
        return reply(tool_calls=[("fetch", {"page": page})], thinking=think)

    return FunctionModel(answer)


def fetch_tool(page_chars: int = 4000) -> Tool:
    @tool
    def fetch(page: int) -> str:
        """Fetch one page of the source.

        Args:
            page: The page number, from 0.
        """
        return f"page {page}: " + ("lorem ipsum " * (page_chars // 12 + 1))[:page_chars]

    return fetch


def research_agent(
    transport: ScriptedTransport,
    *,
    model: str = "claude-sonnet-4-5",
    page_chars: int = 4000,
    **options: Any,
) -> Agent[str]:
    client = AsyncClient(api_key="k", transport=transport)
    return Agent(model, tools=[fetch_tool(page_chars)], client=client, **options)
