// The dashboard's one page: HTML, CSS and JS in a raw string, served at "/".
// No network beyond its own /api/ (no CDN, no fonts); it polls the API every
// second and redraws the trial table and the learning curves in place.
#include "dashboard/dashboard_server.h"

namespace lorafarm::coordinator {

namespace {
constexpr std::string_view kPage = R"PAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lorafarm dashboard</title>
<style>
:root { --bg:#fafafa; --fg:#1d1d1f; --muted:#6b6b73; --card:#fff; --line:#dedee3; --accent:#2f6fde;
  --ok:#1a7f37; --run:#2f6fde; --bad:#c62828; --warn:#b26a00; --queued:#777; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#15161a; --fg:#e6e6ea; --muted:#9a9aa5; --card:#1e1f24; --line:#34353c; --accent:#7aa7ff;
    --ok:#4cc26a; --run:#7aa7ff; --bad:#ff6b6b; --warn:#f0b040; --queued:#999; }
}
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg); }
header { display:flex; align-items:center; gap:16px; padding:10px 18px; border-bottom:1px solid var(--line); background:var(--card); }
header h1 { font-size:17px; margin:0; }
header .live { color:var(--muted); font-size:12px; }
header .live.ok::before { content:"\25CF "; color:var(--ok); }
header .live.down::before { content:"\25CF "; color:var(--bad); }
main { display:grid; grid-template-columns: 260px 1fr; gap:16px; padding:16px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; margin-bottom:16px; }
.card h2 { font-size:14px; margin:0 0 8px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
#experiments .exp { padding:8px; border-radius:6px; cursor:pointer; border:1px solid transparent; }
#experiments .exp:hover { border-color:var(--line); }
#experiments .exp.selected { border-color:var(--accent); }
#experiments .exp .name { font-weight:600; }
#experiments .exp .meta { color:var(--muted); font-size:12px; }
table { border-collapse:collapse; width:100%; font-variant-numeric: tabular-nums; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); vertical-align:middle; }
th { font-weight:600; color:var(--muted); font-size:12px; }
td.num { text-align:right; }
.status { font-size:11px; font-weight:700; padding:1px 6px; border-radius:4px; color:#fff; }
.status.COMPLETED { background:var(--ok); } .status.RUNNING { background:var(--run); }
.status.FAILED, .status.LOST, .status.INFEASIBLE { background:var(--bad); } .status.PRUNED { background:var(--warn); }
.status.QUEUED { background:var(--queued); }
.bar { width:120px; height:8px; background:var(--line); border-radius:4px; overflow:hidden; display:inline-block; vertical-align:middle; }
.bar > span { display:block; height:100%; background:var(--accent); }
.progress-text { color:var(--muted); font-size:12px; margin-left:6px; }
td.prog { white-space:nowrap; }
#curves svg { max-width:640px; display:block; }
.params { font-family: ui-monospace, monospace; font-size:12px; }
.err { color:var(--bad); font-size:12px; }
svg text { fill:var(--muted); font-size:11px; }
svg .axis { stroke:var(--muted); }
svg .grid { stroke:var(--line); }
.muted { color:var(--muted); }
form label { display:block; margin:6px 0 2px; color:var(--muted); font-size:12px; }
input, select, textarea, button { max-width:100%; font:inherit; color:inherit; background:var(--bg); border:1px solid var(--line); border-radius:5px; padding:4px 6px; }
button { cursor:pointer; background:var(--accent); color:#fff; border-color:var(--accent); }
pre.out { white-space:pre-wrap; background:var(--bg); border:1px solid var(--line); padding:8px; border-radius:5px; min-height:2em; }
.row { display:flex; gap:16px; flex-wrap:wrap; } .row > .card { flex:1 1 420px; }
#report-frame { width:100%; height:900px; border:1px solid var(--line); border-radius:6px; background:#fff; }
</style>
</head>
<body>
<header>
  <h1>lorafarm dashboard</h1>
  <span id="live" class="live">connecting</span>
  <span id="mode" class="muted"></span>
</header>
<main>
  <aside>
    <div class="card"><h2>Experiments</h2><div id="experiments"><span class="muted">none yet</span></div></div>
    <div class="card" id="actions-card">
      <h2>Start a sweep</h2>
      <form id="sweep-form">
        <label>Example spec</label><select id="sweep-example"></select>
        <label>or upload a spec (.json)</label><input type="file" id="sweep-file" accept=".json,application/json">
        <label>Data set (optional)</label><select id="sweep-data"><option value="">(as in the spec)</option></select>
        <label>Experiment name (optional)</label><input id="sweep-name" placeholder="from the spec">
        <label>Workers</label><input id="sweep-workers" type="number" min="1" max="64" value="2">
        <label>Token</label><input id="token" type="password" placeholder="printed by lorafarm serve">
        <p><button type="submit">Start</button></p>
        <div id="sweep-result" class="muted"></div>
      </form>
    </div>
  </aside>
  <section>
    <div id="empty" class="card muted">Choose an experiment, or start a sweep.</div>
    <div id="experiment" hidden>
      <div class="card">
        <h2 id="exp-title"></h2>
        <div id="exp-meta" class="muted"></div>
      </div>
      <div class="card"><h2>Trials</h2>
        <table id="trials"><thead><tr><th>#</th><th>status</th><th>parameters</th><th>progress</th><th>objective</th><th>worker</th></tr></thead><tbody></tbody></table>
      </div>
      <div class="row">
        <div class="card"><h2>Learning curves</h2>
          <label class="muted">metric <select id="curve-metric"><option>train_loss</option><option>val_loss</option></select></label>
          <div id="curves"></div>
        </div>
        <div class="card"><h2>Method comparison</h2><div id="comparison"></div></div>
      </div>
      <div class="card" id="gen-card"><h2>Try an adapter</h2>
        <form id="gen-form">
          <label>Trial</label><select id="gen-trial"></select>
          <label>Prompt</label><textarea id="gen-prompt" rows="2" cols="50" maxlength="4096">Once upon a time</textarea>
          <label>Max tokens</label><input id="gen-tokens" type="number" min="1" max="512" value="40">
          <p><button type="submit">Generate</button></p>
          <pre id="gen-out" class="out"></pre>
        </form>
      </div>
      <div class="card" id="report-card" hidden><h2>Report</h2><iframe id="report-frame" sandbox title="report"></iframe></div>
    </div>
  </section>
</main>
<script>
"use strict";
window.__loadId = Math.random().toString(36).slice(2);
const state = { experiment: null, trials: [], reportShown: null, summaryAt: 0, health: null };
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c]));
const fmt = (v) => v === null || v === undefined ? "-" : (typeof v === "number" ? (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : +v.toPrecision(5)) : String(v));
const palette = ["#2f6fde","#d9480f","#2b8a3e","#ae3ec9","#e67700","#0c8599","#c2255c","#5c940d","#364fc7","#862e9c"];

