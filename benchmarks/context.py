"""The context policies on a long run: an 80-turn run with 4 KB tool results against the
strict fake with a 50,000-token window.

Why: without a policy such a run fails with "prompt is too long"; each policy must finish
it, and the figures show what each costs. Per policy: whether it finished, the largest
request sent (tokens, the fake's measure: about four bytes of JSON a token; server edits
shrink what the model sees, not what is sent), the largest prompt billed for one turn (after
server edits; a server compaction turn bills the summarizer's input too), the input tokens
billed in all (`usage.iterations` summed), the model calls (summaries included), the
`count_tokens` calls, and CPU per turn. A script, not a test:

    .venv/bin/python benchmarks/context.py

In-process (`ScriptedTransport`), so CPU is the client's plus the fake's, the same for every
policy. ServerCompaction's trigger is the API's smallest (50,000 tokens) and the fake
compacts before it checks its window (see `agentkit/testing/_context.py`).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from research import research_agent, researcher  # noqa: E402

from agentkit import Limits, RunError  # noqa: E402
from agentkit.context import (  # noqa: E402
    Auto,
    Compaction,
    ServerCompaction,
    ServerEditing,
    Trim,
)
from agentkit.testing import ScriptedTransport  # noqa: E402

TURNS, WINDOW, PAGE = 80, 50_000, 4096

POLICIES: dict[str, Any] = {
    "none": None,
    "Trim(30k)": Trim(trigger_tokens=30_000),
    "Compaction(30k)": Compaction(trigger_tokens=30_000),
    "ServerEditing(30k)": ServerEditing(trigger_tokens=30_000),
    "ServerCompaction(50k), opus-4-6": ServerCompaction(trigger_tokens=50_000),
    "Auto(30k), opus-4-6": Auto(trigger_tokens=30_000),
    "Auto(50k), opus-4-6": Auto(trigger_tokens=50_000),
}


def measure(name: str, policy: Any) -> dict[str, Any]:
    transport = ScriptedTransport(researcher(TURNS), context_window=WINDOW)
    model = "claude-opus-4-6" if "opus" in name else "claude-sonnet-4-5"
    agent = research_agent(
        transport, model=model, page_chars=PAGE, context=policy, limits=Limits(max_turns=200)
    )
    start, why = time.process_time(), ""
    try:
        result = agent.run_sync("Research the answer.")
        usage, finished, turns = result.usage, True, result.state.turns
    except RunError as exc:
        usage, finished, turns = exc.usage, False, getattr(exc.result, "state", None)
        why = "prompt is too long" if "prompt is too long" in str(exc) else str(exc)[:40]
        turns = turns.turns if turns is not None else 0
    cpu = time.process_time() - start
    sizes = [t.total_input_tokens for t in usage.turns] if usage is not None else [0]
    calls = [r for r in transport.requests if r.path.endswith("/v1/messages")]
    sent = max(len(json.dumps(r.body)) // 4 for r in calls)
    return {
        "policy": name,
        "finished": "yes" if finished else f"no ({why})",
        "peak": max(sizes, default=0),
        "sent": sent,
        "billed": usage.total_input_tokens if usage is not None else 0,
        "calls": len(calls),
        "counts": sum(1 for r in transport.requests if r.path.endswith("/count_tokens")),
        "cpu_ms": 1000 * cpu / max(turns, 1),
    }


def main() -> None:
    rows = [measure(name, policy) for name, policy in POLICIES.items()]
    print(f"{TURNS} turns, {PAGE} B tool results, fake window {WINDOW:,} tokens\n")
    head = f"{'policy':<24}{'finished':<26}{'peak sent':>10}{'peak turn':>10}{'input billed':>14}"
    print(head + f"{'calls':>7}{'counts':>8}{'CPU/turn ms':>13}")
    for r in rows:
        print(
            f"{r['policy']:<24}{r['finished']:<26}{r['sent']:>10,}{r['peak']:>10,}{r['billed']:>14,}"
            f"{r['calls']:>7}{r['counts']:>8}{r['cpu_ms']:>13.2f}"
        )


if __name__ == "__main__":
    main()
