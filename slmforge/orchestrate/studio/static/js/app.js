// The studio's shell: DOM helper, API helper, formatting, hash router. Pages live in their own modules.
import { runsPage, runPage } from "./runs.js";
// Pages other than the runs table load when first opened: the table is what a visit starts with.
const lazy = (module, name) => async (...args) => (await import(module))[name](...args);
const newRunPage = lazy("./newrun.js", "newRunPage"), dataPage = lazy("./data.js", "dataPage");
const comparePage = lazy("./compare.js", "comparePage"), playPage = lazy("./playground.js", "playPage");

// h("div", {class: "x", onclick: f}, child, "text") — text is always set as text, never parsed as HTML.
export function h(tag, attrs, ...children) {
  const el = document.createElementNS(tag === "svg" || attrs?.svg ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false || k === "svg") continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" && "value" in el) el.value = v;
    else if (k === "checked" || k === "selected" || k === "disabled") el[k] = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function svg(tag, attrs, ...children) { return h(tag, { ...attrs, svg: true }, ...children); }

// DOM's append/replaceChildren turn null into the text "null": these skip null, undefined and false.
const nodes = (children) => children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
  .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
export function add(el, ...children) { el.append(...nodes(children)); return el; }
export function fill(el, ...children) { el.replaceChildren(...nodes(children)); return el; }

export class ApiError extends Error {
  constructor(message, lines, status) { super(message); this.lines = lines || [message]; this.status = status; }
}

// Every write carries X-Studio: the server refuses writes without it (a cross-site form cannot send it).
export async function api(path, { method = "GET", body, raw } = {}) {
  // GETs send no extra header, so the page's <link rel=preload> of /api/runs serves the runs table's fetch.
  const opts = { method, headers: method === "GET" ? {} : { "X-Studio": "1" } };
  if (raw !== undefined) { opts.body = raw; opts.headers["Content-Type"] = "application/octet-stream"; }
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const response = await fetch(path, opts);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) throw new ApiError(data?.error || `${response.status} ${response.statusText}`, data?.lines, response.status);
  return data;
}

// POST that answers with Server-Sent Events (fetch, because EventSource cannot POST).
export async function postStream(path, body, onEvent, signal) {
  const response = await fetch(path, { method: "POST", signal, headers: { "X-Studio": "1", "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!response.ok) {
    let message = `${response.status}`;
    try { message = (await response.json()).error || message; } catch {}
    throw new ApiError(message);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] || "message";
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (data !== undefined) onEvent(event, JSON.parse(data));
    }
  }
}

export const q = (params) => new URLSearchParams(params).toString();

// `digits` significant digits (3.759, 42.92, 0.005), exponents for the very small and very large.
export function fmt(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString();
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return String(Number(value.toPrecision(digits)));
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86400)}d ${Math.floor((seconds % 86400) / 3600)}h`;
}

export function badge(status) { return h("span", { class: `badge ${status}` }, status); }

export function toast(message, error = false) {
  const el = h("div", { class: `toast${error ? " error" : ""}`, role: "status" }, message);
  document.body.append(el);
  setTimeout(() => el.remove(), error ? 8000 : 3500);
}

export function errorBox(err) {
  return h("div", { class: "panel" }, h("ul", { class: "errors" }, (err.lines || [err.message]).map((l) => h("li", {}, l))));
}

const routes = { runs: runsPage, run: runPage, new: newRunPage, data: dataPage, compare: comparePage, play: playPage };
let cleanup = null;

async function route() {
  const [page = "runs", ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : null;
  const render = routes[page] || runsPage;
  if (cleanup) { try { cleanup(); } catch {} cleanup = null; }
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === (page === "run" ? "runs" : page));
  const main = document.getElementById("main");
  fill(main);
  try { cleanup = (await render(main, arg)) || null; }
  catch (err) { fill(main, errorBox(err)); }
}

export function go(hash) { if (location.hash === hash) route(); else location.hash = hash; }

window.addEventListener("hashchange", route);
route();