function tokenFromFragment() {
  const m = location.hash.match(/token=([0-9a-f]+)/);
  if (m) { sessionStorage.setItem("lorafarm-token", m[1]); }
  $("token").value = sessionStorage.getItem("lorafarm-token") || "";
}
function selectedFromFragment() {
  const m = location.hash.match(/exp=([^&]+)/);
  return m ? decodeURIComponent(m[1]) : null;
}
async function api(path, options) {
  const res = await fetch(path, options);
  const text = await res.text();
  let body; try { body = JSON.parse(text); } catch (e) { body = { error: text }; }
  if (!res.ok) throw new Error((body && body.error) || res.statusText);
  return body;
}
function writeHeaders() {
  const token = $("token").value.trim();
  sessionStorage.setItem("lorafarm-token", token);
  return { "Content-Type": "application/json", "Authorization": "Bearer " + token };
}

function renderExperiments(list) {
  const box = $("experiments");
  if (!list.length) { box.innerHTML = '<span class="muted">none yet</span>'; return; }
  box.innerHTML = list.map((e) => {
    const c = e.counts || {};
    const done = (c.COMPLETED || 0) + (c.FAILED || 0) + (c.PRUNED || 0) + (c.INFEASIBLE || 0) + (c.LOST || 0);
    const best = e.best ? " &middot; best " + fmt(e.best.objective) : "";
    return '<div class="exp' + (e.name === state.experiment ? " selected" : "") + '" data-name="' + esc(e.name) + '">' +
      '<div class="name">' + esc(e.name) + ' <span class="status ' + (e.status === "FINISHED" ? "COMPLETED" : "RUNNING") + '">' + esc(e.status) + '</span></div>' +
      '<div class="meta">' + done + "/" + e.budget + " trials done" + ((c.RUNNING || 0) ? ", " + c.RUNNING + " running" : "") + best + "</div></div>";
  }).join("");
  for (const el of box.querySelectorAll(".exp")) el.onclick = () => { location.hash = "exp=" + encodeURIComponent(el.dataset.name); };
}

