// The run viewer's page: a list of runs and one run's timeline, over the viewer's JSON API.
// Rules: everything a model, a tool or a user wrote is put in the page as text (textContent,
// text nodes), never parsed as HTML; links are this page's own (#/...); nothing is loaded from
// anywhere but this server. The list refreshes every few seconds; a run follows its server-sent
// events and fetches only the items that changed.
"use strict";

const STATUSES = ["running", "finished", "failed", "paused", "interrupted"];
const STATUS_LABEL = {
  running: "running", finished: "finished", failed: "failed",
  paused: "paused for approval", interrupted: "interrupted",
};
const LIST_REFRESH_MS = 2000;
const main = document.getElementById("main");
let view = null; // the current view; its stop() ends its timers and feeds

// -- building the DOM (text only) ------------------------------------------------------

function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "href") el.setAttribute("href", value.startsWith("#") ? value : "#/");
    else if (key === "onclick") el.addEventListener("click", value);
    else if (key === "title") el.setAttribute(key, shownText(value));
    else if (key === "id" || key === "type" || key === "placeholder" ||
             key === "value" || key.startsWith("data-") || key === "open" || key === "disabled") {
      el.setAttribute(key, String(value));
    } else throw new Error("h(): unexpected property " + key);
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(shownText(child)));
  }
  return el;
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// -- formatting --------------------------------------------------------------------------

function seconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 1) return Math.round(s * 1000) + " ms";
  if (s < 60) return s.toFixed(1) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " m " + String(Math.floor(s % 60)).padStart(2, "0") + " s";
  return Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " m";
}
const count = (n) => (n || 0).toLocaleString("en-US");
const money = (usd) => (usd === null || usd === undefined ? "unknown" : "$" + usd.toFixed(4));
const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "–");
const clock = (t) => (t ? new Date(t * 1000).toLocaleTimeString() : "–");
const json = (value) => JSON.stringify(value, null, 2);
// The characters a name (a run id, a model) cannot show as they are: controls are obeyed, and
// an invisible one (a bidirectional override, a zero-width space) makes one name look like
// another ("Trojan Source"). As display.printable(one_line=True) in the command line.
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
const hex = (c, n) => c.codePointAt(0).toString(16).padStart(n, "0");
const escaped = (c) => {
  const code = c.codePointAt(0);
  return code < 0x100 ? "\\x" + hex(c, 2) : code <= 0xffff ? "\\u" + hex(c, 4) : "\\U" + hex(c, 8);
};
// A name as shown: its hidden characters written as \xNN or \uNNNN escapes.
const shownName = (s) => String(s).replace(HIDDEN, escaped);
// Any text as shown (every text node and tooltip: what a model, a tool or a user wrote): the
// characters that reorder or hide text (a bidirectional override reads "invoice-\u202efdp.exe"
// as "invoice-exe.pdf"; a zero-width space, a tag; a control, a line separator) written as
// escapes; newlines, tabs, the zero-width (non-)joiners of emoji and Persian or Indic words,
// and a flag emoji's tags as they are. As display.printable in the command line.
const SUSPECT = /(\u{1F3F4}[\u{E0020}-\u{E007E}]+\u{E007F})|[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
const KEPT = new Set(["\n", "\t", "\u200c", "\u200d"]);
const shownText = (s) => String(s).replace(/\r\n/g, "\n").replace(SUSPECT, (c, flag) => (flag || KEPT.has(c) ? c : escaped(c)));
// What Python's str.isprintable() calls printable: no control, format, private, unassigned,
// surrogate or separator character but the space.
const printableChar = (c) => c === " " || !/[\p{C}\p{Z}]/u.test(c);
// A character in $'...': a byte a file name held that was not UTF-8 (Python's surrogateescape)
// as that byte, the rest by code point.
const shellEscape = (c) => {
  const code = c.codePointAt(0);
  if (code >= 0xdc80 && code <= 0xdcff) return "\\x" + (code - 0xdc00).toString(16);
  if (code < 0x80) return "\\x" + hex(c, 2);
  return code <= 0xffff ? "\\u" + hex(c, 4) : "\\U" + hex(c, 8);
};
// A word a POSIX shell reads back as `s` (as shell_word in _durable/journal.py): as it is when
// plain, else single-quoted, or, when it holds a character a terminal would not show as it is,
// in $'...' with that character escaped (bash, zsh, ksh; POSIX sh since 2024).
const shellWord = (s) => {
  if (/^[\w@%+=:,.\/-]+$/.test(s)) return s;
  const chars = Array.from(s);
  if (chars.every(printableChar)) return "'" + s.replace(/'/g, "'\\''") + "'";
  return "$'" + chars.map((c) => (c === "\\" || c === "'" ? "\\" + c : printableChar(c) ? c : shellEscape(c))).join("") + "'";
};
// The `agentkit runs` line doing `action` to a run (as runs_command in _durable/journal.py): an
// id that begins with "-" goes last, after the options and `--`, or it is taken for an option.
const runsCommand = (action, id, db, options) => {
  const given = "--db " + shellWord(db) + " " + options;
  return id.startsWith("-")
    ? "agentkit runs " + given + " " + action + " -- " + shellWord(id)
    : "agentkit runs " + action + " " + shellWord(id) + " " + given;
};

function badge(status, title) {
  return h("span", { class: "badge " + status, title }, STATUS_LABEL[status] || status);
}

// -- the JSON API ------------------------------------------------------------------------

async function api(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) query.set(key, String(value));
  }
  const response = await fetch(path + "?" + query.toString(), { headers: { Accept: "application/json" } });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function failure(error) {
  return h("p", { class: "error-text" }, "Could not load: " + error.message);
}

// -- routing -----------------------------------------------------------------------------

function route() {
  if (view) view.stop();
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  if (path.startsWith("/run/")) {
    view = runView(decodeURIComponent(path.slice(5)), new URLSearchParams(query || ""));
  } else {
    view = listView(new URLSearchParams(query || ""));
  }
}

// A run's page; with `call`, scrolled to that call (a sub-run's link back to its caller).
function runLink(runId, call) {
  return "#/run/" + encodeURIComponent(runId) + (call ? "?call=" + encodeURIComponent(call) : "");
}

const subRuns = (n) => count(n) + (n === 1 ? " sub-run" : " sub-runs");

// -- the list ----------------------------------------------------------------------------

function listView(params) {
  const state = {
    status: STATUSES.includes(params.get("status")) ? params.get("status") : "",
    q: params.get("q") || "",
    size: Math.min(Math.max(parseInt(params.get("size") || "50", 10) || 50, 1), 200),
    page: Math.max(parseInt(params.get("page") || "1", 10) || 1, 1),
  };
  let timer = null;
  let stopped = false;
  let typing = null;

  const search = h("input", { type: "search", id: "search", placeholder: "filter: id, agent, model or prompt", value: state.q });
  const chips = h("span", { class: "chips" });
  const table = h("div", { id: "runs" });
  const pager = h("div", { class: "pager" });
  clear(main);
  add(main, [h("div", { class: "filters" }, chips, search), table, pager]);
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.q = search.value; state.page = 1; remember(); load(); }, 250);
  });

  function remember() {
    const query = new URLSearchParams();
    if (state.status) query.set("status", state.status);
    if (state.q) query.set("q", state.q);
    if (state.page > 1) query.set("page", String(state.page));
    if (params.get("size")) query.set("size", String(state.size));
    const text = query.toString();
    history.replaceState(null, "", "#/" + (text ? "?" + text : ""));
  }

  function choose(status) {
    state.status = status;
    state.page = 1;
    remember();
    load();
  }

  function render(data) {
    document.getElementById("store").textContent = data.store;
    const all = Object.values(data.counts).reduce((a, b) => a + b, 0);
    clear(chips);
    add(chips, [
      h("button", { class: state.status ? "" : "on", "data-status": "", onclick: () => choose("") }, "all " + count(all)),
      STATUSES.map((s) => h("button", {
        class: state.status === s ? "on" : "", "data-status": s, onclick: () => choose(s),
      }, STATUS_LABEL[s] + " " + count(data.counts[s] || 0))),
    ]);
    clear(table);
    if (!data.runs.length) {
      add(table, h("p", { class: "muted", id: "empty" }, all || state.q ? "No run matches." : "No runs in this store yet."));
    } else {
      const head = ["run", "status", "agent", "model", "started", "duration", "turns", "tool calls", "tokens", "cost"];
      const numeric = new Set(["duration", "turns", "tool calls", "tokens", "cost"]);
      add(table, h("table", { class: "runs" },
        h("thead", {}, h("tr", {}, head.map((t) => h("th", { class: numeric.has(t) ? "num" : "" }, t)))),
        h("tbody", {}, data.runs.map(row))));
    }
    const first = data.total ? data.offset + 1 : 0;
    const last = data.offset + data.runs.length;
    clear(pager);
    add(pager, [
      h("button", { id: "newer", disabled: state.page <= 1, onclick: () => { state.page -= 1; remember(); load(); } }, "← newer"),
      h("span", { id: "range" }, count(first) + "–" + count(last) + " of " + count(data.total)),
      h("button", { id: "older", disabled: last >= data.total, onclick: () => { state.page += 1; remember(); load(); } }, "older →"),
    ]);
  }

  function row(run) {
    const stale = run.status === "interrupted" && run.stored_status === "running";
    return h("tr", { class: "run-row", "data-run": run.run_id },
      h("td", {}, h("a", { href: runLink(run.run_id) }, shownName(run.run_id)),
        run.sub_runs ? h("span", { class: "sub-count", title: "its agents used as tools ran as runs of their own, linked from their calls" }, subRuns(run.sub_runs)) : null,
        h("div", { class: "prompt" }, run.prompt)),
      h("td", {}, badge(run.status, stale ? "stored as running, but its process stopped" : null),
        run.unreadable ? h("div", { class: "unreadable", title: run.unreadable }, "journal unreadable") : null),
      h("td", {}, run.agent || "–"),
      h("td", {}, run.model),
      h("td", {}, when(run.started)),
      h("td", { class: "num" }, seconds(run.duration)),
      h("td", { class: "num" }, count(run.turns)),
      h("td", { class: "num" }, count(run.tool_calls)),
      h("td", { class: "num" }, count(run.input_tokens + run.output_tokens)),
      h("td", { class: "num" }, money(run.cost_usd)));
  }

  async function load() {
    clearTimeout(timer);
    const asked = JSON.stringify(state);
    try {
      const data = await api("/api/runs", {
        status: state.status, q: state.q, limit: state.size, offset: (state.page - 1) * state.size,
      });
      if (!stopped && asked === JSON.stringify(state)) render(data);
    } catch (error) {
      if (!stopped) { clear(table); add(table, failure(error)); }
    }
    if (!stopped) timer = setTimeout(load, LIST_REFRESH_MS);
  }

  load();
  return { stop() { stopped = true; clearTimeout(timer); clearTimeout(typing); } };
}

