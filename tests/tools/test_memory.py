"""The memory tool: the API's commands and wording, confined to its root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from agentkit_tools.memory import MemoryStore, memory_toolset

from agentkit import Agent, AsyncClient, ToolError
from agentkit.testing import ScriptedTransport, text_reply, tool_reply, tool_results


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    root = tmp_path / "mem"
    root.mkdir()
    return MemoryStore(root)


def run(store: MemoryStore, **command: object) -> str:
    return store.run(dict(command))


def test_create_view_edit_insert_rename_delete(store: MemoryStore) -> None:
    assert run(store, command="create", path="/memories/notes.md", file_text="one\ntwo\nthree") == (
        "File created successfully at: /memories/notes.md"
    )
    assert run(store, command="view", path="/memories/notes.md") == (
        "Here's the content of /memories/notes.md with line numbers:\n"
        "     1\tone\n     2\ttwo\n     3\tthree"
    )
    assert run(store, command="view", path="/memories/notes.md", view_range=[2, -1]).endswith(
        "     2\ttwo\n     3\tthree"
    )
    edited = run(
        store, command="str_replace", path="/memories/notes.md", old_str="two", new_str="2"
    )
    assert edited.startswith("The memory file has been edited.\n") and "\t2" in edited
    assert run(
        store, command="insert", path="/memories/notes.md", insert_line=0, insert_text="zero"
    ) == ("The file /memories/notes.md has been edited.")
    assert (store.root.path / "notes.md").read_text() == "zero\none\n2\nthree"
    listing = run(store, command="view", path="/memories")
    assert listing.startswith(
        "Here're the files and directories up to 2 levels deep in /memories, excluding hidden "
        "items and node_modules:\n"
    )
    assert "\t/memories/notes.md" in listing
    assert run(
        store, command="rename", old_path="/memories/notes.md", new_path="/memories/a/b.md"
    ) == ("Successfully renamed /memories/notes.md to /memories/a/b.md")
    assert run(store, command="delete", path="/memories/a") == "Successfully deleted /memories/a"
    assert not (store.root.path / "a").exists()


def test_hidden_files_and_node_modules_are_not_listed(store: MemoryStore) -> None:
    (store.root.path / ".secret").write_text("x")
    (store.root.path / "node_modules").mkdir()
    (store.root.path / "kept.md").write_text("x" * 5632)
    listing = run(store, command="view", path="/memories").split("\n", 1)[1]
    assert ".secret" not in listing and "node_modules" not in listing
    assert "5.5K\t/memories/kept.md" in listing


@pytest.mark.parametrize(
    "path",
    [
        "/memories/../outside.md",
        "/etc/passwd",
        "memories/x.md",
        "/memories/%2e%2e%2foutside.md",
        "/memories/..\\outside.md",
        "/memoriesX/x.md",
    ],
)
def test_paths_outside_the_memory_directory_are_refused(store: MemoryStore, path: str) -> None:
    with pytest.raises(ToolError, match="not allowed"):
        run(store, command="create", path=path, file_text="x")
    assert sorted(os.listdir(store.root.path)) == []


def test_a_symlink_leading_out_is_refused(store: MemoryStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root.path / "link").symlink_to(outside)
    with pytest.raises(ToolError, match="outside the allowed root"):
        run(store, command="create", path="/memories/link/x.md", file_text="x")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            {"command": "view", "path": "/memories/none.md"},
            "The path /memories/none.md does not exist. Please provide a valid path.",
        ),
        (
            {"command": "delete", "path": "/memories"},
            "Error: Cannot delete the /memories directory itself",
        ),
        (
            {"command": "rename", "old_path": "/memories", "new_path": "/memories/x"},
            "Error: Cannot rename the /memories directory itself",
        ),
        (
            {"command": "rename", "old_path": "/memories/none", "new_path": "/memories/x"},
            "The path /memories/none does not exist",
        ),
        (
            {"command": "str_replace", "path": "/memories/f.md", "old_str": "zzz"},
            "No replacement was performed, old_str `zzz` did not appear verbatim in "
            "/memories/f.md.",
        ),
        (
            {"command": "str_replace", "path": "/memories/f.md", "old_str": "a"},
            "No replacement was performed. Multiple occurrences of old_str `a` in lines: 1, 2. "
            "Please ensure it is unique",
        ),
        (
            {"command": "insert", "path": "/memories/f.md", "insert_line": 5, "insert_text": "x"},
            "Error: Invalid `insert_line` parameter: 5. It should be within the range of lines "
            "of the file: [0, 2]",
        ),
        (
            {"command": "rename", "old_path": "/memories/f.md", "new_path": "/memories/g.md"},
            "Error: The destination /memories/g.md already exists",
        ),
        ({"command": "format", "path": "/memories"}, "Unknown command 'format'"),
    ],
)
def test_refusals_use_the_documented_wording(
    store: MemoryStore, command: dict[str, object], message: str
) -> None:
    (store.root.path / "f.md").write_text("a\na")
    (store.root.path / "g.md").write_text("g")
    with pytest.raises(ToolError) as caught:
        store.run(command)
    assert message in str(caught.value)


def test_large_files_are_refused(tmp_path: Path) -> None:
    small = MemoryStore(tmp_path, max_file_bytes=10)
    with pytest.raises(ToolError, match="larger than 10 bytes"):
        small.run({"command": "create", "path": "/memories/big.md", "file_text": "x" * 11})


def test_the_model_sees_the_builtin_definition_and_gets_error_results(tmp_path: Path) -> None:
    transport = ScriptedTransport(
        [
            tool_reply("memory", {"command": "view", "path": "/memories/../../etc"}),
            lambda body: text_reply(str(tool_results(body)[0].get("is_error"))),
        ]
    )
    agent = Agent(
        "claude-sonnet-4-5",
        tools=[memory_toolset(tmp_path)],
        client=AsyncClient(api_key="k", transport=transport),
    )
    result = agent.run_sync("Remember this.")
    assert transport.requests[0].body["tools"] == [{"type": "memory_20250818", "name": "memory"}]
    assert result.text == "True"
