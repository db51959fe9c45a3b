// The playground page: one client of the JSON API under /api (see /api/openapi.json).
// No framework, no CDN: the page must work on a machine with no internet.
"use strict";

const FILTERS = ["since", "until", "method", "path", "handler", "version", "status",
  "error_code", "request_id", "header", "body"];
const main = document.getElementById("main");
let tail = null;  // the live tail's EventSource, when on

// -- the API ----------------------------------------------------------------------

function token() { return sessionStorage.getItem("gati-token") || ""; }

(function takeTokenFromUrl() {
  const url = new URL(location.href);
  if (url.searchParams.has("token")) {
    sessionStorage.setItem("gati-token", url.searchParams.get("token"));
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
})();

class ApiError extends Error {
  constructor(status, error) {
    super(error.message || ("HTTP " + status));
    this.status = status; this.field = error.field; this.code = error.code;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (options.method === "POST") headers["X-Gati-Playground"] = "1";
  const res = await fetch(path, Object.assign({}, options, { headers }));
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: { message: text } }; }
  if (!res.ok) {
    const err = new ApiError(res.status, (data && data.error) || {});
    if (res.status === 401) askForToken(err.message);
    throw err;
  }
  return data;
}

function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" },
    body: body === undefined ? "" : JSON.stringify(body) });
}

function askForToken(message) {
  const gate = document.getElementById("token-gate");
  gate.hidden = false;
  gate.querySelector("[data-testid=token-error]").textContent = token() ? message : "";
}

document.querySelector("[data-testid=token-form]").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("gati-token", ev.target.elements.token.value);
  document.getElementById("token-gate").hidden = true;
  route();
});

// -- small DOM helpers ------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "testid") node.dataset.testid = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function pretty(value) { return JSON.stringify(value, null, 2); }
function statusClass(s) { return s ? "status-" + String(s)[0] : ""; }
function ms(v) { return v === null || v === undefined ? "-" : (+v).toFixed(2) + " ms"; }

function decode(b64) {
  if (!b64) return "";
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

function prettyText(text) {
  try { return pretty(JSON.parse(text)); } catch (e) { return text; }
}

function showError(where, err) {
  where.replaceChildren(el("p", { class: "error", testid: "error" },
    err.message + (err.field ? " (field " + err.field + ")" : "")));
}

function tabs(testid, views) {
  const body = el("div", { class: "tab-body" });
  const bar = el("div", { class: "tabs", role: "tablist", testid });
  const buttons = Object.entries(views).map(([name, render], i) => el("button", {
    role: "tab", testid: testid + "-" + name.toLowerCase().replace(/\W+/g, "-"),
    "aria-selected": i === 0 ? "true" : "false",
    onclick: (ev) => {
      for (const b of bar.children) b.setAttribute("aria-selected", "false");
      ev.target.setAttribute("aria-selected", "true");
      body.replaceChildren(render());
    },
  }, name));
  bar.append(...buttons);
  body.append(Object.values(views)[0]());
  return el("div", {}, bar, body);
}

// -- the requests list ------------------------------------------------------------

function requestRow(item, fresh) {
  return el("tr", { class: fresh ? "new" : null, testid: "request-row",
    "data-request-id": item.request_id },
  el("td", {}, (item.received_at || "").replace("T", " ").slice(0, 23)),
  el("td", {}, item.method || ""),
  el("td", {}, el("a", { href: "#/r/" + encodeURIComponent(item.request_id) }, item.path || "")),
  el("td", { class: statusClass(item.status) }, item.status === null ? "-" : item.status),
  el("td", {}, item.error_code || ""),
  el("td", {}, item.handler_id || ""),
  el("td", {}, item.version || ""),
  el("td", {}, ms(item.duration_ms)),
  el("td", { class: "mono" }, item.request_id));
}

function currentFilters() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const out = {};
  for (const f of FILTERS) if (params.get(f)) out[f] = params.get(f);
  return out;
}

