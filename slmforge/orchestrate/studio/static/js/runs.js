// Runs: the table of every run (polled), and one run's page (live over Server-Sent Events).
import { h, api, q, fmt, duration, badge, toast, go, add, fill } from "./app.js";
import { lineChart, loadUplot, sparkline } from "./charts.js";

const STAGE_ORDER = ["prepare", "train", "prefs", "align", "eval", "export", "verify", "judge", "report"];

function stageDots(stages) {
  const names = STAGE_ORDER.filter((s) => stages[s]);
  return h("span", { class: "stages" }, names.map((s) => h("i", { class: stages[s].status, title: `${s}: ${stages[s].status}${stages[s].seconds ? ` (${duration(stages[s].seconds)})` : ""}` })));
}

function pair(metric, lowerIsBetter, digits = 3) {
  if (!metric) return "–";
  const { base, final } = metric;
  if (base === null || base === undefined) return fmt(final, digits);
  const better = lowerIsBetter ? final < base : final > base;
  return h("span", {}, h("span", { class: "muted" }, fmt(base, digits)), " → ", h("b", { class: final === base ? "" : better ? "better" : "worse" }, fmt(final, digits)));
}

function progressCell(run) {
  const p = run.progress;
  if (!p?.step) return h("span", { class: "muted" }, "–");
  const share = p.total_steps ? Math.min(1, p.step / p.total_steps) : 0;
  return h("span", { title: p.eta_s ? `ETA ${duration(p.eta_s)}` : "" },
    h("span", { class: "progress" }, h("div", { style: `width:${(share * 100).toFixed(1)}%` })), " ",
    h("span", { class: "small muted" }, `${p.step}${p.total_steps ? ` / ${p.total_steps}` : ""}`));
}

function runRow(run, selected, onSelect) {
  const hl = run.headline || {};
  return h("tr", { class: run.sweep ? "trial" : run.is_sweep ? "sweep" : "", dataset: { run: run.id } },
    h("td", {}, h("input", { type: "checkbox", checked: selected.has(run.id), onchange: (e) => onSelect(run.id, e.target.checked), "aria-label": `select ${run.id}` })),
    h("td", {}, h("a", { href: `#/run/${encodeURIComponent(run.id)}` }, run.name),
      run.is_sweep ? h("span", { class: "small muted" }, " sweep") : null),
    h("td", {}, badge(run.status)),
    h("td", {}, stageDots(run.stages)),
    h("td", { class: "small" }, run.method || "–", h("div", { class: "muted mono small", title: run.model || "" }, (run.model || "").split("/").slice(-1)[0])),
    h("td", {}, progressCell(run)),
    h("td", {}, sparkline(run.spark), " ", h("span", { class: "small" }, fmt(run.progress?.loss, 3))),
    h("td", { class: "num" }, fmt(run.progress?.eval_loss, 3)),
    h("td", { class: "num" }, pair(hl.loss, true)),
    h("td", { class: "num" }, hl.rouge_l ? pair(hl.rouge_l, false) : hl.mae ? pair(hl.mae, true, 3) : "–"),
    h("td", { class: "num" }, fmt(hl.judge_mean, 3)),
    h("td", { class: "num small muted" }, run.age_s !== null ? `${duration(run.age_s)} ago` : "–"));
}

