"""Runnable recipes: the five workflow patterns and four autonomous agents, offline by default.

Each module is one recipe, a short documented workflow worth copying, that defines `RECIPE`
and runs with `agentkit run <name>` (or `python -m agentkit_recipes.<module>`):

- `prompt-chaining`: a report goes through four steps, a plain-Python gate after the first;
- `routing`: a support ticket is classified, then answered by the right specialist;
- `parallelization`: code reviewed in parallel sections, and a safe-to-merge vote;
- `orchestrator-workers`: an orchestrator plans the subtasks, workers draft them in parallel;
- `evaluator-optimizer`: code is rewritten until an evaluator passes it;
- `codebase-qa`: answers questions about a source tree with the files tools;
- `data-analyst`: answers questions about a SQLite database with SQL and Python;
- `web-researcher`: answers a question from web pages fetched with the http tool;
- `long-research`: reads 60+ files in a row inside a small context window, compacting.

Offline (no key, the default) the real tools run and a scripted model, in each module's
"offline" section, plays Claude on agentkit's loopback fake server; with `ANTHROPIC_API_KEY`
set (or `--online`) the same code talks to the real API. Only agentkit's public API is used.
"""

from __future__ import annotations

__all__ = ["MODULES"]

MODULES = (
    "prompt_chaining",
    "routing",
    "parallelization",
    "orchestrator_workers",
    "evaluator_optimizer",
    "codebase_qa",
    "data_analyst",
    "web_researcher",
    "long_research",
)
"""The recipe modules, in the order they are best read (`agentkit.workflows.recipes()` finds
them by name)."""

