// Playground: chat with a run's model or a base model, two side by side, or a blind A/B whose votes feed prefs and rate.
import { h, api, postStream, toast, add, fill } from "./app.js";

function modelSelect(models, id, chosen) {
  return h("select", { id }, models.map((m) => h("option", { value: m.key, selected: m.key === chosen }, m.label)));
}

function settings() {
  const maxTokens = h("input", { type: "text", value: "96", size: 4, id: "max-tokens", inputmode: "numeric" });
  const temperature = h("input", { type: "text", value: "0.7", size: 4, id: "temperature", inputmode: "decimal" });
  const system = h("input", { type: "text", placeholder: "system prompt (optional)", id: "system", style: "min-width:260px" });
  return { el: h("div", { class: "row small" }, "max tokens", maxTokens, "temperature", temperature, system),
    read: () => ({ max_tokens: Number(maxTokens.value) || 96, temperature: Number(temperature.value) }), system };
}

// One conversation with one model; send() streams the reply into a bubble.
function conversation(getModel, opts) {
  const history = [];
  const log = h("div", { class: "chat", dataset: { empty: "Send a message to start the conversation." } });
  async function send(text) {
    history.push({ role: "user", content: text });
    add(log, h("div", { class: "bubble user" }, text));
    const bubble = h("div", { class: "bubble assistant" }, h("span", { class: "muted" }, "…"));
    add(log, bubble); log.scrollTop = log.scrollHeight;
    const sys = opts.system.value.trim();
    const messages = sys ? [{ role: "system", content: sys }, ...history] : [...history];
    let reply = "";
    const textNode = document.createTextNode("");
    try {
      await postStream("/api/chat", { model: getModel(), messages, ...opts.read() }, (event, data) => {
        if (event === "loading" && !data.loaded) fill(bubble, h("span", { class: "muted" }, `loading ${data.model}…`));
        else if (event === "delta") { if (!reply) fill(bubble, textNode); reply += data.text; textNode.data = reply; log.scrollTop = log.scrollHeight; }
        else if (event === "done") {
          if (!reply) fill(bubble, h("span", { class: "muted" }, "(empty reply)"));
          bubble.append(h("span", { class: "meta" }, `${data.completion_tokens} tokens · ${data.seconds}s · ${data.finish_reason}`));
        } else if (event === "error") { bubble.className = "bubble error"; bubble.textContent = data.error; }
      });
    } catch (err) { bubble.className = "bubble error"; bubble.textContent = err.message; }
    history.push({ role: "assistant", content: reply });
  }
  return { log, send, clear: () => { history.length = 0; fill(log); } };
}

function composer(onSend) {
  const box = h("textarea", { id: "prompt", placeholder: "Message (Enter sends, Shift+Enter for a new line)", rows: 1 });
  const go = () => { const t = box.value.trim(); if (t) { box.value = ""; onSend(t); } };
  box.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); go(); } });
  return h("div", { class: "composer" }, box, h("button", { class: "primary", id: "send", onclick: go }, "Send"));
}

function chatMode(models, chosen) {
  const opts = settings();
  const pick = modelSelect(models, "model-a", chosen);
  const conv = conversation(() => pick.value, opts);
  pick.addEventListener("change", conv.clear);
  return h("div", { class: "panel" }, h("div", { class: "row", style: "margin-bottom:10px" }, pick, opts.el, h("button", { onclick: conv.clear }, "New chat")),
    conv.log, composer(conv.send));
}

function sideBySide(models, chosen) {
  const opts = settings();
  const a = modelSelect(models, "model-a", chosen), b = modelSelect(models, "model-b", models.find((m) => m.key !== (chosen || models[0]?.key))?.key);
  const ca = conversation(() => a.value, opts), cb = conversation(() => b.value, opts);
  const clear = () => { ca.clear(); cb.clear(); };
  a.addEventListener("change", clear); b.addEventListener("change", clear);
  return h("div", { class: "panel" }, h("div", { class: "row", style: "margin-bottom:10px" }, opts.el, h("button", { onclick: clear }, "New chat")),
    h("div", { class: "answers" }, h("div", { class: "side" }, a, ca.log), h("div", { class: "side" }, b, cb.log)),
    composer((t) => { ca.send(t); cb.send(t); }));
}

