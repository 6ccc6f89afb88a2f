"""Prompt chaining: a task cut into fixed steps, each model call working on the last one's output.

Use it when a task splits cleanly into subtasks: each call is simpler, so more accurate, at
the price of latency. Plain-Python "gates" between steps check an intermediate result and stop
the chain early when it is unusable, before paying for the next calls.

Here a performance report becomes a sorted markdown table in four calls: extract the metrics,
convert them to percentages, sort them, format the table. After the first call a gate keeps
only well-formed `value: metric` lines and stops if there are none. `agentkit.chain` passes each
step's output to the next; the gate raises `WorkflowError` to stop it.

Run it (offline unless a key is set):

    agentkit run prompt-chaining
    agentkit run prompt-chaining --input report="Churn fell to 3%. NPS is 61 points."
    python -m agentkit_recipes.prompt_chaining report="..."

Inputs:
    report: the text to turn into a table (default: a quarterly summary with eight metrics).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from agentkit import Recipe, RecipeContext, WorkflowError, chain
from agentkit.testing import FunctionModel, last_user_text

REPORT = (
    "Q3 Performance Summary: Our customer satisfaction score rose to 92 points this quarter. "
    "Revenue grew by 45% compared to last year. Market share is now at 23% in our primary "
    "market. Customer churn decreased to 5% from 8%. New user acquisition cost is $43 per user. "
    "Product adoption rate increased to 78%. Employee satisfaction is at 87 points. Operating "
    "margin improved to 34%."
)

SYSTEM = "You transform data exactly as instructed. Reply with the result only, no preamble."

EXTRACT = (
    "Extract only the numerical values and their associated metrics from the text. Format "
    "each as 'value: metric' on its own line, e.g. '92 points: customer satisfaction score'."
)
TO_PERCENT = (
    "Convert every value to a percentage where possible: a score in points becomes a "
    "percentage (92 points -> 92%); leave currency amounts as they are. Keep one "
    "'value: metric' per line."
)
SORT = "Sort the lines in descending order by numerical value. Keep the 'value: metric' format."
TABLE = "Format the lines as a markdown table with the columns | Metric | Value |."

_LINE = re.compile(r"^\s*(\$?\d+(?:\.\d+)?(?:%| points)?)\s*:\s*(.+?)\s*$")


def require_metrics(text: str) -> str:
    """Gate: keep the well-formed `value: metric` lines; stop the chain if there are none."""
    lines = [line.strip() for line in text.splitlines() if _LINE.match(line)]
    if not lines:
        raise WorkflowError(
            f"no 'value: metric' lines were extracted from the report (got {text[:200]!r}); "
            "give a report that states some figures"
        )
    return "\n".join(lines)


async def run(ctx: RecipeContext) -> str:
    """Run the four steps on the report, gated after the extraction."""
    agent = ctx.agent(system=SYSTEM, max_tokens=1024)

    def step(instruction: str) -> Callable[[str], Awaitable[str]]:
        async def call(text: str) -> str:
            result = await ctx.run(agent, f"{instruction}\n\nInput:\n{text}")
            return result.text.strip()

        return call

    table: str = await chain(
        ctx.inputs["report"],
        step(EXTRACT),
        require_metrics,
        step(TO_PERCENT),
        step(SORT),
        step(TABLE),
    )
    return table


# -- offline: a scripted model that really does each step ------------------------------------

_NUMBER = re.compile(r"(?<![\w.$])(\$?\d+(?:\.\d+)?(?:%| points)?)")
_VERB = re.compile(r"\s+(?:rose|grew|is|are|was|decreased|increased|improved|fell|reached)\b")


def _extract(text: str) -> str:
    lines = []
    for sentence in re.split(r"(?<=[.:])\s+", text):
        number = _NUMBER.search(sentence)
        if number is None:
            continue
        subject = _VERB.split(sentence, maxsplit=1)[0]
        subject = re.sub(r"^(?:our|the)\s+", "", subject.strip(), flags=re.IGNORECASE)
        lines.append(f"{number.group(1)}: {subject.lower()}")
    return "\n".join(lines)


def _value(line: str) -> float:
    match = _LINE.match(line)
    return float(re.sub(r"[^\d.]", "", match.group(1))) if match else 0.0


def _to_percent(text: str) -> str:
    return "\n".join(re.sub(r"^(\d+(?:\.\d+)?) points", r"\1%", line) for line in text.splitlines())


def _sort(text: str) -> str:
    return "\n".join(sorted(text.splitlines(), key=_value, reverse=True))


def _table(text: str) -> str:
    rows = ["| Metric | Value |", "|---|---|"]
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            value, metric = match.groups()
            rows.append(f"| {metric[:1].upper()}{metric[1:]} | {value} |")
    return "\n".join(rows)


def offline_model(inputs: dict[str, str]) -> FunctionModel:
    """Does whichever step the prompt asks for, on the input the prompt carries."""
    steps = {EXTRACT: _extract, TO_PERCENT: _to_percent, SORT: _sort, TABLE: _table}

    def play(body: dict[str, Any]) -> str:
        prompt = last_user_text(body)
        instruction, _, data = prompt.partition("\n\nInput:\n")
        return steps[instruction](data)

    return FunctionModel(play)


RECIPE = Recipe(
    name="prompt-chaining",
    description="Turn a report into a sorted markdown table of its metrics, in four gated steps.",
    run=run,
    offline_model=offline_model,
    inputs={"report": REPORT},
)

if __name__ == "__main__":
    raise SystemExit(RECIPE.main())
