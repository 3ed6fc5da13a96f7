// The ZeroDB console: plain JavaScript, no library. Everything it shows
// comes from this node's JSON API (see node/src/runtime/console/mod.rs).
// Text from the cluster is set with textContent, never parsed as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 2000;
// Points kept per chart line: 150 samples of 2 s are the last 5 minutes;
// older points are dropped so a tab left open does not grow.
const HISTORY_MAX = 150;
const CHARTS = [
  { key: "requests", title: "throughput (requests/s)" },
  { key: "fast_path_commits", title: "fast-path commits/s" },
  { key: "classic_path_commits", title: "classic-path commits/s" },
  { key: "aborted", title: "aborts/s" },
  { key: "fsyncs", title: "fsyncs/s" },
  { key: "committed", title: "commits/s" },
  // Gauges, charted as they are (in ms): each node's latency over its last
  // 10 to 20 s, so a slow minute shows as a bump, not a drift.
  { key: "recent_p50_us", title: "p50 latency (ms)", gauge: true },
  { key: "recent_p99_us", title: "p99 latency (ms)", gauge: true },
];

// The page's own colours of health (the CSS badges use the same).
const HEALTH_COLOUR = { up: "#1a9e55", suspect: "#d99a00", down: "#d92d20", recovering: "#2f6fd6" };

const state = { ring: null, placement: null, samples: new Map(), history: new Map(), polls: 0 };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    // Through the CSSOM: the content security policy refuses inline style
    // attributes.
    else if (name === "background") node.style.background = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  return node;
}

function colour(node) {
  return `hsl(${(node * 137.508) % 360}, 62%, 48%)`;
}

async function api(path, options) {
  const response = await fetch(path, options);
  let body;
  try {
    body = await response.json();
  } catch (error) {
    throw new Error(`${path}: HTTP ${response.status}, not JSON`);
  }
  return { ok: response.ok, status: response.status, body };
}

function setConnection(ok, text) {
  const badge = document.getElementById("connection");
  badge.className = "badge " + (ok ? "up" : "down");
  badge.textContent = text;
}

// ---- the ring ----------------------------------------------------------

function point(position, radius) {
  const angle = position * 2 * Math.PI - Math.PI / 2;
  return [radius * Math.cos(angle), radius * Math.sin(angle)];
}

function arc(from, to, radius) {
  let span = to - from;
  if (span <= 0) span += 1;
  const [x1, y1] = point(from, radius);
  const [x2, y2] = point(from + span, radius);
  const large = span > 0.5 ? 1 : 0;
  return `M ${x1.toFixed(2)} ${y1.toFixed(2)} A ${radius} ${radius} 0 ${large} 1 ${x2.toFixed(2)} ${y2.toFixed(2)}`;
}

function drawRing() {
  const ring = state.ring;
  const root = document.getElementById("ring");
  root.replaceChildren();
  if (!ring) return;
  const health = new Map(ring.members.map((m) => [m.id, m.health]));
  const replicas = state.placement ? state.placement.replicas : null;
  const tokens = ring.tokens;
  root.append(svg("circle", { r: 170, fill: "none", stroke: "#e3e6ec", "stroke-width": 22 }));
  tokens.forEach((token, index) => {
    const previous = tokens[(index + tokens.length - 1) % tokens.length];
    const down = health.get(token.node) === "down";
    const faded = replicas && !replicas.includes(token.node);
    const path = svg("path", {
      d: tokens.length === 1 ? arc(token.position, token.position + 0.9999, 170) : arc(previous.position, token.position, 170),
      fill: "none",
      stroke: colour(token.node),
      "stroke-width": replicas && !faded ? 26 : 18,
      "stroke-opacity": down ? 0.35 : faded ? 0.25 : 1,
      "stroke-dasharray": down ? "4 3" : "none",
      "data-node": token.node,
    });
    path.append(svg("title", {}));
    path.lastChild.textContent = `token ${token.token}: node n${token.node}`;
    root.append(path);
    const [x1, y1] = point(token.position, 150);
    const [x2, y2] = point(token.position, 158);
    root.append(svg("line", { x1, y1, x2, y2, stroke: down ? "#d92d20" : "#98a2b3", "stroke-width": 1 }));
  });
  // Health marks: a labelled dot per member inside the ring (a member
  // holds many tokens, so it has no single place on the circle).
  const across = Math.min(ring.members.length, 6);
  ring.members.forEach((member, index) => {
    const x = ((index % across) - (across - 1) / 2) * 30;
    const y = -40 + Math.floor(index / across) * 30;
    const mark = svg("g", { class: "health-mark", "data-node": member.id, "data-health": member.health });
    mark.append(svg("circle", { cx: x, cy: y, r: 12, fill: colour(member.id) }));
    mark.append(svg("circle", { cx: x + 9, cy: y - 9, r: 5, fill: HEALTH_COLOUR[member.health] || "#667085", stroke: "#fff", "stroke-width": 1.5 }));
    const label = svg("text", { x, y: y + 4, "text-anchor": "middle", "font-size": 10, fill: "#fff", "font-weight": 700 });
    label.textContent = `n${member.id}`;
    mark.append(label);
    mark.append(svg("title", {}));
    mark.lastChild.textContent = `n${member.id}: ${member.health}`;
    root.append(mark);
  });
  if (state.placement) {
    const [x, y] = point(state.placement.position, 140);
    root.append(svg("line", { x1: 0, y1: 0, x2: x, y2: y, stroke: "#111827", "stroke-width": 2 }));
    root.append(svg("circle", { cx: x, cy: y, r: 5, fill: "#111827", id: "key-mark" }));
  }
  const centre = svg("text", { x: 0, y: 30, "text-anchor": "middle", "font-size": 14, fill: "#667085" });
  centre.textContent = `${ring.members.length} nodes · ${tokens.length} tokens`;
  root.append(centre);
}

