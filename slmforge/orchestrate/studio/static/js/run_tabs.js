// The tabs under a run's charts: log, checkpoints, samples, eval table, parity, judge, report.html, recipe.
import { h, api, q, fmt, add, fill } from "./app.js";

function table(header, rows, cls = "") {
  return h("table", { class: `compact ${cls}` }, h("thead", {}, h("tr", {}, header.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => (c instanceof Node ? c : h("td", {}, c)))))));
}

const EVAL_ROWS = [["loss", "test loss (reply tokens)", true], ["perplexity", "perplexity", true], ["rouge_l", "ROUGE-L F1", false],
  ["bleu", "BLEU", false], ["exact_match", "exact match", false], ["distinct_2", "distinct-2", false], ["novelty", "novel (not a training copy)", false],
  ["mae", "MAE", true], ["rmse", "RMSE", true], ["within_10pct", "within 10 %", false], ["empty_outputs", "empty replies", true],
  ["tokens_per_s", "generation tokens/s", false]];

function evalTable(results) {
  if (!results) return h("p", { class: "muted" }, "No eval/results.json yet: the eval stage writes it.");
  const models = results.models || {};
  const cols = ["base", "final", "reference"].filter((m) => models[m]);
  const rows = EVAL_ROWS.filter(([k]) => cols.some((c) => typeof models[c][k] === "number")).map(([k, label, lower]) => {
    const b = models.base?.[k], f = models.final?.[k];
    const delta = typeof b === "number" && typeof f === "number" ? f - b : null;
    const cls = delta === null || delta === 0 ? "" : (delta < 0) === lower ? "better" : "worse";
    return [label, ...cols.map((c) => h("td", { class: "num" }, fmt(models[c][k]))), h("td", { class: `num ${cls}` }, delta === null ? "" : (delta > 0 ? "+" : "") + fmt(delta))];
  });
  return h("div", {}, h("p", { class: "muted" }, `${results.prompts ?? "?"} test prompts · ${results.task} task`),
    table(["metric", ...cols, "Δ tuned − base"], rows));
}

function parityTable(parity) {
  if (!parity) return h("p", { class: "muted" }, "No export/parity.json: verify runs after export (export.formats).");
  const rows = (parity.rows || []).map((r) => [r.runtime, r.check, h("td", {}, h("span", { class: `badge ${r.status}` }, r.status)),
    r.detail + (r.status === "failed" && r.fix ? ` → ${r.fix}` : "")]);
  const counts = ["passed", "failed", "skipped"].map((k) => `${(parity.rows || []).filter((r) => r.status === k).length} ${k}`).join(" · ");
  return h("div", {}, h("p", {}, counts, parity.end_of_turn ? ` · end of turn ${parity.end_of_turn.token} (id ${parity.end_of_turn.id})` : ""),
    table(["runtime", "check", "result", "detail"], rows));
}

function flat(value, prefix = "") {
  if (value && typeof value === "object" && !Array.isArray(value)) return Object.entries(value).flatMap(([k, v]) => flat(v, `${prefix}${k}.`));
  return [[prefix.replace(/\.$/, ""), Array.isArray(value) ? value.slice(0, 10).join(", ") : typeof value === "number" ? fmt(value) : String(value)]];
}

function judgeView(judge, ratings) {
  const parts = [];
  if (judge?.summary) {
    const s = judge.summary;
    parts.push(h("h3", {}, "Judge scores"), h("p", {}, s.mean ? `mean ${fmt(s.mean.value, 3)} (95 % CI ${fmt(s.mean.low, 3)}–${fmt(s.mean.high, 3)})` : "no scores",
      s.low_share ? ` · scored 1–2: ${(s.low_share.value * 100).toFixed(1)} %` : "", s.pass ? ` · ${s.pass.all ? "passes" : "below target"}` : ""),
    table(["score", "answers"], Object.entries(s.distribution || {}).map(([k, v]) => [k, h("td", { class: "num" }, v)])));
  }
  if (judge?.compare) parts.push(h("h3", {}, "Pairwise A/B"), table(["key", "value"], flat(judge.compare)));
  if (ratings) parts.push(h("h3", {}, "Human spot-check"), h("p", {}, `${ratings.total} rated: Good ${(ratings.good * 100).toFixed(0)} %, Bad ${(ratings.bad * 100).toFixed(0)} % — ${ratings.passed ? "pass" : "below target"}`));
  return parts.length ? h("div", {}, parts) : h("p", { class: "muted" }, "No judge/summary.json: the judge stage writes it when judge.enabled.");
}