async function listView() {
  const filters = currentFilters();
  const form = el("form", { class: "filters", testid: "filters" },
    FILTERS.map((f) => el("label", {}, f,
      el("input", { name: f, value: filters[f] || "", testid: "filter-" + f }))),
    el("div", {}, el("button", { type: "submit", class: "primary", testid: "apply" }, "Apply")),
    el("label", {}, el("span", {}, "live tail"),
      el("input", { type: "checkbox", testid: "live", checked: !!tail })));
  const tbody = el("tbody", { testid: "request-rows" });
  const status = el("p", { class: "muted", testid: "list-status" });
  const more = el("button", { testid: "more", hidden: true }, "Older requests");
  const table = el("table", {}, el("thead", {}, el("tr", {},
    ["received", "method", "path", "status", "error", "handler", "version", "duration", "id"]
      .map((h) => el("th", {}, h)))), tbody);
  main.replaceChildren(el("h2", {}, "Requests"), form, status, table, more);

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const f of FILTERS) if (form.elements[f].value.trim()) q.set(f, form.elements[f].value.trim());
    location.hash = "#/?" + q.toString();
  });
  form.querySelector("[data-testid=live]").addEventListener("change", (ev) => {
    if (ev.target.checked) startTail(filters, tbody); else stopTail();
  });

  let cursor = null;
  async function load() {
    const q = new URLSearchParams(filters);
    if (cursor) q.set("cursor", cursor);
    try {
      const page = await api("api/requests?" + q.toString());
      tbody.append(...page.items.map((i) => requestRow(i, false)));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      status.textContent = tbody.children.length + " shown" +
        (page.truncated ? " (search stopped after " + page.scanned + " rows; go on with Older)" : "");
    } catch (err) { showError(status, err); }
  }
  more.addEventListener("click", load);
  await load();
  if (tail) startTail(filters, tbody);
}

function startTail(filters, tbody) {
  stopTail();
  const q = new URLSearchParams(filters);
  if (token()) q.set("token", token());
  tail = new EventSource("api/tail?" + q.toString());
  tail.addEventListener("request", (ev) => {
    tbody.prepend(requestRow(JSON.parse(ev.data), true));
  });
}

function stopTail() { if (tail) { tail.close(); tail = null; } }

// -- one request ------------------------------------------------------------------

function headerPanel(r) {
  const routed = (r.steps.find((s) => s.stage === "routed") || {}).detail || {};
  const rows = [
    ["request id", r.request_id], ["status", r.status], ["error code", r.error_code],
    ["method", r.method], ["path", r.path + (r.query ? "?" + r.query : "")],
    ["handler", r.handler_id], ["version served", r.version],
    ["version asked for", routed.requested_version || r.version_pref],
    ["received", r.received_at], ["completed", r.completed_at],
    ["duration", ms(r.duration_ms)], ["gateway", r.gateway_id],
    ["worker", (r.worker_ids || []).length > 1 ? r.worker_id + " (also " + r.worker_ids.filter((w) => w !== r.worker_id).join(", ") + ")" : r.worker_id],
    ["kafka topic", r.log_topic], ["kafka partition", r.log_partition], ["kafka offset", r.log_offset],
    ["client", r.client], ["body schema", r.body_schema], ["deadline", r.deadline_at], ["steps", r.steps.length],
  ];
  return el("dl", { class: "head panel", testid: "header-panel" },
    rows.map(([k, v]) => [el("dt", {}, k),
      el("dd", { testid: "head-" + k.replace(/ /g, "-") }, v === null || v === undefined ? "-" : v)]));
}

function messagePanel(title, testid, headers, text) {
  return el("div", { testid }, el("h3", {}, title), tabs(testid + "-view", {
    Pretty: () => el("pre", { testid: testid + "-pretty" }, prettyText(text) || "(empty)"),
    Raw: () => el("pre", { testid: testid + "-raw" },
      headers.map(([k, v]) => k + ": " + v).join("\n") + "\n\n" + text),
  }));
}

