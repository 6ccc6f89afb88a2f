"""The run viewer in a real headless browser: Debian's chromium driven by playwright, over a
store of runs made by real agents. Every wait is on the page's DOM (playwright's `expect`
polls it), never a sleep. Skipped, saying why, only where chromium is not installed
(`.ci/run` installs it)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect
from ui_runs import HOSTILE, ODD_ID, SECRET, Gate, Runs, viewer

from agentkit import tool
from agentkit.testing import reply, text_reply

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ANY = re.compile(".*")
WAIT_MS = 30_000  # a loaded machine is slow; every wait ends as soon as the DOM is right

pytestmark = [
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason="chromium is not installed: apt-get install -y chromium"),
    pytest.mark.asyncio(loop_scope="module"),
]
expect.set_options(timeout=WAIT_MS)


@dataclass
class Site:
    """A page of the browser on the viewer over `runs`, and what went wrong in it."""

    page: Page
    url: str
    runs: Runs
    errors: list[str] = field(default_factory=list[str])

    async def open(self, path: str = "") -> None:
        await self.page.goto(self.url + path)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def site(tmp_path: Path, browser: Browser) -> AsyncIterator[Site]:
    runs = Runs(tmp_path / "runs.db")
    server = viewer(runs, {"ANTHROPIC_API_KEY": SECRET})
    await server.start_server()
    context = await browser.new_context()
    page = await context.new_page()
    made = Site(page, str(server.make_url("/")), runs)
    page.on("pageerror", lambda error: made.errors.append(f"page error: {error}"))
    page.on("console", lambda m: made.errors.append(m.text) if m.type == "error" else None)
    page.on("dialog", lambda dialog: made.errors.append(f"dialog: {dialog.message}"))
    try:
        yield made
    finally:
        await context.close()
        await server.close()
        await runs.aclose()


async def test_the_list_shows_the_runs_newest_first_and_filters_them(site: Site) -> None:
    runs, page = site.runs, site.page
    await runs.weather()
    await runs.paused()
    await runs.failed()
    await runs.many(2)
    await site.open()
    rows = page.locator("tr.run-row")
    await expect(rows.locator("td:first-child a")).to_have_text(
        ["bulk-01", "bulk-00", "failing-1", "charge-1", "weather-1"]
    )
    weather = page.locator('tr[data-run="weather-1"] td')
    await expect(weather).to_have_text([
        "weather-1What is the weather in Paris?", "finished", "forecaster", "claude-sonnet-4-5",
        # started (local time), duration, turns, tool calls, tokens, cost
        ANY, "3.5 s", "2", "1", ANY, ANY,
    ])
    await expect(page.locator('tr[data-run="failing-1"] .badge')).to_have_text("failed")
    await expect(page.locator('tr[data-run="charge-1"] .badge')).to_have_text(
        "paused for approval"
    )

    await page.locator('button[data-status="paused"]').click()
    await expect(rows.locator("td:first-child a")).to_have_text(["charge-1"])
    await expect(page.locator('button[data-status="paused"]')).to_have_text(
        "paused for approval 1"
    )
    await page.locator('button[data-status=""]').click()
    await page.locator("#search").fill("forecast")
    await expect(rows.locator("td:first-child a")).to_have_text(["weather-1"])
    assert "q=forecast" in page.url
    await page.locator("#search").fill("number 1")  # the prompt is searched too
    await expect(rows.locator("td:first-child a")).to_have_text(["bulk-01"])
    await page.locator("#search").fill("no such thing")
    await expect(page.locator("#empty")).to_have_text("No run matches.")
    await expect(rows).to_have_count(0)
    assert site.errors == []


async def test_the_list_pages_through_many_runs(site: Site) -> None:
    await site.runs.many(12)
    await site.open("#/?size=5")
    links, page = site.page.locator("tr.run-row td:first-child a"), site.page
    await expect(links).to_have_text([f"bulk-{n:02d}" for n in range(11, 6, -1)])
    await expect(page.locator("#range")).to_have_text("1–5 of 12")
    await expect(page.locator("#newer")).to_be_disabled()
    await page.locator("#older").click()
    await expect(links).to_have_text([f"bulk-{n:02d}" for n in range(6, 1, -1)])
    await page.locator("#older").click()
    await expect(links).to_have_text(["bulk-01", "bulk-00"])
    await expect(page.locator("#range")).to_have_text("11–12 of 12")
    await expect(page.locator("#older")).to_be_disabled()
    await page.locator("#newer").click()
    await expect(page.locator("#range")).to_have_text("6–10 of 12")
    assert site.errors == []


async def test_a_run_is_a_timeline_with_folded_thinking_tool_calls_and_bars(site: Site) -> None:
    runs, page = site.runs, site.page
    await runs.weather()
    await site.open()
    await page.locator('a[href="#/run/weather-1"]').click()
    await expect(page.locator("h1")).to_have_text("weather-1")
    await expect(page.locator('[data-field="status"] .badge')).to_have_text("finished")
    await expect(page.locator('[data-field="duration"]')).to_have_text("duration3.5 s")
    await expect(page.locator('[data-field="tool-calls"]')).to_have_text("tool calls1")
    await expect(page.locator('[data-field="reason"]')).to_have_text("stop reasonend_turn")
    turns = page.locator(".item.turn")
    await expect(turns).to_have_count(2)
    first = turns.nth(0)
    await expect(first.locator(".facts")).to_contain_text("model 2.0 s · tools 500 ms")
    await expect(first.locator(".facts")).to_contain_text("stop: tool_use")
    thinking = first.locator("details.thinking pre")
    await expect(thinking).to_be_hidden()  # folded
    await first.locator("details.thinking summary").click()
    await expect(thinking).to_have_text("The user wants Paris.")
    call = first.locator('.call[data-call="toolu_w1"]')
    await expect(call.locator(".input")).to_have_text('{\n  "city": "Paris"\n}')
    await expect(call.locator(".result-text")).to_have_text("Sunny in Paris")
    await expect(call.locator(".state")).to_have_text("done · 500 ms")
    await expect(turns.nth(1).locator(".text")).to_have_text("It is sunny in Paris.")
    await expect(page.locator(".item.status")).to_contain_text("run finished")
    # The bars: where 3.5 s went (model 2 s + 1 s, tools 0.5 s), and the tokens of each turn.
    model = page.locator("#time-bar .seg.model")
    await expect(model).to_have_count(2)
    await expect(page.locator("#time-bar .seg.tools")).to_have_count(1)
    widths = await model.evaluate_all("segs => segs.map(s => s.style.width)")
    assert widths == ["57.143%", "28.571%"]
    await expect(page.locator("#token-bar .seg")).to_have_count(4)
    assert site.errors == []


async def test_errors_are_marked(site: Site) -> None:
    runs, page = site.runs, site.page
    await runs.broken()
    await runs.failed()
    await site.open("#/run/broken-1")
    call = page.locator('.call[data-call="toolu_x1"]')
    await expect(call).to_have_class("call error")
    await expect(call.locator(".state")).to_have_text("error · 0 ms")
    await expect(call.locator(".result.error .result-text")).to_have_text("the disk is on fire")
    await site.open("#/run/failing-1")
    await expect(page.locator("#error")).to_contain_text("Failed: RunError")
    await expect(page.locator('[data-field="status"] .badge')).to_have_text("failed")
    assert site.errors == []


async def test_a_running_run_updates_live_without_reloading(site: Site) -> None:
    runs, page = site.runs, site.page
    gate = Gate()
    task = await gate.start(runs)
    try:
        await site.open("#/run/live-1")
        state = page.locator('.call[data-call="toolu_g1"] .state')
        await expect(state).to_have_text("running…")
        await expect(page.locator('[data-field="status"] .badge')).to_have_text("running")
        await expect(page.locator("#live")).to_contain_text("Running tools since")
        await page.evaluate("window.__sameDocument = true")
        gate.open.set()
        await task
        await expect(page.locator('[data-field="status"] .badge')).to_have_text("finished")
        await expect(state).to_have_text("done · 0 ms")
        await expect(page.locator(".item.turn").nth(1).locator(".text")).to_have_text(
            "The gate is open."
        )
        await expect(page.locator("#live")).to_have_text("")
        assert await page.evaluate("window.__sameDocument") is True  # never reloaded
    finally:
        gate.open.set()
        await task
    assert site.errors == []


async def test_the_list_follows_a_running_run(site: Site) -> None:
    gate = Gate()
    task = await gate.start(site.runs)
    try:
        await site.open()
        badge = site.page.locator('tr[data-run="live-1"] .badge')
        await expect(badge).to_have_text("running")
        gate.open.set()
        await task
        await expect(badge).to_have_text("finished")
    finally:
        gate.open.set()
        await task
    assert site.errors == []


async def test_the_resume_line_quotes_a_run_id_the_shell_would_split(site: Site) -> None:
    await site.runs.paused("charge 7's")
    await site.open("#/run/" + quote("charge 7's"))
    await expect(site.page.locator("#pending code")).to_have_text(
        f"agentkit runs resume 'charge 7'\\''s' --db {site.runs.path} --agent MODULE:ATTR "
        "--approve ID --deny ID"
    )
    assert site.errors == []


async def test_the_resume_line_puts_a_run_id_that_begins_with_a_dash_after_the_options(
    site: Site,
) -> None:
    # After the action, `agentkit runs` takes "-x7Gq" for an option it does not know (an id
    # from secrets.token_urlsafe() begins with "-" one time in 32): the line did not work.
    await site.runs.paused("-x7Gq")
    await site.open("#/run/-x7Gq")
    await expect(site.page.locator("#pending code")).to_have_text(
        f"agentkit runs --db {site.runs.path} --agent MODULE:ATTR --approve ID --deny ID "
        "resume -- -x7Gq"
    )
    assert site.errors == []


async def test_a_paused_run_shows_its_pending_approvals(site: Site) -> None:
    await site.runs.paused()
    await site.open("#/run/charge-1")
    page = site.page
    pending = page.locator("#pending .call")
    await expect(pending).to_have_count(1)
    await expect(pending.locator("b")).to_have_text("charge")
    await expect(pending.locator(".input")).to_have_text('{\n  "order": 7\n}')
    await expect(page.locator("#pending code")).to_have_text(
        f"agentkit runs resume charge-1 --db {site.runs.path} --agent MODULE:ATTR "
        "--approve ID --deny ID"
    )
    calls = page.locator("#timeline .call .state")
    await expect(calls).to_have_text(["runs when the run resumes", "awaiting approval"])
    await expect(page.locator('[data-field="status"] .badge')).to_have_text(
        "paused for approval"
    )
    assert site.errors == []


async def test_a_paused_sub_run_says_nothing_resumes_it_and_shows_no_resume_line(
    site: Site,
) -> None:
    # Its `runs resume 'delegate-1›toolu_d1' --approve ...` line is refused (a sub-run resumes
    # with its caller), and its caller's call was answered: no decision can reach it.
    await site.runs.paused_sub_run()
    await site.open("#/run/" + quote("delegate-1\u203atoolu_d1"))
    page = site.page
    await expect(page.locator("#pending .call")).to_have_count(1)
    await expect(page.locator("#pending code")).to_have_count(0)
    await expect(page.locator("#sub-run")).to_have_text(
        "A sub-agent's run: its caller delegate-1 was told these calls were not run, and "
        "nothing resumes it (give the sub-agent an approve callback, Agent(approve=...), for "
        "it to run such calls)."
    )
    assert site.errors == []


async def test_what_a_tool_or_the_model_wrote_is_shown_as_text_and_never_runs(
    site: Site,
) -> None:
    await site.runs.hostile()
    page = site.page
    await site.open()
    row = page.locator("tr.run-row").filter(has_text="hostile-1")
    await expect(row.locator(".prompt")).to_have_text(f"Fetch {HOSTILE}")
    await expect(row.locator("td").nth(2)).to_have_text(HOSTILE)  # the agent's name
    await site.open("#/run/hostile-1")
    call = page.locator('.call[data-call="toolu_h1"]')
    await expect(call.locator(".result-text")).to_have_text(f"{HOSTILE} key=[redacted]")
    await expect(page.locator(".item.turn").first.locator(".text")).to_have_text(HOSTILE)
    await expect(page.locator(".item.prompt .text")).to_have_text(f"Fetch {HOSTILE}")
    await expect(page.locator('[data-field="agent"]')).to_have_text(f"agent{HOSTILE}")
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert await page.locator("main script, main img").count() == 0
    assert SECRET not in await page.content()
    assert site.errors == []


async def test_what_reorders_or_hides_a_run_s_text_is_shown_as_escapes(site: Site) -> None:
    # HTML escaping keeps markup out, not a right-to-left override: the page showed a tool's
    # "invoice-\u202efdp.exe" as "invoice-exe.pdf", and a zero-width space hid a character.
    # Ordinary text (newlines, any script, emoji) is shown as it is.
    @tool
    async def fetch(url: str) -> str:
        """Fetch a page."""
        return "see invoice-\u202efdp.exe"

    steps = [reply("Looking \u202eevil\u200b", tool_calls=[("fetch", {"url": "x\u202ey"},
                                                                   "toolu_b1")]),
             text_reply("שלום 👩\u200d💻\nDone \u2066x\u2069")]
    await site.runs.run(site.runs.agent(steps, [fetch], name="bidi"), "Fetch \u202eit", "bidi-1")
    page = site.page
    await site.open("#/run/bidi-1")
    call = page.locator('.call[data-call="toolu_b1"]')
    await expect(call.locator(".result-text")).to_have_text("see invoice-\\u202efdp.exe")
    await expect(call.locator(".input")).to_contain_text("x\\u202ey")
    turns = page.locator(".item.turn .text")
    await expect(turns).to_have_count(2)
    assert await turns.nth(0).text_content() == "Looking \\u202eevil\\u200b"
    assert await turns.nth(1).text_content() == "שלום 👩\u200d💻\nDone \\u2066x\\u2069"
    assert await page.locator(".item.prompt .text").text_content() == "Fetch \\u202eit"
    shown = await page.locator("main").text_content() or ""
    assert not {"\u202e", "\u200b", "\u2066", "\u2069"} & set(shown)
    assert site.errors == []


async def test_a_run_id_with_url_and_html_characters_opens(site: Site) -> None:
    await site.runs.odd()
    await site.open()
    await site.page.get_by_role("link", name=ODD_ID).click()
    await expect(site.page.locator("h1")).to_have_text(ODD_ID)
    await expect(site.page.locator(".item.turn .text")).to_have_text("Odd.")
    assert site.errors == []


async def test_an_image_in_the_prompt_is_shown_as_a_placeholder(site: Site) -> None:
    store = site.runs.store
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}}
    lease = store.claim("picture", fingerprint="f-p", model="m", agent="a").lease
    store.append_many(lease, [
        ("start", {"messages": [{"role": "user", "content": [image, {"type": "text",
                                                                      "text": "What?"}]}],
                   "seed": 1}),
        ("status", {"status": "finished", "reason": "end_turn"}),
    ])
    store.release(lease)
    await site.open("#/run/picture")
    prompt = site.page.locator(".item.prompt .message")
    await expect(prompt).to_contain_text("[image, image/png]")
    await expect(prompt.locator(".text")).to_have_text("What?")
    assert "iVBORw0KGgo" not in await site.page.content()
    assert site.errors == []


async def test_a_run_whose_journal_is_missing_says_so(site: Site) -> None:
    # A store copied without its journals showed each run as finished, with nothing in it.
    await site.runs.weather()
    for journal in Path(f"{site.runs.path}.journals").iterdir():
        journal.unlink()
    await site.open("#/run/weather-1")
    await expect(site.page.locator("#missing")).to_contain_text(
        f"This run's journal is missing, though the store counts 6 entries: a store is its "
        f"file and the folder beside it ({site.runs.path}.journals); copy both.")
    assert site.errors == []


async def test_an_id_an_older_agentkit_stored_with_hidden_characters_is_shown_escaped(
    site: Site, older_run_ids: None
) -> None:
    # A right-to-left override made the run "invoice-\u202efdp.exe" read "invoice-exe.pdf" in
    # the list and the title ("Trojan Source"), and the resume line held it raw in quotes.
    spoof = "invoice-\u202efdp.exe"
    await site.runs.paused(spoof)
    await site.open()
    shown = "invoice-\\u202efdp.exe"
    await expect(site.page.locator("tr.run-row td:first-child a")).to_have_text([shown])
    await site.page.get_by_role("link", name=shown).click()
    await expect(site.page.locator("h1")).to_have_text(shown)
    await expect(site.page.locator("#pending code")).to_have_text(
        f"agentkit runs resume $'{shown}' --db {site.runs.path} --agent MODULE:ATTR "
        "--approve ID --deny ID"
    )
    assert site.errors == []


async def test_sub_runs_are_counted_in_the_list_and_linked_from_their_calls_and_back(
    site: Site,
) -> None:
    # The list mixed sub-runs among the user's runs, and nothing led from an agent's call to
    # the sub-run that did its work, or back.
    runs, page = site.runs, site.page
    await runs.delegated()
    await runs.weather()
    sub, inner = "desk-1\u203atoolu_d1", "desk-1\u203atoolu_d1\u203atoolu_k1"
    await site.open()
    rows = page.locator("tr.run-row")
    await expect(rows.locator("td:first-child a")).to_have_text(["weather-1", "desk-1"])
    await expect(page.locator('tr[data-run="desk-1"] .sub-count')).to_have_text("2 sub-runs")
    await expect(page.locator('tr[data-run="weather-1"] .sub-count')).to_have_count(0)
    await expect(page.locator('button[data-status=""]')).to_have_text("all 2")

    await page.get_by_role("link", name="desk-1").click()
    await expect(page.locator('[data-field="sub-runs"]')).to_have_text("sub-runs2")
    await expect(page.locator("#caller")).to_have_count(0)
    link = page.locator('.call[data-call="toolu_d1"] .sub-run a')
    await expect(link).to_have_text(sub)
    await link.click()
    await expect(page.locator("h1")).to_have_text(sub)
    await expect(page.locator("#caller")).to_have_text(
        "Sub-run of desk-1, made by its call toolu_d1.")
    await expect(page.locator('.call[data-call="toolu_k1"] .sub-run a')).to_have_text(inner)

    await page.locator("#caller a").click()  # back to the caller, at the call
    await expect(page.locator("h1")).to_have_text("desk-1")
    await expect(page.locator('.call[data-call="toolu_d1"]')).to_have_class(re.compile("focus"))
    assert "call=toolu_d1" in page.url
    assert site.errors == []
