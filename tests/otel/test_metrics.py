"""The client metrics: `gen_ai.client.token.usage` and `gen_ai.client.operation.duration`, with
the conventions' instruments, units, bucket boundaries and attributes."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics.export import HistogramDataPoint
from telemetry import Telemetry

from agentkit import Agent, AsyncClient, RunError
from agentkit._api.wire import Usage
from agentkit.testing import FakeClock, Fault, ScriptedTransport, reply, text_reply

MODEL = "claude-sonnet-4-5"
TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864]
DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92]


def points(telemetry: Telemetry, name: str) -> list[HistogramDataPoint]:
    metric = telemetry.metrics()[name]
    return [p for p in metric.data.data_points if isinstance(p, HistogramDataPoint)]


@pytest.mark.asyncio
async def test_each_model_call_records_its_tokens_and_duration(telemetry: Telemetry) -> None:
    usage = Usage(input_tokens=3, output_tokens=9, cache_read_input_tokens=40,
                  cache_creation_input_tokens=2)
    transport = ScriptedTransport([reply("One.", usage=usage), reply("Two.", usage=usage)])
    async with AsyncClient(api_key="sk-x", transport=transport, max_retries=0) as client:
        agent = Agent(MODEL, client=client)
        await agent.run("a")
        await agent.run("b")

    metrics = telemetry.metrics()
    tokens = metrics["gen_ai.client.token.usage"]
    assert tokens.unit == "{token}"
    by_type = {p.attributes["gen_ai.token.type"]: p for p in points(telemetry, tokens.name)}
    assert set(by_type) == {"input", "output"}
    assert by_type["input"].count == 2 and by_type["input"].sum == 2 * 45  # cache-inclusive
    assert by_type["output"].count == 2 and by_type["output"].sum == 18
    assert list(by_type["input"].explicit_bounds) == TOKEN_BUCKETS
    assert dict(by_type["output"].attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "api.anthropic.com",
        "server.port": 443,
        "gen_ai.token.type": "output",
    }

    duration = metrics["gen_ai.client.operation.duration"]
    assert duration.unit == "s"
    (point,) = points(telemetry, duration.name)
    assert point.count == 2 and list(point.explicit_bounds) == DURATION_BUCKETS
    assert "gen_ai.token.type" not in point.attributes and "error.type" not in point.attributes


@pytest.mark.asyncio
async def test_a_failed_call_records_its_duration_with_the_error_type(
    telemetry: Telemetry,
) -> None:
    transport = ScriptedTransport([Fault.overloaded(), Fault.overloaded()])
    async with AsyncClient(api_key="sk-x", transport=transport, max_retries=0) as client:
        agent = Agent(MODEL, client=client, model_retries=1, clock=FakeClock())
        with pytest.raises(RunError):
            await agent.run("a")
    (point,) = points(telemetry, "gen_ai.client.operation.duration")
    assert point.count == 1  # one operation, its retry inside
    assert point.attributes["error.type"] == "overloaded_error"
    assert "gen_ai.client.token.usage" not in telemetry.metrics()


@pytest.mark.asyncio
async def test_the_server_attributes_come_from_the_clients_base_url(
    telemetry: Telemetry,
) -> None:
    transport = ScriptedTransport([text_reply("x")])
    async with AsyncClient(api_key="sk-x", transport=transport, max_retries=0,
                           base_url="http://127.0.0.1:8123") as client:
        await Agent(MODEL, client=client).run("a")
    (point,) = points(telemetry, "gen_ai.client.operation.duration")
    assert point.attributes["server.address"] == "127.0.0.1"
    assert point.attributes["server.port"] == 8123
