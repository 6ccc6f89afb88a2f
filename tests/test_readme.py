"""The README's Python examples run as written, offline.

Each ```python block runs in order in one namespace, with `ANTHROPIC_BASE_URL` pointing at a
loopback `FakeServer` whose model answers with text, or with a valid call to the structured
output tool when one is offered, so the examples exercise the real loop end to end.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agentkit.testing import FakeServer, FunctionModel, reply

README = Path(__file__).resolve().parents[1] / "README.md"


def example_of(schema: dict[str, Any]) -> Any:
    """A minimal value valid against a simple JSON schema."""
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example_of(v) for k, v in props.items() if k in schema.get("required", [])}
    return {"string": "example", "integer": 1, "number": 1.0, "boolean": True, "array": []}.get(
        str(kind)
    )


def model(body: dict[str, Any]) -> Any:
    tools = {t["name"]: t for t in body.get("tools", [])}
    last = body["messages"][-1]["content"]
    answered = isinstance(last, list) and any(b.get("type") == "tool_result" for b in last)
    thinking = "Let me see." if body.get("thinking", {}).get("type") == "enabled" else None
    if "final_result" in tools and not answered:
        schema = tools["final_result"]["input_schema"]
        return reply(tool_calls=[("final_result", example_of(schema))], thinking=thinking)
    return reply("Done.", thinking=thinking)


def test_readme_python_examples_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write files (a run store)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 3
    with FakeServer(FunctionModel(model)) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-readme-test")
        namespace: dict[str, Any] = {"__name__": "readme"}
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)
        assert namespace["result"].output.city == "example"
