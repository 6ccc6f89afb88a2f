"""No cost when not instrumented: `import agentkit` and a whole run (tools, workflow helpers)
never import OpenTelemetry; without the extra, `instrument()` says which extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_a_run_without_instrument_never_imports_opentelemetry() -> None:
    done = run_python("""
        import sys
        import anyio
        import agentkit
        from agentkit import Agent, AsyncClient, tool
        from agentkit.testing import ScriptedTransport, text_reply, tool_reply
        from agentkit.workflows import chain

        @tool
        def get_weather(city: str) -> str:
            "Weather."
            return "sunny"

        async def main():
            transport = ScriptedTransport(
                [tool_reply("get_weather", {"city": "Oslo"}), text_reply("Sunny.")]
            )
            async with AsyncClient(api_key="sk-x", transport=transport) as client:
                agent = Agent("claude-sonnet-4-5", client=client, tools=[get_weather])
                async def ask(prompt):
                    return (await agent.run(prompt)).text
                print(await chain("Weather?", ask))

        anyio.run(main)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
        print("otel modules:", loaded, "agentkit.otel" in sys.modules)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["Sunny.", "otel modules: [] False"]


def test_instrument_without_the_extra_names_it() -> None:
    done = run_python("""
        import sys
        sys.modules["opentelemetry"] = None  # as if the API package were not installed
        import agentkit
        try:
            agentkit.instrument()
        except ImportError as exc:
            print(exc)
    """)
    assert done.returncode == 0, done.stderr
    assert "pip install 'agentkit[otel]'" in done.stdout
    assert "OpenTelemetry API" in done.stdout


def test_instrument_without_providers_uses_the_global_ones() -> None:
    # In a child process: the global providers can be set only once per process.
    done = run_python("""
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        import agentkit
        from agentkit import Agent, AsyncClient
        from agentkit.testing import ScriptedTransport, text_reply

        spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        agentkit.instrument()

        client = AsyncClient(api_key="sk-x", transport=ScriptedTransport([text_reply("Hi.")]))
        Agent("claude-sonnet-4-5", client=client, name="greeter").run_sync("Hello")
        print([s.name for s in spans.get_finished_spans()])
        data = reader.get_metrics_data()
        print(sorted(m.name for rm in data.resource_metrics for sm in rm.scope_metrics
                     for m in sm.metrics))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "['chat claude-sonnet-4-5', 'invoke_agent greeter']",
        "['gen_ai.client.operation.duration', 'gen_ai.client.token.usage']",
    ]