function blind(models, chosen, runs) {
  const opts = settings();
  const a = modelSelect(models, "ab-a", chosen), b = modelSelect(models, "ab-b", models.find((m) => m.key !== (chosen || models[0]?.key))?.key);
  const from = h("select", { id: "ab-from" }, h("option", { value: "" }, "my own prompt"), runs.map((r) => h("option", { value: r }, `eval prompts of ${r}`)));
  const own = h("input", { type: "text", id: "ab-prompt", placeholder: "your prompt", style: "min-width:320px" });
  const stage = h("div", { id: "ab-stage" });
  const tally = h("div", { id: "ab-tally" });
  let pair = null;
  async function next() {
    fill(stage, h("p", { class: "muted" }, "generating both answers…"));
    try {
      pair = await api("/api/ab/pair", { method: "POST", body: { a: a.value, b: b.value, prompts_from: from.value || null, prompt: from.value ? null : own.value, ...opts.read() } });
    } catch (err) { fill(stage, h("ul", { class: "errors" }, h("li", {}, err.message))); return; }
    const cards = pair.answers.map((t, i) => h("div", { class: "answer", id: `answer-${i + 1}` }, h("h4", {}, `Answer ${i + 1}`), t.trim() ? t : h("span", { class: "muted" }, "(empty reply)")));
    const voteBtn = (vote, label) => h("button", { class: "vote", dataset: { vote }, onclick: () => cast(vote, cards) }, label);
    fill(stage, 
      h("div", { class: "msg" }, h("b", {}, "prompt"), pair.messages[pair.messages.length - 1].content),
      pair.reference ? h("div", { class: "msg muted" }, h("b", {}, "reference"), pair.reference) : null,
      h("div", { class: "answers", style: "margin-top:10px" }, cards),
      h("div", { class: "votes" }, voteBtn("first", "1 is better"), voteBtn("second", "2 is better"), voteBtn("tie", "Tie (both okay)"), voteBtn("both_bad", "Both bad")));
  }
  async function cast(vote, cards) {
    try {
      const out = await api("/api/ab/vote", { method: "POST", body: { pair: pair.pair, vote } });
      if (vote === "first") cards[0].classList.add("won");
      if (vote === "second") cards[1].classList.add("won");
      cards[0].querySelector("h4").append(" · ", h("span", { class: "model-name" }, out.first));
      cards[1].querySelector("h4").append(" · ", h("span", { class: "model-name" }, out.second));
      for (const btn of stage.querySelectorAll("button.vote")) btn.disabled = true;
      add(stage, h("div", { class: "note", id: "ab-result" }, out.wrote.length ? ["written: ", out.wrote.map((w) => h("code", {}, w)).flatMap((c, i) => (i ? [", ", c] : [c]))] : "nothing written",
        out.skipped ? h("div", { class: "small" }, out.skipped) : vote === "tie" || vote === "both_bad" ? h("div", { class: "small" }, "no preference row: a tie or both bad picks no winner") : null),
        h("div", { class: "row", style: "margin-top:10px" }, h("button", { class: "primary", onclick: next }, "Next pair")));
      showTally(out.tally);
    } catch (err) { toast(err.message, true); }
  }
  function showTally(t) {
    fill(tally, h("h3", {}, "Votes so far"),
      t.pairs.length ? h("table", { class: "compact" }, h("thead", {}, h("tr", {}, ["model A", "wins", "model B", "wins", "ties", "both bad"].map((c, i) => h("th", { class: i % 2 || i > 3 ? "num" : "" }, c)))),
        h("tbody", {}, t.pairs.map((p) => h("tr", {}, h("td", {}, p.a), h("td", { class: "num" }, p.a_wins), h("td", {}, p.b), h("td", { class: "num" }, p.b_wins), h("td", { class: "num" }, p.ties), h("td", { class: "num" }, p.both_bad)))))
        : h("p", { class: "muted" }, "none yet"),
      h("p", { class: "note" }, "The picked answer becomes chosen, the other rejected, in ", h("code", {}, t.preferences), " — train on it with ",
        h("code", {}, `slmforge prefs RECIPE --set prefs.source=file --set prefs.path=${t.preferences}`),
        ". Answers to a run's own eval prompts are also rated in its spot-check file (picked: Good, other: Bad, tie: Okay, both bad: Bad) for ",
        h("code", {}, "slmforge rate runs/NAME runs/_studio/votes/NAME.spotcheck.csv"), "."));
  }
  api("/api/ab/tally").then(showTally).catch(() => {});
  return h("div", { class: "panel" },
    h("p", { class: "muted" }, "The two answers are shown in random order; the models are revealed after your vote."),
    h("div", { class: "row", style: "margin-bottom:8px" }, "A", a, "B", b), h("div", { class: "row", style: "margin-bottom:8px" }, from, own, opts.el),
    h("button", { class: "primary", id: "ab-next", onclick: next }, "New pair"), h("div", { style: "margin-top:14px" }, stage), tally);
}

export async function playPage(main, chosen) {
  const [{ models }, { runs }] = await Promise.all([api("/api/models"), api("/api/runs")]);
  add(main, h("div", { class: "page-head" }, h("h1", {}, "Playground")));
  if (!models.length) { add(main, h("div", { class: "panel empty-state" }, "No models yet: a run's model appears here once its train stage finishes.")); return; }
  const withSamples = runs.filter((r) => r.has_model && r.stages?.eval?.status === "complete").map((r) => r.id);
  const body = h("div", {});
  const modes = { chat: () => chatMode(models, chosen), side: () => sideBySide(models, chosen), blind: () => blind(models, chosen, withSamples) };
  const tabs = h("div", { class: "tabs" }, [["chat", "Chat"], ["side", "Side by side"], ["blind", "Blind A/B"]].map(([k, label]) =>
    h("button", { dataset: { mode: k }, onclick: () => show(k) }, label)));
  function show(mode) { for (const b of tabs.children) b.classList.toggle("active", b.dataset.mode === mode); fill(body, modes[mode]()); }
  add(main, tabs, body);
  show("chat");
}