function progressCell(t) {
  if (t.step === null || t.step === undefined) return '<span class="progress" data-step="">' + (t.status === "QUEUED" ? "waiting" : "-") + "</span>";
  const total = t.total_steps;
  const frac = total ? Math.min(1, t.step / total) : 0;
  return '<span class="progress" data-step="' + t.step + '"><span class="bar"><span style="width:' + (frac * 100).toFixed(1) + '%"></span></span>' +
    '<span class="progress-text">' + t.step + (total ? " / " + total : "") + "</span></span>";
}
function paramsText(p) { return Object.entries(p || {}).map(([k, v]) => k + "=" + (typeof v === "number" ? fmt(v) : v)).join(" "); }

function renderTrials(trials) {
  const body = $("trials").querySelector("tbody");
  body.innerHTML = trials.map((t) =>
    '<tr id="trial-row-' + t.number + '" data-status="' + t.status + '">' +
    "<td>" + t.number + "</td>" +
    '<td><span class="status ' + t.status + '">' + t.status + "</span>" + (t.attempt > 1 ? ' <span class="muted">attempt ' + t.attempt + "</span>" : "") + "</td>" +
    '<td class="params">' + esc(paramsText(t.params)) + (t.error ? '<div class="err">' + esc(t.error.slice(0, 200)) + "</div>" : "") + "</td>" +
    '<td class="prog">' + progressCell(t) + "</td>" +
    '<td class="num objective">' + fmt(t.objective) + "</td>" +
    '<td class="muted">' + esc(t.worker || "") + "</td></tr>").join("");
  const select = $("gen-trial");
  const keep = select.value;
  const done = trials.filter((t) => t.status === "COMPLETED");
  select.innerHTML = done.map((t) => '<option value="' + t.number + '">' + t.number + " &middot; " + esc(paramsText(t.params)) + "</option>").join("");
  if (keep) select.value = keep;
}

