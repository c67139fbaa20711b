/* Lynex dashboard behaviour: charts, local times, copy buttons, live tail, keyboard navigation.
   Loaded as a file (CSP: no inline script); everything re-runs on htmx swaps via htmx.onLoad. */
(function () {
  "use strict";

  // ---- times in the viewer's time zone --------------------------------------------------------
  const pad = (n) => String(n).padStart(2, "0");
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      el.textContent = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
        `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    });
  }

  // ---- charts (uPlot) -------------------------------------------------------------------------
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const palette = () => ({ a: css("--accent"), bad: css("--bad"), ok: css("--ok"), est: css("--est"),
                           muted: css("--muted"), line: css("--line"), fg: css("--fg") });
  const CHARTS = {
    requests: (p) => [["n", "requests", p.a, { bars: true }], ["errors", "errors", p.bad, { bars: true }]],
    latency: (p) => [["p50", "p50", p.ok], ["p95", "p95", p.a], ["p99", "p99", p.bad]],
    tokens: (p) => [["input_tokens", "input", p.a], ["output_tokens", "output", p.ok],
                    ["input_tokens_est", "input est.", p.a, { dash: true }],
                    ["output_tokens_est", "output est.", p.ok, { dash: true }]],
    cost: (p) => [["cost", "cost $", p.a], ["cost_computed", "computed $", p.est, { dash: true }]],
    error_rate: (p) => [["error_rate", "error %", p.bad]],
  };
  const charts = [];
  const CHART_HEIGHT = 170;
  // Alert events as dashed vertical lines: red where a rule fired, green where it resolved.
  function alertMarks(u, marks, p) {
    if (!marks || !marks.length) return;
    const ctx = u.ctx, box = u.bbox;
    ctx.save();
    ctx.lineWidth = 1;
    ctx.setLineDash([3, 3]);
    marks.forEach((m) => {
      const x = Math.round(u.valToPos(m.t, "x", true));
      if (x < box.left || x > box.left + box.width) return;
      ctx.strokeStyle = m.kind === "firing" ? p.bad : p.ok;
      ctx.beginPath(); ctx.moveTo(x, box.top); ctx.lineTo(x, box.top + box.height); ctx.stroke();
    });
    ctx.restore();
  }
  function drawCharts(root) {
    const dataEl = root.querySelector ? root.querySelector("#chart-data") : null;
    if (!dataEl || typeof uPlot === "undefined") return;
    const data = JSON.parse(dataEl.dataset.json);
    const p = palette();
    for (let i = charts.length - 1; i >= 0; i--) {  // drop charts whose element left the page
      if (!document.body.contains(charts[i].root)) { charts[i].destroy(); charts.splice(i, 1); }
    }
    root.querySelectorAll("[data-chart]").forEach((el) => {
      if (el.dataset.drawn) return;
      el.dataset.drawn = "1";
      const spec = CHARTS[el.dataset.chart](p);
      const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 40] }) : undefined;
      const series = [{}].concat(spec.map(([key, label, color, opt]) => ({
        label, stroke: color, width: 1.5, spanGaps: false,
        fill: opt && opt.bars ? color + "55" : undefined,
        dash: opt && opt.dash ? [4, 3] : undefined,
        paths: opt && opt.bars ? bars : undefined,
        points: { show: false },
        value: (u, v) => (v == null ? "–" : (Math.round(v * 1e4) / 1e4).toLocaleString()),
      })));
      const axis = { stroke: p.muted, grid: { stroke: p.line, width: 1 }, ticks: { stroke: p.line } };
      const opts = { width: Math.max(el.clientWidth, 200), height: CHART_HEIGHT, series,
                     axes: [axis, Object.assign({ size: 56 }, axis)], cursor: { drag: { x: false, y: false } },
                     legend: { live: true }, hooks: { draw: [(u) => alertMarks(u, data.alerts, p)] } };
      el.textContent = "";
      const chart = new uPlot(opts, [data.x].concat(spec.map(([key]) => data[key])), el);
      chart.host = el;
      charts.push(chart);
    });
  }
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => charts.forEach((c) => c.setSize({ width: Math.max(c.host.clientWidth, 200),
                                                                      height: CHART_HEIGHT })), 120);
  });

  // ---- copy buttons ---------------------------------------------------------------------------
  document.addEventListener("click", (ev) => {
    const btn = ev.target.closest("[data-copy]");
    if (!btn) return;
    const target = document.querySelector(btn.dataset.copy);
    if (!target) return;
    const text = target.textContent;
    const done = () => { const old = btn.textContent; btn.textContent = "Copied"; setTimeout(() => (btn.textContent = old), 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => fallbackCopy(target, done));
    } else fallbackCopy(target, done);
  });
  function fallbackCopy(el, done) {
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges(); sel.addRange(range);
    try { document.execCommand("copy"); done(); } catch (e) { /* selection stays for Ctrl+C */ }
  }

  // ---- confirmations (no hx-confirm/inline handlers) ------------------------------------------
  document.addEventListener("submit", (ev) => {
    const form = ev.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) ev.preventDefault();
  }, true);

  // ---- GET filter forms: drop empty fields so URLs stay short and linkable -------------------
  document.addEventListener("htmx:configRequest", (ev) => {
    if (ev.detail.verb !== "get") return;
    const params = ev.detail.parameters;
    const keys = typeof params.keys === "function" ? Array.from(params.keys()) : Object.keys(params);
    keys.forEach((k) => {
      const v = typeof params.get === "function" ? params.get(k) : params[k];
      if (v === "" || v == null) { if (typeof params.delete === "function") params.delete(k); else delete params[k]; }
    });
  });

  // ---- live tail (server-sent events through the htmx sse extension) --------------------------
  function setLive(on) {
    const toggle = document.getElementById("live-toggle");
    let holder = document.getElementById("live-stream");
    if (holder) { htmx.remove(holder); holder = null; }
    if (!on || !toggle) return;
    holder = document.createElement("div");
    holder.id = "live-stream";
    holder.hidden = true;
    holder.setAttribute("hx-ext", "sse");
    holder.setAttribute("sse-connect", toggle.dataset.liveUrl);
    const sink = document.createElement("div");
    sink.setAttribute("sse-swap", "span");
    sink.setAttribute("hx-target", "#rows");
    sink.setAttribute("hx-swap", "afterbegin");
    holder.appendChild(sink);
    document.body.appendChild(holder);
    htmx.process(holder);
  }
  document.addEventListener("change", (ev) => {
    if (ev.target.id === "live-toggle") { ev.stopPropagation(); setLive(ev.target.checked); }
  }, true);
  document.addEventListener("htmx:sseOpen", () => document.body.classList.add("live-on"));
  document.addEventListener("htmx:afterSwap", (ev) => {  // filters changed while live: follow them
    const toggle = document.getElementById("live-toggle");
    if (ev.detail.target && ev.detail.target.id === "results" && toggle && toggle.checked) {
      const form = document.getElementById("filters");
      const params = new URLSearchParams(new FormData(form));
      ["range", "since", "until"].forEach((k) => params.delete(k));
      Array.from(params.keys()).forEach((k) => { if (!params.get(k)) params.delete(k); });
      toggle.dataset.liveUrl = toggle.dataset.liveUrl.split("?")[0] + (params.toString() ? "?" + params : "");
      setLive(true);
    }
  });

  // ---- trace view: the clicked span is the selected row --------------------------------------
  document.addEventListener("htmx:beforeRequest", (ev) => {
    const row = ev.detail.elt.closest && ev.detail.elt.closest("#trace-tree tr.trow");
    if (!row) return;
    document.querySelectorAll("#trace-tree tr.is-selected").forEach((r) => r.classList.remove("is-selected"));
    row.classList.add("is-selected");
  });

  // ---- keyboard: j/k move, Enter open, / search, g o / g e switch views ----------------------
  let cursor = null, lastKey = "", lastAt = 0;
  function rows() { return Array.from(document.querySelectorAll("[data-nav-row]")).filter((r) => r.offsetParent !== null); }
  function move(delta) {
    const all = rows();
    if (!all.length) return;
    let i = cursor ? all.indexOf(cursor) : -1;
    i = Math.min(Math.max(i + delta, 0), all.length - 1);
    if (cursor) cursor.classList.remove("is-cursor");
    cursor = all[i];
    cursor.classList.add("is-cursor");
    cursor.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
    if (ev.key === "Escape" && typing) { t.blur(); return; }
    if (typing || ev.metaKey || ev.ctrlKey || ev.altKey) return;
    const now = Date.now();
    const chord = lastKey === "g" && now - lastAt < 800;
    lastKey = ev.key; lastAt = now;
    const nav = (name) => { const a = document.querySelector(`.tabs a[href$="/${name}"]`); if (a) a.click(); };
    if (chord && ev.key === "o") { nav("overview"); return; }
    if (chord && ev.key === "e") { nav("spans"); return; }
    if (ev.key === "j") { move(1); ev.preventDefault(); }
    else if (ev.key === "k") { move(-1); ev.preventDefault(); }
    else if (ev.key === "Enter" && cursor && document.body.contains(cursor)) {
      const link = cursor.querySelector("a[href]");
      if (link) { link.click(); ev.preventDefault(); }
    } else if (ev.key === "/") {
      const q = document.getElementById("q");
      if (q) { q.focus(); q.select(); ev.preventDefault(); }
    }
  });

  // ---- boot -----------------------------------------------------------------------------------
  function init(root) { localTimes(root); drawCharts(root); }
  // htmx (deferred, loaded just before this file) fires htmx:load on <body> once the DOM is
  // ready and on every swapped-in element afterwards.
  if (window.htmx) htmx.onLoad((el) => init(el));
  else document.addEventListener("DOMContentLoaded", () => init(document));
})();