// -- one run -----------------------------------------------------------------------------

function runView(runId, params) {
  const focus = params.get("call"); // the call to scroll to once it is shown
  let focused = false;
  let items = [];
  let data = null;
  let stopped = false;
  let busy = false;
  let again = false;
  const head = h("div", { id: "head" });
  const pending = h("div", { id: "pending" });
  const bars = h("div", { class: "bars", id: "bars" });
  const list = h("div", { id: "timeline" });
  const live = h("div", { class: "live", id: "live" });
  clear(main);
  add(main, [h("p", {}, h("a", { href: "#/" }, "← all runs")), head, pending, bars, list, live]);

  async function load() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const from = Math.max(items.length - 1, 0);
      const fresh = await api("/api/run", { id: runId, from });
      if (stopped) return;
      items = items.slice(0, fresh.from).concat(fresh.items);
      data = fresh;
      while (list.children.length > fresh.from) list.removeChild(list.lastChild);
      fresh.items.forEach((item, i) => list.appendChild(renderItem(item, fresh.from + i)));
      renderHead();
      if (focus && !focused) {
        const call = Array.from(list.querySelectorAll(".call")).find((el) => el.dataset.call === focus);
        if (call) { focused = true; call.classList.add("focus"); call.scrollIntoView({ block: "center" }); }
      }
    } catch (error) {
      if (!stopped) { clear(head); add(head, failure(error)); }
    } finally {
      busy = false;
    }
    if (again && !stopped) { again = false; load(); }
  }

  function renderHead() {
    const run = data.run;
    const t = run.totals;
    const stale = run.status === "interrupted" && run.stored_status === "running";
    clear(head);
    add(head, [
      h("h1", {}, shownName(run.run_id)),
      run.caller ? h("p", { id: "caller", class: "muted" }, "Sub-run of ",
        run.caller.stored
          ? h("a", { href: runLink(run.caller.run_id, run.caller.tool_use_id) }, shownName(run.caller.run_id))
          : shownName(run.caller.run_id) + " (no longer in this store)",
        ", made by its call " + shownName(run.caller.tool_use_id) + ".") : null,
      h("div", { class: "summary" },
        field("status", badge(run.status, stale ? "stored as running, but its process stopped" : null), "status"),
        field("agent", run.agent || "–", "agent"), field("model", shownName(run.model), "model"),
        field("started", when(run.started), "started"), field("duration", seconds(run.duration), "duration"),
        field("turns", count(run.turns), "turns"), field("tool calls", count(run.tool_calls), "tool-calls"),
        run.sub_runs ? field("sub-runs", count(run.sub_runs), "sub-runs") : null,
        field("tokens in / out", count(t.input_tokens + t.cache_creation_input_tokens + t.cache_read_input_tokens) + " / " + count(t.output_tokens), "tokens"),
        field("cache write / read", count(t.cache_creation_input_tokens) + " / " + count(t.cache_read_input_tokens)),
        field("cost", money(t.cost_usd === null ? null : t.cost_usd), "cost"),
        field("stop reason", run.reason || "–", "reason")),
      run.status === "failed" && run.reason ? h("div", { class: "box error-box", id: "error" }, h("b", {}, "Failed: "), run.reason) : null,
      run.newer ? h("div", { class: "box error-box" }, "This run was written by a newer agentkit: upgrade to see its journal.") : null,
      run.unreadable ? h("div", { class: "box error-box", id: "unreadable" }, "This run's journal cannot be read: " + run.unreadable) : null,
      !run.newer && !run.unreadable && run.entries && !data.count ? h("div", { class: "box error-box", id: "missing" }, "This run's journal is missing, though the store counts " + count(run.entries) + " entries: a store is its file and the folder beside it (" + run.store + ".journals); copy both.") : null,
    ]);
    clear(pending);
    if (data.pending.length) {
      add(pending, h("div", { class: "box pending" },
        h("b", {}, "Waiting for approval"),
        // A sub-agent's run (its id holds "›"): no one can decide for it, its caller's call is answered.
        run.run_id.includes("\u203a")
          ? h("p", { class: "muted", id: "sub-run" }, "A sub-agent's run: its caller " + run.run_id.slice(0, run.run_id.lastIndexOf("\u203a")) + " was told these calls were not run, and nothing resumes it (give the sub-agent an approve callback, Agent(approve=...), for it to run such calls).")
          : h("p", { class: "muted" }, "Answer with: ", h("code", {}, runsCommand("resume", run.run_id, run.store, "--agent MODULE:ATTR --approve ID --deny ID")), " (the agent that started the run, an --approve or --deny for each call below)."),
        data.pending.map((call) => h("div", { class: "call awaiting", "data-call": call.id },
          h("div", { class: "call-head" }, h("b", {}, call.name), " ", h("span", { class: "muted" }, call.id), " (turn " + call.turn + ")"),
          h("pre", { class: "input" }, json(call.input))))));
    }
    renderBars();
    renderLive();
    document.getElementById("feed").textContent = run.status === "running" ? "● live" : "";
  }

  function field(label, value, id) {
    return h("div", { "data-field": id || null }, h("span", {}, label), value);
  }

  function turns() {
    return items.filter((item) => item.kind === "turn");
  }

  function renderBars() {
    clear(bars);
    const all = turns();
    if (!all.length) return;
    const run = data.run;
    const start = run.started;
    const end = Math.max(run.status === "running" ? data.now : run.last_at || start, start + 1e-6);
    const span = end - start;
    const time = h("div", { class: "bar", id: "time-bar" });
    for (const turn of all) {
      if (turn.started !== null) segment(time, "model", (turn.started - start) / span, (turn.at - turn.started) / span, turn, "model " + seconds(turn.model_seconds));
      if (turn.tools_seconds) segment(time, "tools", (turn.at - start) / span, (turn.ended - turn.at) / span, turn, "tools " + seconds(turn.tools_seconds));
    }
    const tokens = h("div", { class: "bar", id: "token-bar" });
    const total = all.reduce((sum, turn) => sum + tokensOf(turn), 0) || 1;
    let at = 0;
    for (const turn of all) {
      const u = turn.usage;
      const prompt = u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens;
      segment(tokens, "input", at / total, prompt / total, turn, count(prompt) + " in");
      segment(tokens, "output", (at + prompt) / total, u.output_tokens / total, turn, count(u.output_tokens) + " out");
      at += tokensOf(turn);
    }
    const t = run.totals;
    const idle = Math.max(span - t.model_seconds - t.tools_seconds, 0);
    add(bars, [
      h("div", { class: "bar-label" }, "Where the time went (" + seconds(span) + ")"), time,
      h("div", { class: "legend" }, key("model", "model " + seconds(t.model_seconds)), key("tools", "tools " + seconds(t.tools_seconds)), key("idle", "waiting or unknown " + seconds(idle))),
      h("div", { class: "bar-label" }, "Where the tokens went (" + count(total) + ")"), tokens,
      h("div", { class: "legend" }, key("input", "input (with cache)"), key("output", "output")),
    ]);
  }

  function tokensOf(turn) {
    const u = turn.usage;
    return u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens + u.output_tokens;
  }

  function key(kind, text) {
    return h("span", {}, h("span", { class: "key " + kind }), text);
  }

  function segment(bar, kind, left, width, turn, text) {
    const seg = h("div", { class: "seg " + kind, title: "turn " + turn.n + ": " + text, onclick: () => {
      const target = document.getElementById("turn-" + turn.n);
      if (target) target.scrollIntoView({ behavior: "smooth", block: "start" });
    } });
    seg.style.left = (Math.min(Math.max(left, 0), 1) * 100).toFixed(3) + "%";
    seg.style.width = (Math.min(Math.max(width, 0), 1) * 100).toFixed(3) + "%";
    bar.appendChild(seg);
  }

  function renderLive() {
    clear(live);
    if (!data.live) return;
    const doing = data.live.doing === "tools" ? "Running tools" : "Waiting for the model";
    add(live, doing + " since " + clock(data.live.since) + "…");
  }

  const feed = new EventSource("/api/run/events?id=" + encodeURIComponent(runId));
  feed.addEventListener("change", () => load());
  feed.onerror = () => { document.getElementById("feed").textContent = "reconnecting…"; };
  return {
    stop() {
      stopped = true;
      feed.close();
      document.getElementById("feed").textContent = "";
    },
  };
}