function byHook(steps) {
  const groups = [];
  let current = { title: "request", steps: [] };
  groups.push(current);
  for (const s of steps) {
    const d = s.detail || {};
    if (s.stage === "hook_start" || s.stage === "handler_start") {
      current = { title: s.stage === "handler_start" ? "handler" :
        (d.kind || "hook") + " " + String(d.hook || "?").split(".").pop(), steps: [] };
      groups.push(current);
    }
    current.steps.push(s);
    if (["hook_end", "hook_error", "handler_end"].includes(s.stage)) {
      current = { title: "request", steps: [] };
      groups.push(current);
    }
  }
  return el("div", { testid: "hooks" }, groups.filter((g) => g.steps.length).map((g) =>
    el("div", { class: "group", testid: "hook-group" }, el("div", { class: "title" }, g.title),
      g.steps.map((s) => el("div", { class: "mono" }, "#" + s.seq + " " + s.stage + "  " + (s.summary || ""))))));
}

function bar(left, width) {
  // Set through the CSSOM: the page's CSP (style-src 'self') drops style attributes.
  const node = el("div", { class: "wf-bar" });
  node.style.left = left + "%";
  node.style.width = width + "%";
  return node;
}

function waterfall(steps) {
  const total = Math.max(0.001, ...steps.map((s) => s.ms_since_start));
  const rows = [];
  const open = {};
  for (const s of steps) {
    const d = s.detail || {};
    const key = s.stage === "handler_start" || s.stage === "handler_end" ? "handler" : d.hook;
    if (s.stage === "hook_start" || s.stage === "handler_start") { open[key] = s; continue; }
    let start = s.ms_since_start, dur = 0, name = s.stage;
    if (["hook_end", "hook_error", "handler_end"].includes(s.stage) && open[key]) {
      start = open[key].ms_since_start; dur = s.ms_since_start - start;
      name = key === "handler" ? "handler" : String(key).split(".").pop();
    } else if (s.stage === "effect" && d.duration_ms) {
      dur = d.duration_ms; start = Math.max(0, s.ms_since_start - dur);
      name = "effect " + (d.module ? d.module + "." + d.method : d.kind);
    } else if (s.stage === "effect") { name = "effect " + d.kind; }
    rows.push(el("div", { class: "wf-row", testid: "waterfall-row" },
      el("span", { class: "mono" }, "#" + s.seq + " " + name),
      el("div", { class: "wf-track" }, bar(100 * start / total, 100 * dur / total)),
      el("span", {}, ms(dur))));
  }
  return el("div", { testid: "waterfall" }, rows);
}

function effectsPanel(steps) {
  const effects = steps.filter((s) => s.stage === "effect");
  return el("div", { testid: "effects" }, el("h3", {}, "Effects (" + effects.length + ")"),
    el("table", {}, el("thead", {}, el("tr", {}, ["#", "kind", "call", "result / value"].map((h) => el("th", {}, h)))),
      el("tbody", {}, effects.map((s) => {
        const d = s.detail || {};
        const call = d.module ? d.module + "." + d.method + "(" + (d.args || []).map((a) => JSON.stringify(a)).join(", ") + ")" : (d.name || "");
        return el("tr", { testid: "effect-row" }, el("td", {}, s.seq), el("td", {}, d.kind),
          el("td", { class: "mono" }, call),
          el("td", { class: "mono" }, JSON.stringify(d.error || d.result !== undefined ? (d.error || d.result) : d.value)));
      }))));
}

function flatten(value, path = "$", out = {}) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, path + "." + k, out);
  } else out[path] = JSON.stringify(value);
  return out;
}

function snapshotsPanel(steps) {
  const snaps = steps.filter((s) => s.stage === "snapshot");
  const pick = (testid, i) => el("select", { testid }, snaps.map((s, j) => el("option",
    { value: j, selected: i === j }, "#" + s.seq + " " + ((s.detail || {}).label || ""))));
  const a = pick("snap-a", 0), b = pick("snap-b", Math.max(0, snaps.length - 1));
  const out = el("table", { testid: "snapshot-diff" });
  function diff() {
    const x = flatten((snaps[a.value].detail || {}).state || {});
    const y = flatten((snaps[b.value].detail || {}).state || {});
    const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
    out.replaceChildren(el("tr", {}, el("th", {}, "state"), el("th", {}, "#" + snaps[a.value].seq),
      el("th", {}, "#" + snaps[b.value].seq)),
    ...keys.map((k) => el("tr", { class: !(k in x) ? "added" : !(k in y) ? "removed" : x[k] !== y[k] ? "changed" : "" },
      el("td", { class: "mono" }, k), el("td", { class: "mono" }, x[k] || ""), el("td", { class: "mono" }, y[k] || ""))));
  }
  if (!snaps.length) return el("div", { testid: "snapshots" }, el("h3", {}, "Snapshots"), el("p", {}, "none recorded"));
  a.addEventListener("change", diff); b.addEventListener("change", diff); diff();
  return el("div", { testid: "snapshots" }, el("h3", {}, "Snapshots (" + snaps.length + ")"),
    el("p", {}, "compare ", a, " with ", b), out);
}

