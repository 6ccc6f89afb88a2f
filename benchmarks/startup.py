"""How long the `agentkit` command takes to start: CPU of `--help`, `tools`, `run codebase-qa`.

Why: issue 14 asks that `agentkit --help`, `agentkit tools` and `agentkit run codebase-qa`
start in at most 0.15 s, 0.25 s and 0.45 s of CPU; a command line that makes a newcomer wait
for `--help` feels broken. It is a script, not a test (the test that guards the cause,
`tests/test_startup.py`, checks which modules each command imports, not how long it takes):

    .venv/bin/python benchmarks/startup.py [--reps 5] [--imports] [--before DIR]

Each command runs as the installed `agentkit` script does (`from agentkit.cli.main import
main`) in a fresh interpreter, offline (credentials removed from its environment), its
output discarded. CPU is user + system of the child and of the processes it waited for
(`RUSAGE_CHILDREN`: the grep of `codebase-qa` runs in a child interpreter), interpreter
start-up included, best of `--reps` (the commands take turns, so a burst of other load does
not hit only one). Bytecode is cached in a private prefix and warmed by a first round, as an
installed package has its `.pyc` files. `--imports` also prints the ten slowest imports of
each command (`-X importtime`, cumulative). `--before DIR` measures another checkout too
(e.g. `git archive BASE | tar -x -C DIR`), its packages first on `PYTHONPATH`, the two
taking turns: a before/after in the same minutes.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS: dict[str, tuple[list[str], float]] = {
    "agentkit --help": (["--help"], 0.15),
    "agentkit tools": (["tools"], 0.25),
    "agentkit run codebase-qa": (["run", "codebase-qa"], 0.45),
}
SCRIPT = "import sys; from agentkit.cli.main import main; sys.exit(main())"
"""What the installed `agentkit` script runs."""


def _env(root: Path = ROOT) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONDONTWRITEBYTECODE", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN",
                     "ANTHROPIC_BASE_URL")
    }
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "agentkit-bench-pycache")
    if root != ROOT:  # another checkout: its packages before the installed (editable) ones
        env["PYTHONPATH"] = os.pathsep.join(str(root / d) for d in (".", "tools", "recipes"))
    return env


def cpu_of(argv: list[str], env: dict[str, str], root: Path = ROOT) -> float:
    """CPU seconds (user + system) of one run of `python -c SCRIPT argv...` in `root`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv], check=True, cwd=root, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def slowest_imports(argv: list[str], env: dict[str, str], top: int = 10) -> list[str]:
    """The `top` slowest imports (cumulative microseconds) of one run, from `-X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", SCRIPT, *argv], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True,
    )
    rows: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = (part.strip() for part in line[12:].split("|"))
            rows.append((int(cumulative), name))
    rows.sort(reverse=True)
    return [f"{us / 1000:7.1f} ms  {name}" for us, name in rows[:top]]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="runs of each command (best kept)")
    parser.add_argument("--imports", action="store_true", help="show the slowest imports")
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="another checkout to measure alongside (e.g. the branch point)")
    args = parser.parse_args()
    env = _env()
    trees = {"after": (ROOT, env)}
    if args.before is not None:
        trees["before"] = (args.before.resolve(), _env(args.before.resolve()))
    best = {(name, tree): float("inf") for name in COMMANDS for tree in trees}
    for rep in range(args.reps + 1):
        for name, (argv, _) in COMMANDS.items():
            for tree, (root, tree_env) in trees.items():
                cpu = cpu_of(argv, tree_env, root)
                if rep:  # the first round only warms the bytecode cache
                    best[name, tree] = min(best[name, tree], cpu)
    bare = min(cpu_of_python(env) for _ in range(3))
    print(f"CPU of a fresh process (user + sys), best of {args.reps}; bare interpreter "
          f"{bare:.3f} s")
    compared = args.before is not None
    heading = f" {'before':>8} {'after':>8}" if compared else f" {'CPU (s)':>8}"
    print(f"  {'command':<28}{heading}  target")
    for name, (argv, target) in COMMANDS.items():
        cpu = best[name, "after"]
        verdict = "met" if cpu <= target else f"MISSED by {cpu / target:.2f}x"
        then = f" {best[name, 'before']:>8.3f}" if compared else ""
        print(f"  {name:<28}{then} {cpu:>8.3f}  <= {target} s: {verdict}")
        if args.imports:
            for line in slowest_imports(argv, env):
                print(f"      {line}")


def cpu_of_python(env: dict[str, str]) -> float:
    """CPU seconds of a bare `python -c pass`: what no command can go below."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


if __name__ == "__main__":
    main()
