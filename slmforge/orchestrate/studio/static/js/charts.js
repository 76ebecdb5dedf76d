// Charts: uPlot (vendored, static/vendor/uplot) for line charts; small SVGs drawn here for sparklines and histograms.
import { h, svg, fmt } from "./app.js";

// uPlot is loaded on the first chart (the runs table, where a visit starts, draws none).
let uplotLoading = null;
export function loadUplot() {
  if (window.uPlot) return Promise.resolve();
  uplotLoading ??= new Promise((resolve, reject) => {
    document.head.append(h("link", { rel: "stylesheet", href: "/static/vendor/uplot/uPlot.min.css" }));
    document.head.append(h("script", { src: "/static/vendor/uplot/uPlot.iife.min.js", onload: resolve,
      onerror: () => reject(new Error("could not load /static/vendor/uplot/uPlot.iife.min.js")) }));
  });
  return uplotLoading;
}

export const COLORS = ["#4354d6", "#d9534f", "#2a9d5c", "#e08a00", "#8e44ad", "#0f8b8d", "#c2185b", "#6d4c41", "#546e7a", "#7cb342"];

// A line chart that can gain points: chart.set(xs, [ys...]) redraws without rebuilding.
export function lineChart(parent, title, series, { height = 210, logY = false } = {}) {
  const box = h("div", { class: "chart" }, h("div", { class: "title" }, title));
  const holder = h("div", {});
  const empty = h("div", { class: "empty" }, "no points yet");
  box.append(holder, empty);
  parent.append(box);
  let plot = null, latest = null;
  const opts = () => ({
    width: Math.max(280, holder.clientWidth || box.clientWidth || 420), height,
    scales: { x: { time: false }, y: logY ? { distr: 3 } : {} },
    // Steps are whole numbers: no 1.5 ticks. Values: 4 significant digits, no trailing zeros.
    axes: [{ label: "step", size: 38, incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000] },
      { size: 60, values: (u, vals) => vals.map(tick) }],
    legend: { live: false },
    cursor: { drag: { x: true, y: false } },
    series: [{ label: "step" }, ...series.map((s, i) => ({
      label: s.label, stroke: s.color || COLORS[i % COLORS.length], width: s.width || 1.6, dash: s.dash,
      spanGaps: true, points: { show: s.points ?? false, size: 5 },
    }))],
  });
  const chart = {
    points: 0,
    set(xs, ys) {
      chart.points = xs.length;
      empty.style.display = xs.length ? "none" : "";
      holder.style.display = xs.length ? "" : "none";
      if (!xs.length) return;
      if (!window.uPlot) { latest = [xs, ys]; loadUplot().then(() => latest && chart.set(...latest)); return; }
      latest = null;
      const data = [xs, ...ys];
      if (!plot) plot = new uPlot(opts(), data, holder);
      else plot.setData(data);
    },
    resize() { if (plot) plot.setSize({ width: Math.max(280, holder.clientWidth || 420), height }); },
    destroy() { if (plot) plot.destroy(); },
  };
  holder.style.display = "none";
  return chart;
}

function tick(v) {
  if (v === null || v === undefined) return "";
  const abs = Math.abs(v);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return v.toExponential(1);
  return String(+v.toPrecision(4));
}

// Several [step, value] series on one x axis (the union of their steps; missing points are gaps).
export function align(seriesList) {
  const steps = [...new Set(seriesList.flatMap((s) => s.map((p) => p[0])))].sort((a, b) => a - b);
  const index = new Map(steps.map((s, i) => [s, i]));
  const ys = seriesList.map((s) => { const y = new Array(steps.length).fill(null); for (const [x, v] of s) y[index.get(x)] = v; return y; });
  return [steps, ys];
}

export function sparkline(values, width = 96, height = 24) {
  if (!values || values.length < 2) return h("span", { class: "muted small" }, values?.length ? fmt(values[0]) : "–");
  const lo = Math.min(...values), hi = Math.max(...values), span = hi - lo || 1;
  const pts = values.map((v, i) => `${(i / (values.length - 1)) * (width - 2) + 1},${height - 2 - ((v - lo) / span) * (height - 4)}`).join(" ");
  return svg("svg", { class: "spark", width, height, viewBox: `0 0 ${width} ${height}` },
    svg("polyline", { points: pts, fill: "none", stroke: "#4354d6", "stroke-width": 1.5, "stroke-linejoin": "round" }));
}

export function histogram({ edges, counts }, { width = 420, height = 150, label = "tokens" } = {}) {
  if (!counts?.length) return h("div", { class: "muted" }, "no tokenized data");
  const pad = { l: 34, r: 8, t: 8, b: 26 };
  const w = width - pad.l - pad.r, hh = height - pad.t - pad.b;
  const top = Math.max(...counts) || 1, bw = w / counts.length;
  const bars = counts.map((c, i) => svg("rect", { x: pad.l + i * bw + 0.5, y: pad.t + hh - (c / top) * hh, width: Math.max(1, bw - 1), height: (c / top) * hh },
    svg("title", {}, `${edges[i]}–${edges[i + 1] - 1} ${label}: ${c.toLocaleString()}`)));
  const ticks = [0, Math.floor(counts.length / 2), counts.length].map((i) =>
    svg("text", { x: pad.l + i * bw, y: height - 8, "text-anchor": i === 0 ? "start" : i === counts.length ? "end" : "middle" }, String(edges[i])));
  return svg("svg", { class: "hist", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "xMinYMin meet" }, bars, ticks,
    svg("text", { x: 2, y: pad.t + 8 }, top.toLocaleString()), svg("text", { x: 2, y: pad.t + hh }, "0"),
    svg("line", { x1: pad.l, x2: pad.l + w, y1: pad.t + hh, y2: pad.t + hh, stroke: "#c5cad6" }));
}