function replayResult(res) {
  const d = res.divergence;
  const rec = res.recorded.trace, rep = res.replayed.trace;
  const first = d && d.kind === "trace" ? d.step : (d ? rec.findIndex((s, i) => s !== rep[i]) : -1);
  const rows = [];
  for (let i = 0; i < Math.max(rec.length, rep.length); i++) {
    rows.push(el("tr", { class: i === first ? "diverged" : "", testid: i === first ? "divergent-step" : "trace-row" },
      el("td", {}, i), el("td", { class: "mono" }, rec[i] || ""), el("td", { class: "mono" }, rep[i] || "")));
  }
  const badge = res.error ? el("span", { class: "badge bad", testid: "replay-verdict" }, "failed")
    : el("span", { class: "badge " + (res.identical ? "ok" : "bad"), testid: "replay-verdict" },
      res.identical ? "identical" : "diverged");
  return el("div", { class: "panel", testid: "replay-result", "data-kind": res.kind },
    el("p", {}, badge, " ",
      res.edited ? el("span", { class: "badge edited", testid: "replay-edited" }, "edited body: a new replay, not recorded") : null,
      res.imported ? el("span", { class: "badge edited", testid: "replay-imported" }, "imported file") : null,
      " ", res.kind.replace(/_/g, " "), res.from_step === null || res.from_step === undefined ? "" : " (step " + res.from_step + ")", " · recorded ", res.recorded.status, " (", res.recorded.version, ")",
      " · replay ", res.replayed.status === null ? "-" : res.replayed.status, " (", res.replayed.version, ")"),
    res.error ? el("p", { class: "error", testid: "replay-error" }, res.error) : null,
    d ? el("p", { class: "error", testid: "divergence" }, d.message) : null,
    el("div", { class: "cols" },
      el("div", {}, el("h3", {}, "recorded response"), el("pre", { testid: "recorded-body" }, pretty(res.recorded.body))),
      el("div", {}, el("h3", {}, "replay response"), el("pre", { testid: "replayed-body" }, pretty(res.replayed.body)))),
    el("table", { testid: "trace" }, el("tr", {}, el("th", {}, "#"), el("th", {}, "recorded trace"), el("th", {}, "replay trace")), rows));
}

function replayPanel(r) {
  const out = el("div", { testid: "replay-output" });
  const run = (body) => post("api/requests/" + encodeURIComponent(r.request_id) + "/replay", body)
    .then((res) => out.replaceChildren(replayResult(res)), (err) => showError(out, err));
  if (!r.replayable) {
    return el("div", { class: "panel", testid: "replay" }, el("h3", {}, "Replay"),
      el("p", {}, "Replay needs the app's code (start with --app) and a complete record."));
  }
  const versions = el("select", { testid: "replay-version" },
    r.replay_versions.map((v) => el("option", { value: v.version, selected: v.version === r.version },
      v.version + (v.tags.length ? " (" + v.tags.join(", ") + ")" : ""))));
  const rawBox = el("input", { type: "checkbox", testid: "replay-raw" });
  const body = el("textarea", { rows: 4, cols: 60, testid: "replay-body" }, prettyText(decode(r.body_b64)));
  const snaps = r.steps.filter((s) => s.stage === "snapshot");
  const at = el("select", { testid: "replay-at" }, snaps.map((s) => el("option", { value: s.seq }, (snaps.indexOf(s) + 1) + ": step " + s.seq + " " + ((s.detail || {}).label || ""))));
  return el("div", { class: "panel", testid: "replay" }, el("h3", {}, "Replay"),
    el("p", {}, el("button", { class: "primary", testid: "replay-recorded", onclick: () => run({}) }, "Replay as recorded")),
    el("p", {}, "against ", versions, " ", el("label", {}, rawBox, " raw (untransformed)"), " ",
      el("button", { testid: "replay-against", onclick: () => run({ version: versions.value, raw: rawBox.checked || undefined }) }, "Replay against version")),
    el("p", {}, body, " ", el("button", { testid: "replay-edited-run", onclick: () => run({ body: body.value }) }, "Replay with this body")),
    snaps.length ? el("p", {}, "from snapshot ", at, " ", el("button", { testid: "replay-snapshot", onclick: () => run({ at: +at.value }) }, "Replay from snapshot")) : null,
    out);
}

