"""Small helpers for workflows built from several agent runs: chain, fan out, vote, refine.

Owns `chain`, `parallel_map`, `vote`/`Vote` and `refine`/`Refinement`. They know nothing of
agents: a step is any function, sync or async, so the same helpers chain agent runs, plain
Python checks and tool calls alike (typed step outputs come from `output_type=` on the agents).
Rules: order is always kept; concurrency is bounded and structured (anyio task groups, so a
failure or a cancellation never leaves a task running); only `Exception`s are ever collected,
never cancellation; bad arguments raise `UsageError` before anything runs. Each helper call
and each of its steps is reported to the run observer (`agentkit.instrument()`: a span each).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, cast, overload

import anyio

from .._errors import UsageError
from .._run import observe

__all__ = ["Refinement", "Vote", "chain", "parallel_map", "refine", "vote"]

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    value = fn(*args)
    return await value if inspect.isawaitable(value) else value


async def chain(value: Any, *steps: Callable[[Any], Any]) -> Any:
    """Pass `value` through `steps` in order, each getting the previous step's output.

    A step may be sync or async. To stop the chain early (a gate that finds the input
    unusable), raise from the step: the exception propagates unchanged.
    """
    async with observe.workflow("chain"):
        for index, step in enumerate(steps, 1):
            async with observe.step("chain", index, step):
                value = await _call(step, value)
    return value


@overload
async def parallel_map(
    fn: Callable[[T], Awaitable[R]] | Callable[[T], R],
    items: Iterable[T],
    *,
    concurrency: int = 8,
    return_exceptions: Literal[False] = False,
) -> list[R]: ...


@overload
async def parallel_map(
    fn: Callable[[T], Awaitable[R]] | Callable[[T], R],
    items: Iterable[T],
    *,
    concurrency: int = 8,
    return_exceptions: Literal[True],
) -> list[R | Exception]: ...


async def parallel_map(
    fn: Callable[[T], Awaitable[R]] | Callable[[T], R],
    items: Iterable[T],
    *,
    concurrency: int = 8,
    return_exceptions: bool = False,
) -> list[Any]:
    """Call `fn(item)` for every item, at most `concurrency` at a time; results in item order.

    `fn` may be async, or sync: a sync function runs in a worker thread (so blocking calls
    run at once too, up to `concurrency`), and what it returns is awaited if awaitable
    (`lambda x: agent.run(x)`).

    By default the first failure cancels the calls still running and the failures are
    raised together as an `ExceptionGroup` (catch with `except* SomeError`). With
    `return_exceptions=True` every call runs to the end and a failed call's exception takes
    its place in the list (for voting, where a few failed voters should not sink the vote).

    Raises:
        UsageError: `concurrency` is less than 1.
        ExceptionGroup: one or more calls failed (unless `return_exceptions`).
    """
    if concurrency < 1:
        raise UsageError(f"parallel_map needs concurrency >= 1, got {concurrency}")
    pending = list(items)
    results: list[Any] = [None] * len(pending)
    limiter = anyio.CapacityLimiter(concurrency)

    run_async = inspect.iscoroutinefunction(fn)
    threads = anyio.CapacityLimiter(concurrency)  # not `limiter`: each call holds one of its

    async def call(index: int, item: T) -> Any:
        async with observe.step("parallel_map", index + 1, fn):
            if run_async:
                return await cast("Callable[[T], Awaitable[R]]", fn)(item)
            value = await anyio.to_thread.run_sync(fn, item, limiter=threads)
            return await value if inspect.isawaitable(value) else value

    async def one(index: int, item: T) -> None:
        async with limiter:
            if not return_exceptions:
                results[index] = await call(index, item)
                return
            try:
                results[index] = await call(index, item)
            except Exception as exc:  # collected by request; cancellation is not an Exception
                results[index] = exc

    async with observe.workflow("parallel_map"), anyio.create_task_group() as tg:
        for index, item in enumerate(pending):
            tg.start_soon(one, index, item)
    return results


@dataclass(frozen=True, slots=True)
class Vote(Generic[K]):
    """The outcome of `vote`: the winning answer and how the votes fell."""

    winner: K
    """The answer with the most votes (ties go to the answer first seen)."""
    count: int
    """Votes the winner got."""
    total: int
    """Votes cast (abstentions not counted)."""
    counts: dict[K, int] = field(default_factory=dict[K, int])
    """Votes per answer, in the order answers were first seen."""

    @property
    def share(self) -> float:
        """The winner's share of the votes cast, from 0 to 1."""
        return self.count / self.total

    @property
    def unanimous(self) -> bool:
        """Whether every vote went to the winner."""
        return self.count == self.total


