"""Web researcher: an autonomous agent that reads web pages, follows links, and cites them.

The agent gets the `fetch_url` tool of `agentkit_tools` (HTTP GET, HTML turned into Markdown,
size caps, private addresses refused) and a few starting pages. It decides which pages and
links to read, and answers with numbered citations of the URLs it used.

Offline, nothing leaves the machine: the recipe serves two sample pages about the Model
Context Protocol from a web server on 127.0.0.1 for the run, and only then lets the fetch tool
reach a loopback address (`allow_private=True`); the `urls` input is ignored. Online it
fetches the real `urls`, with private addresses refused.

Run it (offline unless a key is set):

    agentkit run web-researcher
    agentkit run web-researcher --online --input question="What changed in HTTP/3?" \\
        --input urls="https://en.wikipedia.org/wiki/HTTP/3"
    python -m agentkit_recipes.web_researcher question="..." urls="https://... https://..."

Inputs:
    question: what to find out (default: what MCP is and which transports it defines).
    urls: where to start reading, separated by spaces (default: two MCP documentation pages).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from agentkit_tools import http_toolset

from agentkit import Limits, Recipe, RecipeContext, Toolset, UsageError
from agentkit.testing import FunctionModel, last_user_text, reply

from ._offline import tool_texts

if TYPE_CHECKING:
    from aiohttp import web

QUESTION = "What is the Model Context Protocol, and which transports does it define?"
URLS = (
    "https://modelcontextprotocol.io/docs/getting-started/intro "
    "https://modelcontextprotocol.io/specification/2025-06-18/basic/transports"
)

SYSTEM = (
    "You research questions on the web with the fetch_url tool. Start from the pages you are "
    "given, follow links that look relevant, and stop when you can answer. Answer in a short "
    "paragraph using only what the pages say, marking each claim with a citation like [1], "
    "and end with a numbered list of the URLs you cited."
)


def require_tools_extra() -> None:
    """Fail clearly when the `tools` extra is missing: without it every fetched page is an
    error, and the agent would answer from nothing.

    Raises:
        UsageError: markdownify or beautifulsoup4 is not installed.
    """
    import importlib.util

    missing = [name for name in ("markdownify", "bs4") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            "web-researcher reads web pages as Markdown, which needs the 'tools' extra "
            f"({' and '.join(missing)} not installed): pip install 'agentkit[tools]'"
        )


async def run(ctx: RecipeContext) -> str:
    """Research the question from the starting pages (local sample pages when offline)."""
    require_tools_extra()
    if ctx.online:
        return await _research(ctx, ctx.inputs["urls"].split(), http_toolset())
    async with serve_pages(SAMPLE_PAGES) as base_url:
        # Loopback is only reachable here, offline, where the only server is our own.
        return await _research(ctx, [f"{base_url}/mcp"], http_toolset(allow_private=True))


async def _research(ctx: RecipeContext, urls: list[str], fetch: Toolset) -> str:
    agent = ctx.agent(system=SYSTEM, tools=[fetch], limits=Limits(max_turns=12), max_tokens=2048)
    prompt = f"{ctx.inputs['question']}\n\nStart from:\n" + "\n".join(urls)
    return (await ctx.run(agent, prompt)).text


# -- offline: sample pages on loopback, and a scripted researcher -----------------------------

SAMPLE_PAGES: dict[str, str] = {
    "/mcp": """<html><head><title>Introduction to MCP</title></head><body>
<h1>What is the Model Context Protocol?</h1>
<p>The Model Context Protocol (MCP) is an open protocol that standardizes how AI applications
connect to external data sources and tools. Anthropic introduced it in November 2024.</p>
<p>MCP follows a client-server architecture: a host application runs one MCP client per MCP
server, and each server exposes resources, prompts and tools. Messages are JSON-RPC 2.0.</p>
<p>See <a href="/mcp/transports">Transports</a> for how clients and servers exchange
messages, or the <a href="/mcp/history">history of the project</a>.</p>
</body></html>""",
    "/mcp/transports": """<html><head><title>MCP transports</title></head><body>
