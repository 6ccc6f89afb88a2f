"""A Python tool: runs code in a separate interpreter with a timeout and a memory limit.

Owns `python_toolset`. Rules: every call gets a fresh scratch directory (deleted afterwards) as
its working directory; the child is `sys.executable -I` (isolated: no user site, no `PYTHON*`
variables) with a minimal environment holding no credentials, no stdin, an address-space limit
(`RLIMIT_AS`, set by a tiny bootstrap before the code runs), a timeout that kills everything it
started and an output cap; it cannot read the agent's environment or memory (see `_process`).
This separates the code from the agent's process; it is not a security sandbox (the code can
still read what the user can), which is why the tool needs approval by default.
"""

from __future__ import annotations

import os
import sys
import tempfile

from agentkit import ToolError, Toolset, UsageError, tool

from ._process import run_process

__all__ = ["python_toolset"]

# Runs in the child: cap the address space, then run the script as __main__.
_BOOTSTRAP = """\
import resource, runpy, sys
limit = int(sys.argv[1])
if limit > 0:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError) as exc:
        sys.exit(f"cannot set the memory limit: {exc}")
script = sys.argv[2]
sys.argv = [script]
sys.path.insert(0, ".")
runpy.run_path(script, run_name="__main__")
"""


def _child_env(scratch: str) -> dict[str, str]:
    """A minimal environment: enough to run Python, nothing that could hold a credential."""
    env = {"PATH": os.defpath, "HOME": scratch, "TMPDIR": scratch, "PYTHONIOENCODING": "utf-8"}
    for name in ("LANG", "LC_ALL", "TZ"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def python_toolset(
    *,
    timeout: float = 30.0,
    memory_mb: int = 512,
    max_output: int = 20_000,
    requires_approval: bool = True,
) -> Toolset:
    """A `run_python` tool running code in a fresh interpreter process.

    Args:
        timeout: Seconds before the process (and anything it started) is killed.
        memory_mb: Address-space limit of the child in MiB (0 for none; enforced on Linux).
        max_output: Bytes of combined stdout/stderr kept; the rest is discarded.
        requires_approval: Ask the user before each run (the default).

    Raises:
        UsageError: a limit is not positive.
    """
    if timeout <= 0 or memory_mb < 0 or max_output <= 0:
        raise UsageError("python_toolset needs timeout > 0, memory_mb >= 0 and max_output > 0")
    limit_bytes = memory_mb * 1024 * 1024

    async def run_python(code: str) -> str:
        """Run a Python program in a fresh interpreter and return its exit code and output.{limits}

        The program starts in an empty scratch directory that is deleted afterwards, with only
        the standard library available. Print what you want to see: only stdout and stderr
        come back.

        Args:
            code: The complete program, e.g. "import math\\nprint(math.factorial(20))".
        """
        with tempfile.TemporaryDirectory(
            prefix="agentkit-python-", ignore_cleanup_errors=True
        ) as scratch:
            script = os.path.join(scratch, "main.py")
            with open(script, "w", encoding="utf-8") as handle:
                handle.write(code)
            result = await run_process(
                [sys.executable, "-I", "-c", _BOOTSTRAP, str(limit_bytes), "main.py"],
                cwd=scratch,
                env=_child_env(scratch),
                timeout=timeout,
                max_output=max_output,
            )
        if result.timed_out:
            raise ToolError(
                f"the program timed out after {timeout:g} s and was killed; output so far:\n"
                f"{result.output}"
            )
        note = "\n[output truncated at the cap]" if result.truncated else ""
        return f"[exit code {result.returncode}]\n{result.output}{note}"

    memory = f"{memory_mb} MiB of memory" if memory_mb else "no memory limit"
    limits = f" Limits: {timeout:g} s of wall time, {memory}, {max_output} bytes of output."
    run_python.__doc__ = (run_python.__doc__ or "").replace("{limits}", limits)
    return Toolset([tool(requires_approval=requires_approval)(run_python)])
