"""Routing: classify the input first, then hand it to a specialist made for that kind of input.

Use it when inputs fall into distinct categories that are better served by separate prompts
(or tools, or models: easy questions to a small model, hard ones to a large one). One
general prompt tuned for every case tends to get worse at each of them.

Here a support ticket is routed to billing, technical, account or product support. The
router returns a typed `Route` (`output_type=`), so the code branches on a validated
`Literal`, never on free text; the chosen specialist then writes the reply.

Run it (offline unless a key is set):

    agentkit run routing
    agentkit run routing --input ticket="I was charged twice for my subscription this month."
    python -m agentkit_recipes.routing ticket="..."

Inputs:
    ticket: the support ticket to answer (default: a locked-out user's request).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentkit import Recipe, RecipeContext
from agentkit.testing import FunctionModel, last_user_text

from ._offline import answer_with, system_text

Team = Literal["billing", "technical", "account", "product"]

TICKET = (
    "Subject: Can't access my account\n"
    "Hi, I've been trying to log in for the past hour but keep getting an 'invalid password' "
    "error. I'm sure I'm using the right password. Can you help me regain access? This is "
    "urgent as I need to submit a report by end of day.\n- John"
)

ROUTER = (
    "You route customer support tickets. Read the ticket and choose the team that should "
    "handle it: billing (charges, invoices, refunds, plans), technical (bugs, errors, crashes, "
    "integrations), account (sign-in, passwords, access, profile and security settings) or "
    "product (how to use features, feature requests). Explain your choice in one sentence."
)

SPECIALISTS: dict[str, str] = {
    "billing": (
        "You are a billing support specialist. Acknowledge the billing issue, explain what "
        "happens next and when the customer can expect it resolved. Be precise about amounts "
        "and dates; never promise a refund you cannot see."
    ),
    "technical": (
        "You are a technical support engineer. Give clear numbered troubleshooting steps, "
        "starting with the most likely fix, and say what to send us if they do not help."
    ),
    "account": (
        "You are an account security specialist. Help the customer regain access safely: "
        "give the recovery steps, and never ask for or reveal a password."
    ),
    "product": (
        "You are a product specialist. Explain how to do what the customer wants with the "
        "product today, and note feature requests for the product team."
    ),
}


class Route(BaseModel):
    """Which team handles the ticket, and why."""

    team: Team
    reasoning: str = Field(description="One sentence on why this team.")


class TicketReply(BaseModel):
    """The routed ticket and the specialist's reply."""

    team: Team
    reasoning: str
    reply: str


async def run(ctx: RecipeContext) -> TicketReply:
    """Route the ticket, then let that team's specialist answer it."""
    ticket = ctx.inputs["ticket"]
    router = ctx.agent(system=ROUTER, output_type=Route, max_tokens=512)
    route = (await ctx.run(router, ticket)).output
    specialist = ctx.agent(system=SPECIALISTS[route.team], max_tokens=1024)
    answer = await ctx.run(specialist, f"Reply to this support ticket:\n\n{ticket}")
    return TicketReply(team=route.team, reasoning=route.reasoning, reply=answer.text)


# -- offline: a scripted router (keyword scores) and scripted specialists --------------------

_KEYWORDS: dict[str, tuple[str, ...]] = {
    "billing": ("charge", "invoice", "refund", "payment", "bill", "subscription", "price"),
    "technical": ("error", "crash", "bug", "api", "install", "timeout", "broken"),
    "account": ("log in", "login", "password", "access", "locked", "sign in", "2fa"),
    "product": ("how do i", "how to", "feature", "export", "can i", "support for"),
}

_REPLIES = {
    "billing": "I've opened a billing review of {subject}; you'll hear from us within 2 days.",
    "technical": "Sorry about {subject}. 1. Update the app. 2. Clear its cache. 3. Retry.",
    "account": (
        "Sorry about {subject}. Please use 'Forgot password' on the sign-in page to get a "
        "reset link by email; if it doesn't arrive within 10 minutes, reply and we'll verify "
        "your identity and unlock the account. We'll never ask for your password."
    ),
    "product": "Thanks for asking about {subject}; here is how to do it today: ...",
}


def _subject(ticket: str) -> str:
    match = re.search(r"Subject:\s*(.+)", ticket)
    return f'"{match.group(1).strip()}"' if match else "your request"


def offline_model(inputs: dict[str, str]) -> FunctionModel:
    """Routes by keyword counts; each specialist replies from a template for its team."""

    def play(body: dict[str, Any]) -> Any:
        system, text = system_text(body), last_user_text(body)
        if system == ROUTER:
            lowered = text.lower()
            scores = {
                team: sum(lowered.count(w) for w in words) for team, words in _KEYWORDS.items()
            }
            # Nothing recognisable: a general question, for product support.
            team = max(scores, key=scores.__getitem__) if any(scores.values()) else "product"
            hits = [w for w in _KEYWORDS[team] if w in lowered]
            reason = f"The ticket mentions {', '.join(hits) or 'nothing specific'}."
            return answer_with(body, {"team": team, "reasoning": reason})
        team = next(t for t, prompt in SPECIALISTS.items() if prompt == system)
        return _REPLIES[team].format(subject=_subject(text))

    return FunctionModel(play)


RECIPE = Recipe(
    name="routing",
    description="Route a support ticket to the right team, then answer it as that specialist.",
    run=run,
    offline_model=offline_model,
    inputs={"ticket": TICKET},
)

if __name__ == "__main__":
    raise SystemExit(RECIPE.main())