function drawMembers() {
  const ring = state.ring;
  const body = document.querySelector("#members tbody");
  body.replaceChildren();
  const replicas = state.placement ? state.placement.replicas : [];
  for (const member of ring.members) {
    const shown = member.health === "down" ? "DOWN" : member.health;
    const row = el("tr", { "data-node": member.id, "data-health": member.health },
      el("td", {}, el("span", { class: "swatch", background: colour(member.id) }), `n${member.id}`,
        member.id === ring.node ? "*" : ""),
      el("td", {}, el("span", { class: `badge ${member.health}` }, shown),
        member.status !== "normal" ? ` ${member.status}` : ""),
      el("td", {}, `${member.region}/${member.zone}`),
      el("td", {}, member.tokens),
      el("td", {}, `${(member.ownership_ppm / 10000).toFixed(1)}%`));
    row.title = `n${member.id} at ${member.address}, catalog version ${member.catalog_version}` +
      (member.id === ring.node ? " (this node: the page's answers come from it)" : "");
    if (replicas.includes(member.id)) row.classList.add("replica");
    body.append(row);
  }
  const up = ring.members.filter((m) => m.health !== "down").length;
  document.getElementById("cluster-summary").textContent =
    `node n${ring.node} · ring epoch ${ring.epoch} · RF ${ring.replication_factor} · ${up} of ${ring.members.length} nodes up`;
  document.getElementById("moves-list").textContent =
    ring.moves.length ? ring.moves.join("; ") : "none in progress";
}

async function refreshRing() {
  try {
    const { ok, body } = await api("/api/ring");
    if (!ok) throw new Error(body.error);
    state.ring = body;
    drawRing();
    drawMembers();
    setConnection(true, "live");
  } catch (error) {
    setConnection(false, `no answer: ${error.message}`);
  }
}

async function showPlacement(event) {
  if (event) event.preventDefault();
  const form = new FormData(document.getElementById("key-form"));
  const query = new URLSearchParams(form).toString();
  const out = document.getElementById("placement");
  let answer;
  try {
    answer = await api(`/api/placement?${query}`);
  } catch (error) {
    out.textContent = `the node did not answer: ${error.message}`;
    return;
  }
  const { ok, body } = answer;
  if (!ok) {
    state.placement = null;
    out.textContent = body.error;
  } else {
    state.placement = body;
    out.textContent = `replica ring of ${body.namespace}/${body.database}/${body.table}/${body.id} ` +
      `(partition level ${body.partition_level}, token ${body.token}): ` +
      body.replicas.map((n) => `n${n}`).join(" → ");
  }
  drawRing();
  drawMembers();
}

// ---- charts ------------------------------------------------------------

function buildCharts() {
  const root = document.getElementById("charts");
  for (const chart of CHARTS) {
    const box = el("div", { class: "chart", "data-metric": chart.key },
      el("h3", {}, chart.title, el("span", { class: "now" }, "")));
    const plot = svg("svg", { viewBox: "0 0 300 100", preserveAspectRatio: "none" });
    box.append(plot);
    root.append(box);
  }
}

