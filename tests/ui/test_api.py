"""The viewer's HTTP API over a real store: the list (filters, paging, statuses), one run's
timeline (times, tokens, cost, errors, approvals), the live feed, and what every answer keeps
out (other hosts, the API key, writes)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from ui_runs import HOSTILE, MODEL, SECRET, START, Gate, Runs, viewer

from agentkit import Agent, AsyncClient, RunUsage, SQLiteStore
from agentkit.cli.viewer import RunReader
from agentkit.cli.viewer.server import CSP
from agentkit.testing import ScriptedTransport, reply, text_reply

Client = TestClient[Any, Any]
pytestmark = pytest.mark.asyncio


async def get(api: Client, path: str, expect: int = 200, **params: Any) -> Any:
    response = await api.get(path, params={k: str(v) for k, v in params.items()})
    assert response.status == expect, await response.text()
    return await response.json()


async def test_the_list_shows_each_run_newest_first_with_its_figures(
    runs: Runs, api: Client
) -> None:
    await runs.weather()
    await runs.paused()
    await runs.failed()
    data = await get(api, "/api/runs")
    assert [r["run_id"] for r in data["runs"]] == ["failing-1", "charge-1", "weather-1"]
    assert data["total"] == 3
    assert data["counts"] == {"finished": 1, "paused": 1, "failed": 1}
    weather = data["runs"][2]
    assert weather["status"] == "finished" and weather["agent"] == "forecaster"
    assert weather["model"] == MODEL and weather["turns"] == 2 and weather["tool_calls"] == 1
    assert weather["started"] == START + 1.0
    assert weather["duration"] == pytest.approx(3.5)  # model 2 s, tool 0.5 s, model 1 s
    assert weather["prompt"] == "What is the weather in Paris?"
    header = runs.store.header("weather-1")
    assert header is not None
    assert weather["input_tokens"] + weather["output_tokens"] == (
        header.input_tokens + header.output_tokens
    ) > 0
    assert weather["cost_usd"] == header.cost_usd > 0
    assert [r["status"] for r in data["runs"][:2]] == ["failed", "paused"]


async def test_the_list_filters_by_status_and_by_text(runs: Runs, api: Client) -> None:
    await runs.weather()
    await runs.paused()
    await runs.many(3)
    paused = await get(api, "/api/runs", status="paused")
    assert [r["run_id"] for r in paused["runs"]] == ["charge-1"] and paused["total"] == 1
    by_agent = await get(api, "/api/runs", q="FORECAST")
    assert [r["run_id"] for r in by_agent["runs"]] == ["weather-1"]
    by_prompt = await get(api, "/api/runs", q="number 1")
    assert [r["run_id"] for r in by_prompt["runs"]] == ["bulk-01"]
    assert by_prompt["counts"] == {"finished": 1}
    both = await get(api, "/api/runs", q="bulk", status="paused")
    assert both["runs"] == [] and both["total"] == 0
    literal = await get(api, "/api/runs", q="%")  # LIKE's wildcards are searched as text
    assert literal["runs"] == []
    wrong = await get(api, "/api/runs", 400, status="done")
    assert "running, paused, finished, failed, interrupted" in wrong["error"]
    assert "limit" in (await get(api, "/api/runs", 400, limit=0))["error"]
    assert "limit" in (await get(api, "/api/runs", 400, limit=201))["error"]
    assert "offset" in (await get(api, "/api/runs", 400, offset=-1))["error"]


async def test_a_run_holding_a_lone_surrogate_is_listed_searched_and_shown(
    runs: Runs, api: Client
) -> None:
    # A reply's escaped "\ud800" (valid JSON) in the prompt of a run continued from it: the
    # search, which reads each prompt through SQLite (UTF-8), failed for every run.
    await runs.weather()
    await runs.run(runs.agent([text_reply("Done \ud800.")], []), "Prompt a\ud800b", "odd-1")
    found = await get(api, "/api/runs", q="prompt a")
    assert [r["run_id"] for r in found["runs"]] == ["odd-1"]
    assert found["runs"][0]["prompt"] == "Prompt a\ud800b"
    assert [r["run_id"] for r in (await get(api, "/api/runs", q="Paris"))["runs"]] == [
        "weather-1"
    ]
    data = await get(api, "/api/run", id="odd-1")
    assert data["items"][1]["blocks"] == [{"type": "text", "text": "Done \ud800."}]


async def test_the_list_pages(runs: Runs, api: Client) -> None:
    await runs.many(7)
    pages = [await get(api, "/api/runs", limit=3, offset=offset) for offset in (0, 3, 6)]
    ids = [[r["run_id"] for r in page["runs"]] for page in pages]
    assert ids == [["bulk-06", "bulk-05", "bulk-04"], ["bulk-03", "bulk-02", "bulk-01"],
                   ["bulk-00"]]
    assert {page["total"] for page in pages} == {7}


async def test_a_page_holds_50_runs_unless_asked_otherwise(runs: Runs, api: Client) -> None:
    await runs.many(51)  # the README: "newest first, 50 a page"
    first = await get(api, "/api/runs")
    assert len(first["runs"]) == 50 and first["total"] == 51
    assert first["runs"][0]["run_id"] == "bulk-50" and first["runs"][-1]["run_id"] == "bulk-01"


async def test_a_run_is_a_timeline_of_its_turns_with_times_tokens_and_cost(
    runs: Runs, api: Client
) -> None:
    await runs.weather()
    data = await get(api, "/api/run", id="weather-1")
    assert [i["kind"] for i in data["items"]] == ["prompt", "turn", "turn", "status"]
    prompt, first, second, end = data["items"]
    assert prompt["messages"] == [
        {"role": "user", "blocks": [{"type": "text", "text": "What is the weather in Paris?"}]}
    ]
    assert [b["type"] for b in first["blocks"]] == ["thinking", "text", "tool_use"]
    assert first["blocks"][0]["text"] == "The user wants Paris."
    call = first["blocks"][2]
    assert (call["name"], call["input"]) == ("get_weather", {"city": "Paris"})
    assert call["state"] == "done"
    assert call["result"]["parts"] == [{"type": "text", "text": "Sunny in Paris"}]
    assert call["result"]["is_error"] is False and call["result"]["seconds"] == 0.5
    assert (first["model_seconds"], first["tools_seconds"]) == (2.0, 0.5)
    assert (second["model_seconds"], second["tools_seconds"]) == (1.0, None)
    assert (first["stop_reason"], second["stop_reason"]) == ("tool_use", "end_turn")
    assert end["status"] == "finished" and end["reason"] == "end_turn"
    # Per-turn tokens and cost as the run counted them; together, the run's.
    usage = RunUsage()
    for turn, entry in zip((first, second), [e for e in runs.store.entries("weather-1")
                                              if e.kind == "reply"], strict=True):
        counted = usage.add_turn(entry.payload["usage"], MODEL)  # type: ignore[arg-type]
        assert turn["usage"]["input_tokens"] == counted.input_tokens > 0
        assert turn["usage"]["output_tokens"] == counted.output_tokens > 0
        assert turn["cost_usd"] == pytest.approx(counted.cost_usd)
    run = data["run"]
    assert run["totals"]["cost_usd"] == pytest.approx(run["cost_usd"])
    assert run["totals"]["model_seconds"] == 3.0 and run["totals"]["tools_seconds"] == 0.5
    assert run["reason"] == "end_turn" and data["pending"] == [] and data["live"] is None


async def test_an_image_or_a_document_in_the_prompt_is_a_placeholder_not_its_data(
    runs: Runs, api: Client
) -> None:
    # A tool result's image was a placeholder, the prompt's was its whole base64 data, served
    # on every load of the page and put in its DOM.
    data = "iVBORw0KGgo" * 100_000
    prompt = [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                           "data": data}},
              {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                              "data": data}},
              {"type": "text", "text": "What is this?"}]
    lease = runs.store.claim("pictures", fingerprint="f-p", model=MODEL, agent="a").lease
    runs.store.append_many(lease, [
        ("start", {"messages": [{"role": "user", "content": prompt}], "seed": 1}),
        ("status", {"status": "finished", "reason": "end_turn"}),
    ])
    runs.store.release(lease)
    response = await api.get("/api/run", params={"id": "pictures"})
    assert response.status == 200 and len(await response.read()) < 10_000
    blocks = (await response.json())["items"][0]["messages"][0]["blocks"]
    assert blocks == [{"type": "image", "media_type": "image/png"},
                      {"type": "document", "media_type": "application/pdf"},
                      {"type": "text", "text": "What is this?"}]


async def test_a_context_policy_s_notes_are_no_status_and_keep_the_turn_s_time(
    runs: Runs, api: Client
) -> None:
    # A "context" entry (a token count) was shown as a status item with no status ("run
    # null"), and it made the next turn's model time unknown, as a stop would.
    store = runs.store
    lease = store.claim("long", fingerprint="f-p", model=MODEL, agent="a").lease
    store.append(lease, "start", {"messages": [{"role": "user", "content": "go"}], "seed": 1})
    runs.clock.advance(2.0)
    reply = {"role": "assistant", "content": [{"type": "text", "text": "Done."}],
             "stop_reason": "end_turn", "usage": {"input_tokens": 5, "output_tokens": 1}}
    store.append_many(lease, [("context", {"count": 11759}), ("reply", reply),
                              ("status", {"status": "finished", "reason": "end_turn"})])
    store.release(lease)
    items = (await get(api, "/api/run", id="long"))["items"]
    assert [(i["kind"], i.get("status")) for i in items] == [
        ("prompt", None), ("turn", None), ("status", "finished")]
    assert items[1]["model_seconds"] == 2.0


async def test_a_page_asks_only_for_the_items_from_its_last_one(runs: Runs, api: Client) -> None:
    await runs.weather()
    whole = await get(api, "/api/run", id="weather-1")
    tail = await get(api, "/api/run", id="weather-1", **{"from": 2})
    assert tail["from"] == 2 and tail["count"] == whole["count"] == 4
    assert tail["items"] == whole["items"][2:]


async def test_a_failed_tool_and_a_failed_run_are_marked(runs: Runs, api: Client) -> None:
    await runs.broken()
    await runs.failed()
    broken = await get(api, "/api/run", id="broken-1")
    call = broken["items"][1]["blocks"][0]
    assert call["state"] == "error" and call["result"]["is_error"] is True
    assert call["result"]["parts"] == [{"type": "text", "text": "the disk is on fire"}]
    failed = await get(api, "/api/run", id="failing-1")
    assert failed["run"]["status"] == "failed"
    assert "RunError" in failed["run"]["reason"] and "529" in failed["run"]["reason"]
    assert [i["kind"] for i in failed["items"]] == ["prompt", "status"]


async def test_a_paused_run_shows_the_calls_awaiting_approval(runs: Runs, api: Client) -> None:
    await runs.paused()
    data = await get(api, "/api/run", id="charge-1")
    assert data["run"]["status"] == "paused"
    # `lookup` needs no approval: it waits for nothing, it runs when the run resumes.
    assert data["pending"] == [{"id": "toolu_c1", "name": "charge", "input": {"order": 7},
                                "turn": 1}]
    states = {b["id"]: b["state"] for b in data["items"][1]["blocks"] if b["type"] == "tool_use"}
    assert states == {"toolu_l1": "resume", "toolu_c1": "awaiting"}
    assert data["items"][-1]["awaiting"] == ["toolu_c1"]  # as the journal records it


async def test_a_denied_call_and_the_resume_are_in_the_timeline(runs: Runs, api: Client) -> None:
    await runs.paused()
    runs.clock.advance(3600)  # the person answers an hour later
    await runs.resumed_with_denial()
    data = await get(api, "/api/run", id="charge-1")
    kinds = [i["kind"] for i in data["items"]]
    assert kinds == ["prompt", "turn", "status", "decisions", "turn", "status"]
    decided = data["items"][3]["decisions"]
    assert decided == [{"id": "toolu_c1", "name": "charge", "approved": False,
                        "reason": "too expensive"}]
    states = {b["id"]: b["state"] for b in data["items"][1]["blocks"] if b["type"] == "tool_use"}
    assert states == {"toolu_l1": "done", "toolu_c1": "denied"}
    assert data["run"]["status"] == "finished" and data["pending"] == []
    # The second turn's model time counts from the decisions, not from the pause.
    assert data["items"][4]["model_seconds"] < 60


async def test_a_running_run_is_live_while_its_journal_is_locked_and_interrupted_after(
    runs: Runs, api: Client, tmp_path: Path
) -> None:
    gate = Gate()
    task = await gate.start(runs)
    try:
        data = await get(api, "/api/run", id="live-1")
        assert data["run"]["status"] == "running"
        assert data["live"]["doing"] == "tools"
        assert data["items"][1]["blocks"][1]["state"] == "running"
        # The totals are the journal's, though the header was last synced at the claim.
        assert data["run"]["turns"] == 1 and data["run"]["input_tokens"] > 0
        runs.clock.advance(3600)  # far past its lease: still running, its process holds it
        assert (await get(api, "/api/run", id="live-1"))["run"]["status"] == "running"
        # What a killed process leaves: the same files, the journal's lock gone with it.
        dead = tmp_path / "dead"
        dead.mkdir()
        with closing(sqlite3.connect(runs.path)) as src, closing(
            sqlite3.connect(dead / "runs.db")
        ) as dst:
            src.backup(dst)
        shutil.copytree(f"{runs.path}.journals", dead / "runs.db.journals")
        reader = RunReader(dead / "runs.db", clock=runs.clock)
        try:
            found = reader.run("live-1")
            assert found is not None and found[0].status == "interrupted"
            assert found[0].stored_status == "running" and found[0].turns == 1
            listed = reader.page(status="interrupted")
            assert [r.run_id for r in listed.runs] == ["live-1"] and listed.counts == {
                "interrupted": 1
            }
            assert reader.version("live-1") == (found[0].entries, "interrupted")
            # Resumed by another process: running again, whatever the reader remembered.
            header = runs.store.header("live-1")
            assert header is not None
            with SQLiteStore(dead / "runs.db") as other:
                other.claim("live-1", fingerprint=header.fingerprint, model=MODEL, agent="waiter")
                assert reader.page(status="running").total == 1
                assert reader.version("live-1") == (found[0].entries, "running")
        finally:
            reader.close()
    finally:
        gate.open.set()
        await task


async def test_the_live_feed_tells_each_change_of_a_running_run(runs: Runs, api: Client) -> None:
    gate = Gate()
    task = await gate.start(runs)
    response = await api.get("/api/run/events", params={"id": "live-1"})
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Content-Security-Policy"] == CSP

    async def next_change() -> str:
        lines: list[str] = []
        while not lines or lines[-1] != "":
            lines.append((await response.content.readline()).decode().rstrip("\n"))
            if lines[-1].startswith(":"):  # a heartbeat
                lines.clear()
        assert lines[0] == "event: change"
        return lines[1]

    try:
        assert await next_change() == 'data: {"entries":3,"status":"running"}'
        gate.open.set()
        await task
        changes = [await next_change()]
        while changes[-1] != 'data: {"entries":6,"status":"finished"}':
            changes.append(await next_change())  # one per commit seen, however they group
    finally:
        gate.open.set()
        response.close()
        await task


async def test_a_run_written_by_a_newer_agentkit_is_listed_but_not_read(
    runs: Runs, api: Client
) -> None:
    await runs.weather()
    with closing(sqlite3.connect(runs.path)) as db, db:
        db.execute("UPDATE runs SET format = format + 1 WHERE run_id = 'weather-1'")
    listed = (await get(api, "/api/runs"))["runs"][0]
    assert listed["newer"] is True and listed["prompt"] == "" and listed["turns"] == 2
    data = await get(api, "/api/run", id="weather-1")
    assert data["run"]["newer"] is True and data["items"] == []


async def test_an_unknown_run_and_missing_parameters_are_clear_errors(api: Client) -> None:
    assert (await get(api, "/api/run", 404, id="nope"))["error"] == "no run 'nope' in this store"
    assert "?id=RUN_ID" in (await get(api, "/api/run", 400))["error"]
    assert "?id=RUN_ID" in (await get(api, "/api/run/events", 400))["error"]


async def test_a_number_in_other_digits_is_a_clear_error_not_a_crash(api: Client) -> None:
    # "²" is a digit to str.isdigit but no number to int(): it was a 500 and a traceback.
    for path, name in (("/api/runs", "limit"), ("/api/runs", "offset"), ("/api/run", "from")):
        error = (await get(api, path, 400, id="nope", **{name: "²"}))["error"]
        assert "whole number" in error


async def test_nothing_the_model_or_a_tool_wrote_is_served_as_html_and_the_key_never(
    runs: Runs, api: Client
) -> None:
    await runs.hostile()
    response = await api.get("/api/run", params={"id": "hostile-1"})
    assert response.content_type == "application/json"
    body = await response.text()
    assert SECRET not in body and "key=[redacted]" in body
    data = await response.json()
    result = data["items"][1]["blocks"][1]["result"]["parts"][0]["text"]
    assert result == f"{HOSTILE} key=[redacted]"  # as text, for the page to show as text
    page = await api.get("/")
    assert SECRET not in await page.text()


async def test_a_gateway_token_in_the_environment_is_redacted_too(runs: Runs) -> None:
    await runs.hostile()  # its tool result holds SECRET, which is key-shaped
    token = "gateway-token-not-key-shaped-42"
    async with TestClient(viewer(runs, {"ANTHROPIC_AUTH_TOKEN": token})) as client:
        data = await get(client, "/api/run", id="hostile-1")
        assert data["items"][0]["messages"][0]["blocks"][0]["text"] == f"Fetch {HOSTILE}"
        body = orjson.dumps(data).decode()
        assert SECRET not in body and "key=[redacted]" in body
        runs.clock.advance(1)
        await runs.run(runs.agent([text_reply(f"the token is {token}")], []), "Tell", "leak-1")
        leaked = await get(client, "/api/run", id="leak-1")
        assert leaked["items"][1]["blocks"][0]["text"] == "the token is [redacted]"


async def test_every_answer_has_a_strict_policy_and_only_local_names_are_answered(
    api: Client,
) -> None:
    for path in ("/", "/app.js", "/app.css", "/api/runs", "/api/run?id=x"):
        response = await api.get(path)
        assert response.headers["Content-Security-Policy"] == CSP, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert (await api.get("/app.js")).content_type == "text/javascript"
    for host in ("localhost", "127.0.0.1:8000", "localhost:1"):
        assert (await api.get("/api/runs", headers={"Host": host})).status == 200, host
    rebound = await api.get("/api/runs", headers={"Host": "attacker.example:8000"})
    assert rebound.status == 421 and "127.0.0.1" in await rebound.text()


async def test_the_viewer_only_reads(runs: Runs, api: Client) -> None:
    await runs.weather()
    runs.store.close()  # its last commits checkpointed into the file
    before = hashlib.sha256(runs.path.read_bytes()).hexdigest()
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert (await api.request(method, "/api/runs")).status == 405
    await get(api, "/api/runs")
    await get(api, "/api/run", id="weather-1")
    assert hashlib.sha256(runs.path.read_bytes()).hexdigest() == before


async def test_usage_a_sub_agent_merged_in_counts_in_the_run_s_totals(
    runs: Runs, api: Client
) -> None:
    # A sub-agent's usage is in none of its caller's replies: the journal's `usage` entry is.
    sub = Agent(MODEL, name="researcher", description="Researches a question.",
                client=AsyncClient(api_key="sk", transport=ScriptedTransport([text_reply("4 C")])))
    script = [reply(tool_calls=[("researcher", {"task": "Oslo?"}, "toolu_r")]), text_reply("4 C.")]
    agent = Agent(MODEL, tools=[sub.as_tool()],
                  client=AsyncClient(api_key="sk", transport=ScriptedTransport(script)))
    result = await agent.run("Weather in Oslo?", run_id="sub-1", store=runs.store)
    assert result.usage.requests == 3
    data = await get(api, "/api/run", id="sub-1")
    totals = data["run"]["totals"]
    assert (totals["input_tokens"], totals["output_tokens"]) == (
        result.usage.input_tokens, result.usage.output_tokens
    )
    assert totals["known_cost_usd"] == pytest.approx(result.usage.known_cost_usd)
    assert result.usage.known_cost_usd > 0
    assert [i["kind"] for i in data["items"]] == ["prompt", "turn", "turn", "status"]


async def test_a_run_whose_journal_cannot_be_read_is_listed_marked_with_why(
    runs: Runs, api: Client
) -> None:
    # One unreadable journal failed the whole list.
    await runs.weather()
    with closing(sqlite3.connect(runs.path)) as db:
        (key,) = db.execute("SELECT id FROM runs WHERE run_id = 'weather-1'").fetchone()
    journal = Path(f"{runs.path}.journals") / f"{key}.log"
    journal.unlink()
    journal.mkdir()
    listed = (await get(api, "/api/runs"))["runs"][0]
    assert listed["run_id"] == "weather-1" and listed["turns"] == 2
    assert "cannot read the run journal" in listed["unreadable"]
    assert (await get(api, "/api/runs", q="weather"))["total"] == 1  # the text filter too
    data = await get(api, "/api/run", id="weather-1")
    assert "cannot read the run journal" in data["run"]["unreadable"] and data["items"] == []


async def test_the_list_counts_a_run_s_sub_runs_and_its_timeline_links_them_both_ways(
    runs: Runs, api: Client
) -> None:
    # Sub-runs were listed as runs of their own among the user's (and counted in the status
    # chips), and no call of an agent named the sub-run that did its work, nor a sub-run its
    # caller.
    await runs.delegated()
    await runs.weather()
    sub, inner = "desk-1\u203atoolu_d1", "desk-1\u203atoolu_d1\u203atoolu_k1"
    page = await get(api, "/api/runs")
    assert [(r["run_id"], r["sub_runs"], r["caller"]) for r in page["runs"]] == [
        ("weather-1", 0, None), ("desk-1", 2, None)]
    assert page["total"] == 2 and page["counts"] == {"finished": 2}
    assert (await get(api, "/api/runs", q="audit"))["runs"] == []  # a sub-run's prompt

    desk = await get(api, "/api/run", id="desk-1")
    assert desk["run"]["sub_runs"] == 2 and desk["run"]["caller"] is None
    calls = [b for t in desk["items"] if t["kind"] == "turn" for b in t["blocks"]
             if b["type"] == "tool_use"]
    assert [(c["name"], c.get("sub_run")) for c in calls] == [("clerk", sub)]

    clerk = await get(api, "/api/run", id=sub)
    assert clerk["run"]["caller"] == {"run_id": "desk-1", "tool_use_id": "toolu_d1",
                                      "stored": True}
    assert clerk["run"]["sub_runs"] == 1
    calls = [b for t in clerk["items"] if t["kind"] == "turn" for b in t["blocks"]
             if b["type"] == "tool_use"]
    assert [(c["name"], c.get("sub_run")) for c in calls] == [("auditor", inner)]
    weather = await get(api, "/api/run", id="weather-1")  # an ordinary call names none
    assert "sub_run" not in weather["items"][1]["blocks"][-1]

    runs.store._delete("desk-1")  # pyright: ignore[reportPrivateUsage]
    page = await get(api, "/api/runs")  # a delete killed before the sub-runs went
    assert [r["run_id"] for r in page["runs"]] == ["weather-1", sub]
    assert (await get(api, "/api/run", id=sub))["run"]["caller"]["stored"] is False
