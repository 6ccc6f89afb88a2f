"""`@tool` and `Tool`: definition, binding, and every kind of result `Tool.run` produces."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio
import pytest
from pydantic import BaseModel, Field

from agentkit._errors import ToolError, UsageError
from agentkit._tools.content import DEFAULT_MAX_RESULT_CHARS, to_content, truncate
from agentkit._tools.context import RunContext
from agentkit._tools.tool import Tool, tool

CTX: RunContext[Any] = RunContext(deps=None, tool_use_id="toolu_01")


def ok(content: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": "toolu_01", "content": content}


def err(content: Any) -> dict[str, Any]:
    return {**ok(content), "is_error": True}


@tool
def add(a: int, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


# -- definition -----------------------------------------------------------------------------------


def test_bare_decorator_builds_the_wire_definition() -> None:
    assert isinstance(add, Tool)
    assert add.to_param() == {
        "name": "add",
        "description": "Add two numbers.",
        "input_schema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 2}},
            "required": ["a"],
            "additionalProperties": False,
        },
    }
    assert (add.sequential, add.timeout, add.requires_approval) == (False, None, False)


def test_options_are_kept_and_strict_and_cache_control_sent_only_when_set() -> None:
    @tool(name="search-docs", description="Search the docs.", timeout=5, sequential=True,
          requires_approval=True, strict=True, cache_control={"type": "ephemeral"})
    def search(query: str) -> str:
        return query

    assert (search.name, search.timeout, search.sequential, search.requires_approval) == (
        "search-docs", 5, True, True)
    param = search.to_param()
    assert param["description"] == "Search the docs."
    assert param["strict"] is True and param["cache_control"] == {"type": "ephemeral"}
    assert set(add.to_param()) == {"name", "description", "input_schema"}


def test_strict_tools_get_a_strict_shaped_schema_but_full_validation() -> None:
    @tool(strict=True)
    def pick(n: Annotated[int, Field(ge=1, le=3)]) -> int:
        """Pick."""
        return n

    assert pick.input_schema["properties"]["n"] == {
        "type": "integer", "description": "{minimum: 1, maximum: 3}"}
    relaxed = pick.replace(strict=None)
    assert relaxed.input_schema["properties"]["n"] == {
        "type": "integer", "minimum": 1, "maximum": 3}
    assert "strict" not in relaxed.to_param()


@pytest.mark.asyncio
async def test_strict_tools_still_enforce_moved_constraints() -> None:
    @tool(strict=True)
    def pick(n: Annotated[int, Field(ge=1, le=3)]) -> int:
        """Pick."""
        return n

    result = await pick.run({"n": 9}, CTX)
    assert result["is_error"] is True and "less than or equal to 3" in result["content"]


def test_to_param_returns_a_fresh_dict() -> None:
    add.to_param()["cache_control"] = {"type": "ephemeral"}
    assert "cache_control" not in add.to_param()


def test_calling_a_tool_calls_the_function() -> None:
    assert add(1, b=5) == 6


def test_description_option_replaces_a_missing_docstring() -> None:
    @tool(description="Say hi.")
    def hi() -> str:
        return "hi"

    assert hi.description == "Say hi."


def test_missing_description_is_refused() -> None:
    def undocumented(x: int) -> int:
        return x

    with pytest.raises(UsageError, match=r"Tool `undocumented` .*undocumented\) has no descr"):
        tool(undocumented)


@pytest.mark.parametrize("bad", ["has space", "", "x" * 65, "dot.ted", "ünï"])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="must match"):
        tool(name=bad)(add.function)


def test_lambda_needs_a_name() -> None:
    pattern = r"The name '<lambda>' of `.*<lambda>` is not a valid tool name; pass name="
    with pytest.raises(UsageError, match=pattern):
        tool(lambda: None)


def test_variadic_parameters_are_refused_naming_the_function() -> None:
    def spread(*items: int) -> None:
        """Spread."""

    with pytest.raises(UsageError, match=r"`\*items` in `.*spread`"):
        tool(spread)


@pytest.mark.parametrize(("option", "value"), [("timeout", 0), ("timeout", -1.0),
                                               ("max_result_chars", 0)])
def test_bad_option_values_are_refused(option: str, value: Any) -> None:
    with pytest.raises(UsageError, match=option):
        tool(**{option: value})(add.function)


def test_applying_tool_twice_is_refused() -> None:
    with pytest.raises(UsageError, match="already a tool"):
        tool(add)


def test_every_option_has_its_default_on_tool_and_unknown_ones_are_refused() -> None:
    from agentkit._tools.tool import ToolOptions, _Options

    assert set(ToolOptions.__optional_keys__) == {n for n in vars(_Options) if n[0] != "_"}
    with pytest.raises(UsageError, match="cannot change colour"):
        tool(colour="red")(add.function)  # type: ignore[call-overload]


def test_replace_changes_a_copy() -> None:
    other = add.replace(description="Add, carefully.", timeout=1.0)
    assert (other.description, other.timeout) == ("Add, carefully.", 1.0)
    assert (add.description, add.timeout) == ("Add two numbers.", None)
    with pytest.raises(UsageError, match="cannot change input_schema"):
        add.replace(input_schema={})
    with pytest.raises(UsageError, match="must match"):
        add.replace(name="no spaces please")


# -- methods --------------------------------------------------------------------------------------


class Counter:
    def __init__(self, start: int) -> None:
        self.value = start

    @tool
    def bump(self, by: int = 1) -> int:
        """Increase the counter."""
        self.value += by
        return self.value

    @tool
    @classmethod
    def kind(cls, upper: bool) -> str:
        """The class name."""
        return cls.__name__.upper() if upper else cls.__name__

    @tool
    @staticmethod
    def double(x: int) -> int:
        """Double x."""
        return 2 * x


@pytest.mark.asyncio
async def test_method_binds_to_the_instance() -> None:
    counter = Counter(10)
    assert "self" not in counter.bump.input_schema["properties"]
    assert await counter.bump.run({"by": 5}, CTX) == ok("15")
    assert counter.value == 15
    assert counter.bump is counter.bump  # bound once, then cached on the instance
    assert Counter(0).bump is not counter.bump


@pytest.mark.asyncio
async def test_classmethod_and_staticmethod() -> None:
    assert Counter.kind.input_schema["properties"] == {"upper": {"type": "boolean"}}
    assert await Counter.kind.run({"upper": True}, CTX) == ok("COUNTER")
    assert Counter.double.input_schema["properties"] == {"x": {"type": "integer"}}
    assert await Counter(1).double.run({"x": 4}, CTX) == ok("8")


@pytest.mark.asyncio
async def test_tool_from_an_already_bound_method() -> None:
    class Greeter:
        def greet(self, name: str) -> str:
            """Greet someone."""
            return f"hi {name}"

    greet = tool(Greeter().greet)
    assert list(greet.input_schema["properties"]) == ["name"]
    assert await greet.run({"name": "Ada"}, CTX) == ok("hi Ada")


# -- execution: input and context ----------------------------------------------------------------


@pytest.mark.asyncio
async def test_sync_tool_runs_in_a_worker_thread() -> None:
    @tool
    def where() -> int:
        """Which thread."""
        return threading.get_ident()

    result = await where.run({}, CTX)
    assert result["content"] != str(threading.get_ident())


@pytest.mark.asyncio
async def test_async_tool() -> None:
    @tool
    async def echo(text: str) -> str:
        """Echo."""
        await anyio.sleep(0)
        return text

    assert await echo.run({"text": "x"}, CTX) == ok("x")


@pytest.mark.asyncio
async def test_invalid_input_is_reported_and_the_function_not_called() -> None:
    calls: list[int] = []

    @tool
    def record(n: int) -> None:
        """Record n."""
        calls.append(n)

    result = await record.run({"n": "many", "m": 1}, CTX)
    assert calls == []
    assert result == err(
        "Invalid input for tool `record` (2 errors); fix the fields below and call the tool "
        "again.\n"
        "- `n`: Input should be a valid integer, unable to parse string as an integer. "
        'Received: "many". Expected: {"type":"integer"}.\n'
        "- `m`: Extra inputs are not permitted. Received: 1. Expected: no such parameter "
        "(the parameters are: `n`)."
    )


@pytest.mark.asyncio
async def test_context_is_injected_and_not_in_the_schema() -> None:
    @tool
    def whoami(ctx: RunContext[dict[str, str]], greeting: str) -> str:
        """Greet the user."""
        return f"{greeting} {ctx.deps['user']} ({ctx.tool_use_id}, turn {ctx.turn})"

    assert list(whoami.input_schema["properties"]) == ["greeting"]
    ctx = RunContext(deps={"user": "ada"}, turn=3, tool_use_id="toolu_01")
    assert await whoami.run({"greeting": "hello"}, ctx) == ok("hello ada (toolu_01, turn 3)")


@pytest.mark.asyncio
async def test_positional_only_parameters() -> None:
    @tool
    def sub(a: int, b: int, /) -> int:
        """Subtract."""
        return a - b

    assert await sub.run({"a": 5, "b": 3}, CTX) == ok("2")


@pytest.mark.asyncio
async def test_run_needs_a_tool_use_id() -> None:
    with pytest.raises(UsageError, match=r"needs ctx.tool_use_id"):
        await add.run({"a": 1}, RunContext(deps=None))


# -- results --------------------------------------------------------------------------------------


class Weather(BaseModel):
    city: str
    temp: float


@dataclasses.dataclass
class Pair:
    left: int
    right: list[str]


class TextBlockModel(BaseModel):
    type: str = "text"
    text: str
    cache_control: dict[str, str] | None = None


IMAGE = {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}


@pytest.mark.parametrize(
    ("value", "content"),
    [
        ("plain text", "plain text"),
        (42, "42"),
        (2.5, "2.5"),
        (True, "true"),
        ({"a": 1, "b": [1, 2]}, '{"a":1,"b":[1,2]}'),
        ([1, "two"], '[1,"two"]'),
        ((1, 2), "[1,2]"),
        (Weather(city="Oslo", temp=3.5), '{"city":"Oslo","temp":3.5}'),
        (Pair(1, ["x"]), '{"left":1,"right":["x"]}'),
        ({"type": "text", "text": "hi"}, [{"type": "text", "text": "hi"}]),
        ([{"type": "text", "text": "see:"}, IMAGE], [{"type": "text", "text": "see:"}, IMAGE]),
        (TextBlockModel(text="hi"), [{"type": "text", "text": "hi"}]),
        ({"type": "text", "value": 1}, '{"type":"text","value":1}'),  # not a block: no `text`
        ([], "[]"),
    ],
)
def test_to_content(value: Any, content: Any) -> None:
    assert to_content(value) == content


@pytest.mark.asyncio
@pytest.mark.parametrize("value", [None, ""])
async def test_empty_results_have_no_content(value: Any) -> None:
    @tool
    def nothing() -> Any:
        """Nothing."""
        return value

    assert await nothing.run({}, CTX) == {"type": "tool_result", "tool_use_id": "toolu_01"}


@pytest.mark.asyncio
async def test_model_result_is_json_text() -> None:
    @tool
    async def forecast(city: str) -> Weather:
        """Forecast."""
        return Weather(city=city, temp=-1)

    assert await forecast.run({"city": "Oslo"}, CTX) == ok('{"city":"Oslo","temp":-1.0}')


@pytest.mark.asyncio
async def test_unserializable_result_is_reported_as_a_tool_bug() -> None:
    @tool
    def weird() -> Any:
        """Return something JSON cannot carry."""
        return object()

    result = await weird.run({}, CTX)
    assert result["is_error"] is True
    assert result["content"].startswith("Tool `weird` returned a object that cannot be sent as")
    with pytest.raises(TypeError, match="cannot be sent as JSON"):
        await weird.run({}, CTX, raise_errors=True)


@pytest.mark.asyncio
@pytest.mark.parametrize("value", [b"\xff\xfe raw", {"data": b"\x89PNG"}], ids=["bytes", "nested"])
async def test_bytes_that_are_not_utf8_are_reported_as_a_tool_bug_not_a_failed_run(
    value: Any,
) -> None:
    # The lone-surrogate fallback of the JSON encoder turned these into a UnicodeDecodeError,
    # which no tool result catches: the run failed (RunError) instead of the model being told.
    @tool
    def raw() -> Any:
        """Return bytes."""
        return value

    result = await raw.run({}, CTX)
    assert result["is_error"] is True
    assert result["content"].startswith(
        f"Tool `raw` returned a {type(value).__name__} that cannot be sent as JSON"
    )
    with pytest.raises(TypeError, match="cannot be sent as JSON"):
        await raw.run({}, CTX, raise_errors=True)


@pytest.mark.asyncio
async def test_a_result_holding_itself_is_reported_as_a_tool_bug_not_a_failed_run() -> None:
    # The encoder's fallback raised a bare ValueError ("Circular reference detected"), which no
    # tool result catches: the run failed naming neither the tool nor what to return.
    @tool
    def loop() -> Any:
        """Return a dict that holds itself."""
        cycle: dict[str, Any] = {}
        cycle["self"] = cycle
        return cycle

    result = await loop.run({}, CTX)
    assert result["is_error"] is True
    assert result["content"].startswith("Tool `loop` returned a dict that cannot be sent as JSON")
    with pytest.raises(TypeError, match="cannot be sent as JSON"):
        await loop.run({}, CTX, raise_errors=True)


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_tool_returning_an_iterator_is_told_to_return_a_list_and_it_is_never_read(
    kind: str,
) -> None:
    # A returned generator was read to its end by the JSON encoder, on the event loop and past
    # the tool's timeout: one that never ended froze the process while it filled the memory.
    read: list[int] = []

    def numbers() -> Iterator[int]:
        read.append(1)
        yield 1

    async def anumbers() -> AsyncIterator[int]:
        read.append(1)
        yield 1

    @tool(timeout=5)
    def lazy() -> Any:
        """Return numbers lazily."""
        return numbers() if kind == "sync" else anumbers()

    result = await lazy.run({}, CTX)
    assert result["is_error"] is True
    assert result["content"].startswith("Tool `lazy` returned a ")
    assert (
        "that cannot be sent as JSON (an iterator is read item by item and may never end: "
        "return a list, e.g. list(...))"
    ) in result["content"]
    assert read == []
    with pytest.raises(TypeError, match="may never end: return a list"):
        await lazy.run({}, CTX, raise_errors=True)


@pytest.mark.asyncio
@pytest.mark.parametrize("content", ["no such city; try Oslo", [{"type": "text", "text": "no"}]])
async def test_tool_error_becomes_an_error_result(content: Any) -> None:
    @tool
    def fail() -> None:
        """Fail on purpose."""
        raise ToolError(content)

    assert await fail.run({}, CTX) == err(content)


class _Unreadable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("its message cannot be read")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("content", "sent"),
    [
        ({"error": "not found", "id": 3}, '{"error":"not found","id":3}'),
        ([{"type": "text", "text": "a"}, {"weird": 1}], '[{"type":"text","text":"a"},{"weird":1}]'),
        ((1, 2), "[1,2]"),
    ],
    ids=["dict", "list-not-all-blocks", "tuple"],
)
async def test_tool_error_with_other_content_is_sent_as_a_returned_value_is(
    content: Any, sent: str
) -> None:
    # A dict given to ToolError failed the whole run (AttributeError in truncation); a list
    # that is not all content blocks went to the API as blocks, which refuses it: every
    # request after it failed, and a durable run could never be continued.
    @tool
    def fail() -> None:
        """Fail on purpose."""
        raise ToolError(content)

    assert await fail.run({}, CTX) == err(sent)


@pytest.mark.asyncio
async def test_tool_error_or_exception_that_cannot_be_written_is_still_an_error_result() -> None:
    @tool
    def unsendable() -> None:
        """Fail with content that is no JSON."""
        raise ToolError(object())  # type: ignore[arg-type]

    @tool
    def unreadable() -> None:
        """Fail with an exception whose message cannot be read."""
        raise _Unreadable

    result = await unsendable.run({}, CTX)
    assert result["is_error"] is True
    assert result["content"].startswith(
        "Tool `unsendable` raised ToolError with content that cannot be sent as JSON (object:"
    )
    assert "give ToolError a str or content blocks" in result["content"]
    assert await unreadable.run({}, CTX) == err("_Unreadable")


@pytest.mark.asyncio
async def test_an_image_the_api_refuses_is_an_error_result_not_one_failing_the_run() -> None:
    # "image/jpg" (or a BMP) went to the API, which refuses it: every request after it
    # failed, and a durable run, which keeps the result, could never be continued.
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/jpg",
                                         "data": "aGk="}}

    @tool
    def shot() -> list[dict[str, Any]]:
        """Take a screenshot."""
        return [{"type": "text", "text": "the page:"}, image]

    @tool
    def refuse() -> None:
        """Refuse with a picture."""
        raise ToolError([image])

    note = (
        "[left out: an image (content block 1) whose media_type 'image/jpg' the API refuses "
        "(it takes image/jpeg, image/png, image/gif, image/webp): convert it to one of those]"
    )
    result = await shot.run({}, CTX)
    assert result["is_error"] is True
    assert result["content"] == [{"type": "text", "text": "the page:"},
                                 {"type": "text", "text": note}]  # the text kept
    with pytest.raises(TypeError, match=r"Tool `shot` returned an image .* 'image/jpg' the API"):
        await shot.run({}, CTX, raise_errors=True)
    refused = await refuse.run({}, CTX)
    assert refused["is_error"] is True
    assert refused["content"] == [{"type": "text", "text": note.replace("block 1", "block 0")}]
    png = {"type": "image", "source": {**image["source"], "media_type": "image/png"}}

    @tool
    def good_shot() -> list[dict[str, Any]]:
        """Take a screenshot the API accepts."""
        return [png]

    assert await good_shot.run({}, CTX) == ok([png])


@tool
async def boom(message: str = "boom") -> None:
    """Raise."""
    raise ValueError(message)


@pytest.mark.asyncio
async def test_other_exceptions_become_error_results_and_the_run_goes_on() -> None:
    assert await boom.run({}, CTX) == err("ValueError: boom")
    assert await boom.run({"message": ""}, CTX) == err("ValueError")


@pytest.mark.asyncio
async def test_raise_errors_from_the_run_or_the_tool() -> None:
    with pytest.raises(ValueError, match="boom"):
        await boom.run({}, CTX, raise_errors=True)
    strict = boom.replace(raise_errors=True)
    with pytest.raises(ValueError, match="boom"):
        await strict.run({}, CTX)
    lenient = boom.replace(raise_errors=False)  # the tool's own setting wins over the run's
    assert await lenient.run({}, CTX, raise_errors=True) == err("ValueError: boom")


@pytest.mark.asyncio
async def test_tool_error_is_a_result_even_with_raise_errors() -> None:
    @tool(raise_errors=True)
    def refuse() -> None:
        """Refuse."""
        raise ToolError("not allowed")

    assert await refuse.run({}, CTX) == err("not allowed")


# -- truncation -----------------------------------------------------------------------------------


def test_truncate_string_says_how_much_was_cut() -> None:
    assert truncate("abcdef", 6) == "abcdef"
    assert truncate("a" * 1500, 1000) == "a" * 1000 + (
        "\n\n[truncated: 500 of 1,500 characters cut; the result limit is 1,000 characters]"
    )


def test_truncate_blocks_cuts_text_and_keeps_images() -> None:
    blocks = [{"type": "text", "text": "abcd"}, IMAGE, {"type": "text", "text": "efgh"},
              {"type": "text", "text": "ijkl"}]
    assert truncate(blocks, 6) == [
        {"type": "text", "text": "abcd"},
        IMAGE,
        {"type": "text", "text": "ef"},
        {"type": "text", "text": "[truncated: 6 of 12 characters cut; the result limit is 6 "
                                 "characters]"},
    ]
    assert blocks[2] == {"type": "text", "text": "efgh"}  # the input is not mutated


@pytest.mark.asyncio
async def test_result_limit_per_tool_and_per_run() -> None:
    @tool
    def big() -> str:
        """Big."""
        return "x" * (DEFAULT_MAX_RESULT_CHARS + 10)

    assert "[truncated: 10 of" in (await big.run({}, CTX))["content"]
    assert (await big.run({}, CTX, max_result_chars=5))["content"].startswith("xxxxx\n\n[trunc")
    small = big.replace(max_result_chars=3)
    assert (await small.run({}, CTX, max_result_chars=5))["content"].startswith("xxx\n\n[trunc")


# -- timeouts and cancellation --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_timeout_really_stops_the_tool() -> None:
    seen: list[str] = []

    @tool(timeout=0.05)
    async def hang() -> str:
        """Hang."""
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            seen.append("cancelled")
            raise
        return "unreachable"

    result = await hang.run({}, CTX)
    # Not marked idempotent, it may have had its effect: told only to try again, the model
    # would repeat it (a charge whose service answered slowly, charged twice).
    assert result == err("Tool `hang` timed out after 0.05 s and was stopped. It may or may not "
                         "have taken effect (it is not marked idempotent): check its effect "
                         "before calling it again. Try a smaller request or a different "
                         "approach.")
    assert seen == ["cancelled"]
    # An idempotent tool can simply be called again: no warning.
    result = await hang.replace(idempotent=True).run({}, CTX)
    assert result == err("Tool `hang` timed out after 0.05 s and was stopped. Try a smaller "
                         "request or a different approach.")


@pytest.mark.asyncio
async def test_sync_timeout_abandons_the_thread_and_the_run_goes_on() -> None:
    release = threading.Event()
    finished = threading.Event()

    @tool(timeout=0.05)
    def stuck() -> str:
        """Block until released."""
        release.wait(10)
        finished.set()
        return "late"

    try:
        result = await stuck.run({}, CTX)
    finally:
        release.set()
    assert result["is_error"] is True
    assert "timed out after 0.05 s and was abandoned" in result["content"]
    assert await anyio.to_thread.run_sync(finished.wait, 10)  # the thread ends; nothing leaks


@pytest.mark.asyncio
@pytest.mark.parametrize("timeout", [None, 30.0])
async def test_cancellation_of_the_run_is_not_turned_into_a_result(timeout: float | None) -> None:
    started = anyio.Event()
    results: list[dict[str, Any]] = []

    @tool(timeout=timeout)
    async def wait_forever() -> None:
        """Wait."""
        started.set()
        await anyio.sleep_forever()

    async def call() -> None:
        results.append(await wait_forever.run({}, CTX))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await started.wait()
        tg.cancel_scope.cancel()
    assert results == []


@pytest.mark.asyncio
async def test_a_tool_raising_cancellation_is_not_caught() -> None:
    import asyncio

    @tool
    async def rude() -> None:
        """Raise CancelledError itself."""
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await rude.run({}, CTX)


# -- schema-only tools (MCP style) ----------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}


@pytest.mark.asyncio
async def test_from_schema_validates_with_jsonschema_and_calls_the_handler() -> None:
    seen: list[dict[str, Any]] = []

    async def handler(payload: dict[str, Any]) -> str:
        seen.append(payload)
        payload["mutated"] = True
        return f"found {payload['q']}"

    search = Tool.from_schema(name="search", description="Search.", input_schema=SCHEMA,
                              handler=handler)
    assert search.to_param() == {"name": "search", "description": "Search.",
                                 "input_schema": SCHEMA}
    payload = {"q": "cats"}
    assert await search.run(payload, CTX) == ok("found cats")
    assert payload == {"q": "cats"}  # the handler got a copy, so the transcript is untouched
    bad = await search.run({"q": 3}, CTX)
    assert bad == err(
        "Invalid input for tool `search` (1 error); fix the fields below and call the tool "
        'again.\n- `q`: 3 is not of type \'string\'. Received: 3. Expected: {"type":"string"}.'
    )
    assert len(seen) == 1


@pytest.mark.asyncio
async def test_from_schema_handler_may_take_the_context() -> None:
    def handler(payload: dict[str, Any], ctx: RunContext[Any]) -> str:
        return f"{payload['q']} for {ctx.tool_use_id}"

    search = Tool.from_schema(name="search", description="Search.", input_schema=SCHEMA,
                              handler=handler)
    assert await search.run({"q": "x"}, CTX) == ok("x for toolu_01")


def test_from_schema_refuses_an_invalid_schema() -> None:
    with pytest.raises(UsageError, match=r"input_schema of tool `s` is not valid JSON Schema"):
        Tool.from_schema(name="s", description="S.", handler=print,
                         input_schema={"type": "object", "properties": {"q": {"type": 5}}})