async function requestView(rid) {
  main.replaceChildren(el("p", {}, "loading ", rid));
  let r;
  try { r = await api("api/requests/" + encodeURIComponent(rid)); } catch (err) { showError(main, err); return; }
  const responded = r.steps.filter((s) => s.stage === "responded").pop();
  const rd = (responded && responded.detail) || {};
  main.replaceChildren(
    el("h2", { testid: "request-title" }, r.method, " ", r.path, " ",
      el("span", { class: statusClass(r.status) }, r.status), " ",
      el("a", { href: "api/requests/" + encodeURIComponent(rid) + "/export", testid: "export",
        onclick: (ev) => { ev.preventDefault(); exportRecord(rid); } }, "Export")),
    headerPanel(r),
    el("div", { class: "cols" },
      messagePanel("Request", "request", r.headers, decode(r.body_b64)),
      messagePanel("Response", "response", rd.headers || [], decode(rd.body_b64))),
    el("h3", {}, "Lifecycle"),
    tabs("lifecycle", { "By hook": () => byHook(r.steps), Waterfall: () => waterfall(r.steps),
      "Raw JSON": () => el("pre", { testid: "lifecycle-raw" }, pretty(r.steps)) }),
    effectsPanel(r.steps), snapshotsPanel(r.steps), replayPanel(r));
}

async function exportRecord(rid) {
  const doc = await api("api/requests/" + encodeURIComponent(rid) + "/export");
  const url = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" }));
  const a = el("a", { href: url, download: "gati-" + rid + ".json" });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

document.querySelector("[data-testid=import-file]").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (!file) return;
  ev.target.value = "";
  stopTail();
  main.replaceChildren(el("h2", {}, "Imported record: ", file.name));
  const out = el("div", { testid: "replay-output" });
  main.append(out);
  try {
    const res = await api("api/import", { method: "POST", headers: { "Content-Type": "application/json" }, body: await file.text() });
    out.replaceChildren(replayResult(res));
  } catch (err) { showError(out, err); }
});

// -- versions and batch replay ----------------------------------------------------

async function versionsView() {
  const body = el("tbody", {});
  main.replaceChildren(el("h2", {}, "Versions"), el("table", { testid: "versions" },
    el("thead", {}, el("tr", {}, ["handler", "version", "tags", "status", "breaking", "usage", "1h", "24h"].map((h) => el("th", {}, h)))), body));
  try {
    const rows = await api("api/versions");
    body.append(...rows.map((v) => el("tr", { testid: "version-row" }, el("td", {}, v.handler_id),
      el("td", {}, v.version), el("td", {}, v.tags.join(", ")), el("td", {}, v.status),
      el("td", {}, v.breaking === null ? "?" : v.breaking ? "breaking" : "compatible"),
      el("td", { testid: "temperature" }, v.temperature), el("td", {}, v.requests_1h), el("td", {}, v.requests_24h))));
    if (!rows.length) body.append(el("tr", {}, el("td", { colspan: 8 }, "no versions registered (a worker registers its app's versions at start)")));
  } catch (err) { showError(main, err); }
  const form = el("form", { class: "filters", testid: "compat-form" },
    ["handler", "old", "new"].map((f) => el("label", {}, f, el("input", { name: f, testid: "compat-" + f }))),
    el("div", {}, el("button", { type: "submit", class: "primary", testid: "compat-run" }, "Compare")));
  const out = el("div", { testid: "compat-report" });
  main.append(el("h3", {}, "Compatibility between two versions"), form, out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const f of ["handler", "old", "new"]) q.set(f, form.elements[f].value.trim());
    try {
      const r = await api("api/versions/compatibility?" + q.toString());
      out.replaceChildren(el("p", {}, el("span", { class: "badge " + (r.breaking ? "bad" : "ok"), testid: "compat-verdict" },
        r.breaking ? "breaking" : "compatible"), " " + r.handler_id + ": " + r.old + " → " + r.new),
      el("div", { class: "cols" }, ["request", "response"].map((side) => el("div", {},
        el("h3", {}, side + " (" + r[side].mode + ")"), el("pre", { testid: "compat-" + side }, r[side].report)))));
    } catch (err) { showError(out, err); }
  });
}

