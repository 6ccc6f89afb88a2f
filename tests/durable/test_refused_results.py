"""A tool result the API would refuse never enters a durable run's journal (issue #9): stored,
it was sent again by every later request and every resume, and the run could never go on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentkit import Agent, AsyncClient, SQLiteStore, tool
from agentkit.errors import RunError
from agentkit.testing import ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"
PROMPT = "Show me the page"
MB = 1_000_000


def shot_of(size: int) -> Any:
    @tool
    def shot(n: int) -> list[dict[str, Any]]:
        """Take a screenshot."""
        source = {"type": "base64", "media_type": "image/png", "data": "A" * size}
        return [{"type": "text", "text": f"page {n}:"}, {"type": "image", "source": source}]

    return shot


def agent(script: list[Any], size: int, store: SQLiteStore) -> tuple[Agent[str], Any]:
    transport = ScriptedTransport(script)  # strict: a body over 32 MB gets the API's 413
    client = AsyncClient(api_key="sk-test", transport=transport, max_retries=0)
    return Agent(MODEL, tools=[shot_of(size)], client=client, store=store), transport


@pytest.mark.asyncio
async def test_an_oversized_image_is_an_error_result_the_run_goes_on_and_a_recall_reads_it(
    tmp_path: Path,
) -> None:
    # The 33 MB image went into the journal and every request: each got the API's 413, the
    # run failed, and every resume sent it again.
    store = SQLiteStore(tmp_path / "runs.db")
    script = [reply(tool_calls=[("shot", {"n": 1}, "toolu_1")]), text_reply("Too large, sorry.")]
    run, transport = agent(script, 33 * MB, store)
    result = await run.run(PROMPT, run_id="r1")
    assert result.text == "Too large, sorry."
    answer = result.messages[2]["content"][0]
    assert answer["is_error"] is True
    assert answer["content"] == [
        {"type": "text", "text": "page 1:"},  # what was fine is kept
        {"type": "text", "text": "[left out: an image (content block 1) of 33.0 MB: the API "
         "accepts at most 32 MB a request: return a smaller or downscaled image]"},
    ]
    assert transport.requests[1].body["messages"][2]["content"][0] == answer
    journal = tmp_path / "runs.db.journals"
    assert sum(f.stat().st_size for f in journal.iterdir()) < MB  # the image never stored
    again, _ = agent([], 33 * MB, store)  # nothing scripted: the stored result, no request
    stored = await again.run(PROMPT, run_id="r1")
    assert stored.text == "Too large, sorry." and stored.messages == result.messages


@pytest.mark.asyncio
@pytest.mark.parametrize("durable", [True, False], ids=["durable", "memory"])
async def test_results_too_large_together_fail_saying_which_to_leave_out(
    tmp_path: Path, durable: bool
) -> None:
    # Each 12 MB image is accepted; three make a request over 32 MB, refused (413) however
    # often it is sent. The failure said "unless its cause changed (the model, the agent's
    # settings, the API key)": none of which is the cause.
    store = SQLiteStore(tmp_path / "runs.db")
    script = [reply(tool_calls=[("shot", {"n": n}, f"toolu_{n}")]) for n in range(3)]
    run, transport = agent(script, 12 * MB, store)
    with pytest.raises(RunError) as failed:
        await run.run(PROMPT, **({"run_id": "r1"} if durable else {"store": None}))
    said = " ".join(str(failed.value).split())
    assert "request_too_large" in said
    assert "the request is over the API's 32 MB, and a resume" in said
    assert "the conversation's tool results (images, documents) are too large together" in said
    if durable:
        assert "Leave the largest out: start anew with history= holding the messages without " \
               "them (or delete the run)" in said
    else:
        assert "Leave the largest out: continue with history= holding the messages without " \
               "them;" in said
    assert "unless its cause changed" not in said
    assert len(transport.requests) == 4  # the last, with three images, refused at once
