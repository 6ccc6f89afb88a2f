"""files_toolset: confinement to the root, caps, binary files, and each operation's behaviour."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from agentkit_tools._paths import Root
from agentkit_tools.files import files_toolset
from isolated import run_isolated

from agentkit import ToolError, UsageError

Call = Callable[..., Awaitable[str]]  # the `ok` and `refused` fixtures (conftest.py)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "root"
    base.mkdir()
    (base / "notes.txt").write_text("alpha\nbeta\ngamma\ndelta\n")
    (base / "src").mkdir()
    (base / "src" / "app.py").write_text("def main():\n    return 1\n")
    (tmp_path / "secret.txt").write_text("TOP SECRET\n")
    return base


# -- confinement -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["../secret.txt", "src/../../secret.txt", "..", "../root/../secret.txt"]
)
@pytest.mark.asyncio
async def test_read_refuses_dotdot_escapes(root: Path, path: str, refused: Call) -> None:
    message = await refused(files_toolset(root).get("read_file"), path=path)
    assert "outside the allowed root" in message
    assert "SECRET" not in message


@pytest.mark.asyncio
async def test_read_refuses_absolute_path_outside_root(root: Path, refused: Call) -> None:
    outside = str(root.parent / "secret.txt")
    message = await refused(files_toolset(root).get("read_file"), path=outside)
    assert "outside the allowed root" in message


@pytest.mark.asyncio
async def test_absolute_path_inside_root_is_allowed(root: Path, ok: Call) -> None:
    text = await ok(files_toolset(root).get("read_file"), path=str(root / "notes.txt"))
    assert "alpha" in text


@pytest.mark.asyncio
async def test_read_refuses_symlink_leading_out(root: Path, refused: Call) -> None:
    (root / "link.txt").symlink_to(root.parent / "secret.txt")
    (root / "linkdir").symlink_to(root.parent)
    read = files_toolset(root).get("read_file")
    assert "outside the allowed root" in await refused(read, path="link.txt")
    assert "outside the allowed root" in await refused(read, path="linkdir/secret.txt")


@pytest.mark.asyncio
async def test_symlink_inside_root_is_followed(root: Path, ok: Call) -> None:
    (root / "alias.txt").symlink_to(root / "notes.txt")
    assert "beta" in await ok(files_toolset(root).get("read_file"), path="alias.txt")


@pytest.mark.asyncio
async def test_write_refuses_escapes_and_writes_nothing(root: Path, refused: Call) -> None:
    write = files_toolset(root).get("write_file")
    (root / "out").symlink_to(root.parent)
    for path in ["../evil.txt", str(root.parent / "evil.txt"), "out/evil.txt"]:
        assert "outside the allowed root" in await refused(write, path=path, content="x")
    assert not (root.parent / "evil.txt").exists()


@pytest.mark.asyncio
async def test_write_refuses_overwriting_through_symlink_out(root: Path, refused: Call) -> None:
    (root / "victim").symlink_to(root.parent / "secret.txt")
    write = files_toolset(root).get("write_file")
    await refused(write, path="victim", content="pwned")
    assert (root.parent / "secret.txt").read_text() == "TOP SECRET\n"


@pytest.mark.asyncio
async def test_edit_refuses_escape(root: Path, refused: Call) -> None:
    edit = files_toolset(root).get("edit_file")
    await refused(edit, path="../secret.txt", old="TOP", new="NOT")
    assert (root.parent / "secret.txt").read_text() == "TOP SECRET\n"


@pytest.mark.asyncio
async def test_list_glob_grep_refuse_escapes(root: Path, refused: Call) -> None:
    toolset = files_toolset(root)
    await refused(toolset.get("list_dir"), path="..")
    await refused(toolset.get("glob"), pattern="../*")
    await refused(toolset.get("glob"), pattern="*", path="..")
    await refused(toolset.get("grep"), pattern="SECRET", path="..")


@pytest.mark.asyncio
async def test_glob_and_grep_skip_symlinks_leading_out(root: Path, ok: Call) -> None:
    (root / "escape").symlink_to(root.parent)
    toolset = files_toolset(root)
    assert "secret" not in await ok(toolset.get("glob"), pattern="**/*")
    assert "secret" not in await ok(toolset.get("glob"), pattern="escape/*")
    assert await ok(toolset.get("grep"), pattern="SECRET") == "no matches"


def test_root_must_exist(tmp_path: Path) -> None:

    with pytest.raises(UsageError, match="not an existing directory"):
        files_toolset(tmp_path / "missing")


def test_read_only_toolset_has_no_write_tools(root: Path) -> None:
    assert set(files_toolset(root, writable=False).names) == {
        "read_file",
        "list_dir",
        "glob",
        "grep",
    }
    assert {"write_file", "edit_file"} <= set(files_toolset(root).names)


# -- reading ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_read_numbers_lines_and_honours_ranges(root: Path, ok: Call, refused: Call) -> None:
    read = files_toolset(root).get("read_file")
    assert (
        await ok(read, path="notes.txt")
        == "     1\talpha\n     2\tbeta\n     3\tgamma\n     4\tdelta"
    )
    assert (
        await ok(read, path="notes.txt", start_line=2, end_line=3) == "     2\tbeta\n     3\tgamma"
    )
    assert "past the end" in await refused(read, path="notes.txt", start_line=9)
    await refused(read, path="notes.txt", start_line=0)
    await refused(read, path="notes.txt", start_line=3, end_line=2)


@pytest.mark.asyncio
async def test_read_caps_output_and_says_where_to_continue(root: Path, ok: Call) -> None:
    (root / "big.txt").write_text("".join(f"line {i}\n" for i in range(1, 10_001)))
    read = files_toolset(root, max_read_bytes=1000).get("read_file")
    text = await ok(read, path="big.txt")
    assert len(text) < 1200
    assert "output cap of 1000 bytes" in text
    last_shown = int(text.splitlines()[-2].split("\t")[0])
    assert f"start_line={last_shown + 1}" in text


@pytest.mark.asyncio
async def test_read_refuses_binary_files(root: Path, refused: Call) -> None:
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    message = await refused(files_toolset(root).get("read_file"), path="image.png")
    assert "binary file" in message
    assert "PNG" not in message


@pytest.mark.asyncio
async def test_read_missing_file_and_directory(root: Path, refused: Call) -> None:
    read = files_toolset(root).get("read_file")
    assert "does not exist" in await refused(read, path="nope.txt")
    assert "is a directory" in await refused(read, path="src")


@pytest.mark.asyncio
async def test_read_bad_input_is_reported_not_raised(root: Path, refused: Call) -> None:
    read = files_toolset(root).get("read_file")
    await refused(read, path="notes.txt", start_line="two")
    await refused(read)


# -- writing and editing ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_write_creates_parents_and_caps_size(root: Path, ok: Call, refused: Call) -> None:
    write = files_toolset(root, max_write_bytes=100).get("write_file")
    assert await ok(write, path="a/b/c.txt", content="hello") == "wrote 5 bytes to a/b/c.txt"
    assert (root / "a/b/c.txt").read_text() == "hello"
    assert "over the 100-byte limit" in await refused(write, path="big.txt", content="x" * 101)
    assert not (root / "big.txt").exists()
    assert "is a directory" in await refused(write, path="src", content="x")


@pytest.mark.asyncio
async def test_edit_replaces_exactly_one_occurrence(root: Path, ok: Call) -> None:
    edit = files_toolset(root).get("edit_file")
    await ok(edit, path="src/app.py", old="return 1", new="return 2")
    assert (root / "src/app.py").read_text() == "def main():\n    return 2\n"


@pytest.mark.asyncio
async def test_edit_refuses_missing_or_ambiguous_text(root: Path, ok: Call, refused: Call) -> None:
    (root / "dup.txt").write_text("x = 1\nx = 1\n")
    edit = files_toolset(root).get("edit_file")
    assert "not found" in await refused(edit, path="dup.txt", old="y = 1", new="y = 2")
    assert "occurs 2 times" in await refused(edit, path="dup.txt", old="x = 1", new="x = 2")
    assert (root / "dup.txt").read_text() == "x = 1\nx = 1\n"
    assert "2 occurrences" in await ok(
        edit, path="dup.txt", old="x = 1", new="x = 2", replace_all=True
    )
    assert (root / "dup.txt").read_text() == "x = 2\nx = 2\n"


@pytest.mark.asyncio
async def test_edit_refuses_binary_files(root: Path, refused: Call) -> None:
    (root / "blob.bin").write_bytes(b"abc\x00def")
    edit = files_toolset(root).get("edit_file")
    assert "binary file" in await refused(edit, path="blob.bin", old="abc", new="xyz")
    assert (root / "blob.bin").read_bytes() == b"abc\x00def"


# -- listing and searching -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_list_dir_marks_kinds_and_caps_entries(root: Path, ok: Call) -> None:
    (root / "alias").symlink_to(root / "notes.txt")
    listing = await ok(files_toolset(root).get("list_dir"))
    assert listing.splitlines() == ["alias@", "notes.txt  (23 bytes)", "src/"]
    for i in range(5):
        (root / f"f{i}").write_text("")
    capped = await ok(files_toolset(root, max_results=3).get("list_dir"))
    assert capped.splitlines()[-1] == "[5 more entries not shown]"


@pytest.mark.asyncio
async def test_glob_returns_root_relative_paths(root: Path, ok: Call) -> None:
    glob = files_toolset(root).get("glob")
    assert await ok(glob, pattern="**/*.py") == "src/app.py"
    assert await ok(glob, pattern="*.py", path="src") == "src/app.py"
    assert await ok(glob, pattern="*.rs") == "no matches"


@pytest.mark.asyncio
async def test_grep_finds_lines_with_numbers_and_filters(
    root: Path, ok: Call, refused: Call
) -> None:
    (root / "blob.bin").write_bytes(b"gamma\x00")
    grep = files_toolset(root).get("grep")
    assert await ok(grep, pattern="^gam") == "notes.txt:3: gamma"
    assert await ok(grep, pattern="GAMMA", ignore_case=True) == "notes.txt:3: gamma"
    assert await ok(grep, pattern="return", include="*.py") == "src/app.py:2:     return 1"
    assert await ok(grep, pattern="gamma", include="*.py") == "no matches"
    assert "invalid regular expression" in await refused(grep, pattern="(")


@pytest.mark.asyncio
async def test_grep_caps_matches(root: Path, ok: Call) -> None:
    (root / "many.txt").write_text("hit\n" * 50)
    text = await ok(files_toolset(root, max_results=10).get("grep"), pattern="hit")
    lines = text.splitlines()
    assert len(lines) == 11
    assert "stopped at 10 matches" in lines[-1]


def test_writes_never_follow_a_final_symlink(root: Path) -> None:
    # Guards the window between the path check and the open: a symlink swapped in is refused.
    from agentkit_tools.files import FileSandbox

    (root / "victim").symlink_to(root.parent / "secret.txt")
    with pytest.raises(ToolError, match="cannot write"):
        FileSandbox(root)._write_bytes(root / "victim", b"pwned")
    assert (root.parent / "secret.txt").read_text() == "TOP SECRET\n"


@pytest.mark.asyncio
async def test_gigantic_lines_are_cut_without_losing_line_numbers(root: Path, ok: Call) -> None:
    (root / "min.js").write_text("x" * 1_000_000 + "\nsecond\n")
    toolset = files_toolset(root)
    text = await ok(toolset.get("read_file"), path="min.js")
    first, second = text.splitlines()
    assert first == "     1\t" + "x" * 2000 + " [line truncated]"
    assert second == "     2\tsecond"
    assert await ok(toolset.get("grep"), pattern="sec") == "min.js:2: second"


@pytest.mark.asyncio
async def test_tilde_is_an_ordinary_name_inside_the_root(root: Path, ok: Call) -> None:
    await ok(files_toolset(root).get("write_file"), path="~/note.txt", content="hi")
    assert (root / "~" / "note.txt").read_text() == "hi"


@pytest.mark.asyncio
async def test_fifos_are_refused_without_hanging(root: Path, ok: Call, refused: Call) -> None:
    os.mkfifo(root / "pipe")
    toolset = files_toolset(root)
    assert "not a regular file" in await refused(toolset.get("read_file"), path="pipe")
    assert "not a regular file" in await refused(
        toolset.get("edit_file"), path="pipe", old="a", new="b"
    )
    assert "cannot write" in await refused(toolset.get("write_file"), path="pipe", content="x")
    assert await ok(toolset.get("grep"), pattern="alpha") == "notes.txt:1: alpha"


def _run_in_child(root: Path, tool: str, options: str, arguments: dict[str, object]) -> str:
    """Call a files tool in a child process, with a coroutine ticking beside it; print whether
    it was an error, how many ticks ran meanwhile, and the content."""
    return run_isolated(
        f"""
        import asyncio
        from agentkit import RunContext
        from agentkit_tools.files import files_toolset
        tool = files_toolset({str(root)!r}, {options}).get({tool!r})
        ctx = RunContext(deps=None, tool_use_id="t", tool_name={tool!r})
        ticks = 0

        async def ticker():
            global ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        async def main():
            task = asyncio.create_task(ticker())
            result = await tool.run({arguments!r}, ctx)
            task.cancel()
            print(bool(result.get("is_error")), ticks, result["content"])

        asyncio.run(main())
        """
    )


@pytest.mark.parametrize(
    ("pattern", "text"), [("^(a+)+$", "a" * 40 + "!"), ("^(.+)+\\x00", "b" * 40)]
)
def test_a_backtracking_regex_cannot_freeze_the_process(
    root: Path, pattern: str, text: str
) -> None:
    # Was: `re` ran in a worker thread holding the GIL, so nothing else ran and no timeout
    # could fire, for hours. Now the search runs in a process killed at its timeout.
    (root / "victim.txt").write_text(text + "\n")
    out = _run_in_child(root, "grep", "search_timeout=1", {"pattern": pattern})
    is_error, ticks, content = out.split(" ", 2)
    assert is_error == "True", out
    assert int(ticks) > 0  # the event loop kept running meanwhile
    assert content.startswith("the grep took longer than 1 s and was stopped")


def _tree(root: Path, depth: int, width: int) -> None:
    if depth:
        for index in range(width):
            child = root / f"d{index}"
            child.mkdir()
            _tree(child, depth - 1, width)
    else:
        (root / "x").write_text("leaf\n")


def test_many_double_stars_are_one(root: Path) -> None:
    # Was: pathlib walked the tree once per "**" combination, minutes of CPU in a thread that
    # outlived the call's timeout.
    (root / "t").mkdir()
    _tree(root / "t", 6, 3)
    out = _run_in_child(
        root, "glob", "search_timeout=30, max_results=1000", {"pattern": "**/**/**/**/**/**/x"}
    )
    is_error, _, content = out.split(" ", 2)
    assert is_error == "False", out
    assert len(content.splitlines()) == 3**6
    assert "t/d2/d2/d2/d2/d2/d2/x" in content.splitlines()


def _searches_running(root: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "_search.py" in cmdline and str(root) in cmdline:
            found.append(proc.name)
    return found


@pytest.mark.asyncio
async def test_a_search_that_times_out_leaves_no_work_behind(root: Path, refused: Call) -> None:
    # Names that make `*a*a*a...b` backtrack for ages: the process is killed, not abandoned.
    for index in range(3):
        (root / (f"{index}" + "a" * 200)).write_text("")
    glob = files_toolset(root, search_timeout=1).get("glob")
    message = await refused(glob, pattern="*a" * 12 + "b")
    assert message.startswith("the glob took longer than 1 s and was stopped")
    assert _searches_running(root) == []


@pytest.mark.asyncio
async def test_read_stops_after_max_scan_bytes_on_an_endless_line(
    root: Path, ok: Call, refused: Call
) -> None:
    (root / "one-line.txt").write_bytes(b"x" * 3_000_000)
    (root / "two-lines.txt").write_bytes(b"first\n" + b"x" * 3_000_000)
    toolset = files_toolset(root, max_scan_bytes=1_000_000)
    message = await refused(toolset.get("read_file"), path="one-line.txt")
    assert message.startswith("[stopped after reading 1000000 bytes of 'one-line.txt'")
    text = await ok(toolset.get("read_file"), path="two-lines.txt")
    assert text.splitlines()[0] == "     1\tfirst"
    assert "stopped after reading 1000000 bytes" in text.splitlines()[-1]
    grep = await ok(toolset.get("grep"), pattern="zzz")
    assert "stopped after reading 1000000 bytes" in grep


def test_a_fifo_swapped_in_is_skipped_not_waited_on(root: Path) -> None:
    # The search opens first (non-blocking, no symlinks) and checks what it opened, so a file
    # replaced by a FIFO between listing and opening cannot block it.
    from agentkit_tools._search import _open_file

    os.mkfifo(root / "swapped")
    request = {"max_file_bytes": 1000, "hard_links": False}
    fd = os.open(root, os.O_RDONLY)
    try:
        assert _open_file("swapped", fd, request) is None
        handle = _open_file("notes.txt", fd, request)
        assert handle is not None
        handle.close()
    finally:
        os.close(fd)


@pytest.mark.asyncio
async def test_hard_links_to_outside_files_are_refused(
    root: Path, ok: Call, refused: Call
) -> None:
    os.link(root.parent / "secret.txt", root / "linked.txt")
    toolset = files_toolset(root)
    assert "hard links" in await refused(toolset.get("read_file"), path="linked.txt")
    assert "hard links" in await refused(
        toolset.get("edit_file"), path="linked.txt", old="TOP", new="OWNED"
    )
    assert await ok(toolset.get("grep"), pattern="SECRET") == "no matches"
    # Writing replaces the name inside the root; the file outside keeps its content.
    await ok(toolset.get("write_file"), path="linked.txt", content="new")
    assert (root / "linked.txt").read_text() == "new"
    assert (root.parent / "secret.txt").read_text() == "TOP SECRET\n"
    os.link(root.parent / "secret.txt", root / "allowed.txt")
    allowed = files_toolset(root, allow_hard_links=True)
    assert "TOP SECRET" in await ok(allowed.get("read_file"), path="allowed.txt")


@pytest.mark.asyncio
async def test_a_directory_swapped_for_a_symlink_after_the_check_is_refused(
    root: Path, refused: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race: the path is checked, then a directory on it is replaced by a symlink leading
    # out. Opening component by component with O_NOFOLLOW finds the symlink.
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "app.py").write_text("OUTSIDE SECRET\n")
    real_resolve = Root.resolve

    def resolve_then_swap(self: Root, user_path: str) -> Path:
        resolved = real_resolve(self, user_path)
        if (root / "src").is_dir() and not (root / "src").is_symlink():
            (root / "src").rename(root / "src-moved")
            (root / "src").symlink_to(outside)
        return resolved

    monkeypatch.setattr(Root, "resolve", resolve_then_swap)
    message = await refused(files_toolset(root).get("read_file"), path="src/app.py")
    assert "a symlink appeared" in message
    assert "OUTSIDE SECRET" not in message