// Rates divide by the answering node's own clock (`sampled_ms`), not the
// browser's, so a slow fetch does not bend them.
function record(figures) {
  for (const entry of figures) {
    if (!entry.figures) continue;
    const now = entry.sampled_ms;
    const before = state.samples.get(entry.node);
    state.samples.set(entry.node, { at: now, figures: entry.figures });
    if (!before) continue;
    const seconds = (now - before.at) / 1000;
    if (seconds <= 0) continue;
    for (const chart of CHARTS) {
      const delta = entry.figures[chart.key] - before.figures[chart.key];
      // A counter that went back means the node restarted: no rate.
      const rate = delta >= 0 ? delta / seconds : 0;
      const value = chart.gauge ? entry.figures[chart.key] / 1000 : rate;
      const id = `${chart.key}/${entry.node}`;
      const line = state.history.get(id) || [];
      line.push(value);
      if (line.length > HISTORY_MAX) line.splice(0, line.length - HISTORY_MAX);
      state.history.set(id, line);
    }
  }
}

function drawCharts(figures) {
  for (const chart of CHARTS) {
    const box = document.querySelector(`.chart[data-metric="${chart.key}"]`);
    const plot = box.querySelector("svg");
    let top = 1;
    const lines = [];
    for (const entry of figures) {
      const line = state.history.get(`${chart.key}/${entry.node}`) || [];
      lines.push([entry.node, line]);
      for (const value of line) top = Math.max(top, value);
    }
    plot.replaceChildren();
    let total = 0;
    let highest = 0;
    for (const [node, line] of lines) {
      if (line.length === 0) continue;
      total += line[line.length - 1];
      highest = Math.max(highest, line[line.length - 1]);
      const step = 300 / (HISTORY_MAX - 1);
      const offset = 300 - step * (line.length - 1);
      const points = line.map((v, i) => `${(offset + i * step).toFixed(1)},${(98 - (v / top) * 94).toFixed(1)}`).join(" ");
      plot.append(svg("polyline", { points, fill: "none", stroke: colour(node), "stroke-width": 1.5, "data-node": node, "vector-effect": "non-scaling-stroke" }));
    }
    box.querySelector(".now").textContent = chart.gauge
      ? `highest now ${highest.toFixed(1)} ms · top of scale ${top.toFixed(1)}`
      : `all nodes now ${total.toFixed(1)}/s · top of scale ${top.toFixed(1)}`;
  }
  const latency = figures.filter((f) => f.figures).map((f) =>
    `n${f.node} p50 ${f.figures.latency_p50_us} µs, p99 ${f.figures.latency_p99_us} µs`);
  const missing = figures.filter((f) => !f.figures).map((f) => `n${f.node}: ${f.error}`);
  document.getElementById("latency").textContent =
    `latency since start: ${latency.join(" · ")}` + (missing.length ? ` — no figures from ${missing.join("; ")}` : "");
}

async function refreshFigures() {
  try {
    const { ok, body } = await api("/api/metrics");
    if (!ok) throw new Error(body.error);
    record(body);
    drawCharts(body);
  } catch (error) {
    document.getElementById("latency").textContent = `figures: ${error.message}`;
  }
  notePoll();
}

// The page's own upkeep, on <body data-*> for the browser test: how many
// chart updates ran, and the page's elements and JavaScript heap
// (Chromium's performance.memory) once the chart histories are full and
// now. A tab left open must not grow once they are full. `window.gc`
// exists only when the browser was started with --js-flags=--expose-gc
// (the test does), so the heap figures are of live objects.
function notePoll() {
  state.polls += 1;
  const report = document.body.dataset;
  report.polls = state.polls;
  const full = state.polls === HISTORY_MAX + 10;
  const elements = document.getElementsByTagName("*").length;
  if (full) report.elementsFull = elements;
  report.elementsNow = elements;
  if (!performance.memory) return;
  if (window.gc) window.gc();
  const heap = performance.memory.usedJSHeapSize;
  if (full) report.heapFull = heap;
  report.heapNow = heap;
}

// ---- namespaces --------------------------------------------------------

