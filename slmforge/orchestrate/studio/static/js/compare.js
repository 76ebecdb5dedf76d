// Compare: overlaid loss curves, metrics side by side, per-example outputs with better / worse marked.
import { h, api, q, fmt, go, add, fill } from "./app.js";
import { lineChart, align, COLORS } from "./charts.js";

const LOWER_BETTER = /loss|perplexity|mae|rmse|empty|seconds/;

function picker(runs, chosen) {
  const sel = new Set(chosen);
  const boxes = runs.map((r) => h("label", {}, h("input", { type: "checkbox", value: r.id, checked: sel.has(r.id), onchange: (e) => (e.target.checked ? sel.add(r.id) : sel.delete(r.id)) }),
    r.id, r.is_sweep ? h("span", { class: "muted small" }, " (sweep)") : null));
  const sweeps = runs.filter((r) => r.is_sweep).map((s) => h("button", { onclick: () => go(`#/compare/${encodeURIComponent(runs.filter((r) => r.sweep === s.id).map((r) => r.id).join(","))}`) }, `all trials of ${s.id}`));
  return h("div", { class: "panel" }, h("div", { class: "row", style: "justify-content:space-between" }, h("b", {}, "Runs to compare"),
    h("div", { class: "row" }, sweeps, h("button", { class: "primary", id: "compare-go", onclick: () => go(`#/compare/${encodeURIComponent([...sel].join(","))}`) }, "Compare"))),
  h("div", { class: "runpick", style: "margin-top:8px" }, boxes));
}

export async function comparePage(main, arg) {
  const { runs } = await api("/api/runs");
  const chosen = arg ? arg.split(",").filter(Boolean) : [];
  add(main, h("div", { class: "page-head" }, h("h1", {}, "Compare"), h("span", { class: "muted" }, chosen.length ? `${chosen.length} runs` : "")));
  add(main, picker(runs, chosen));
  if (chosen.length < 1) { add(main, h("div", { class: "panel empty-state" }, "Pick two or more runs (or a sweep's trials).")); return; }
  const data = await api(`/api/compare?${q({ runs: chosen.join(",") })}`);

  const chartPanel = h("div", { class: "panel" });
  add(main, chartPanel);
  const series = data.runs.flatMap((r, i) => [
    { label: `${r.id} train`, color: COLORS[i % COLORS.length], points: r.curves.loss.length < 3, data: r.curves.loss },
    { label: `${r.id} val`, color: COLORS[i % COLORS.length], dash: [5, 3], points: true, data: r.curves.eval_loss }]).filter((s) => s.data.length);
  const chart = lineChart(chartPanel, "Loss: train (solid) and val (dashed)", series, { height: 280 });
  const [xs, ys] = align(series.map((s) => s.data));
  chart.set(xs, ys);
  chartPanel.dataset.series = String(series.length);

  const keys = [...new Set([...Object.keys(data.base_metrics), ...data.runs.flatMap((r) => Object.keys(r.metrics))])];
  const best = (k) => {
    const vals = data.runs.map((r) => r.metrics[k]).filter((v) => typeof v === "number");
    if (vals.length < 2 || vals.every((v) => v === vals[0])) return null; // a tie has no best
    return LOWER_BETTER.test(k) ? Math.min(...vals) : Math.max(...vals);
  };
  add(main, h("div", { class: "panel flush" }, h("table", { class: "compact", id: "compare-metrics" },
    h("thead", {}, h("tr", {}, h("th", {}, "metric"), h("th", { class: "num" }, "base model"), data.runs.map((r) => h("th", { class: "num" }, r.id, h("div", { class: "muted small" }, r.method || ""))))),
    h("tbody", {}, keys.map((k) => { const b = best(k); return h("tr", {}, h("td", {}, k), h("td", { class: "num muted" }, fmt(data.base_metrics[k])),
      data.runs.map((r) => h("td", { class: `num${b !== null && r.metrics[k] === b ? " better" : ""}` }, r.metrics[k] === b && b !== null ? h("b", {}, fmt(r.metrics[k])) : fmt(r.metrics[k])))); })))));

  add(main, examplesPanel(data));
}

function examplesPanel(data) {
  const counts = data.runs.map((r) => {
    const c = { better: 0, worse: 0, same: 0 };
    for (const ex of data.examples) { const m = ex.outputs.find((o) => o.run === r.id)?.mark; if (m) c[m]++; }
    return [r.id, c];
  });
  const basis = data.basis === "base" ? "the base model's answer" : `${data.basis}'s answer (no base samples)`;
  let filter = "all";
  const body = h("tbody", {});
  const cell = (o) => {
    if (!o || o.output === null || o.output === undefined) return h("td", { class: "muted" }, "–");
    return h("td", { class: o.mark === "better" ? "cell-better" : o.mark === "worse" ? "cell-worse" : "", dataset: { mark: o.mark || "" } },
      o.output.trim() ? o.output : h("span", { class: "muted" }, "(empty reply)"),
      h("div", { class: "small muted" }, `score ${fmt(o.score, 3)}${o.mark && o.mark !== "same" ? ` · ${o.mark}` : ""}`));
  };
  function render() {
    const shown = data.examples.filter((ex) => filter === "all" || ex.outputs.some((o) => (filter === "changed" ? o.mark === "better" || o.mark === "worse" : o.mark === filter)));
    fill(body, ...shown.map((ex) => h("tr", {}, h("td", {}, ex.prompt), h("td", { class: "muted" }, ex.reference ?? ""),
      data.basis === "base" ? cell(ex.base) : null, ex.outputs.map(cell))));
  }
  const buttons = ["all", "changed", "better", "worse"].map((f) => h("button", { class: f === filter ? "primary" : "", onclick: (e) => {
    filter = f; for (const b of e.target.parentNode.children) b.classList.toggle("primary", b === e.target); render(); } }, f));
  render();
  return h("div", { class: "panel" }, h("h2", {}, `Per-example outputs (${data.examples.length})`),
    h("p", { class: "note", id: "score-note" }, `better / worse: each answer's ${data.score} (computed offline, the same score eval averages), against ${basis}; a change of ${data.margin} or more is marked.`),
    h("div", { class: "row", style: "margin:8px 0" }, buttons, counts.map(([id, c]) => h("span", { class: "small" }, h("b", {}, id), ": ",
      h("span", { class: "better" }, `${c.better} better`), " · ", h("span", { class: "worse" }, `${c.worse} worse`), ` · ${c.same} same`))),
    h("div", { style: "max-height:640px;overflow:auto" }, h("table", { class: "compact", id: "examples" },
      h("thead", {}, h("tr", {}, h("th", {}, "prompt"), h("th", {}, "reference"), data.basis === "base" ? h("th", {}, "base") : null, data.runs.map((r) => h("th", {}, r.id)))), body)));
}
