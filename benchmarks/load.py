"""Load under faults: many concurrent runs, a share of requests faulted; nothing may be lost.

Why: issue 6 asks that 1,000 concurrent runs with 5% of requests faulted all end with a
result or a typed error, none hanging, none lost, every history valid. This script is the
full-size check; `tests/faults/test_faults_load.py` runs the same code small. Run it as:

    .venv/bin/python benchmarks/load.py [--runs 1000] [--fault-rate 0.05] [--rounds 3]

One loopback `FakeServer` (its own thread) plays the model with a function: each run makes
`--rounds` turns of 2 parallel tool calls, then answers `done <run> <checksum of the tool
results it saw>`, so a result that crossed runs or lost a tool result is caught. Before
answering, each request is faulted with probability `--fault-rate`, drawn from every kind the
fakes offer (429, 529, 500, 503, `x-should-retry: false`, reset, cut, mid-stream error,
malformed body, slower than the timeout). Half the runs stream. The client retries with its
real backoff (`--no-sleep` skips the sleeps). Each run gets `--bound` seconds before it
counts as hung.

Printed: how many runs ended with a correct result, a typed error (a RunError caused by an
API error, by cause), a wrong result, an untyped exception (or a RunError caused by anything
else: a bug), hung, lost; invalid histories; faults injected; wall time and peak RSS. Exit
status 1 if any run is wrong, untyped, hung, lost or invalid.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentkit import (
    Agent,
    APIError,
    AsyncClient,
    ConversationError,
    RunError,
    tool,
    validate_conversation,
)
from agentkit.testing import (
    FakeClock,
    FakeServer,
    Fault,
    FunctionModel,
    last_user_text,
    reply,
    tool_results,
)

__all__ = ["LoadReport", "fault_kinds", "main", "run_load"]


@tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def fault_kinds(slow_seconds: float) -> list[Fault]:
    """One of every fault the fakes can inject (the slow one outlasts the client's timeout)."""
    return [
        Fault.rate_limit(retry_after=0.05),
        Fault.overloaded(),
        Fault.server_error(500),
        Fault.server_error(503),
        Fault.error(500, should_retry=False),
        Fault.reset(),
        Fault.cut(),
        Fault.stream_error(),
        Fault.malformed(),
        Fault.slow(slow_seconds),
    ]


class LoadModel:
    """Plays the model for every run, faulting a share of the requests (seeded)."""

    def __init__(self, rounds: int, fault_rate: float, faults: list[Fault], seed: int) -> None:
        self.rounds = rounds
        self.fault_rate = fault_rate
        self.faults = faults
        self.random = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self.requests = 0

    def __call__(self, body: dict[str, Any]) -> Any:
        self.requests += 1
        if self.random.random() < self.fault_rate:
            fault = self.random.choice(self.faults)
            final = ("x-should-retry", "false") in fault.headers
            self.injected[f"{fault.kind}{' (no retry)' if final else ''}"] += 1
            return fault
        messages = body["messages"]
        run = last_user_text({"messages": messages[:1]})
        done = sum(1 for m in messages if m["role"] == "assistant")
        if done < self.rounds:
            return reply(tool_calls=[("add", {"a": done, "b": k}) for k in (1, 2)])
        return f"done {run} {checksum(messages)}"


def checksum(messages: list[dict[str, Any]]) -> int:
    """The sum of every tool result in the conversation: what a correct run must report."""
    total = 0
    for turn in messages:
        for block in tool_results({"messages": [turn]}):
            total += int(block.get("content") or 0)
    return total


def expected_checksum(rounds: int) -> int:
    """Round r calls add(r, 1) and add(r, 2): 2r + 3 per round."""
    return sum(2 * r + 3 for r in range(rounds))


@dataclass
class LoadReport:
    """How every run ended, and what it cost."""

    runs: int
    results: int = 0
    typed_errors: Counter[str] = field(default_factory=Counter[str])
    wrong: list[str] = field(default_factory=list[str])
    untyped: list[str] = field(default_factory=list[str])
    hung: int = 0
    invalid_histories: list[str] = field(default_factory=list[str])
    injected: Counter[str] = field(default_factory=Counter[str])
    requests: int = 0
    script_errors: list[str] = field(default_factory=list[str])
    wall: float = 0.0

    @property
    def ended(self) -> int:
        return self.results + sum(self.typed_errors.values()) + len(self.wrong) + len(
            self.untyped
        )

    @property
    def lost(self) -> int:
        """Runs that reported nothing at all (neither ended nor hung)."""
        return self.runs - self.ended - self.hung

    @property
    def ok(self) -> bool:
        """Every run ended with a correct result or a typed error, with a valid history."""
        return not (
            self.wrong or self.untyped or self.hung or self.lost or self.invalid_histories
            or self.script_errors
        )

    def summary(self) -> str:
        errors = ", ".join(f"{k} {v}" for k, v in sorted(self.typed_errors.items())) or "none"
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.injected.items())) or "none"
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return "\n".join(
            [
                f"runs                  {self.runs}",
                f"ended with a result   {self.results}",
                f"ended in a RunError   {sum(self.typed_errors.values())}  (causes: {errors})",
                f"wrong result          {len(self.wrong)}",
                f"untyped exception     {len(self.untyped)}",
                f"hung                  {self.hung}",
                f"lost                  {self.lost}",
                f"invalid histories     {len(self.invalid_histories)}",
                f"requests served       {self.requests}",
                f"faults injected       {sum(self.injected.values())}  ({faults})",
                f"script errors         {len(self.script_errors)}",
                f"wall time             {self.wall:.2f} s",
                f"peak RSS              {rss:.0f} MB",
                f"verdict               {'OK' if self.ok else 'FAILED'}",
            ]
        )