function batchView() {
  const form = el("form", { class: "filters", testid: "batch-form" },
    ["since", "until", "handler", "version"].map((f) => el("label", {}, f, el("input", { name: f, testid: "batch-" + f, value: f === "since" ? "1h" : "" }))),
    el("div", {}, el("button", { type: "submit", class: "primary", testid: "batch-run" }, "Replay the window")));
  const progress = el("progress", { testid: "batch-progress", hidden: true });
  const out = el("div", { testid: "batch-summary" });
  main.replaceChildren(el("h2", {}, "Batch replay"), form, progress, out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const doc = {};
    for (const f of ["since", "until", "handler", "version"]) if (form.elements[f].value.trim()) doc[f] = form.elements[f].value.trim();
    progress.hidden = false; progress.removeAttribute("value"); out.replaceChildren();
    try {
      let job = await post("api/replay/batches", doc);
      progress.max = Math.max(1, job.total);
      while (!job.done) {
        progress.value = job.replayed;
        progress.dataset.replayed = job.replayed;
        await new Promise((r) => setTimeout(r, 200));
        job = await api("api/replay/batches/" + encodeURIComponent(job.job_id));
      }
      if (job.error) throw new Error(job.error);
      const s = job.summary;
      progress.value = progress.max;
      out.replaceChildren(el("p", { testid: "batch-totals" }, s.total + " replayed: " + s.identical + " identical, " +
          s.diverged.length + " diverged, " + s.failed.length + " failed in " + s.duration_s + " s"),
      el("table", {}, el("tr", {}, el("th", {}, "request"), el("th", {}, "status"), el("th", {}, "first divergence")),
        s.diverged.concat(s.failed.map((f) => ({ request_id: f.request_id, message: f.error }))).map((d) => el("tr", { testid: "batch-divergence" },
          el("td", {}, el("a", { href: "#/r/" + encodeURIComponent(d.request_id) }, d.request_id)),
          el("td", {}, (d.recorded_status || "") + " → " + (d.replayed_status || "-")), el("td", {}, d.message)))));
    } catch (err) { showError(out, err); } finally { if (!progress.value) progress.hidden = true; }
  });
}

// -- debug gates ------------------------------------------------------------------

let gatesTimer = null;

function pausedCard(p) {
  const state = el("textarea", { rows: 6, cols: 70, testid: "paused-state" }, pretty(p.state));
  const out = el("p", { class: "error", testid: "paused-error" });
  const decide = (action) => {
    let edited;
    try { edited = JSON.parse(state.value); } catch (e) { out.textContent = "state is not JSON"; return; }
    const set = {}, del = [];
    for (const [k, v] of Object.entries(edited)) if (JSON.stringify(v) !== JSON.stringify(p.state[k])) set[k] = v;
    for (const k of Object.keys(p.state)) if (!(k in edited)) del.push(k);
    post("api/paused/" + encodeURIComponent(p.pause_id), { action, set, delete: del })
      .then(() => refreshGates(), (err) => showError(out, err));
  };
  return el("div", { class: "panel", testid: "paused", "data-request-id": p.request_id },
    el("p", {}, el("strong", {}, "paused "), p.point + " " + p.target + " · ",
      el("a", { href: "#/r/" + encodeURIComponent(p.request_id) }, p.request_id), " · gate " + p.gate_id,
      p.worker_id ? " · worker " + p.worker_id : ""),
    el("p", {}, "lctx state (edit, then resume or step):"), state,
    el("p", {}, el("button", { class: "primary", testid: "resume", onclick: () => decide("resume") }, "Resume"), " ",
      el("button", { testid: "step", onclick: () => decide("step") }, "Step to next hook"), " ",
      el("button", { testid: "abort", onclick: () => decide("abort") }, "Abort")), out);
}

