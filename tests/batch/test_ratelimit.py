"""`RateLimiter`: the pacing arithmetic on a stopped clock, what it learns from the API's
headers, and whole runs against a `FakeServer` that enforces a rate limit with real 429s."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import anyio
import pytest
from anyio.lowlevel import checkpoint
from pacing import RecordingLimiter, burst_needed

from agentkit import Agent, AsyncClient, RateLimiter, UsageError
from agentkit._api.ratelimit import read_headers
from agentkit.testing import FakeServer, RateLimit, echo_model


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_headers_are_read_and_retry_after_counts_only_on_a_429() -> None:
    now = time.time()
    reset = datetime.fromtimestamp(now + 30, UTC).isoformat().replace("+00:00", "Z")
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-input-tokens-limit": "30000",
        "anthropic-ratelimit-output-tokens-remaining": "junk",
        "retry-after": "7",
    }
    facts = read_headers(200, headers, now)
    assert set(facts.budgets) == {"requests", "input-tokens"}
    requests = facts.budgets["requests"]
    assert (requests.limit, requests.remaining) == (50, 49)
    assert requests.reset == pytest.approx(30, abs=0.01)
    assert facts.retry_after is None  # a gateway's retry-after on a 200 means nothing
    assert read_headers(429, headers, now).retry_after == 7
    assert read_headers(429, {"retry-after-ms": "1500", "retry-after": "9"}, now).retry_after == 1.5


def test_requests_are_paced_at_the_budget_in_order() -> None:
    clock = Clock()
    limiter = RateLimiter(requests_per_minute=120, clock=clock)  # 2/s, a burst of 2
    assert [limiter.reserve(0, clock.now) for _ in range(5)] == [0, 0, 0.5, 1.0, 1.5]
    clock.now += 10  # refilled, but only up to the burst
    assert [limiter.reserve(0, clock.now) for _ in range(3)] == [0, 0, 0.5]
    assert limiter.stats.requests == 8 and limiter.stats.held_seconds == pytest.approx(2.0)


def test_input_tokens_are_a_budget_of_their_own() -> None:
    clock = Clock()
    limiter = RateLimiter(input_tokens_per_minute=6000, clock=clock)  # 100/s
    assert limiter.reserve(100, clock.now) == 0
    assert limiter.reserve(300, clock.now) == pytest.approx(3.0)


def test_limits_are_learned_from_headers_and_a_lower_one_wins() -> None:
    clock = Clock()
    limiter = RateLimiter(requests_per_minute=600, share=0.5, clock=clock)
    assert limiter.stats.requests_per_minute == 300
    limiter.observe(200, {"anthropic-ratelimit-requests-limit": "120",
                          "anthropic-ratelimit-input-tokens-limit": "60000",
                          "anthropic-ratelimit-input-tokens-remaining": "0"})
    stats = limiter.stats
    assert stats.requests_per_minute == 60 and stats.input_tokens_per_minute == 30000
    assert limiter.reserve(500, clock.now) == pytest.approx(1.0)  # remaining 0: wait for 500
    limiter.observe(200, {"anthropic-ratelimit-requests-limit": "6000"})
    assert limiter.stats.requests_per_minute == 60  # a higher limit never raises the budget


def test_a_429_holds_every_caller_for_its_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    limiter.observe(429, {"retry-after": "3"})
    assert limiter.reserve(0, clock.now) == 3
    clock.now += 1
    assert limiter.reserve(0, clock.now) == 2
    assert limiter.stats.rate_limited == 1
    unlearned = RateLimiter(learn=False, clock=clock)
    unlearned.observe(429, {"retry-after": "3"})
    assert unlearned.reserve(0, clock.now) == 0


def test_bad_budgets_are_refused_with_the_option_named() -> None:
    with pytest.raises(UsageError, match="requests_per_minute"):
        RateLimiter(requests_per_minute=0)
    with pytest.raises(UsageError, match="share"):
        RateLimiter(share=2)


@pytest.mark.asyncio
async def test_with_nothing_known_the_first_request_goes_alone() -> None:
    limiter = RateLimiter()
    order: list[str] = []

    async def second() -> None:
        await limiter.acquire()
        order.append("second")

    await limiter.acquire()
    async with anyio.create_task_group() as tg:
        tg.start_soon(second)
        for _ in range(20):  # let it run as far as it can
            await checkpoint()
        assert order == []  # held until the first response teaches the limits
        limiter.observe(200, {})
    assert order == ["second"]


async def _run_agents(client: AsyncClient, count: int) -> list[str]:
    agent = Agent("claude-sonnet-4-5", client=client)
    texts: list[str] = []

    async def one(i: int) -> None:
        texts.append((await agent.run(f"item {i}")).text)

    async with anyio.create_task_group() as tg:
        for i in range(count):
            tg.start_soon(one, i)
    return texts


@pytest.mark.asyncio
async def test_runs_sharing_a_limiter_are_paced_at_the_learned_budget_and_all_finish() -> None:
    # What is asserted is what the limiter decided: when each request may go. How many 429s
    # the server answers also depends on when requests reach it, and a loaded machine
    # bunches requests that were paced (CI saw 6 of 60), so that count is not asserted.
    limits = RateLimit(requests_per_minute=1200)  # 20/s, a burst of 20
    with FakeServer(echo_model, rate_limit=limits, record=False) as server:
        limiter = RecordingLimiter()
        async with AsyncClient(api_key="k", base_url=server.base_url,
                               rate_limiter=limiter) as client:
            texts = await _run_agents(client, 60)
    assert sorted(texts) == sorted(f"echo: item {i}" for i in range(60))
    assert len(limits.admitted) == 60
    stats = limiter.stats
    assert stats.requests_per_minute == 1200  # learned from the headers
    assert stats.held_seconds > 0 and stats.requests == len(limiter.slots) >= 60
    # The probe goes alone; then a burst of 20 (a second of budget) and 20 a second after.
    assert burst_needed(limiter.slots, 20) <= 21 + 1e-6


@pytest.mark.asyncio
async def test_without_a_limiter_the_same_runs_meet_many_429s() -> None:
    limits = RateLimit(requests_per_minute=1200)
    with FakeServer(echo_model, rate_limit=limits, record=False) as server:
        async with AsyncClient(api_key="k", base_url=server.base_url) as client:
            await _run_agents(client, 60)  # the runs' own retries get them through, slowly
    assert limits.rejected >= 10  # a burst of 60 at 20 a second: most of it refused at first


def test_output_tokens_are_fed_by_hand_unless_the_headers_report_them() -> None:
    clock = Clock()
    limiter = RateLimiter(output_tokens_per_minute=6000, clock=clock)  # 100/s
    assert limiter.reserve(0, clock.now) == 0
    limiter.record_output(300)  # 200 in debt: the next request waits for 2 s of budget
    assert limiter.reserve(0, clock.now) == pytest.approx(2.0)
    limiter.observe(200, {"anthropic-ratelimit-output-tokens-remaining": "0"})
    limiter.record_output(10_000)  # the headers count them: not counted twice
    assert limiter.reserve(0, clock.now) == pytest.approx(2.0)


def test_the_fake_answers_over_budget_with_the_apis_429_and_headers() -> None:
    import httpx

    # 12 a minute with 10 s of burst: 2 at once, then one each 5 s, so the third request is
    # refused however slowly the machine sends the three.
    limits = RateLimit(requests_per_minute=12, output_tokens_per_minute=60_000, burst=10)
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    with (FakeServer(echo_model, rate_limit=limits, record=False) as server,
          httpx.Client(base_url=server.base_url) as http):
        answers = [http.post("/v1/messages", json=body, headers=headers) for _ in range(3)]
    ok, refused = answers[0], answers[2]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert ok.headers["anthropic-ratelimit-requests-limit"] == "12"
    assert ok.headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert ok.headers["anthropic-ratelimit-output-tokens-limit"] == "60000"
    assert ok.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.headers["retry-after"] == "5"
    assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert limits.rejected == 1 and len(limits.admitted) == 2
