"""What keeps the command line quick to start: which modules each command imports.

`benchmarks/startup.py` measures the CPU (issue 14: `agentkit --help` in at most 0.15 s);
these tests pin the structure that makes it possible, in a fresh interpreter each: `import
agentkit` and `agentkit --help` load none of httpx, pydantic, aiohttp or the wire models,
and the names of `agentkit` still resolve, on first use, to the same objects as before.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["aiohttp", "httpx", "pydantic", "pydantic_core", "agentkit._api.wire", "rich"]


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules loaded after running `code` in a fresh interpreter."""
    report = f"import json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    probe = f"{code}\n{report}"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_import_agentkit_loads_no_http_stack_and_no_wire_models() -> None:
    assert _loaded_after("import agentkit") == []


def test_agentkit_help_loads_no_http_stack_no_wire_models_and_no_rich() -> None:
    code = (
        "import contextlib, io\nfrom agentkit.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    assert main(['--help']) == 0\n"
        "assert 'usage: agentkit' in out.getvalue()"
    )
    assert _loaded_after(code) == []


def test_a_name_loads_what_it_needs_on_first_use() -> None:
    # The proof that the probe sees imports at all: using a name loads its modules.
    loaded = _loaded_after("import agentkit\nagentkit.AsyncClient")
    assert {"httpx", "pydantic", "agentkit._api.wire"} <= set(loaded)


def test_lazy_names_are_the_objects_of_their_modules_and_cached() -> None:
    import agentkit
    from agentkit._api.client import AsyncClient
    from agentkit._run.agent import Agent

    assert agentkit.Agent is Agent and agentkit.AsyncClient is AsyncClient
    assert "Agent" in vars(agentkit)  # served by __getattr__ once, then a plain attribute
    assert Agent.__module__ == "agentkit" and agentkit.Message.__module__ == "agentkit"
    assert set(agentkit.__all__) <= set(dir(agentkit))