def vote(ballots: Iterable[Any], *, key: Callable[[Any], K] | None = None) -> Vote[Any]:
    """Count `ballots` (e.g. several runs' outputs) and return the majority answer.

    `key` maps a ballot to the answer it votes for (default: the ballot itself, which must be
    hashable), e.g. `key=lambda verdict: verdict.safe`. Ballots that are exceptions (from
    `parallel_map(..., return_exceptions=True)`) or None abstain.

    Raises:
        UsageError: no ballot was cast (all abstained, or none given), or an answer is not
            hashable (a dict, a list: it was a bare "unhashable type").
    """
    counts: dict[Any, int] = {}
    for n, ballot in enumerate(ballots):
        if ballot is None or isinstance(ballot, BaseException):
            continue
        answer = key(ballot) if key is not None else ballot
        try:
            counts[answer] = counts.get(answer, 0) + 1
        except TypeError:
            raise UsageError(
                f"vote(): ballot {n} votes for a {type(answer).__name__}, which cannot be "
                "counted (it is not hashable): give key= mapping a ballot to a hashable "
                "answer, e.g. key=lambda ballot: ballot['verdict']"
            ) from None
    if not counts:
        raise UsageError("vote() got no ballots (every one was None or an exception)")
    winner = max(counts, key=counts.__getitem__)  # max keeps the first of equal counts
    return Vote(winner, counts[winner], sum(counts.values()), counts)


@dataclass(slots=True)
class Refinement(Generic[T, R]):
    """What `refine` produced: the last candidate, its evaluation, and every round."""

    output: T
    """The last candidate generated (the accepted one, if `accepted`)."""
    evaluation: R
    """The evaluation of `output`."""
    accepted: bool
    """Whether the evaluator accepted `output` (False: the rounds ran out)."""
    history: list[tuple[T, R]] = field(default_factory=list[tuple[T, R]])
    """Every `(candidate, evaluation)` pair, in order."""

    @property
    def rounds(self) -> int:
        """How many candidates were generated."""
        return len(self.history)


async def refine(
    generate: Callable[[Sequence[tuple[T, R]]], Awaitable[T] | T],
    evaluate: Callable[[T], Awaitable[R] | R],
    *,
    accept: Callable[[R], Awaitable[bool] | bool],
    max_rounds: int = 3,
) -> Refinement[T, R]:
    """The evaluator-optimizer loop: generate, evaluate, and try again until accepted.

    `generate(history)` gets every earlier `(candidate, evaluation)` pair (empty on the first
    round) and returns a new candidate; `evaluate(candidate)` returns an evaluation, and
    `accept(evaluation)` (sync or async, as the others) says whether it passes. Stops at the
    first accepted candidate or after `max_rounds`; either way the last candidate is
    returned, with `accepted` saying which.

    Raises:
        UsageError: `max_rounds` is less than 1.
    """
    if max_rounds < 1:
        raise UsageError(f"refine needs max_rounds >= 1, got {max_rounds}")
    history: list[tuple[T, R]] = []
    async with observe.workflow("refine"):
        while True:
            n = 2 * len(history)
            async with observe.step("refine", n + 1, generate):
                candidate: T = await _call(generate, list(history))
            async with observe.step("refine", n + 2, evaluate):
                evaluation: R = await _call(evaluate, candidate)
            history.append((candidate, evaluation))
            passed = bool(await _call(accept, evaluation))  # a coroutine was truthy: accepted
            if passed or len(history) >= max_rounds:
                return Refinement(candidate, evaluation, passed, history)
