"""`agentkit runs resume ID` stopped by Ctrl-C: exit code 130, no traceback, and the line that
goes on from the run's last checkpoint (the same command), which then does; whenever the
Ctrl-C comes, even as the event loop goes to sleep."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ctrl_c import WAIT, Child, agentkit_command

from agentkit import SQLiteStore
from agentkit.testing import FakeServer, reply, text_reply

MODULE = '''
import os, sys
import anyio
from agentkit import Agent, AsyncClient, tool

@tool(idempotent=True)
async def pack(order: int) -> str:
    """Pack an order."""
    if os.environ.get("PACK") == "wait":
        print("PACKING", file=sys.stderr, flush=True)
        await anyio.Event().wait()  # until Ctrl-C
    return f"packed order {order}"

client = AsyncClient(api_key="sk-test", base_url=os.environ["FAKE_API_URL"], max_retries=0)
orders = Agent("claude-sonnet-4-5", tools=[pack], client=client)
'''


def interrupted(
    command: list[str], cwd: Path, env: dict[str, str], *, asleep: bool = False
) -> tuple[int, str]:
    """Run `command` until its tool says it is packing (and, if `asleep`, its event loop waits
    for it), then send it SIGINT (Ctrl-C): its exit code and what it wrote on stderr after. A
    child that hangs fails the test with its stderr and stacks (`ctrl_c.Child`)."""
    child = Child(command, cwd, {**env, "PACK": "wait"})
    child.wait_for("PACKING")
    if asleep:
        child.asleep()
    return child.ctrl_c()


START = ("import shop_agents\nfrom agentkit import SQLiteStore\n"
         "with SQLiteStore('runs.db') as store:\n"
         "    shop_agents.orders.run_sync('Pack order 7', run_id='o-1', store=store)")
RESUME = ("runs", "resume", "o-1", "--db", "runs.db", "--agent", "shop_agents:orders")
STOPPED = (
    "error: interrupted: run 'o-1' was stopped (Ctrl-C), kept as of its last checkpoint; the "
    "same command goes on from there: agentkit runs resume o-1 --db runs.db --agent "
    "shop_agents:orders\n"
)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a folder whose store holds run 'o-1', stopped by Ctrl-C while its
    tool packed; the fake API still has its last reply to give."""
    (tmp_path / "shop_agents.py").write_text(MODULE, encoding="utf-8")
    script = [reply("Packing.", tool_calls=[("pack", {"order": 7}, "toolu_1")]),
              text_reply("Order 7 is packed.")]
    with FakeServer(script) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
        env["FAKE_API_URL"] = server.base_url
        code, _ = interrupted([sys.executable, "-c", START], tmp_path, env)
        assert code != 0
        yield env


def goes_on(cwd: Path, env: dict[str, str]) -> None:
    """The same command resumes the run to its end."""
    done = subprocess.run(agentkit_command(*RESUME), cwd=cwd, env=env, capture_output=True,
                          text=True, check=False, timeout=WAIT)
    assert done.returncode == 0, done.stderr
    assert "Order 7 is packed." in done.stdout
    with SQLiteStore(cwd / "runs.db") as store:
        header = store.header("o-1")
    assert header is not None and header.status == "finished"


@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
def test_a_resume_stopped_by_ctrl_c_says_the_same_command_goes_on(
    tmp_path: Path, shop: dict[str, str]
) -> None:
    # It printed "error: interrupted" and nothing else: no word that the run was kept, nor how
    # to go on.
    code, err = interrupted(agentkit_command(*RESUME), tmp_path, shop)
    assert code == 130
    assert err == STOPPED
    goes_on(tmp_path, shop)


@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
def test_a_ctrl_c_that_interrupts_no_wait_of_the_loop_still_stops_the_resume(
    tmp_path: Path, shop: dict[str, str]
) -> None:
    # The Ctrl-C was swallowed: its handler (cancel the run) waits for the main thread to run
    # Python code, and a SIGINT that came just before the event loop blocked in its selector
    # (one in a few hundred) interrupted no wait; with nothing else due, the process slept on
    # for good. Here the loop sleeps and another thread takes the signal (`ELSEWHERE`): the
    # same, every time.
    code, err = interrupted(agentkit_command(*RESUME, elsewhere=True), tmp_path, shop,
                            asleep=True)
    assert code == 130
    assert err == STOPPED
    goes_on(tmp_path, shop)
