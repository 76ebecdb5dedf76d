// Data: what prepare read, kept and dropped (with file:line), split × stratum, token lengths, and the rows themselves.
import { h, api, q, go, add, fill } from "./app.js";
import { histogram } from "./charts.js";

function kv(label, value, cls = "") { return h("div", { class: "stat" }, h("div", { class: "k" }, label), h("div", { class: `v ${cls}` }, value)); }

function messagesView(row) {
  if (!row) return h("span", { class: "muted" }, "(not JSON)");
  const parts = (row.messages || []).map((m) => h("div", { class: "msg" }, h("b", {}, m.role), m.content));
  if (row.chosen !== undefined) parts.push(h("div", { class: "msg better" }, h("b", {}, "chosen"), row.chosen), h("div", { class: "msg worse" }, h("b", {}, "rejected"), row.rejected));
  if (row.label !== undefined) parts.push(h("div", { class: "msg" }, h("b", {}, "label"), String(row.label)));
  const meta = Object.entries(row.meta || {}).map(([k, v]) => h("span", { class: "pill" }, `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`));
  return h("div", {}, parts, meta.length ? h("div", {}, meta) : null);
}

export async function dataPage(main, runId) {
  const { runs } = await api("/api/runs");
  const withData = runs.filter((r) => r.stages?.prepare);
  const pick = h("select", { id: "data-run", onchange: (e) => go(`#/data/${encodeURIComponent(e.target.value)}`) },
    h("option", { value: "" }, "— a run —"), withData.map((r) => h("option", { value: r.id, selected: r.id === runId }, r.id)));
  add(main, h("div", { class: "page-head" }, h("h1", {}, "Data"), pick, runId ? h("a", { href: `#/run/${encodeURIComponent(runId)}` }, "open run") : null));
  if (!runId) { add(main, h("div", { class: "panel empty-state" }, withData.length ? "Pick a run to see its prepared data." : "No run has prepared data yet.")); return; }
  const data = await api(`/api/run/data?${q({ run: runId })}`);
  const rep = data.report, counts = rep.counts || {};
  add(main, h("div", { class: "stats" }, kv("read", (counts.read ?? 0).toLocaleString()), kv("kept", (counts.kept ?? 0).toLocaleString(), "better"),
    kv("dropped", (counts.dropped ?? 0).toLocaleString(), counts.dropped ? "worse" : ""),
    ...Object.entries(data.rows).map(([s, n]) => kv(`${s} rows`, n.toLocaleString()))),
    h("p", { class: "muted small" }, `${rep.source} · format ${rep.format} · max_length ${rep.max_length}`));

  const drops = Object.entries(counts.dropped_by_reason || {});
  const problems = rep.problems || [];
  add(main, h("div", { class: "grid2" },
    h("div", { class: "panel" }, h("h2", {}, "Drops by reason"), drops.length ? h("table", { class: "compact", id: "drops" },
      h("thead", {}, h("tr", {}, h("th", {}, "reason"), h("th", { class: "num" }, "rows"))),
      h("tbody", {}, drops.map(([k, v]) => h("tr", {}, h("td", { class: "mono" }, k), h("td", { class: "num" }, v.toLocaleString()))))) : h("p", { class: "muted" }, "nothing dropped"),
      problems.length ? [h("h3", {}, `Problems (first ${problems.length})`), h("div", { style: "max-height:260px;overflow:auto" }, h("table", { class: "compact", id: "problems" },
        h("thead", {}, h("tr", {}, ["where", "reason", "message"].map((c) => h("th", {}, c)))),
        h("tbody", {}, problems.map((p) => h("tr", {}, h("td", { class: "mono small" }, p.source), h("td", { class: "mono small" }, p.reason), h("td", { class: "small" }, p.message))))))] : null),
    h("div", { class: "panel" }, h("h2", {}, "Split × stratum"), strataTable(rep))));

  const hist = h("div", { class: "grid2" });
  for (const [split, hg] of Object.entries(data.histograms)) {
    const t = rep.tokens?.[split];
    add(hist, h("div", { class: "panel" }, h("h2", {}, `Token lengths · ${split}`),
      t ? h("div", { class: "small muted" }, `min ${t.length.min} · p50 ${t.length.p50} · p95 ${t.length.p95} · max ${t.length.max} · truncated ${t.truncated} · ${t.total_tokens.toLocaleString()} tokens (${t.loss_tokens.toLocaleString()} with loss)`) : null,
      histogram(hg, { width: 420, height: 140 })));
  }
  add(main, hist);
  add(main, rowsBrowser(runId, data.rows));
}

function strataTable(rep) {
  const splits = rep.splits || {};
  const names = Object.keys(splits);
  const strata = [...new Set(names.flatMap((s) => Object.keys(splits[s].by_stratum || {})))].sort();
  const rows = strata.map((st) => h("tr", {}, h("td", {}, st), names.map((s) => h("td", { class: "num" }, (splits[s].by_stratum[st] || 0).toLocaleString()))));
  rows.push(h("tr", {}, h("td", {}, h("b", {}, "rows")), names.map((s) => h("td", { class: "num" }, h("b", {}, (splits[s].rows || 0).toLocaleString())))));
  rows.push(h("tr", {}, h("td", { class: "muted" }, "groups"), names.map((s) => h("td", { class: "num muted" }, (splits[s].groups ?? "–").toLocaleString()))));
  return h("div", {}, strata.length ? null : h("p", { class: "muted small" }, "no data.split.stratify field: rows per split only"),
    h("table", { class: "compact", id: "strata" }, h("thead", {}, h("tr", {}, h("th", {}, "stratum"), names.map((s) => h("th", { class: "num" }, s)))), h("tbody", {}, rows)));
}

function rowsBrowser(runId, totals) {
  let split = "train", offset = 0;
  const limit = 25;
  const body = h("tbody", {});
  const info = h("span", { class: "muted small" });
  const tabs = h("div", { class: "tabs" });
  const prev = h("button", { onclick: () => { offset = Math.max(0, offset - limit); load(); } }, "‹ prev");
  const next = h("button", { onclick: () => { offset += limit; load(); } }, "next ›");
  async function load() {
    for (const b of tabs.children) b.classList.toggle("active", b.dataset.split === split);
    const page = await api(`/api/run/rows?${q({ run: runId, split, offset, limit })}`);
    fill(body, ...page.rows.map((r) => h("tr", {}, h("td", { class: "num muted" }, r.line), h("td", {}, messagesView(r.row)))));
    info.textContent = page.total ? `rows ${offset + 1}–${Math.min(page.total, offset + limit)} of ${page.total.toLocaleString()}` : "empty split";
    prev.disabled = offset === 0; next.disabled = offset + limit >= page.total;
  }
  add(tabs, ...Object.keys(totals).map((s) => h("button", { dataset: { split: s }, onclick: () => { split = s; offset = 0; load(); } }, `${s} (${totals[s].toLocaleString()})`)));
  load();
  return h("div", { class: "panel" }, h("h2", {}, "Rows"), tabs, h("div", { class: "row", style: "margin-bottom:8px" }, prev, next, info),
    h("table", { class: "compact", id: "rows" }, h("thead", {}, h("tr", {}, h("th", { class: "num", style: "width:64px" }, "line"), h("th", {}, "example"))), body));
}