export async function runsPage(main) {
  const selected = new Set();
  const filter = h("input", { type: "search", placeholder: "filter runs", oninput: () => render() });
  const compareBtn = h("button", { class: "primary", disabled: true, onclick: () => go(`#/compare/${encodeURIComponent([...selected].join(","))}`) }, "Compare selected");
  const count = h("span", { class: "muted" });
  const tbody = h("tbody", {});
  let runs = [];
  add(main, 
    h("div", { class: "page-head" }, h("h1", {}, "Runs"), count, h("div", { class: "spacer" }), filter, compareBtn,
      h("a", { class: "btn", href: "#/new" }, "+ New run")),
    h("div", { class: "panel flush" }, h("table", { id: "runs-table" },
      h("thead", {}, h("tr", {}, ["", "run", "status", "stages", "method · model", "progress", "train loss", "val loss", "test loss base → tuned",
        "ROUGE-L | MAE base → tuned", "judge", "age"].map((c, i) => h("th", { class: i >= 7 ? "num" : "", style: i >= 8 && i <= 9 ? "max-width:110px;white-space:normal" : null }, c)))), tbody)));

  const onSelect = (id, on) => { on ? selected.add(id) : selected.delete(id); compareBtn.disabled = selected.size < 2; compareBtn.textContent = `Compare selected${selected.size ? ` (${selected.size})` : ""}`; };
  function render() {
    const needle = filter.value.trim().toLowerCase();
    const shown = runs.filter((r) => !needle || r.id.toLowerCase().includes(needle));
    count.textContent = `${runs.length} run${runs.length === 1 ? "" : "s"}`;
    fill(tbody, ...(shown.length ? shown.map((r) => runRow(r, selected, onSelect))
      : [h("tr", {}, h("td", { colspan: 12, class: "empty-state" }, runs.length ? "no run matches the filter" : "No runs yet. Start one from New run, or point --runs at a folder of run directories."))]));
  }
  async function refresh() {
    const data = await api("/api/runs");
    document.getElementById("root-path").textContent = data.root;
    runs = data.runs;
    render();
  }
  await refresh();
  performance.mark("runs-rendered");
  const timer = setInterval(() => { if (!document.hidden) refresh().catch(() => {}); }, 3000);
  return () => clearInterval(timer);
}

// ---------------------------------------------------------------- one run
const CHARTS = [
  ["Loss", [{ key: "loss", label: "train loss" }, { key: "eval_loss", label: "val loss", points: true, dash: [5, 3] }]],
  ["Learning rate", [{ key: "lr", label: "lr" }]],
  ["Gradient norm", [{ key: "grad_norm", label: "grad norm" }]],
  ["Tokens / s", [{ key: "tokens_per_s", label: "tokens/s" }, { key: "useful_tokens_per_s", label: "useful (loss) tokens/s" }]],
];