<h1>Transports</h1>
<p>MCP defines two standard transports. With stdio, the client launches the server as a
subprocess and they exchange messages over standard input and standard output.</p>
<p>With Streamable HTTP, the server runs independently and receives messages as HTTP POST
requests; it may stream its replies with Server-Sent Events.</p>
<p>Streamable HTTP replaces the HTTP+SSE transport of protocol version 2024-11-05.</p>
</body></html>""",
}


@asynccontextmanager
async def serve_pages(pages: Mapping[str, str]) -> AsyncIterator[str]:
    """Serve `pages` (path -> HTML) on 127.0.0.1 for the block; yields the base URL."""
    # Imported here: `agentkit run` imports every recipe to list them, and aiohttp costs
    # ~0.1 s of start-up to recipes that serve no pages.
    from aiohttp import web

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=pages[request.path], content_type="text/html")

    app = web.Application()
    for path in pages:
        app.router.add_get(path, page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


_STOP = frozenset({"what", "which", "does", "define", "with", "from", "that", "this", "there"})
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")


def _keywords(question: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", question.lower()) if w not in _STOP}


def _title(page: str) -> str:
    return next((line[2:] for line in page.splitlines() if line.startswith("# ")), "")


def _sentences(page: str) -> list[str]:
    """The page's prose sentences: the fetch header, headings and link-bearing lines dropped."""
    _, _, body = page.partition("\n\n")
    prose = " ".join(line for line in body.splitlines() if not line.startswith("#"))
    found = re.split(r"(?<=[.!?])\s+", " ".join(prose.split()))
    return [s for s in found if s and "](" not in s]


def _claims(page: str, words: set[str]) -> list[str]:
    """What a page says about the question: its opening if its title is on topic, else the
    sentences that mention the question's words."""
    sentences = _sentences(page)
    if words & _keywords(_title(page)):
        return sentences[:3]
    return [s for s in sentences if words & _keywords(s)][:3]


def offline_model(inputs: dict[str, str]) -> FunctionModel:
    """Fetches the starting pages, follows links named like the question, cites what it read."""

    def play(body: dict[str, Any]) -> Any:
        prompt = last_user_text(body)
        question = prompt.split("\n\nStart from:", 1)[0]
        words = _keywords(question)
        done = [(text, failed) for name, text, failed in tool_texts(body) if name == "fetch_url"]
        if not done:
            starts = re.findall(r"https?://\S+", prompt)
            return reply(tool_calls=[("fetch_url", {"url": url}) for url in starts])
        pages = {
            text.split("\n", 1)[0].removeprefix("URL: "): text for text, bad in done if not bad
        }
        links = [
            urljoin(page_url, href)
            for page_url, text in pages.items()
            for label, href in _LINK.findall(text)
            if words & _keywords(label)
        ]
        unread = [url for url in dict.fromkeys(links) if url not in pages]
        if unread and len(done) < 6:
            return reply(
                "Following a relevant link.", tool_calls=[("fetch_url", {"url": unread[0]})]
            )
        claims: list[str] = []
        cited: list[str] = []
        for url, text in pages.items():
            found = _claims(text, words)
            if found:
                cited.append(url)
                claims += [f"{sentence} [{len(cited)}]" for sentence in found]
        if not claims:
            return "The pages I could read do not answer the question."
        sources = "\n".join(f"{n}. {url}" for n, url in enumerate(cited, 1))
        return " ".join(claims) + f"\n\nSources:\n{sources}"

    return FunctionModel(play)


RECIPE = Recipe(
    name="web-researcher",
    description="Answer a question from web pages it fetches, following links, with citations.",
    run=run,
    offline_model=offline_model,
    inputs={"question": QUESTION, "urls": URLS},
)

if __name__ == "__main__":
    raise SystemExit(RECIPE.main())
