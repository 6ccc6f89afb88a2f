"""What keeps the command line quick to start: which modules each command imports.

`benchmarks/startup.py` measures the CPU (issue 14: `agentkit --help`, `agentkit tools` and
`agentkit run codebase-qa` in at most 0.15, 0.25 and 0.45 s); these tests pin the structure
that makes it possible, each command in a fresh interpreter, offline: the heavy modules a
command may NOT load (a package counts with its submodules). `import agentkit` and `--help`
load no event loop, HTTP stack, pydantic, rich, run store or workflows; `tools` builds the
tool definitions without the HTTP stack, anyio, the wire models or jsonschema (loaded when a
tool is called or a hand-written schema is checked); `run` loads neither Ray nor the batch
machinery (nor httpx's own command line), and offline (`run`, `chat`) no aiohttp: the client
speaks plain HTTP to the loopback fake. The names of `agentkit` and
`agentkit.workflows` still resolve, on first use, to the same objects as before.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTTP = ["aiohttp", "httpx", "httpx_aiohttp", "anyio", "asyncio", "ssl"]
MODELS = ["pydantic", "pydantic_core", "agentkit._api.wire", "jsonschema"]
CLI = ["rich", "agentkit.cli.display", "agentkit._run", "agentkit._durable", "agentkit.workflows",
       "agentkit_tools", "agentkit_recipes", "agentkit._loop.engine", "sqlite3"]
BATCH = ["ray", "agentkit.workflows._ray", "agentkit.workflows._runners",
         "agentkit.workflows.batch", "jsonschema"]
HTTPX_CLI = ["httpx._main", "click", "pygments"]
TYPED_EVENTS = ["agentkit._api.stream_events"]
PROBED = sorted({*HTTP, *MODELS, *CLI, *BATCH, *HTTPX_CLI, *TYPED_EVENTS})


def _env() -> dict[str, str]:
    """The environment of a user without credentials: every command runs offline."""
    drop = {"ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _loaded_after(code: str) -> set[str]:
    """The PROBED modules (or packages, by any submodule) loaded after running `code` in a
    fresh interpreter (a name marked absent, None in `sys.modules`, is not loaded)."""
    report = (
        "import json, sys\n"
        "names = [m for m, module in list(sys.modules.items()) if module is not None]\n"
        f"print(json.dumps([p for p in {PROBED!r} if any(m == p or m.startswith(p + '.') "
        "for m in names)]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"], capture_output=True, text=True, cwd=ROOT,
        env=_env(), timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def _command(*argv: str) -> set[str]:
    """The PROBED modules `agentkit ARGV...` loads, run as the installed script runs it."""
    code = (
        "import contextlib, io\nfrom agentkit.cli.main import main\nquiet = io.StringIO()\n"
        "with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):\n"
        f"    code = main({list(argv)!r})\n"
        "assert code == 0, code"
    )
    return _loaded_after(code)


def test_import_agentkit_loads_no_event_loop_http_stack_models_or_cli() -> None:
    assert _loaded_after("import agentkit") == set()


def test_agentkit_help_loads_only_the_parser() -> None:
    assert _command("--help") == set()


@pytest.mark.parametrize("command", ["run", "chat", "tools", "batch", "runs", "ui", "mcp"])
def test_a_command_help_loads_only_the_parser(command: str) -> None:
    assert _command(command, "--help") == set()


def test_agentkit_tools_loads_no_http_stack_wire_models_or_jsonschema() -> None:
    loaded = _command("tools")
    assert {"pydantic", "agentkit_tools"} <= loaded  # the schemas are built: the probe sees
    assert loaded & {"aiohttp", "httpx", "httpx_aiohttp", "agentkit._api.wire", "jsonschema",
                     "anyio", "asyncio", "agentkit._durable", "agentkit.workflows",
                     "agentkit_recipes", "agentkit._run", "agentkit.cli.display"} == set()


def test_agentkit_run_loads_no_ray_no_batch_machinery_and_no_aiohttp() -> None:
    # Offline, the client talks plain HTTP to the loopback fake: neither aiohttp nor a CA
    # bundle is needed (and listing the recipes imports each, so none may import aiohttp).
    loaded = _command("run", "codebase-qa")
    assert {"httpx", "agentkit._api.wire", "agentkit.workflows", "agentkit_recipes"} <= loaded
    assert loaded & {*BATCH, "aiohttp", "httpx_aiohttp"} == set()
    # Nor httpx's own command line, which httpx imports whenever click is installed, nor the
    # typed stream events' models: a run's live display reads the decoded event dicts.
    assert loaded & {"httpx._main", "click", *TYPED_EVENTS} == set()


def test_agentkit_chat_offline_loads_no_aiohttp() -> None:
    code = (
        "import contextlib, io, sys\nfrom agentkit.cli.main import main\n"
        "sys.stdin = io.StringIO('hello\\n')\nquiet = io.StringIO()\n"
        "with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):\n"
        "    assert main(['chat']) == 0\n"
        "assert 'hello' in quiet.getvalue(), quiet.getvalue()"
    )
    loaded = _loaded_after(code)
    assert "agentkit._api.wire" in loaded
    assert loaded & {"aiohttp", "httpx_aiohttp"} == set()


@pytest.mark.parametrize(
    ("base_url", "trusted"), [("http://127.0.0.1:9", False), ("https://api.example.com", True)]
)
def test_a_client_loads_the_ca_bundle_only_for_https(base_url: str, trusted: bool) -> None:
    # Loading the CA bundle costs ~25 ms of CPU; plain HTTP (the offline fake) never uses it.
    from httpx_aiohttp import AiohttpTransport

    from agentkit import AsyncClient

    transport = AsyncClient(api_key="k", base_url=base_url)._transport
    assert isinstance(transport, AiohttpTransport)
    context = transport.ssl_context
    assert (context.cert_store_stats()["x509_ca"] > 0) is trusted
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_a_name_loads_what_it_needs_on_first_use() -> None:
    # The proof that the probe sees imports at all: using a name loads its modules.
    loaded = _loaded_after("import agentkit\nagentkit.AsyncClient")
    assert {"httpx", "pydantic", "agentkit._api.wire"} <= loaded
    loaded = _loaded_after("import agentkit.workflows as w\nw.RayEngine")
    assert {"agentkit.workflows._ray", "agentkit.workflows._runners"} <= loaded


def test_lazy_names_are_the_objects_of_their_modules_and_cached() -> None:
    import agentkit
    from agentkit._api.client import AsyncClient
    from agentkit._run.agent import Agent

    assert agentkit.Agent is Agent and agentkit.AsyncClient is AsyncClient
    assert "Agent" in vars(agentkit)  # served by __getattr__ once, then a plain attribute
    assert Agent.__module__ == "agentkit" and agentkit.Message.__module__ == "agentkit"
    assert set(agentkit.__all__) <= set(dir(agentkit))


def test_workflow_names_resolve_lazily_to_their_objects() -> None:
    import agentkit.workflows as workflows
    from agentkit.workflows._ray import RayEngine
    from agentkit.workflows._runners import RecipeRunner
    from agentkit.workflows.batch import run_batch

    assert workflows.RayEngine is RayEngine and workflows.run_batch is run_batch
    assert workflows.RecipeRunner is RecipeRunner
    assert RayEngine.__module__ == "agentkit.workflows" == RecipeRunner.__module__
    assert set(workflows.__all__) <= set(dir(workflows))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        workflows.Nope  # noqa: B018