export async function runPage(main, runId) {
  loadUplot().catch(() => {}); // fetched while the run's details load; a chart that cannot draw keeps its "no points" box
  const run = await api(`/api/run?${q({ run: runId })}`);
  const lines = [];
  const head = h("div", { class: "page-head" });
  const strip = h("div", { class: "stage-strip" });
  const stats = h("div", { class: "stats" });
  const grid = h("div", { class: "charts", id: "charts" });
  add(main, head, h("div", { class: "panel" }, strip), stats, h("div", { style: "height:16px" }), grid);
  const charts = CHARTS.map(([title, series]) => {
    const panel = h("div", { class: "panel" });
    add(grid, panel);
    return { series, chart: lineChart(panel, title, series) };
  });
  const { runTabs } = await import("./run_tabs.js"); // the run page's tabs: not on the runs table's critical path
  const tabs = runTabs(run);
  add(main, tabs.element);

  let status = run;
  function renderHead() {
    const running = ["running", "stopping"].includes(status.status);
    const done = status.status === "complete";
    fill(head, 
      h("h1", {}, run.id), badge(status.status), h("div", { class: "spacer" }),
      running && status.job?.alive ? h("button", { class: "danger", id: "stop", disabled: status.status === "stopping", onclick: stop }, status.status === "stopping" ? "Stopping…" : "Stop (save checkpoint)") : null,
      running && !status.job?.alive ? h("span", { class: "small muted", title: "the studio can stop only the runs it started" }, "started outside the studio: Ctrl-C where it runs saves a checkpoint") : null,
      !running && !done && run.recipe_yaml && !run.is_sweep ? h("button", { class: "primary", id: "resume", onclick: resume }, "Resume") : null,
      done && run.recipe_yaml && !run.is_sweep ? h("button", { id: "rerun", onclick: resume, title: "slmforge run again: complete stages are skipped" }, "Run again") : null,
      h("a", { class: "btn", href: `#/data/${encodeURIComponent(run.id)}` }, "Data"),
      run.trials?.length ? h("a", { class: "btn", href: `#/compare/${encodeURIComponent(run.trials.join(","))}` }, `Compare ${run.trials.length} trials`) : null,
      status.has_model || run.has_model ? h("a", { class: "btn", href: `#/play/${encodeURIComponent("run:" + run.id)}` }, "Chat") : null,
      run.recipe_yaml ? h("a", { class: "btn", href: `/api/run/file?${q({ run: run.id, path: "recipe.yaml", download: 1 })}` }, "Download recipe") : null);
    const stages = { ...Object.fromEntries((run.planned_stages || []).map((s) => [s, { status: "pending" }])), ...(status.stages || {}) };
    fill(strip, ...(Object.keys(stages).length ? STAGE_ORDER.filter((s) => stages[s]).map((s) =>
      h("div", { class: `stage ${stages[s].status}`, title: stages[s].error || "" }, h("b", {}, s),
        h("span", { class: "small muted" }, stages[s].status, stages[s].seconds ? ` · ${duration(stages[s].seconds)}` : ""),
        stages[s].error ? h("div", { class: "small", style: "max-width:340px" }, stages[s].error) : null))
      : [h("span", { class: "muted" }, "no stage has started yet")]));
    const p = status.progress || {};
    const stat = (k, v, id) => h("div", { class: "stat", id }, h("div", { class: "k" }, k), h("div", { class: "v" }, v));
    fill(stats, 
      stat("step", p.step ? `${p.step}${p.total_steps ? ` / ${p.total_steps}` : ""}` : "–", "stat-step"),
      stat("train loss", fmt(p.loss, 4), "stat-loss"), stat("val loss", fmt(p.eval_loss, 4)),
      stat("learning rate", fmt(p.lr, 3)), stat("grad norm", fmt(p.grad_norm, 3)),
      stat("useful tokens/s", typeof p.useful_tokens_per_s === "number" ? Math.round(p.useful_tokens_per_s).toLocaleString() : "–"),
      stat("ETA", running && p.eta_s !== null ? duration(p.eta_s) : "–", "stat-eta"));
  }
  function redraw() {
    for (const { series, chart } of charts) {
      const keys = series.map((s) => s.key);
      const rows = lines.filter((l) => keys.some((k) => typeof l[k] === "number"));
      chart.set(rows.map((l) => l.step), keys.map((k) => rows.map((l) => (typeof l[k] === "number" ? l[k] : null))));
    }
    grid.dataset.points = String(lines.filter((l) => typeof l.loss === "number").length);
  }
  async function stop() {
    try { await api(`/api/run/stop?${q({ run: run.id })}`, { method: "POST" }); toast("SIGTERM sent: training finishes its step, saves a checkpoint and stops"); }
    catch (err) { toast(err.message, true); }
  }
  async function resume() {
    try { await api(`/api/run/resume?${q({ run: run.id })}`, { method: "POST" }); toast("started: slmforge run " + run.id + "/recipe.yaml"); tabs.show("log"); }
    catch (err) { toast(err.message, true); }
  }
  renderHead();
  const source = new EventSource(`/api/run/stream?${q({ run: run.id })}`);
  source.addEventListener("reset", () => { lines.length = 0; redraw(); });
  source.addEventListener("metrics", (e) => { lines.push(...JSON.parse(e.data)); redraw(); });
  source.addEventListener("log", (e) => tabs.log(JSON.parse(e.data)));
  source.addEventListener("status", (e) => {
    const before = status.status;
    status = { ...status, ...JSON.parse(e.data) };
    renderHead();
    if (before !== status.status) tabs.refresh();
  });
  const onResize = () => charts.forEach((c) => c.chart.resize());
  window.addEventListener("resize", onResize);
  return () => { source.close(); window.removeEventListener("resize", onResize); charts.forEach((c) => c.chart.destroy()); };
}
