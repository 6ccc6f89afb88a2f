"""`agentkit runs resume --agent module:attr` with an agent that holds its own `AsyncClient`,
as users write it: the command exits clean, with no pool left open."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from agentkit import SQLiteStore
from agentkit.testing import FakeServer, reply, text_reply

MODULE = '''
import os
from agentkit import Agent, AsyncClient, tool

@tool(requires_approval=True)
async def charge(order: int) -> str:
    """Charge an order."""
    return f"charged order {order}"

client = AsyncClient(api_key="sk-test", base_url=os.environ["FAKE_API_URL"], max_retries=0)
orders = Agent("claude-sonnet-4-5", tools=[charge], client=client)
'''


def test_resume_with_an_agent_holding_its_own_client_leaves_no_pool_open(
    tmp_path: Path,
) -> None:
    # The command ran the user's agent in an event loop of its own and never closed the
    # client's aiohttp pool bound to it: "Unclosed client session" printed at exit.
    (tmp_path / "shop_agents.py").write_text(MODULE, encoding="utf-8")
    script = [reply("Charging.", tool_calls=[("charge", {"order": 7}, "toolu_1")]),
              text_reply("Order 7 is charged.")]
    db = tmp_path / "runs.db"
    with FakeServer(script) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
        env["FAKE_API_URL"] = server.base_url
        pause = ("import shop_agents\nfrom agentkit import SQLiteStore\n"
                 "with SQLiteStore('runs.db') as store:\n"
                 "    shop_agents.orders.run_sync('Charge order 7', run_id='o-1', store=store)")
        paused = subprocess.run([sys.executable, "-c", pause], cwd=tmp_path, env=env,
                                capture_output=True, text=True, check=False)
        assert paused.returncode == 0, paused.stderr
        done = subprocess.run(
            [sys.executable, "-W", "always::ResourceWarning", "-m", "agentkit", "runs",
             "resume", "o-1", "--db", str(db), "--agent", "shop_agents:orders",
             "--approve", "toolu_1"],
            cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
        )
    assert done.returncode == 0, done.stderr
    assert "Order 7 is charged." in done.stdout
    assert "Unclosed" not in done.stderr and "ResourceWarning" not in done.stderr, done.stderr
    with SQLiteStore(db) as store:
        header = store.header("o-1")
    assert header is not None and header.status == "finished"