function checkpointsView(checkpoints) {
  if (!checkpoints?.length) return h("p", { class: "muted" }, "No checkpoints yet (train.save_steps; Stop saves one too).");
  return table(["checkpoint", "step", "state"], checkpoints.map((c) => [h("td", { class: "mono" }, c.name), h("td", { class: "num" }, c.step),
    h("td", {}, c.complete ? h("span", { class: "badge complete" }, "complete — resume starts here") : h("span", { class: "badge failed" }, c.problem))]), "checkpoints");
}

async function samplesView(runId) {
  const { samples } = await api(`/api/run/samples?${q({ run: runId })}`);
  if (!samples.length) return h("p", { class: "muted" }, "No eval/samples.jsonl yet.");
  const reply = (t) => (t === null || t === undefined ? h("td", { class: "muted" }, "–") : t.trim() ? h("td", {}, t) : h("td", { class: "muted" }, "(empty reply)"));
  return table(["prompt", "base", "fine-tuned", "reference"], samples.map((s) => [s.prompt, reply(s.base), reply(s.final), h("td", { class: "muted" }, s.reference ?? "")]));
}

export function runTabs(run) {
  const names = [["log", "Log"], ["checkpoints", "Checkpoints"], ["samples", "Samples"], ["eval", "Eval"], ["parity", "Parity"],
    ["judge", "Judge"], ["report", "Report"], ["recipe", "Recipe"]];
  const bar = h("div", { class: "tabs" });
  const body = h("div", {});
  const logPre = h("pre", { class: "log", id: "log" }, run.log ? "" : "No studio log for this run (started from a terminal?).");
  let logText = "", current = "log", detail = run;
  const element = h("div", { class: "panel" }, bar, body);

  async function show(name) {
    current = name;
    for (const b of bar.children) b.classList.toggle("active", b.dataset.tab === name);
    let view;
    if (name === "log") view = logPre;
    else if (name === "checkpoints") view = checkpointsView(detail.checkpoints);
    else if (name === "samples") view = await samplesView(run.id);
    else if (name === "eval") view = evalTable(detail.results);
    else if (name === "parity") view = parityTable(detail.parity);
    else if (name === "judge") view = judgeView(detail.judge, detail.ratings);
    else if (name === "report") view = detail.has_report ? h("iframe", { class: "report", src: `/api/run/file?${q({ run: run.id, path: "report.html" })}`, title: "report.html" })
      : h("p", { class: "muted" }, "No report.html yet: the report stage writes it last.");
    else view = h("pre", { class: "yaml" }, detail.recipe_yaml || "no recipe.yaml");
    if (current === name) fill(body, view);
  }
  add(bar, ...names.map(([key, label]) => h("button", { dataset: { tab: key }, onclick: () => show(key) }, label)));
  show("log");
  return {
    element,
    show,
    log({ text, reset }) {
      if (reset) logText = "";
      // Progress bars redraw with \r: keep what a terminal would show, the text after the last \r of each line.
      logText = (logText + text).split("\n").map((l) => l.split("\r").filter(Boolean).pop() ?? "").join("\n").slice(-200000);
      const atEnd = logPre.scrollHeight - logPre.scrollTop - logPre.clientHeight < 40;
      logPre.textContent = logText;
      if (atEnd) logPre.scrollTop = logPre.scrollHeight;
    },
    async refresh() {
      detail = await api(`/api/run?${q({ run: run.id })}`);
      if (current !== "log") show(current);
    },
  };
}