// -- timeline items ----------------------------------------------------------------------

function renderItem(item, index) {
  if (item.kind === "prompt") {
    return h("div", { class: "item prompt", "data-index": index },
      h("div", { class: "item-head" }, h("b", {}, "prompt"), " · " + when(item.at)),
      item.messages.map((m) => h("div", { class: "message" }, h("div", { class: "role" }, m.role), m.blocks.map(block))));
  }
  if (item.kind === "turn") return turnItem(item, index);
  if (item.kind === "decisions") {
    return h("div", { class: "item decisions", "data-index": index },
      h("div", { class: "item-head" }, h("b", {}, "decisions"), " · " + clock(item.at)),
      item.decisions.map((d) => h("div", {}, d.name + " (" + d.id + "): ",
        d.approved ? "approved" : h("span", { class: "error-text" }, "denied" + (d.reason ? ": " + d.reason : "")))));
  }
  return h("div", { class: "item status " + item.status, "data-index": index },
    h("div", { class: "item-head" }, h("b", {}, "run " + (STATUS_LABEL[item.status] || item.status)), " · " + clock(item.at)),
    item.reason ? h("div", { class: item.status === "failed" ? "error-text" : "muted" }, item.reason) : null);
}

function turnItem(turn, index) {
  const u = turn.usage;
  const facts = [
    "model " + seconds(turn.model_seconds),
    turn.tools_seconds ? "tools " + seconds(turn.tools_seconds) : null,
    count(u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens) + " in / " + count(u.output_tokens) + " out tokens",
    u.cache_read_input_tokens ? count(u.cache_read_input_tokens) + " from cache" : null,
    money(turn.cost_usd),
    "stop: " + (turn.stop_reason || "–"),
    turn.model,
  ].filter(Boolean);
  return h("div", { class: "item turn", id: "turn-" + turn.n, "data-index": index, "data-turn": turn.n },
    h("div", { class: "item-head" }, h("b", {}, "turn " + turn.n), " · " + clock(turn.at) + " · ", h("span", { class: "facts" }, facts.join(" · "))),
    turn.blocks.map(block));
}