async def run_load(
    *,
    runs: int,
    fault_rate: float = 0.05,
    rounds: int = 3,
    seed: int = 6,
    read_timeout: float = 1.0,
    bound: float = 60.0,
    sleep: bool = True,
    record: bool = False,
) -> LoadReport:
    """Start `runs` concurrent runs against a faulting fake server and classify each end."""
    faults = fault_kinds(slow_seconds=read_timeout * 2)
    model = LoadModel(rounds, fault_rate, faults, seed)
    report = LoadReport(runs)
    want = expected_checksum(rounds)
    with FakeServer(FunctionModel(model), record=record) as server:
        async with AsyncClient(base_url=server.base_url, read_timeout=read_timeout) as client:
            # Retry back-off is the engine's, slept on the agent's clock: FakeClock skips it.
            clock = None if sleep else FakeClock()
            agents = {
                stream: Agent(
                    "claude-sonnet-4-5", tools=[add], client=client, stream=stream, clock=clock
                )
                for stream in (False, True)
            }

            async def one(i: int) -> None:
                history: list[dict[str, Any]] | None = None
                with anyio.move_on_after(bound) as scope:
                    try:
                        result = await agents[i % 2 == 1].run(f"run-{i}")
                    except RunError as exc:
                        history = exc.messages
                        if isinstance(exc.__cause__, APIError):
                            report.typed_errors[type(exc.__cause__).__name__] += 1
                        else:  # a bug in the framework or the test, wrapped by the run
                            report.untyped.append(f"run {i}: RunError from {exc.__cause__!r}")
                    except Exception as exc:
                        report.untyped.append(f"run {i}: {exc!r}")
                    else:
                        history = result.messages
                        if result.text == f"done run-{i} {want}":
                            report.results += 1
                        else:
                            report.wrong.append(f"run {i}: {result.text!r}")
                if scope.cancelled_caught:
                    report.hung += 1
                if history is not None:
                    _check_history(history, i, report)

            started = time.perf_counter()
            async with anyio.create_task_group() as tg:
                for i in range(runs):
                    tg.start_soon(one, i)
            report.wall = time.perf_counter() - started
        report.script_errors = [str(e) for e in server.script.errors]
        server.script.errors.clear()  # reported, not re-raised on leaving the server
    report.injected = model.injected
    report.requests = model.requests
    return report


def _check_history(messages: list[dict[str, Any]], i: int, report: LoadReport) -> None:
    try:
        validate_conversation(messages)
    except ConversationError as exc:
        report.invalid_histories.append(f"run {i}: {exc}")
        return
    if last_user_text({"messages": messages[:1]}) != f"run-{i}":
        report.invalid_histories.append(f"run {i}: the history belongs to another run")


def main(argv: list[str] | None = None, *, out: Callable[[str], Any] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3, help="tool rounds per run")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--read-timeout", type=float, default=1.0)
    parser.add_argument("--bound", type=float, default=60.0, help="seconds before 'hung'")
    parser.add_argument("--no-sleep", action="store_true", help="skip retry backoff sleeps")
    args = parser.parse_args(argv)
    report = anyio.run(
        lambda: run_load(
            runs=args.runs,
            fault_rate=args.fault_rate,
            rounds=args.rounds,
            seed=args.seed,
            read_timeout=args.read_timeout,
            bound=args.bound,
            sleep=not args.no_sleep,
        )
    )
    out(report.summary())
    for line in (report.wrong + report.untyped + report.invalid_histories)[:20]:
        out(f"  {line}")
    for line in report.script_errors[:5]:
        out(f"  script error: {line}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
