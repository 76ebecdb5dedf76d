// A form generated from Recipe's JSON schema: one field per key, the key's description as help, defaults filled,
// sections nested. The form edits a plain object (the recipe) in place and calls onChange after every edit.
import { h, fill } from "./app.js";

const OPEN = new Set(["", "model", "data", "train"]);
// Fields that hold paths, commands or prompts get two columns: a path cut off at 20 characters says nothing.
const LONG_TEXT = new Set(["id", "path", "command", "storage", "reward", "model", "chat_template", "system_prompt", "base_url", "system"]);

function deref(schema, root) {
  if (schema?.$ref) return { ...root.$defs[schema.$ref.split("/").pop()], ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== "$ref")) };
  return schema;
}

// What kind of widget a property needs: section | optional-section | enum | bool | number | text | list | enum-list | map | union.
export function kindOf(prop, root) {
  const p = deref(prop, root);
  const any = p.anyOf?.map((a) => deref(a, root));
  const nullable = !!any?.some((a) => a.type === "null");
  const rest = any ? any.filter((a) => a.type !== "null") : [p];
  if (rest.length === 1) {
    const r = rest[0];
    if (r.properties) return { kind: nullable ? "optional-section" : "section", schema: r, nullable };
    if (r.enum) return { kind: "enum", options: r.enum, nullable };
    if (r.type === "boolean") return { kind: "bool", nullable };
    if (r.type === "integer" || r.type === "number") return { kind: "number", nullable };
    if (r.type === "array") return r.items?.enum ? { kind: "enum-list", options: r.items.enum } : { kind: "list", nullable };
    if (r.type === "object") return { kind: "map", nullable };
    return { kind: "text", nullable };
  }
  const consts = rest.filter((r) => "const" in r).map((r) => r.const);
  const hasList = rest.some((r) => r.type === "array");
  return { kind: "union", consts, hasList, numeric: rest.some((r) => r.type === "integer" || r.type === "number"), nullable };
}

// Text typed into a field → the value the recipe gets. Unparsable numbers stay strings so that
// validation reports them with the CLI's own words ("must be a valid number ...").
export function parseValue(text, kind) {
  const t = text.trim();
  if (kind.kind === "list") return t ? t.split(",").map((s) => s.trim()).filter(Boolean) : [];
  if (kind.kind === "map") {
    const out = {};
    for (const line of t.split("\n")) { const i = line.indexOf(":"); if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim(); }
    return out;
  }
  if (t === "" && kind.nullable) return null;
  if (kind.kind === "number" || (kind.kind === "union" && kind.numeric)) {
    if (t !== "" && !Number.isNaN(Number(t)) && !(kind.consts || []).includes(t)) return Number(t);
  }
  if (kind.kind === "union" && kind.hasList && !(kind.consts || []).includes(t)) return t ? t.split(",").map((s) => s.trim()).filter(Boolean) : [];
  return text;
}

function showValue(value, kind) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(", ");
  if (kind.kind === "map") return Object.entries(value).map(([k, v]) => `${k}: ${v}`).join("\n");
  return String(value);
}

function defaults(schema, root) {
  const out = {};
  for (const [key, prop] of Object.entries(schema.properties)) {
    const p = deref(prop, root), kind = kindOf(prop, root);
    if ("default" in p) out[key] = p.default;
    else if (kind.kind === "section") out[key] = defaults(kind.schema, root);
    else if (kind.kind === "enum") out[key] = kind.options[0];
    else out[key] = kind.nullable ? null : "";
  }
  return out;
}

