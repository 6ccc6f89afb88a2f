"""An `Agent` over the strict scripted fake, for end-to-end run tests (JSON or SSE)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentkit import Agent, AsyncClient, tool
from agentkit.testing import ScriptedTransport

MODEL = "claude-sonnet-4-5"


@tool
def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
        city: The city name.
    """
    return f"Sunny in {city}"


@tool(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file.

    Args:
        path: The file.
    """
    return f"deleted {path}"


class Harness:
    """One scripted conversation: its transport (the requests sent) and a client on it."""

    def __init__(self, steps: Sequence[Any], stream: bool = False) -> None:
        self.transport = ScriptedTransport(list(steps))
        self.client = AsyncClient(api_key="sk-test-secret", transport=self.transport, max_retries=0)
        self.stream = stream

    def agent(self, **kwargs: Any) -> Agent[Any]:
        kwargs.setdefault("tools", [get_weather])
        kwargs.setdefault("stream", self.stream)
        return Agent(MODEL, client=self.client, **kwargs)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.transport.requests]


class Harnesses:
    """Makes harnesses (`make(*steps)` in a test) and closes their clients afterwards."""

    def __init__(self, stream: bool = False) -> None:
        self.stream = stream
        self.made: list[Harness] = []

    def __call__(self, *steps: Any) -> Harness:
        self.made.append(Harness(steps, self.stream))
        return self.made[-1]

    async def aclose(self) -> None:
        for h in self.made:
            await h.client.aclose()
