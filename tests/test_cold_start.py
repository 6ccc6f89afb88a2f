"""What keeps one run's cold start cheap: which modules a plain run loads, and what it builds.

`benchmarks/bench.py` figure 4 times a fresh `python -c` that imports agentkit and does one
run (target 0.35 s of CPU); these tests pin the structure behind it, each in a fresh
interpreter against a loopback `FakeServer` started here (so the child imports no fakes): a
run without a store, a context policy, structured output, a rate limiter or a consumer of
its events loads none of their modules (nor the docstring parser, for tools whose docstring
is one plain line), and what is left to first use (the wire models a run never parses) is
still built when it is used, from two threads at once too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit.testing import FakeServer, FunctionModel, reply

ROOT = Path(__file__).resolve().parents[1]
DEFERRED = [
    "agentkit._durable",  # a store, its journal
    "agentkit._run.durable",
    "agentkit._run.replay",
    "agentkit._run.fingerprint",
    "agentkit._loop.context",  # the context policies and their manager
    "agentkit._tools.output",  # structured output
    "agentkit._api.ratelimit",
    "anyio.streams.memory",  # Agent.iter's event stream
    "docstring_parser",  # for a tool whose docstring is one plain line
    "agentkit._run.events",  # for a run without a consumer
    "httpx._main",  # httpx's command line (click, pygments), loaded by httpx when click is
    "click",  # installed (`agentkit._api.httpx_cli`)
    "pygments",
]
RUN = """
import asyncio, sys
from agentkit import Agent, AsyncClient, tool

@tool
async def add(a: int, b: int) -> int:
    "Add two integers."
    return a + b

async def main():
    async with AsyncClient(api_key="offline", base_url=sys.argv[1]) as client:
        agent = Agent("claude-sonnet-4-5", tools=[add], client=client{agent})
        print((await agent.run("add 1 and 2"{run})).text)

asyncio.run(main())
"""


SECTIONS = '''
from agentkit import SQLiteStore, tool
from agentkit.context import Trim

@tool
def half(x: int) -> int:
    """Halve a number.

    Args:
        x: The number.
    """
    return x // 2
'''


def _model(body: dict[str, object]) -> object:
    done = sum(1 for m in body["messages"] if m["role"] == "assistant")  # type: ignore[index,union-attr]
    return reply("", tool_calls=[("add", {"a": 1, "b": 2})]) if not done else "3"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(FunctionModel(_model)) as fake:
        yield fake


def _loaded_after(code: str, *argv: str) -> tuple[str, set[str]]:
    """What `code` printed, and the DEFERRED modules (by any submodule) it loaded."""
    report = (
        "import json, sys\n"
        "names = [m for m, module in list(sys.modules.items()) if module is not None]\n"
        f"print(json.dumps([p for p in {DEFERRED!r} if any(m == p or m.startswith(p + '.') "
        "for m in names)]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    *printed, loaded = done.stdout.splitlines()
    return "\n".join(printed), set(json.loads(loaded))


def test_a_plain_run_loads_no_store_context_policy_output_or_rate_limiter(
    server: FakeServer,
) -> None:
    printed, loaded = _loaded_after(RUN.format(agent="", run=""), server.base_url)
    assert printed == "3"
    assert loaded == set()


def test_a_run_that_asks_for_them_loads_them(server: FakeServer, tmp_path: Path) -> None:
    # The proof that the probe sees them: a durable run with a context policy, a consumer
    # of its events and a tool with a documented parameter loads them all.
    code = SECTIONS + RUN.format(
        agent=f", context=Trim(), store=SQLiteStore({str(tmp_path / 'runs.db')!r})",
        run=", run_id='r1', on_event=lambda event: None",
    )
    printed, loaded = _loaded_after(code, server.base_url)
    assert printed == "3"
    assert {"agentkit._durable", "agentkit._run.durable", "agentkit._loop.context"} <= loaded
    assert {"docstring_parser", "agentkit._run.events"} <= loaded


def test_the_wire_models_a_run_never_parses_are_built_on_first_use_in_two_threads() -> None:
    code = textwrap.dedent(
        """
        import threading
        from agentkit._api import wire

        deferred = [wire.MessageParam, wire.MessageCreateParams, wire.ToolParam,
                    wire.CountTokensResult, wire.ModelInfo, wire.ErrorDetail, wire.ErrorBody]
        assert not any(m.__pydantic_complete__ for m in deferred), "built at import"
        assert wire.Message.__pydantic_complete__  # what a run parses is built at import
        body = {"model": "m", "max_tokens": 5, "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "x", "y": 1}]}]}
        start, results = threading.Barrier(2), []

        def use():
            start.wait()
            results.append((
                wire.MessageCreateParams.model_validate(body).to_wire(),
                wire.ErrorBody.model_validate({"error": {"type": "t"}}).error.type,
                type(wire.parse_block({"type": "text", "text": "a"})).__name__,
                wire.ModelInfo.model_validate({"id": "m"}).type,
            ))

        threads = [threading.Thread(target=use) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 2 and results[0] == results[1], results
        assert results[0][0] == body and results[0][1:] == ("t", "TextBlock", "model")
        used = [wire.MessageCreateParams, wire.ErrorBody, wire.ModelInfo]
        assert all(m.__pydantic_complete__ for m in used)
        print("ok")
        """
    )
    printed, _ = _loaded_after(code)
    assert printed == "ok"
