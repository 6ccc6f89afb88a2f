"""The catalog: every family builds, names are unique, schemas are snapshotted, and the package
uses agentkit's public API only."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import agentkit_tools
import jsonschema
import pytest
from agentkit_tools import ALL, catalog

SNAPSHOT = Path(__file__).parent / "snapshots" / "schemas.json"
PACKAGE = Path(agentkit_tools.__file__).parent


def _definitions() -> dict[str, dict[str, object]]:
    return {tool.name: tool.to_param() for family in catalog() for tool in family.example()}


def test_catalog_lists_every_family_once() -> None:
    assert catalog() is ALL
    names = [family.name for family in ALL]
    assert names == [
        "files", "shell", "http", "python", "sqlite", "memory", "calculator", "clock"
    ]


def test_every_tool_has_a_unique_name_a_description_and_a_valid_schema() -> None:
    seen: set[str] = set()
    for family in catalog():
        tools = list(family.example())
        assert tools, family.name
        for tool in tools:
            assert tool.name not in seen
            seen.add(tool.name)
            assert len(tool.description) > 40, tool.name
            jsonschema.Draft202012Validator.check_schema(tool.input_schema)
            assert tool.input_schema["type"] == "object"


def test_tools_that_run_code_need_approval_by_default() -> None:
    approval = {
        tool.name for family in catalog() for tool in family.example() if tool.requires_approval
    }
    assert approval == {"run_command", "run_python"}


def test_schemas_match_the_snapshot() -> None:
    # Regenerate after an intended change with: AGENTKIT_UPDATE_SNAPSHOTS=1 pytest tests/tools
    current = _definitions()
    if os.environ.get("AGENTKIT_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_modules_import_only_public_agentkit_names(path: Path) -> None:
    source = path.read_text()
    private = re.findall(r"^\s*(?:from|import)\s+(agentkit\.\w+)", source, re.MULTILINE)
    assert private == [], f"{path.name} imports {private}; use `from agentkit import ...`"
