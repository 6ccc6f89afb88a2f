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
