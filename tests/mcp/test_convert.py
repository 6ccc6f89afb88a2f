"""Names the Messages API accepts for MCP tools, and MCP results as `tool_result` content (pure)."""

from __future__ import annotations

import re

import mcp_types as types
import pytest

from agentkit.mcp._convert import api_name, to_content

VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@pytest.mark.parametrize("name", ["search", "get-time", "a" * 64])
def test_a_valid_name_is_kept(name: str) -> None:
    assert api_name(name) == name


@pytest.mark.parametrize("name", ["db.query", "fs/read", "with space", "é", "." * 3, "a" * 65,
                                  "x" * 300])
def test_a_refused_name_becomes_a_valid_stable_one(name: str) -> None:
    mapped = api_name(name)
    assert VALID.match(mapped) and mapped == api_name(name)


def test_refused_names_that_read_alike_stay_apart() -> None:
    names = ["db.query", "db/query", "db query", "db_query"]
    assert len({api_name(n) for n in names}) == 4
    assert api_name("db.query").startswith("db_query_")


def test_the_prefix_counts_toward_64() -> None:
    assert api_name("a" * 60, prefix="srv_") == "a" * 60
    mapped = api_name("a" * 61, prefix="srv_")
    assert VALID.match("srv_" + mapped) and mapped != "a" * 61


def test_a_result_with_no_content_still_says_so() -> None:
    assert to_content(types.CallToolResult(content=[])) == [
        {"type": "text", "text": "(the tool returned no content)"}]


def test_structured_content_alone_is_sent_as_json() -> None:
    result = types.CallToolResult(content=[], structured_content={"temperature": 21})
    assert to_content(result) == [{"type": "text", "text": '{"temperature": 21}'}]


def test_an_image_the_api_cannot_take_is_named_not_dropped() -> None:
    result = types.CallToolResult(content=[
        types.ImageContent(type="image", data="AAAA", mime_type="image/tiff")])
    [note] = to_content(result)
    assert note["type"] == "text" and "image/tiff" in note["text"]


def test_the_readme_s_example_name() -> None:
    assert api_name("db.query/run") == "db_query_run_aee8e7c4"


def test_a_prefix_that_cannot_start_a_tool_name_is_refused() -> None:
    from agentkit import UsageError
    from agentkit.mcp import MCPToolset

    server = MCPToolset.stdio("unused")
    with pytest.raises(UsageError, match=r"prefix 'git\.hub_'"):
        server.prefixed("git.hub")
    with pytest.raises(UsageError, match="at most 64"):
        server.prefixed("p" * 60)
    assert server.prefixed("github") is not None
