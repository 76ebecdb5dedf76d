// New run: start from a shipped recipe or a data file, edit every key in the generated form, check live, start.
import { h, api, q, toast, go, add, fill } from "./app.js";
import { recipeForm, showErrors } from "./form.js";

function planTable(plan) {
  if (!plan) return h("p", { class: "muted" }, "The memory plan appears once the recipe is valid.");
  if (plan.error) return h("p", { class: "muted" }, plan.error);
  return h("div", {}, h("div", { class: "small muted", style: "margin-bottom:6px" }, plan.title),
    h("table", { class: "compact plan", id: "plan-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "GiB"), plan.columns.map((c) => h("th", { class: "num" }, c)))),
      h("tbody", {}, plan.rows.map((r) => h("tr", { class: r.part === "total" ? "total" : "", dataset: { part: r.part } }, h("td", {}, r.part), r.gib.map((g) => h("td", { class: "num" }, g > 0 && g < 0.01 ? "<0.01" : g.toFixed(2))))),
        h("tr", {}, h("td", {}, "fits here"), plan.fits.map((f) => h("td", { class: "num" }, h("span", { class: `badge ${f.split(" ")[0]}` }, f)))))));
}

export async function newRunPage(main) {
  const [schema, { recipes }] = await Promise.all([api("/api/schema"), api("/api/recipes")]);
  let recipe = null, checkTimer = null, lastYaml = null, seq = 0;
  const formHolder = h("div", {});
  const status = h("div", { id: "check-status" }, h("span", { class: "muted" }, "pick a recipe or a data file"));
  const planBox = h("div", { id: "plan" });
  const yamlPre = h("pre", { class: "yaml", id: "yaml" });
  const startBtn = h("button", { class: "primary", id: "start", disabled: true, onclick: start }, "Start run");
  const downloadBtn = h("button", { id: "download", disabled: true, onclick: download }, "Download recipe YAML");
  const picker = h("select", { id: "recipe-pick", onchange: (e) => e.target.value && loadShipped(e.target.value) },
    h("option", { value: "" }, "— a shipped recipe —"), recipes.map((r) => h("option", { value: r.name, title: r.about }, `${r.name}  ·  ${r.about.slice(0, 70)}`)));
  const file = h("input", { type: "file", id: "data-file", accept: ".jsonl,.json,.csv,.parquet", onchange: (e) => e.target.files[0] && upload(e.target.files[0]) });
  const uploadNote = h("div", { class: "small muted" });

  add(main, h("div", { class: "page-head" }, h("h1", {}, "New run")),
    h("div", { class: "panel" }, h("div", { class: "row" }, h("b", {}, "Start from"), picker, h("span", { class: "muted" }, "or a data file"), file), uploadNote),
    h("div", { class: "split" }, formHolder,
      h("div", { class: "sticky" },
        h("div", { class: "panel" }, h("h2", {}, "Check"), status, h("div", { class: "row", style: "margin-top:12px" }, startBtn, downloadBtn)),
        h("div", { class: "panel" }, h("h2", {}, "Memory plan ", h("span", { class: "small muted" }, "slmforge plan")), planBox),
        h("details", { class: "panel" }, h("summary", {}, h("b", {}, "Resolved recipe (YAML)")), yamlPre))));

  function mount(resolved) {
    recipe = resolved;
    fill(formHolder, recipeForm(schema, recipe, scheduleCheck));
    check();
  }
  async function loadShipped(name) {
    const { resolved } = await api(`/api/recipe?${q({ name })}`);
    mount(resolved);
  }
  async function upload(f) {
    uploadNote.textContent = `uploading ${f.name} (${(f.size / 1e6).toFixed(1)} MB)…`;
    try {
      const out = await api(`/api/upload?${q({ name: f.name })}`, { method: "PUT", raw: f });
      fill(uploadNote, `saved as ${out.path} · format guessed: ${out.format}`,
        out.preview?.length ? h("pre", { class: "yaml", style: "max-height:120px;margin-top:6px" }, out.preview.map((r) => JSON.stringify(r)).join("\n")) : "");
      picker.value = "";
      mount(out.resolved);
    } catch (err) { uploadNote.textContent = err.message; toast(err.message, true); }
  }
  function scheduleCheck() {
    // Say at once that the verdict is stale: a quick click must not start a recipe the last check did not see.
    startBtn.disabled = downloadBtn.disabled = true;
    fill(status, h("span", { class: "muted" }, "checking…"));
    clearTimeout(checkTimer); checkTimer = setTimeout(check, 250);
  }
  async function check() {
    const mine = ++seq;
    fill(status, h("span", { class: "muted" }, "checking…"));
    let out;
    try { out = await api("/api/recipe/check", { method: "POST", body: recipe }); }
    catch (err) { fill(status, h("ul", { class: "errors" }, h("li", {}, err.message))); return; }
    if (mine !== seq) return; // a newer edit is being checked
    showErrors(formHolder, out.errors);
    lastYaml = out.yaml;
    startBtn.disabled = downloadBtn.disabled = !out.ok;
    yamlPre.textContent = out.yaml || "";
    fill(status, out.ok ? h("span", { class: "ok" }, `✓ valid — slmforge run would accept it (runs/${recipe.name}/)`)
      : h("ul", { class: "errors", id: "check-errors" }, out.errors.map((e) => h("li", {}, e.line))));
    if (out.ok) fill(planBox, planTable(out.plan));
  }
  function download() {
    if (!lastYaml) return;
    const a = h("a", { href: URL.createObjectURL(new Blob([lastYaml], { type: "application/x-yaml" })), download: `${recipe.name}.yaml` });
    document.body.append(a); a.click(); a.remove();
  }
  async function start() {
    startBtn.disabled = true;
    try {
      const out = await api("/api/runs/start", { method: "POST", body: recipe });
      toast(`started slmforge run runs/${out.run}/recipe.yaml`);
      go(`#/run/${encodeURIComponent(out.run)}`);
    } catch (err) { toast(err.message, true); startBtn.disabled = false; }
  }
  if (recipes.length) { picker.value = recipes.find((r) => r.name === "folksy-quick") ? "folksy-quick" : recipes[0].name; await loadShipped(picker.value); }
}