async function refreshNamespaces() {
  let answer;
  try {
    answer = await api("/api/namespaces");
  } catch (error) {
    document.getElementById("admins").textContent = `namespaces: ${error.message}`;
    return;
  }
  const { ok, body } = answer;
  const table = document.querySelector("#namespaces tbody");
  table.replaceChildren();
  if (!ok) {
    document.getElementById("admins").textContent = body.error;
    return;
  }
  for (const ns of body.namespaces) {
    const roles = Object.entries(ns.roles).map(([user, role]) => `${user}: ${role}`).join(", ");
    table.append(el("tr", { "data-namespace": ns.name },
      el("td", {}, ns.name), el("td", {}, ns.consistency), el("td", {}, ns.replication_factor),
      el("td", {}, ns.partition_level), el("td", {}, ns.regions.length ? ns.regions.join(", ") : "any"),
      el("td", {}, roles || "—")));
  }
  document.getElementById("admins").textContent = body.catalog_version === null
    ? "this node has not loaded the catalog yet"
    : `catalog version ${body.catalog_version}; cluster admins: ${body.admins.join(", ") || "none"}`;
}

// ---- zeroql ------------------------------------------------------------

function resultTable(value) {
  if (Array.isArray(value) && value.length > 0 && value.every((row) => row && typeof row === "object" && !Array.isArray(row))) {
    const columns = [];
    for (const row of value) for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
    const head = el("tr", {}, ...columns.map((c) => el("th", {}, c)));
    const rows = value.map((row) => el("tr", {}, ...columns.map((c) => {
      const cell = row[c];
      return el("td", {}, cell === undefined ? "" : typeof cell === "object" ? JSON.stringify(cell) : cell);
    })));
    return el("table", { class: "result" }, el("thead", {}, head), el("tbody", {}, ...rows));
  }
  if (Array.isArray(value) && value.length === 0) return el("p", { class: "note" }, "(no rows)");
  if (value === null) return el("p", { class: "note" }, "OK");
  return el("pre", {}, JSON.stringify(value, null, 2));
}

// ---- graph view of results --------------------------------------------

// Most records the graph view draws; a larger result says so instead.
const GRAPH_VERTICES_MAX = 150;
// A record id as the API writes it (zeroql text: `table:id`).
const RECORD_ID = /^[A-Za-z_][A-Za-z0-9_]*:\S+$/;

function isRecordId(value) {
  return typeof value === "string" && RECORD_ID.test(value);
}

// Every record id inside a value (arrays and objects walked).
function recordIds(value, out) {
  if (isRecordId(value)) out.push(value);
  else if (Array.isArray(value)) for (const item of value) recordIds(item, out);
  else if (value && typeof value === "object") for (const item of Object.values(value)) recordIds(item, out);
  return out;
}

