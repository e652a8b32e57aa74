// edgehooks admin dashboard: the charts the page opens on, drawn as inline SVG by this small
// script (no chart library) from GET /admin/api/metrics?window=1h|24h: events per minute per
// provider and outcome, signature failures per provider and reason, step outcomes and p50/p95
// latency per destination, dead steps over time, the last backfill run, and the alerts (open
// first, with when each fired, cleared and was notified). admin.js calls
// `edgehooksDashboard.load(api)` after sign-in and on Refresh. Text is only ever inserted as text.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 560;
  const H = 150;
  const PAD = { left: 40, right: 8, top: 8, bottom: 20 };
  const COLORS = ["#2457c5", "#1b7f3b", "#b42318", "#a15c00", "#6941c6", "#0e7490", "#c11574", "#475467"];
  const OUTCOME_COLORS = { accepted: "#1b7f3b", succeeded: "#1b7f3b", duplicate: "#475467", skipped: "#98a2b3",
    skipped_stale: "#98a2b3", rejected: "#b42318", dead: "#b42318", unparsable: "#a15c00", retry: "#a15c00", deferred: "#6941c6" };
  let windowName = "1h";
  let apiFn = null;

  function svg(tag, attrs = {}, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  function html(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
    return node;
  }
  const time = (ms) => (ms == null ? "" : new Date(ms).toLocaleString());
  const clock = (s) => new Date(s * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

  /** Dense bins over the window: 1-minute bins for 1h, 10-minute bins for 24h. */
  function binsOf(m) {
    const step = m.window === "24h" ? 600 : 60;
    const start = m.from - (m.from % step);
    const count = Math.floor((m.to - start) / step) + 1;
    return { step, start, count };
  }
  /** Values per bin: counts add up; a latency (`max`) keeps the bin's worst minute. */
  function dense(points, bins, max = false) {
    const values = new Array(bins.count).fill(0);
    for (const [minute, n] of points) {
      const i = Math.floor((minute - bins.start) / bins.step);
      if (i >= 0 && i < bins.count) values[i] = max ? Math.max(values[i], n) : values[i] + n;
    }
    return values;
  }

  function frame(name, bins, max) {
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", "data-chart": name, role: "img" });
    const y = (v) => PAD.top + (H - PAD.top - PAD.bottom) * (1 - v / max);
    chart.append(
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(0), y2: y(0), class: "axis" }),
      svg("text", { x: PAD.left - 4, y: y(max) + 4, class: "tick", "text-anchor": "end" }, max),
      svg("text", { x: PAD.left - 4, y: y(0), class: "tick", "text-anchor": "end" }, 0),
      svg("text", { x: PAD.left, y: H - 4, class: "tick" }, clock(bins.start)),
      svg("text", { x: W - PAD.right, y: H - 4, class: "tick", "text-anchor": "end" }, clock(bins.start + bins.step * (bins.count - 1))));
    return { chart, y, x: (i) => PAD.left + ((W - PAD.left - PAD.right) * i) / Math.max(1, bins.count - 1) };
  }

  /** Lines, one per series ({name, points, color}); each path carries its name and total. */
  function lineChart(name, series, bins, worst = false) {
    const rows = series.map((s) => ({ ...s, values: dense(s.points, bins, worst) }));
    const max = Math.max(1, ...rows.flatMap((r) => r.values));
    const { chart, x, y } = frame(name, bins, max);
    rows.forEach((r) => {
      const d = r.values.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
      chart.append(svg("path", { d, class: "series", stroke: r.color, "data-series": r.name, "data-total": r.total },
        svg("title", {}, `${r.name}: ${r.total}`)));
    });
    return chart;
  }

  /** Stacked-free bars of one series: one rect per bin with traffic. */
  function barChart(name, points, bins, color) {
    const values = dense(points, bins);
    const max = Math.max(1, ...values);
    const { chart, x, y } = frame(name, bins, max);
    const width = Math.max(2, (W - PAD.left - PAD.right) / bins.count - 1);
    values.forEach((v, i) => {
      if (!v) return;
      chart.append(svg("rect", { x: x(i) - width / 2, y: y(v), width, height: y(0) - y(v), fill: color, class: "bar",
        "data-minute": bins.start + i * bins.step, "data-count": v }, svg("title", {}, `${clock(bins.start + i * bins.step)}: ${v}`)));
    });
    return chart;
  }

  function legend(series) {
    return html("ul", { class: "legend" }, ...series.map((s) => html("li", { "data-series": s.name },
      svg("svg", { width: 10, height: 10, class: "swatch" }, svg("rect", { width: 10, height: 10, rx: 2, fill: s.color })), `${s.name} `, html("b", {}, s.total))));
  }

  function panel(id, title, ...body) {
    return html("section", { class: "dash-panel", id }, html("h3", {}, title), ...body);
  }

  function eventsPanel(m, bins) {
    let i = 0;
    const series = Object.entries(m.events).flatMap(([provider, outcomes]) => Object.entries(outcomes).map(([outcome, s]) => ({
      name: `${provider} ${outcome}`, points: s.points, total: s.total, color: OUTCOME_COLORS[outcome] && Object.keys(m.events).length === 1 ? OUTCOME_COLORS[outcome] : COLORS[i++ % COLORS.length] })));
    if (!series.length) return panel("dash-events", "Events per minute", html("p", { class: "muted" }, "No events in this window."));
    return panel("dash-events", "Events per minute (provider, outcome)", lineChart("events", series, bins), legend(series));
  }

  /** Each registry source's own row (its outcomes' totals) and lines, beside the providers'. */
  function sourcesPanel(m, bins) {
    const sources = Object.entries(m.sources ?? {});
    if (!sources.length) return null;
    const outcomes = ["accepted", "duplicate", "unparsable", "rejected"];
    let i = 0;
    const series = sources.flatMap(([source, byOutcome]) => Object.entries(byOutcome).map(([outcome, s]) => ({
      name: `in:${source} ${outcome}`, points: s.points, total: s.total, color: COLORS[i++ % COLORS.length] })));
    const rows = sources.map(([source, byOutcome]) => html("tr", { "data-source": source },
      html("td", { class: "mono" }, source), ...outcomes.map((o) => html("td", { "data-outcome": o }, byOutcome[o]?.total ?? 0))));
    return panel("dash-sources", "Registry sources (events per minute)",
      html("table", { id: "sources" }, html("thead", {}, html("tr", {}, ...["source", ...outcomes].map((t) => html("th", {}, t)))),
        html("tbody", {}, ...rows)),
      lineChart("sources", series, bins), legend(series));
  }

  function failuresPanel(m, bins) {
    const series = Object.entries(m.signature_failures).map(([key, s], i) => ({ name: key.replace(/:([^:]*)$/, " $1"), points: s.points, total: s.total, color: COLORS[(i + 2) % COLORS.length] }));
    const total = series.reduce((a, s) => a + s.total, 0);
    const points = series.flatMap((s) => s.points);
    return panel("dash-failures", `Signature failures (${total})`, barChart("signature-failures", points, bins, "#b42318"),
      series.length ? legend(series) : html("p", { class: "muted" }, "None."));
  }

  function stepsPanel(m, bins) {
    const cards = Object.entries(m.steps).map(([destination, d]) => {
      const series = Object.entries(d.outcomes).map(([outcome, s], i) => ({ name: outcome, points: s.points, total: s.total, color: OUTCOME_COLORS[outcome] ?? COLORS[i % COLORS.length] }));
      return html("div", { class: "dest", "data-destination": destination },
        html("h4", {}, destination, " ", html("span", { class: "latency", "data-p50": d.p50_ms ?? "", "data-p95": d.p95_ms ?? "" },
          `p50 ${d.p50_ms ?? "–"} ms · p95 ${d.p95_ms ?? "–"} ms`)),
        lineChart(`steps-${destination}`, series, bins), legend(series),
        lineChart(`latency-${destination}`, [{ name: "p95 ms", points: d.p95_points, total: d.p95_ms ?? "", color: "#6941c6" }], bins, true));
    });
    return panel("dash-steps", "Steps per destination (outcomes, latency)", ...(cards.length ? cards : [html("p", { class: "muted" }, "No steps in this window.")]));
  }

  function deadPanel(m, bins) {
    return panel("dash-dead", `Dead steps (${m.dead.total})`, barChart("dead", m.dead.points, bins, "#b42318"));
  }

  function backfillPanel(m) {
    const b = m.last_backfill;
    const body = b
      ? html("dl", { class: "dash-run", "data-run": b.id },
        html("dt", {}, "run"), html("dd", {}, `${b.provider ?? ""} #${b.id}`),
        html("dt", {}, "finished"), html("dd", {}, time(b.finished_at)),
        html("dt", {}, "listed"), html("dd", { "data-field": "listed" }, b.listed ?? ""),
        html("dt", {}, "recovered"), html("dd", { "data-field": "ingested" }, b.ingested ?? ""),
        html("dt", {}, "duplicates"), html("dd", { "data-field": "duplicates" }, b.duplicates ?? ""))
      : html("p", { class: "muted" }, "No backfill has run.");
    return panel("dash-backfill", "Last backfill", body);
  }

  /** Each configured channel's delivery of alert `a`: sent (which notice, when) or pending with its error. */
  function deliveryCells(a, channels) {
    const names = ["slack", "http"].filter((c) => (c === "slack" ? channels?.slack === "configured" : channels?.http) || a.deliveries?.[c]);
    if (!names.length) return [a.notice ? `${a.notice} notice pending (no channel configured)` : ""];
    return names.map((c) => {
      const d = a.deliveries?.[c] ?? {};
      const due = a.notice && d.sent !== a.notice;
      const text = due
        ? `${a.notice} pending${d.error ? ` (${d.error}${d.attempts ? `, ${d.attempts} failed` : ""})` : ""}`
        : `${d.sent ?? ""} ${time(d.last_notified_at)}`;
      return html("div", { "data-channel": c, class: due ? "pending" : "sent" }, `${c}: ${text}`);
    });
  }

  function alertsPanel(m) {
    const rows = m.alerts.map((a) => html("tr", { "data-alert": a.id, class: a.cleared_at ? "cleared" : "open" },
      html("td", {}, html("span", { class: `status ${a.cleared_at ? "status-resolved" : "status-dead"}` }, a.cleared_at ? "cleared" : "open")),
      html("td", { class: "mono" }, a.kind), html("td", { class: "mono" }, a.key), html("td", {}, a.detail),
      html("td", {}, time(a.fired_at)), html("td", {}, time(a.cleared_at)),
      html("td", {}, ...deliveryCells(a, m.alert_channels))));
    const open = m.alerts.filter((a) => !a.cleared_at).length;
    return panel("dash-alerts", `Alerts (${open} open)`, html("table", { id: "alerts" },
      html("thead", {}, html("tr", {}, ...["", "kind", "key", "detail", "fired", "cleared", "notified"].map((t) => html("th", {}, t)))),
      html("tbody", {}, ...(rows.length ? rows : [html("tr", {}, html("td", { colspan: 7, class: "muted" }, "No alerts."))]))));
  }

  async function load(api) {
    apiFn = api ?? apiFn;
    const root = document.querySelector("#dashboard");
    if (!root || !apiFn) return;
    const m = await apiFn(`metrics?window=${windowName}`);
    const bins = binsOf(m);
    const picker = html("div", { class: "dash-window" }, ...["1h", "24h"].map((w) => html("button", {
      type: "button", class: w === windowName ? "tab active" : "tab", "data-window": w,
      onclick: () => { windowName = w; load(); } }, w === "1h" ? "last hour" : "last 24 hours")));
    root.replaceChildren(picker, html("div", { class: "dash-grid" },
      ...[alertsPanel(m), eventsPanel(m, bins), sourcesPanel(m, bins)].filter(Boolean), failuresPanel(m, bins), deadPanel(m, bins), stepsPanel(m, bins), backfillPanel(m)));
    root.dataset.window = m.window;
    root.dataset.loaded = "true";
  }

  window.edgehooksDashboard = { load };
})();
