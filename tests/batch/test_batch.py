"""`run_batch` on the local engine: streaming, records, resuming, one fake server per worker
for offline recipes, and the rate limiter shared by every item."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_items import GREET, double, greet_model
from pacing import RecordingLimiter, burst_needed

from agentkit import Agent, AsyncClient
from agentkit.errors import ResultsWriteError
from agentkit.testing import FakeServer, RateLimit, echo_model
from agentkit.workflows import BatchProgress, FunctionRunner, RecipeRunner, read_jsonl, run_batch


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.asyncio
async def test_records_every_item_once_and_resumes_only_what_is_not_ok(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    items = [(i, {"n": -1 if i == 3 else i}) for i in range(6)]
    report = await run_batch(double, items, out=out, concurrency=3)
    assert (report.done, report.failed, report.skipped, report.failed_ids) == (5, 1, 0, [3])
    first = {r["id"]: r for r in records(out)}
    assert first[2]["ok"] is True and first[2]["output"]["doubled"] == 4
    assert first[3]["ok"] is False and "n must not be negative" in first[3]["error"]
    assert first[2]["worker"] == f"{socket.gethostname()}:{os.getpid()}"
    assert first[2]["seconds"] > 0 and first[2]["usage"] is None

    items[3] = (3, {"n": 30})
    again = await run_batch(double, items, out=out, concurrency=3)
    assert (again.done, again.failed, again.skipped) == (1, 0, 5)
    assert [r["id"] for r in records(out)] == [*sorted(first, key=list(first).index), 3]
    assert records(out)[-1]["output"]["doubled"] == 60


@pytest.mark.asyncio
async def test_inputs_are_pulled_only_as_capacity_frees(tmp_path: Path) -> None:
    pulled = finished = peak = 0

    def items() -> Iterator[tuple[int, dict[str, int]]]:
        nonlocal pulled, peak
        for i in range(50):
            pulled += 1
            peak = max(peak, pulled - finished)
            yield i, {"n": i}

    def count(record: dict[str, Any]) -> None:
        nonlocal finished
        finished += 1

    await run_batch(double, items(), out=tmp_path / "out.jsonl", concurrency=4, on_record=count)
    assert finished == 50 and peak <= 5  # the 4 in flight and the one waiting for a slot


@pytest.mark.asyncio
async def test_jsonl_inputs_stream_with_their_ids(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "x", "n": 1}\n\n{"n": 2}\n')
    assert list(read_jsonl(path)) == [("x", {"n": 1}), (3, {"n": 2})]
    seen: list[BatchProgress] = []
    report = await run_batch(double, path, out=tmp_path / "out.jsonl",
                             on_progress=lambda p: seen.append(p))
    assert report.done == 2 and seen[-1].done == 2 and seen[-1].items_per_second > 0
    path.write_text('{"id": 1}\n{"id": 1}\n')
    with pytest.raises(ValueError, match="repeats id 1"):
        await run_batch(double, path, out=tmp_path / "other.jsonl")


@pytest.mark.asyncio
async def test_offline_items_share_one_fake_server_and_get_their_own_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[FakeServer] = []
    start = FakeServer.start

    def counting(self: FakeServer) -> FakeServer:
        started.append(self)
        return start(self)

    monkeypatch.setattr(FakeServer, "start", counting)
    names = [f"n{i}" for i in range(30)] + ["broken"]
    report = await run_batch(GREET, [(n, {"name": n}) for n in names],
                             out=tmp_path / "out.jsonl", concurrency=8)
    assert len(started) == 1
    assert (report.done, report.failed_ids) == (30, ["broken"])
    by_id = {r["id"]: r for r in records(tmp_path / "out.jsonl")}
    assert by_id["n7"]["output"] == "Hello n7, you said 'I am n7'"
    assert by_id["n7"]["usage"]["requests"] == 1 and by_id["n7"]["cost_usd"] > 0
    assert "the script broke" in by_id["broken"]["error"]
    assert report.usage.requests == 30  # the broken one got a 400, no usage


@pytest.mark.asyncio
async def test_every_item_shares_the_batch_rate_limiter(tmp_path: Path) -> None:
    async def ask(value: Any, client: AsyncClient) -> Any:
        return await Agent("claude-sonnet-4-5", client=client).run(value["q"])

    limits = RateLimit(requests_per_minute=1200)
    limiter = RecordingLimiter()  # its pace, not the server's 429 count: see pacing.py
    with FakeServer(echo_model, rate_limit=limits, record=False) as server:
        os.environ["ANTHROPIC_BASE_URL"] = server.base_url
        try:
            report = await run_batch(
                FunctionRunner(ask), [(i, {"q": f"q{i}"}) for i in range(50)],
                out=tmp_path / "out.jsonl", concurrency=50,
                rate_limiter=limiter,
            )
        finally:
            del os.environ["ANTHROPIC_BASE_URL"]
    assert report.done == 50 and len(limits.admitted) == 50
    assert burst_needed(limiter.slots, 20) <= 21 + 1e-6  # the probe, then 20/s, a burst of 20
    assert report.held_seconds > 0 and report.requests >= 50 and report.usage.requests == 50
    assert records(tmp_path / "out.jsonl")[0]["output"].startswith("echo: q")


@pytest.mark.asyncio
async def test_an_online_recipe_runner_uses_one_client_for_every_item(tmp_path: Path) -> None:
    with FakeServer(greet_model({"name": "web"})) as server:
        os.environ["ANTHROPIC_BASE_URL"] = server.base_url
        try:
            report = await run_batch(RecipeRunner(GREET, online=True),
                                     [(i, {"name": "web"}) for i in range(5)],
                                     out=tmp_path / "out.jsonl")
        finally:
            del os.environ["ANTHROPIC_BASE_URL"]
        ports = {r.headers.get("host") for r in server.requests}
    assert report.done == 5 and len(ports) == 1


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.asyncio
async def test_results_that_cannot_be_written_stop_the_batch_with_one_clear_error() -> None:
    # /dev/full reads as endless zeros (resuming used to read it until memory ran out) and
    # refuses every write (a full disk): the batch stops at the first record, saying so.
    with pytest.raises(ResultsWriteError, match=r"No space left on device.*run the same command"):
        await run_batch(double, [(i, i) for i in range(5)], out="/dev/full", concurrency=2)


def test_a_full_disk_is_one_line_and_exit_1_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (Linux)")
    from agentkit.cli.main import main

    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"question": "q1"}\n{"question": "q2"}\n')
    assert main(["batch", "codebase-qa", str(inputs), "--out", "/dev/full", "--offline"]) == 1
    err = capsys.readouterr().err
    assert "cannot write the results to /dev/full" in err and "Traceback" not in err


@pytest.mark.asyncio
async def test_a_result_holding_a_lone_surrogate_is_recorded_and_read_back_as_it_was(
    tmp_path: Path,
) -> None:
    # A model may send "a\ud800b" escaped (valid JSON); a tool may read a file name decoded
    # with surrogateescape. UTF-8 cannot carry either: the record keeps each as its escape.
    async def echo(value: dict[str, str]) -> dict[str, str]:
        return {"text": value["text"]}

    out = tmp_path / "out.jsonl"
    texts = {0: "a\ud800b", 1: "plain é", 2: "file-\udcff.txt"}
    report = await run_batch(echo, [(i, {"text": t}) for i, t in texts.items()], out=out)
    assert (report.done, report.failed) == (3, 0)
    assert {r["id"]: r["output"]["text"] for r in records(out)} == texts
    assert "\\ud800" in out.read_text(encoding="utf-8")
    again = await run_batch(echo, [(i, {"text": t}) for i, t in texts.items()], out=out)
    assert again.skipped == 3  # read back as ok: nothing runs twice


def test_a_durable_batch_id_of_a_results_file_whose_name_is_not_utf8_is_text(
    tmp_path: Path,
) -> None:
    # `--out` from the shell: a name that is not UTF-8 arrives decoded with surrogateescape.
    from agentkit.workflows._durable import default_batch_id

    odd = tmp_path / b"r\xe9.jsonl".decode("utf-8", "surrogateescape")
    batch_id = default_batch_id(odd)
    assert batch_id.startswith("r\\udce9.jsonl-") and batch_id.encode()  # UTF-8 text
    assert default_batch_id(odd) == batch_id != default_batch_id(tmp_path / "r\\udce9.jsonl")
    plain = tmp_path / "é.jsonl"  # unchanged for any other name
    digest = hashlib.sha256(str(plain.resolve()).encode()).hexdigest()[:8]
    assert default_batch_id(plain) == f"é.jsonl-{digest}"
