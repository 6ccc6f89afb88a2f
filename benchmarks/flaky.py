"""The whole suite, many times in a row, each in a new random order, with the cores kept busy.

Why: issue 15 found tests that failed under CPU load (a sleep waiting for a worker thread, read
timeouts racing a starved event loop). This is the check that none is left: it starts
`--busy` processes that spin (one per core by default), runs the suite `--runs` times
(pytest-randomly gives each run a new order and prints its seed), stops the spinners, and
prints a tally. Run it as:

    .venv/bin/python benchmarks/flaky.py [--runs 20] [--busy 2] [-- extra pytest args]

A failing run is reported with its seed; replay it with
`.venv/bin/pytest --randomly-seed=SEED`. Exit status 1 if any run failed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = re.compile(r"--randomly-seed=(\d+)")
SUMMARY = re.compile(r"^=* ?(\d+ (?:passed|failed|errors?|skipped).*) in [\d.]+s", re.MULTILINE)
FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.MULTILINE)


def spin() -> subprocess.Popen[bytes]:
    """A process that keeps one core busy until it is killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run_suite(extra: list[str]) -> tuple[int, str, str, list[str], float]:
    """One run of the suite: exit status, seed, summary, failed test ids, seconds."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfE", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    out = (done.stdout or "") + (done.stderr or "")
    seed = SEED.search(out)
    summary = SUMMARY.findall(out) or (out.strip().splitlines() or ["no output"])[-1:]
    failed = sorted(set(FAILED.findall(out)))
    return done.returncode, seed.group(1) if seed else "?", summary[-1], failed, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The suite, many times, with the cores busy.")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="spinners")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    spinners = [spin() for _ in range(args.busy)]
    failures: list[str] = []
    passed = 0
    try:
        print(f"{args.runs} runs of the suite, {args.busy} busy processes", flush=True)
        for n in range(1, args.runs + 1):
            status, seed, summary, failed, seconds = run_suite(args.pytest_args)
            ok = status == 0
            passed += ok
            print(f"run {n:2}: seed {seed:>10}  {seconds:5.1f} s  {summary}", flush=True)
            for test in failed:
                failures.append(f"seed {seed}: {test}")
                print(f"         FAILED {test}", flush=True)
    finally:
        for process in spinners:
            process.kill()
            process.wait()
    print(f"tally: {passed} of {args.runs} runs green")
    for line in failures:
        print(f"  {line}")
    print(f"{passed} passed, {args.runs - passed} failed")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    raise SystemExit(main())
