import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agentkit._loop.usage import RunUsage, TurnUsage, merges_into

REAL = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "real"


def recorded(name: str) -> tuple[dict[str, Any], str]:
    path = REAL / f"{name}.json"
    if not path.exists():
        pytest.skip(f"recording {path} not available")
    body = json.loads(path.read_text(encoding="utf-8"))["response"]["body"]
    return body["usage"], body["model"]


# Haiku 4.5 per MTok: input 1, output 5, 5m write 1.25, 1h write 2, read 0.1; search $10/1000.


def test_real_cache_write() -> None:
    usage, model = recorded("cache_write")
    run = RunUsage()
    turn = run.add_turn(usage, model)
    # 10 input + 4 output*5 + 7351 5m-writes*1.25 = 9218.75 micro-dollars
    assert turn.cost_usd == pytest.approx(0.00921875)
    assert turn.cache_write_5m_input_tokens == 7351
    assert turn.cache_write_1h_input_tokens == 0
    assert run.total_input_tokens == 10 + 7351
    assert run.total_tokens == 10 + 7351 + 4
    assert run.cost_usd == pytest.approx(0.00921875)


def test_real_cache_read() -> None:
    usage, model = recorded("cache_read")
    turn = RunUsage().add_turn(usage, model)
    # 10*1 + 4*5 + 7351*0.1 = 765.1 micro-dollars
    assert turn.cost_usd == pytest.approx(0.0007651)
    assert turn.total_input_tokens == 7361


def test_real_web_search() -> None:
    usage, model = recorded("web_search_nonstream")
    run = RunUsage()
    run.add_turn(usage, model)
    # 11642*1 + 141*5 = 12347 micro-dollars, plus one search at $10/1000
    assert run.cost_usd == pytest.approx(0.012347 + 0.01)
    assert run.server_tool_use == {"web_search_requests": 1, "web_fetch_requests": 0}


def test_real_turns_sum_into_run() -> None:
    run = RunUsage()
    for name in ("cache_write", "cache_read", "web_search_nonstream"):
        usage, model = recorded(name)
        run.add_turn(usage, model, tool_calls=1)
    assert run.requests == 3 and len(run.turns) == 3
    assert run.input_tokens == 10 + 10 + 11642
    assert run.output_tokens == 4 + 4 + 141
    assert run.cache_creation_input_tokens == 7351
    assert run.cache_read_input_tokens == 7351
    assert run.cache_write_5m_input_tokens == 7351
    assert [t.tool_calls for t in run.turns] == [1, 1, 1]
    assert run.tool_calls == 0  # calls asked for; the run counts the calls it runs
    assert run.cost_usd == pytest.approx(0.00921875 + 0.0007651 + 0.022347)


def test_one_hour_cache_writes_use_their_price() -> None:
    # Sonnet 4.6: input 3, output 15, 5m write 3.75, 1h write 6
    usage = {
        "input_tokens": 100,
        "output_tokens": 10,
        "cache_creation_input_tokens": 3000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
    }
    turn = RunUsage().add_turn(usage, "claude-sonnet-4-6")
    assert turn.cost_usd == pytest.approx((300 + 150 + 3750 + 12000) / 1e6)


def test_cache_writes_without_split_bill_at_five_minute_price() -> None:
    usage = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 1000}
    turn = RunUsage().add_turn(usage, "claude-sonnet-4-6")
    assert turn.cache_write_5m_input_tokens is None
    assert turn.cost_usd == pytest.approx(0.00375)


def test_price_tier_above_threshold_bills_every_token_higher() -> None:
    run = RunUsage()
    low = run.add_turn({"input_tokens": 100_000, "output_tokens": 1000}, "claude-haiku-5-5")
    high = run.add_turn(
        {"input_tokens": 50_000, "cache_read_input_tokens": 100_000, "output_tokens": 1000},
        "claude-haiku-5-5",
    )
    assert low.cost_usd == pytest.approx((100_000 * 0.1 + 1000 * 0.5) / 1e6)  # at the threshold
    assert high.cost_usd == pytest.approx((50_000 * 0.5 + 100_000 * 0.05 + 1000 * 2.5) / 1e6)