let shownPaused = "";

async function refreshGates() {
  const list = document.querySelector("[data-testid=gate-list]");
  const paused = document.querySelector("[data-testid=paused-list]");
  if (!list || !paused) { clearInterval(gatesTimer); gatesTimer = null; return; }
  let s;
  try { s = await api("api/gates"); } catch (err) { showError(list, err); return; }
  if (!s.available) { list.replaceChildren(el("p", { testid: "gates-unavailable" }, "Debug gates need workers to steer: open the playground of gati dev, or start gati playground with GATI_KAFKA_BOOTSTRAP (and --app).")); return; }
  list.replaceChildren(...s.gates.map((g) => el("div", { testid: "gate", class: "mono" },
    g.gate_id + ": " + g.point + " " + g.target + " of " + (g.handler_id || g.path) +
      (g.header ? " if " + g.header.join(":") : "") + (g.debug_only ? " if X-Gati-Debug" : "") + " (" + g.timeout_s + " s) ",
    el("span", { testid: "gate-armed" }, (g.armed_on || []).length ? "in force on " + g.armed_on.join(", ") + " " : "not in force on any worker yet "),
    el("button", { testid: "lift", onclick: () => post("api/gates/" + encodeURIComponent(g.gate_id) + "/delete").then(refreshGates) }, "Lift"))));
  const key = s.paused.map((p) => p.pause_id).join(",");
  if (key !== shownPaused) {
    shownPaused = key;
    paused.replaceChildren(...(s.paused.length ? s.paused.map(pausedCard) : [el("p", {}, "no request is paused")]));
  }
}

function gatesView() {
  const form = el("form", { class: "filters", testid: "gate-form" },
    el("label", {}, "handler id", el("input", { name: "handler_id", testid: "gate-handler" })),
    el("label", {}, "or path prefix", el("input", { name: "path", testid: "gate-path" })),
    el("label", {}, "point", el("select", { name: "point", testid: "gate-point" },
      el("option", { value: "before" }, "before"), el("option", { value: "after" }, "after"))),
    el("label", {}, "hook name or handler", el("input", { name: "target", value: "handler", testid: "gate-target" })),
    el("label", {}, "only with header (name:value)", el("input", { name: "header", testid: "gate-header" })),
    el("label", {}, "timeout (s)", el("input", { name: "timeout_s", value: "60", testid: "gate-timeout" })),
    el("label", {}, el("span", {}, "only with X-Gati-Debug"), el("input", { type: "checkbox", name: "debug_only", testid: "gate-debug" })),
    el("div", {}, el("button", { type: "submit", class: "primary", testid: "gate-add" }, "Set gate")));
  const error = el("p", { testid: "gate-error" });
  main.replaceChildren(el("h2", {}, "Debug gates"), form, error,
    el("h3", {}, "Gates"), el("div", { testid: "gate-list" }),
    el("h3", {}, "Paused requests"), el("div", { testid: "paused-list" }));
  shownPaused = null;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = form.elements, doc = { point: f.point.value, target: f.target.value.trim(),
      debug_only: f.debug_only.checked, timeout_s: +f.timeout_s.value };
    for (const k of ["handler_id", "path", "header"]) if (f[k].value.trim()) doc[k] = f[k].value.trim();
    error.replaceChildren();
    try { await post("api/gates", doc); } catch (err) { showError(error, err); }
    refreshGates();
  });
  refreshGates();
  if (!gatesTimer) gatesTimer = setInterval(refreshGates, 500);
}

// -- routing ----------------------------------------------------------------------

function route() {
  const hash = location.hash || "#/";
  if (!hash.startsWith("#/?") && hash !== "#/") stopTail();
  if (hash.startsWith("#/r/")) return requestView(decodeURIComponent(hash.slice(4)));
  if (hash === "#/versions") return versionsView();
  if (hash === "#/batch") return batchView();
  if (hash === "#/gates") return gatesView();
  return listView();
}

window.addEventListener("hashchange", route);
route();