function renderCurves(data) {
  const W = 560, H = 300, L = 62, R = 12, T = 10, B = 38;
  const curves = data.curves.filter((c) => c.points.length);
  if (!curves.length) { $("curves").innerHTML = '<p class="muted">no ' + esc(data.metric) + " reported yet</p>"; return; }
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const c of curves) for (const [x, y] of c.points) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y1 += 0.5; y0 -= 0.5; }
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  let svg = '<svg viewBox="0 0 ' + W + " " + H + '" width="100%" role="img" aria-label="learning curves">';
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (y1 - y0) * i / 4, x = x0 + (x1 - x0) * i / 4;
    svg += '<line class="grid" x1="' + L + '" x2="' + (W - R) + '" y1="' + sy(y) + '" y2="' + sy(y) + '"/>';
    svg += '<text x="' + (L - 4) + '" y="' + (sy(y) + 4) + '" text-anchor="end">' + fmt(y) + "</text>";
    svg += '<text x="' + sx(x) + '" y="' + (H - B + 14) + '" text-anchor="middle">' + Math.round(x) + "</text>";
  }
  svg += '<line class="axis" x1="' + L + '" x2="' + L + '" y1="' + T + '" y2="' + (H - B) + '"/>';
  svg += '<line class="axis" x1="' + L + '" x2="' + (W - R) + '" y1="' + (H - B) + '" y2="' + (H - B) + '"/>';
  svg += '<text x="' + ((L + W - R) / 2) + '" y="' + (H - 4) + '" text-anchor="middle">step</text>';
  svg += '<text transform="translate(12 ' + ((T + H - B) / 2) + ') rotate(-90)" text-anchor="middle">' + esc(data.metric) + "</text>";
  for (const c of curves) {
    const color = palette[c.trial % palette.length];
    const d = c.points.map(([x, y], i) => (i ? "L" : "M") + sx(x).toFixed(1) + " " + sy(y).toFixed(1)).join("");
    svg += '<path class="curve" data-trial="' + c.trial + '" d="' + d + '" fill="none" stroke="' + color + '" stroke-width="1.5" opacity="0.85"><title>trial ' + c.trial + "</title></path>";
  }
  const legend = curves.slice(0, 16).map((c) => '<span style="color:' + palette[c.trial % palette.length] + '">\u25A0</span> ' + c.trial).join(" &nbsp;");
  $("curves").innerHTML = svg + '</svg><div class="muted">trial ' + legend + (curves.length > 16 ? " \u2026" : "") + "</div>";
}

function renderComparison(s) {
  const groups = s.groups || [];
  if (!groups.length) { $("comparison").innerHTML = '<p class="muted">no trials yet</p>'; return; }
  const rows = groups.map((g) => {
    const b = g.best || {};
    const m = b.metrics || {};
    const c = g.counts || {};
    return "<tr><td>" + esc(g.group) + '</td><td class="num">' + fmt(b.objective) + '</td><td class="num">' + (b.trial === undefined ? "-" : b.trial) +
      '</td><td class="num">' + fmt(m.val_ppl) + '</td><td class="num">' + fmt(m.test_ppl) + '</td><td class="num">' + fmt(b.peak_rss_mb) +
      '</td><td class="num">' + fmt(b.wall_seconds) + '</td><td class="num">' + (c.COMPLETED || 0) + "/" + g.trials +
      '</td><td class="params">' + esc(paramsText(b.params)) + "</td></tr>";
  }).join("");
  $("comparison").innerHTML = "<table><thead><tr><th>" + esc(s.group_by || "group") + "</th><th>best " + esc(s.objective.metric) +
    "</th><th>trial</th><th>val ppl</th><th>test ppl</th><th>peak RSS MB</th><th>time s</th><th>completed</th><th>best configuration</th></tr></thead><tbody>" + rows + "</tbody></table>";
}

async function refreshExperiment() {
  const name = state.experiment;
  if (!name) return;
  const base = "/api/experiments/" + encodeURIComponent(name);
  const [exp, trials, curves] = await Promise.all([api(base), api(base + "/trials"), api(base + "/curves?metric=" + encodeURIComponent($("curve-metric").value))]);
  if (name !== state.experiment) return;
  $("exp-title").textContent = exp.name;
  const c = exp.counts || {};
  $("exp-meta").textContent = exp.status + " \u00b7 objective " + exp.objective.metric + " (" + exp.objective.direction + ") \u00b7 " +
    exp.trials + "/" + exp.budget + " trials created \u00b7 " + Object.entries(c).map(([k, v]) => v + " " + k.toLowerCase()).join(", ") +
    (exp.best ? " \u00b7 best " + fmt(exp.best.objective) + " (trial " + exp.best.trial + ")" : "");
  state.trials = trials;
  renderTrials(trials);
  renderCurves(curves);
  if (Date.now() - state.summaryAt > 3000) {
    state.summaryAt = Date.now();
    renderComparison(await api(base + "/summary"));
    if (state.health && state.health.report) {
      $("report-card").hidden = false;
      // Redraw the report when a trial finished, at most every 10 s (it reloads the frame).
      const key = name + exp.status + ((exp.counts || {}).COMPLETED || 0);
      if (state.reportShown !== key && (!state.reportAt || Date.now() - state.reportAt > 10000 || exp.status === "FINISHED")) {
        state.reportShown = key;
        state.reportAt = Date.now();
        $("report-frame").src = base + "/report?format=html";
      }
    }
  }
}