// The graph in statement results: a row with an `id` links to every record
// id in its other fields (a traversal's results, labelled by field); an
// edge record (`in`, `out`) links its two ends, labelled by its table.
function resultEdges(results) {
  const edges = [];
  const rows = [];
  for (const value of results) if (Array.isArray(value)) rows.push(...value);
  for (const row of rows) {
    if (!row || typeof row !== "object" || Array.isArray(row)) continue;
    if (isRecordId(row.in) && isRecordId(row.out)) {
      edges.push({ from: row.in, to: row.out, label: isRecordId(row.id) ? row.id.split(":")[0] : "" });
      continue;
    }
    if (!isRecordId(row.id)) continue;
    for (const [field, value] of Object.entries(row)) {
      if (field === "id") continue;
      for (const to of recordIds(value, [])) edges.push({ from: row.id, to, label: field });
    }
  }
  // The same link seen twice (a RELATE's edge, then a traversal over it)
  // is drawn once.
  const seen = new Set();
  return edges.filter(({ from, to, label }) => {
    const key = JSON.stringify([from, to, label]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function resultGraph(results) {
  const box = document.getElementById("result-graph");
  box.replaceChildren();
  const edges = resultEdges(results);
  const vertices = [];
  for (const { from, to } of edges) for (const id of [from, to]) if (!vertices.includes(id)) vertices.push(id);
  if (vertices.length === 0) {
    box.append(el("p", { class: "note" }, "no links between records in these results (select an id and a traversal, e.g. SELECT id, ->knows->person AS knows FROM person)"));
    return;
  }
  if (vertices.length > GRAPH_VERTICES_MAX) {
    box.append(el("p", { class: "note" }, `${vertices.length} records: the graph view draws at most ${GRAPH_VERTICES_MAX}; narrow the query`));
    return;
  }
  const size = 520;
  const middle = size / 2;
  const radius = vertices.length === 1 ? 0 : middle - 70;
  const at = new Map(vertices.map((id, i) => {
    const angle = (2 * Math.PI * i) / vertices.length - Math.PI / 2;
    return [id, [middle + radius * Math.cos(angle), middle + radius * Math.sin(angle)]];
  }));
  const tables = [...new Set(vertices.map((id) => id.split(":")[0]))];
  const plot = svg("svg", { id: "graph", viewBox: `0 0 ${size} ${size}`, width: size, height: size });
  for (const { from, to, label } of edges) {
    const [x1, y1] = at.get(from);
    const [x2, y2] = at.get(to);
    plot.append(svg("line", { x1, y1, x2, y2, stroke: "#98a2b3", "stroke-width": 1.2, "data-from": from, "data-to": to }));
    const text = svg("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 3, "font-size": 10, fill: "#667085", "text-anchor": "middle" });
    text.textContent = label;
    plot.append(text);
  }
  for (const id of vertices) {
    const [x, y] = at.get(id);
    plot.append(svg("circle", { cx: x, cy: y, r: 7, fill: colour(tables.indexOf(id.split(":")[0]) + 1), "data-id": id }));
    const text = svg("text", { x, y: y - 11, "font-size": 11, fill: "#1d2330", "text-anchor": "middle" });
    text.textContent = id;
    plot.append(text);
  }
  box.append(plot, el("p", { class: "note" }, `${vertices.length} records, ${edges.length} links`));
}

async function runQuery(event, prefix = "") {
  if (event) event.preventDefault();
  const form = new FormData(document.getElementById("query-form"));
  const status = document.getElementById("query-status");
  status.className = "note";
  status.textContent = "running…";
  const started = performance.now();
  let answer;
  try {
    answer = await api("/api/query", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: prefix + form.get("text"), namespace: form.get("namespace"), database: form.get("database") }),
    });
  } catch (error) {
    status.className = "error";
    status.textContent = `the node did not answer: ${error.message}`;
    return;
  }
  const ms = Math.round(performance.now() - started);
  const body = answer.body;
  const results = body.results || [];
  const tables = document.getElementById("result-table");
  tables.replaceChildren();
  results.forEach((value, index) => {
    if (results.length > 1) tables.append(el("h3", {}, `statement ${index + 1}`));
    tables.append(resultTable(value));
  });
  document.getElementById("result-json").textContent = JSON.stringify(body, null, 2);
  resultGraph(results);
  if (answer.ok) {
    status.className = "ok";
    status.textContent = `ok: ${results.length} result${results.length === 1 ? "" : "s"} in ${ms} ms`;
  } else {
    status.className = "error";
    status.textContent = body.error && body.error.message ? `${body.error.kind}: ${body.error.message}` : body.error;
  }
  refreshNamespaces();
}

function showTab(name) {
  for (const button of document.querySelectorAll(".tabs button")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== name;
}

// ---- start -------------------------------------------------------------

function start() {
  buildCharts();
  document.getElementById("key-form").addEventListener("submit", showPlacement);
  document.getElementById("key-clear").addEventListener("click", () => {
    state.placement = null;
    document.getElementById("placement").textContent = "";
    drawRing();
    drawMembers();
  });
  const queryForm = document.getElementById("query-form");
  queryForm.addEventListener("submit", runQuery);
  document.getElementById("query-explain").addEventListener("click", () => runQuery(null, "EXPLAIN "));
  document.getElementById("query-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) runQuery(event);
  });
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  // ?q=...&ns=...&db=... fills the editor and runs it: a query can be
  // shared as a link (and the browser test uses it).
  const params = new URLSearchParams(location.search);
  if (params.has("ns")) queryForm.elements.namespace.value = params.get("ns");
  if (params.has("db")) queryForm.elements.database.value = params.get("db");
  // ?key=namespace/database/table/id highlights that key's replica ring.
  if (params.has("key")) {
    const parts = params.get("key").split("/");
    const fields = document.getElementById("key-form").elements;
    ["namespace", "database", "table", "id"].forEach((name, index) => {
      if (parts.length === 4) fields[name].value = parts[index];
    });
  }
  const initial = refreshRing().then(() => (params.has("key") ? showPlacement() : null));
  if (params.has("q")) {
    queryForm.elements.text.value = params.get("q");
    initial.then(() => runQuery());
  } else {
    refreshNamespaces();
  }
  refreshFigures();
  setInterval(refreshRing, POLL_MS);
  setInterval(refreshFigures, POLL_MS);
  setInterval(refreshNamespaces, 5 * POLL_MS);
}

document.addEventListener("DOMContentLoaded", start);