def test_unknown_model_makes_cost_unknown_but_keeps_tokens() -> None:
    run = RunUsage()
    run.add_turn({"input_tokens": 10, "output_tokens": 4}, "claude-haiku-4-5")
    turn = run.add_turn({"input_tokens": 5, "output_tokens": 5}, "some-gateway-model")
    assert turn.cost_usd is None
    assert run.cost_usd is None
    assert run.known_cost_usd == pytest.approx(30 / 1e6)
    assert run.unpriced_requests == 1
    assert run.input_tokens == 15


def test_search_on_model_without_search_price_is_unknown_cost() -> None:
    usage = {"input_tokens": 1, "output_tokens": 1, "server_tool_use": {"web_search_requests": 2}}
    assert RunUsage().add_turn(usage, "claude-3-haiku-20240307").cost_usd is None


def test_lenient_usage_parsing() -> None:
    usage = {
        "input_tokens": 7,
        "output_tokens": None,
        "cache_read_input_tokens": None,
        "gateway_credits": 3,
        "server_tool_use": {"web_search_requests": 0, "note": "x"},
        "service_tier": "standard",
    }
    turn = RunUsage().add_turn(usage, "claude-opus-4-8")
    assert (turn.input_tokens, turn.output_tokens, turn.cache_read_input_tokens) == (7, 0, 0)
    assert turn.server_tool_use == {"web_search_requests": 0}
    assert turn.cost_usd == pytest.approx(7 * 5 / 1e6)


def _sample(model: str = "claude-haiku-4-5") -> RunUsage:
    run = RunUsage()
    run.add_turn(
        {
            "input_tokens": 10,
            "output_tokens": 20,
            "cache_creation_input_tokens": 30,
            "cache_read_input_tokens": 40,
            "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20},
            "server_tool_use": {"web_search_requests": 1},
        },
        model,
        tool_calls=2,
    )
    run.tool_calls = 2  # the calls run, which the engine counts as their results arrive
    return run


def test_merge_counts_sub_agent_in_parent() -> None:
    parent, child = _sample(), _sample()
    child_cost = child.cost_usd
    parent.merge(child)
    assert parent.requests == 2 and len(parent.turns) == 2
    assert parent.input_tokens == 20 and parent.output_tokens == 40
    assert parent.cache_write_1h_input_tokens == 40
    assert parent.server_tool_use == {"web_search_requests": 2}
    assert parent.tool_calls == 4
    assert child_cost is not None and parent.cost_usd == pytest.approx(2 * child_cost)
    assert child.requests == 1  # the child is unchanged


def test_add_returns_new_total_and_leaves_operands() -> None:
    a, b = _sample(), _sample("unknown-model")
    total = a + b
    assert total.requests == 2 and total.cost_usd is None
    assert a.requests == 1 and a.cost_usd is not None
    assert a.server_tool_use == {"web_search_requests": 1}
    assert total.server_tool_use == {"web_search_requests": 2}


def test_round_trip_through_json() -> None:
    run = _sample() + _sample("unknown-model")
    data = json.loads(json.dumps(run.to_dict()))
    again = RunUsage.from_dict(data)
    assert again == run
    assert again.to_dict() == run.to_dict()
    assert data["cost_usd"] is None


def test_turn_round_trip() -> None:
    turn = _sample().turns[0]
    assert TurnUsage.from_dict(json.loads(json.dumps(turn.to_dict()))) == turn
    assert turn.total_tokens == 10 + 30 + 40 + 20


@pytest.mark.asyncio
async def test_merges_into_notes_this_task_s_merges_into_that_run_only() -> None:
    run, sub, other = RunUsage(), RunUsage(), RunUsage()
    sub.add_turn({"input_tokens": 5, "output_tokens": 1}, "claude-sonnet-4-5")
    child = RunUsage()

    async def in_a_task_it_starts() -> None:
        run.merge(child)

    with merges_into(run) as noted:
        other.merge(sub)  # a sub-agent merging its own sub-agent's usage: not this run's
        run.merge(sub)
        await asyncio.create_task(in_a_task_it_starts())
    run.merge(sub)  # after the block

    assert noted == [sub, child]
    assert noted[0] is sub and noted[1] is child
    assert run.requests == 2 and other.requests == 1