async function tick() {
  try {
    const list = await api("/api/experiments");
    const wanted = selectedFromFragment();
    if (wanted && wanted !== state.experiment) { state.experiment = wanted; state.summaryAt = 0; }
    if (!state.experiment && list.length) state.experiment = list[list.length - 1].name;
    renderExperiments(list);
    const known = !!state.experiment && list.some((e) => e.name === state.experiment);
    $("empty").hidden = known;
    $("experiment").hidden = !known;
    if (state.experiment && !known) $("empty").textContent = "Waiting for experiment " + state.experiment + " to start\u2026";
    if (known) await refreshExperiment();
    $("live").className = "live ok";
    $("live").textContent = "live \u00b7 " + new Date().toLocaleTimeString();
  } catch (e) {
    $("live").className = "live down";
    $("live").textContent = "error: " + e.message;
  }
  setTimeout(tick, 1000);
}

async function loadExamples() {
  try {
    const ex = await api("/api/examples");
    $("sweep-example").innerHTML = '<option value="">(choose)</option>' + ex.specs.map((s) => '<option>' + esc(s) + "</option>").join("");
    $("sweep-data").innerHTML = '<option value="">(as in the spec)</option>' + ex.data.map((s) => '<option>' + esc(s) + "</option>").join("");
  } catch (e) { /* the form shows errors on submit */ }
}

$("sweep-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const out = $("sweep-result");
  try {
    const req = {};
    const file = $("sweep-file").files[0];
    if (file) req.spec = await file.text(); else if ($("sweep-example").value) req.example = $("sweep-example").value;
    if ($("sweep-data").value) req.data = $("sweep-data").value;
    if ($("sweep-name").value.trim()) req.name = $("sweep-name").value.trim();
    req.workers = parseInt($("sweep-workers").value, 10) || 1;
    const r = await api("/api/sweeps", { method: "POST", headers: writeHeaders(), body: JSON.stringify(req) });
    out.className = "muted";
    out.textContent = "started " + r.experiment + " (pid " + r.pid + ")";
    location.hash = "exp=" + encodeURIComponent(r.experiment);
  } catch (e) { out.className = "err"; out.textContent = e.message; }
};
$("gen-form").onsubmit = async (ev) => {
  ev.preventDefault();
  const out = $("gen-out");
  out.textContent = "generating\u2026";
  try {
    const req = { experiment: state.experiment, trial: parseInt($("gen-trial").value, 10), prompt: $("gen-prompt").value,
      max_tokens: parseInt($("gen-tokens").value, 10) || 40 };
    const r = await api("/api/generate", { method: "POST", headers: writeHeaders(), body: JSON.stringify(req) });
    out.textContent = r.text;
  } catch (e) { out.textContent = "error: " + e.message; }
};
$("curve-metric").onchange = () => refreshExperiment();
window.addEventListener("hashchange", () => { state.experiment = selectedFromFragment(); state.summaryAt = 0; refreshExperiment().catch(() => {}); });

(async () => {
  tokenFromFragment();
  try {
    state.health = await api("/api/health");
    if (state.health.read_only) { $("actions-card").hidden = true; $("gen-card").hidden = true; $("mode").textContent = "read-only"; }
  } catch (e) { /* tick() reports */ }
  loadExamples();
  tick();
})();
</script>
</body>
</html>
)PAGE";
}  // namespace

std::string_view dashboard_page() { return kPage; }

}  // namespace lorafarm::coordinator
