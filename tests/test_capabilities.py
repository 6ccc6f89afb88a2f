import json
from pathlib import Path

import pytest

from agentkit._loop.capabilities import ModelCaps, Prices, model_caps, table_facts

DATA = Path(__file__).resolve().parents[1] / "agentkit" / "_data" / "models.json"


def test_table_is_well_formed() -> None:
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    ids = [row["id"] for row in raw["models"]]
    assert len(ids) == len(set(ids)), "duplicate model ids"
    names = ids + [alias for row in raw["models"] for alias in row["aliases"]]
    assert len(names) == len(set(names)), "an alias collides with another id or alias"
    for row in raw["models"]:
        caps = model_caps(row["id"])
        assert caps is not None and caps.id == row["id"]
        assert caps.prices is not None, f"{row['id']} has no prices"
        if caps.thinking_accepted is not None and caps.thinking_rejected is not None:
            assert not caps.thinking_accepted & caps.thinking_rejected, row["id"]
    assert table_facts()["facts_read_on"] == raw["facts_read_on"]


def test_always_on_adaptive_only_model() -> None:
    caps = model_caps("claude-fable-5-2")
    assert caps is not None
    assert caps.always_thinks
    assert caps.thinking_accepted == {"adaptive"}
    assert {"enabled", "disabled"} <= (caps.thinking_rejected or set())
    assert caps.forced_tool_choice_always_rejected is True
    assert caps.sampling == "defaults_only"
    assert caps.max_output_tokens == 128_000
    assert caps.prices == Prices(8.0, 40.0, 10.0, 16.0, 0.2, 10.0)


def test_budget_model_needs_interleaved_header() -> None:
    caps = model_caps("claude-sonnet-4-5")
    assert caps is not None
    assert caps.id == "claude-sonnet-4-5-20250929"
    assert caps.thinking_rejected == {"adaptive"}
    assert caps.interleaved_needs_beta is True
    assert caps.thinking_default == "off"
    assert not caps.always_thinks
    assert caps.forced_tool_choice_with_thinking == frozenset()
    assert caps.sampling == "restricted_with_thinking"
    assert caps.max_output_tokens == 64_000


def test_haiku_4_5_has_no_interleaving_header_need() -> None:
    caps = model_caps("claude-haiku-4-5-20251001")
    assert caps is not None
    assert caps.interleaved_needs_beta is False
    assert caps.prices is not None and caps.prices.cache_write_5m == 1.25


def test_adaptive_allows_forced_tool_choice_on_opus_4_8() -> None:
    caps = model_caps("claude-opus-4-8")
    assert caps is not None
    assert caps.forced_tool_choice_with_thinking == {"adaptive"}
    assert caps.forced_tool_choice_always_rejected is False
    assert caps.thinking_rejected == {"enabled"}


def test_haiku_5_5_price_tier() -> None:
    caps = model_caps("claude-haiku-5-5")
    assert caps is not None
    assert caps.disabled_thinking_effort_cap == "high"
    (tier,) = caps.price_tiers
    assert tier.above_prompt_tokens == 100_000
    assert tier.prices.input == 0.5 and tier.prices.output == 2.5
    # The tier inherits the web search fee, which does not change above the threshold.
    assert tier.prices.web_search_per_1000 == 10.0


def test_retired_model_keeps_prices() -> None:
    caps = model_caps("claude-3-opus-latest")
    assert caps is not None
    assert caps.id == "claude-3-opus-20240229"
    assert caps.lifecycle == "retired"
    assert caps.prices is not None and caps.prices.output == 75
    assert caps.prices.web_search_per_1000 is None
    assert caps.thinking_accepted is None  # unknown, not "accepts nothing"


def test_separate_dated_id_listed_as_alias() -> None:
    caps = model_caps("claude-3-5-sonnet-20240620")
    assert caps is not None and caps.id == "claude-3-5-sonnet-20241022"


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("anthropic/claude-opus-4-8", "claude-opus-4-8"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5-20250929"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5-20251001"),
        ("claude-opus-5-5-20270301", "claude-opus-5-5"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku-20241022"),
        ("Claude-Opus-4-8", "claude-opus-4-8"),
    ],
)
def test_tolerant_matching(spelling: str, expected: str) -> None:
    caps = model_caps(spelling)
    assert caps is not None and caps.id == expected


@pytest.mark.parametrize(
    "model", ["gpt-5", "claude-opus-9", "my-gateway-model", "claude-opus-4", "claude"]
)
def test_unknown_models(model: str) -> None:
    assert model_caps(model) is None


def test_lookup_is_memoised() -> None:
    assert model_caps("claude-opus-4-8") is model_caps("claude-opus-4-8")


def test_defaults_describe_an_unknown_model() -> None:
    caps = ModelCaps(id="custom")
    assert caps.prices is None and caps.thinking_accepted is None and not caps.always_thinks