function block(b) {
  switch (b.type) {
    case "text":
      return h("pre", { class: "text" }, b.text);
    case "thinking":
      return h("details", { class: "thinking" }, h("summary", {}, "thinking (" + count(b.text.length) + " characters)"), h("pre", {}, b.text));
    case "redacted_thinking":
      return h("div", { class: "muted" }, "thinking (redacted by the API)");
    case "tool_use":
      return call(b);
    case "server_tool_use":
      return h("div", { class: "call" }, h("div", { class: "call-head" }, h("b", {}, b.name), h("span", { class: "state muted" }, "server tool")), h("pre", { class: "input" }, json(b.input)));
    case "image":
    case "document":
      return part(b);
    case "tool_result":
      return h("div", { class: "result" + (b.is_error ? " error" : "") }, h("span", { class: "label" }, b.is_error ? "tool error" : "tool result"), b.parts.map(part));
    default:
      return h("details", {}, h("summary", { class: "muted" }, b.name), h("pre", {}, json(b.value)));
  }
}

const CALL_STATE = {
  done: "done", error: "error", denied: "denied", awaiting: "awaiting approval",
  running: "running…", resume: "runs when the run resumes", unanswered: "no result recorded",
};

function call(b) {
  const r = b.result;
  let state = CALL_STATE[b.state] || b.state || "";
  if (b.state === "denied" && b.decision && b.decision.reason) state += ": " + b.decision.reason;
  if (r) state += (state ? " · " : "") + seconds(r.seconds);
  if (b.decision && b.decision.approved) state += " · approved";
  return h("div", { class: "call " + (b.state || ""), "data-call": b.id },
    h("div", { class: "call-head" }, h("b", {}, b.name), " ", h("span", { class: "muted" }, b.id), h("span", { class: "state" }, state)),
    b.sub_run ? h("div", { class: "sub-run" }, "ran as sub-run ", h("a", { href: runLink(b.sub_run), "data-sub-run": b.sub_run }, shownName(b.sub_run))) : null,
    h("div", { class: "label" }, "input"), h("pre", { class: "input" }, json(b.input)),
    r ? h("div", { class: "result" + (r.is_error ? " error" : "") }, h("div", { class: "label" }, r.is_error ? "error" : "result"), r.parts.map(part)) : null);
}

function part(p) {
  if (p.type === "text") return h("pre", { class: "result-text" }, p.text);
  if (p.type === "image" || p.type === "document") return h("div", { class: "muted" }, "[" + p.type + (p.media_type ? ", " + p.media_type : "") + "]");
  return h("pre", {}, json(p.value));
}

window.addEventListener("hashchange", route);
route();