function field(key, path, prop, root, obj, onChange) {
  const p = deref(prop, root), kind = kindOf(prop, root);
  const id = `f-${path.join("-")}`;
  const dotted = path.join(".");
  const set = (v) => { obj[key] = v; onChange(dotted); };
  let input;
  if (kind.kind === "enum") {
    input = h("select", { id, onchange: (e) => set(kind.options.find((o) => String(o) === e.target.value) ?? e.target.value) },
      kind.nullable ? h("option", { value: "" }, "(none)") : null, kind.options.map((o) => h("option", { value: String(o), selected: obj[key] === o }, String(o))));
  } else if (kind.kind === "bool") {
    input = h("label", { class: "check" }, h("input", { id, type: "checkbox", checked: !!obj[key], onchange: (e) => set(e.target.checked) }), "on");
  } else if (kind.kind === "enum-list") {
    const chosen = new Set(obj[key] || []);
    input = h("div", { class: "choices", id }, kind.options.map((o) => h("label", { class: "check" },
      h("input", { type: "checkbox", checked: chosen.has(o), onchange: (e) => { e.target.checked ? chosen.add(o) : chosen.delete(o); set(kind.options.filter((x) => chosen.has(x))); } }), o)));
  } else if (kind.kind === "map") {
    input = h("textarea", { id, rows: 3, placeholder: "key: value, one per line", oninput: (e) => set(parseValue(e.target.value, kind)) }, showValue(obj[key], kind));
  } else {
    const hint = kind.kind === "union" ? [...(kind.consts || []), kind.numeric ? "a number" : null, kind.hasList ? "a, b, c" : null].filter(Boolean).join(" or ") : kind.kind === "list" ? "a, b, c" : "";
    input = h("input", { id, type: "text", value: showValue(obj[key], kind), placeholder: hint || (kind.nullable ? "(empty)" : ""),
      inputmode: kind.kind === "number" ? "decimal" : null, autocomplete: "off", spellcheck: "false", oninput: (e) => set(parseValue(e.target.value, kind)) });
  }
  const wide = ["map"].includes(kind.kind) || (p.description || "").length > 160;
  const wide2 = !wide && ["text", "union"].includes(kind.kind) && LONG_TEXT.has(key);
  return h("div", { class: `field${wide ? " wide" : wide2 ? " wide2" : ""}`, dataset: { path: dotted } },
    h("label", { for: id }, key, h("code", {}, dotted)), input,
    p.description ? h("div", { class: "help" }, p.description) : null, h("div", { class: "err" }));
}

function section(key, path, schema, root, obj, onChange, optional) {
  const dotted = path.join(".");
  const body = h("div", { class: "body" });
  const about = schema.description ? h("span", { class: "about" }, schema.description.split("\n")[0]) : null;
  const renderBody = () => {
    const values = obj[key];
    fill(body, ...(values ? Object.entries(schema.properties).map(([k, prop]) => {
      const kind = kindOf(prop, root);
      if (kind.kind === "section" || kind.kind === "optional-section") {
        if (kind.kind === "section" && (values[k] === null || values[k] === undefined)) values[k] = defaults(kind.schema, root);
        return section(k, [...path, k], kind.schema, root, values, onChange, kind.kind === "optional-section");
      }
      return field(k, [...path, k], prop, root, values, onChange);
    }) : [h("div", { class: "help" }, "off (null)")]));
  };
  const toggle = optional ? h("label", { class: "check small", onclick: (e) => e.stopPropagation() }, h("input", { type: "checkbox", checked: obj[key] !== null && obj[key] !== undefined,
    onchange: (e) => { obj[key] = e.target.checked ? defaults(schema, root) : null; renderBody(); onChange(dotted); } }), "use") : null;
  renderBody();
  return h("details", { class: "section", open: OPEN.has(dotted) || undefined, dataset: { path: dotted } },
    h("summary", {}, dotted, toggle, about), h("div", { class: "section-err" }), body);
}

export function recipeForm(schema, recipe, onChange) {
  const top = [];
  for (const [key, prop] of Object.entries(schema.properties)) {
    const kind = kindOf(prop, schema);
    if (kind.kind === "section" || kind.kind === "optional-section") {
      if (kind.kind === "section" && !recipe[key]) recipe[key] = defaults(kind.schema, schema);
      top.push(section(key, [key], kind.schema, schema, recipe, onChange, kind.kind === "optional-section"));
    } else {
      top.push(h("div", { class: "panel" }, field(key, [key], prop, schema, recipe, onChange)));
    }
  }
  return h("div", { id: "recipe-form" }, top);
}

// Put each CLI error line beside the field it names (or the nearest section); returns lines no field took.
export function showErrors(formEl, errors) {
  for (const el of formEl.querySelectorAll(".field.invalid")) el.classList.remove("invalid");
  for (const el of formEl.querySelectorAll(".err, .section-err")) el.textContent = "";
  for (const { key, line } of errors) {
    const parts = key.split(".");
    for (let n = parts.length; n > 0; n--) {
      const target = formEl.querySelector(`[data-path="${CSS.escape(parts.slice(0, n).join("."))}"]`);
      if (!target) continue;
      if (target.classList.contains("field")) { target.classList.add("invalid"); target.querySelector(".err").textContent = line; }
      else { target.querySelector(":scope > .section-err").textContent += (target.querySelector(":scope > .section-err").textContent ? "\n" : "") + line; target.open = true; }
      break;
    }
  }
}
