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
    const c = g.counts || {};
    return "<tr><td>" + esc(g.group) + '</td><td class="num">' + fmt(b.objective) + '</td><td class="num">' + (b.trial === undefined ? "-" : b.trial) +
      '</td><td class="num">' + fmt(b.val_ppl) + '</td><td class="num">' + fmt(b.test_ppl) + '</td><td class="num">' + fmt(b.peak_rss_mb) +
      '</td><td class="num">' + fmt(b.wall_seconds) + '</td><td class="num">' + (c.COMPLETED || 0) + "/" + g.trials +
      '</td><td class="params">' + esc(paramsText(b.params)) + "</td></tr>";
  }).join("");
  // The untrained base model, scored once when the sweep started (null for command sweeps).
  const base = s.base ? '<tr class="base"><td>base model (untrained)</td><td class="num">-</td><td class="num">-</td><td class="num">' +
    fmt(s.base.val_ppl) + '</td><td class="num">' + fmt(s.base.test_ppl) + '</td><td class="num">-</td><td class="num">-</td><td class="num">-</td><td class="params">-</td></tr>' : "";
  $("comparison").innerHTML = "<table><thead><tr><th>" + esc(s.group_by || "group") + "</th><th>best " + esc(s.objective.metric) +
    "</th><th>trial</th><th>val ppl</th><th>test ppl</th><th title=\"the trial process's peak resident set size, measured by the worker (wait4)\">peak RSS MB (wait4)</th><th>time s</th><th>completed</th><th>best configuration</th></tr></thead><tbody>" + base + rows + "</tbody></table>";
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
