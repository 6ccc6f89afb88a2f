"""Tests of the workflow helpers: chain, parallel_map, vote, refine."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from agentkit import UsageError
from agentkit.workflows.compose import Refinement, chain, parallel_map, refine, vote

# -- chain ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_chain_passes_each_output_to_the_next_step_sync_or_async() -> None:
    async def double(x: int) -> int:
        return x * 2

    assert await chain(3, double, lambda x: x + 1, str) == "7"


@pytest.mark.asyncio
async def test_chain_without_steps_returns_the_value() -> None:
    assert await chain("as is") == "as is"


@pytest.mark.asyncio
async def test_chain_stops_at_a_step_that_raises() -> None:
    seen: list[int] = []

    def gate(x: int) -> int:
        if x > 5:
            raise ValueError("too big")
        return x

    with pytest.raises(ValueError, match="too big"):
        await chain(10, gate, seen.append)
    assert seen == []


# -- parallel_map --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_parallel_map_keeps_item_order_when_calls_finish_out_of_order() -> None:
    finished: list[int] = []

    async def slow_first(n: int) -> int:
        # Earlier items wait for later ones: completion order is the reverse of item order.
        while len(finished) < 3 - n:
            await anyio.sleep(0)
        finished.append(n)
        return n * 10

    assert await parallel_map(slow_first, [0, 1, 2, 3], concurrency=4) == [0, 10, 20, 30]
    assert finished == [3, 2, 1, 0]


@pytest.mark.asyncio
async def test_parallel_map_runs_at_most_concurrency_calls_at_once() -> None:
    running = peak = 0

    async def work(_: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(3):
            await anyio.sleep(0)
        running -= 1

    await parallel_map(work, range(10), concurrency=3)
    assert peak == 3


@pytest.mark.asyncio
async def test_parallel_map_raises_failures_as_an_exception_group_and_cancels_the_rest() -> None:
    started: list[int] = []
    finished: list[int] = []

    async def work(n: int) -> int:
        started.append(n)
        if n == 0:
            raise KeyError("boom")
        await anyio.sleep_forever()
        finished.append(n)
        return n

    with pytest.raises(ExceptionGroup) as info:
        await parallel_map(work, [0, 1, 2])
    assert [type(e) for e in info.value.exceptions] == [KeyError]
    assert finished == []


@pytest.mark.asyncio
async def test_parallel_map_return_exceptions_puts_each_failure_in_its_slot() -> None:
    async def work(n: int) -> int:
        if n % 2:
            raise ValueError(f"odd {n}")
        return n

    results = await parallel_map(work, [0, 1, 2, 3], return_exceptions=True)
    assert results[0] == 0 and results[2] == 2
    assert isinstance(results[1], ValueError) and str(results[1]) == "odd 1"
    assert isinstance(results[3], ValueError) and str(results[3]) == "odd 3"


@pytest.mark.asyncio
async def test_parallel_map_runs_a_sync_function_in_threads_at_once() -> None:
    # Both calls must be inside `fn` at the same time to pass the barrier: run one after the
    # other on the event loop (as before), the first waits for the second and times out.
    barrier = threading.Barrier(2, timeout=30)

    def blocking(n: int) -> int:
        barrier.wait()
        return n * 10

    assert await parallel_map(blocking, [1, 2], concurrency=2) == [10, 20]
    assert await parallel_map(str, [1, 2, 3], concurrency=3) == ["1", "2", "3"]


@pytest.mark.asyncio
async def test_parallel_map_awaits_what_a_sync_function_returns() -> None:
    async def double(n: int) -> int:
        return n * 2

    assert await parallel_map(lambda n: double(n), [1, 2, 3]) == [2, 4, 6]
    failed = await parallel_map(lambda n: 1 // (n - 2), [1, 2], return_exceptions=True)
    assert failed[0] == -1 and isinstance(failed[1], ZeroDivisionError)


@pytest.mark.asyncio
async def test_parallel_map_of_nothing_is_empty() -> None:
    async def never(_: Any) -> None:
        raise AssertionError("not called")

    assert await parallel_map(never, []) == []


@pytest.mark.asyncio
async def test_parallel_map_rejects_a_concurrency_below_one() -> None:
    async def work(n: int) -> int:
        return n

    with pytest.raises(UsageError, match="concurrency >= 1, got 0"):
        await parallel_map(work, [1], concurrency=0)


# -- vote ------------------------------------------------------------------------------------


def test_vote_picks_the_majority_and_counts_every_answer() -> None:
    result = vote(["no", "yes", "no"])
    assert result.winner == "no"
    assert (result.count, result.total) == (2, 3)
    assert result.counts == {"no": 2, "yes": 1}
    assert result.share == pytest.approx(2 / 3)
    assert not result.unanimous


def test_vote_breaks_ties_in_favour_of_the_answer_seen_first() -> None:
    assert vote(["b", "a", "a", "b"]).winner == "b"


def test_vote_uses_key_and_skips_exceptions_and_none() -> None:
    ballots = [{"safe": True}, ValueError("voter failed"), None, {"safe": True}]
    result = vote(ballots, key=lambda b: b["safe"])
    assert (result.winner, result.count, result.total) == (True, 2, 2)
    assert result.unanimous


def test_vote_without_ballots_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no ballots"):
        vote([None, RuntimeError("x")])


def listed(ballot: object) -> list[object]:
    return [ballot]


@pytest.mark.parametrize("key", [None, listed], ids=["ballot", "key"])
def test_vote_on_answers_that_cannot_be_counted_says_to_give_key(key: Any) -> None:
    # It failed with a bare "TypeError: unhashable type: 'dict'".
    with pytest.raises(UsageError, match=r"vote\(\): ballot 1 votes for a (dict|list), which "
                       r"cannot be counted \(it is not hashable\): give key="):
        vote([None, {"verdict": "safe"}], key=key)


# -- refine ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_refine_loops_until_the_evaluation_is_accepted() -> None:
    seen_history: list[int] = []

    async def generate(history: Any) -> int:
        seen_history.append(len(history))
        return len(history) + 1

    result = await refine(generate, lambda n: n * 10, accept=lambda score: score >= 30)
    assert isinstance(result, Refinement)
    assert (result.output, result.evaluation, result.accepted, result.rounds) == (3, 30, True, 3)
    assert result.history == [(1, 10), (2, 20), (3, 30)]
    assert seen_history == [0, 1, 2]


@pytest.mark.asyncio
async def test_refine_gives_back_the_last_candidate_when_rounds_run_out() -> None:
    def generate(history: Sequence[tuple[str, str]]) -> str:
        return f"draft {len(history)}"

    async def evaluate(text: str) -> str:
        return "FAIL"

    result = await refine(
        generate,
        evaluate,
        accept=lambda v: v == "PASS",
        max_rounds=2,
    )
    assert (result.output, result.accepted, result.rounds) == ("draft 1", False, 2)


@pytest.mark.asyncio
async def test_refine_awaits_an_async_accept() -> None:
    # Its coroutine, never awaited, was truthy: the first candidate was accepted, whatever the
    # evaluation said.
    async def accept(score: int) -> bool:
        return score >= 20

    result = await refine(lambda h: len(h) + 1, lambda n: n * 10, accept=accept, max_rounds=5)
    assert (result.output, result.accepted, result.rounds) == (2, True, 2)


@pytest.mark.asyncio
async def test_refine_rejects_zero_rounds() -> None:
    with pytest.raises(UsageError, match="max_rounds >= 1"):
        await refine(lambda h: 1, lambda c: c, accept=bool, max_rounds=0)
