// Sample browser of a robustcot report. Reads the JSON element #browser-data and builds
// every element with createElement/textContent: model and dataset text is never parsed as HTML.
(function () {
  "use strict";
  const source = document.getElementById("browser-data");
  const root = document.getElementById("browser-app");
  if (!source || !root) return;
  const D = JSON.parse(source.textContent);
  const C = D.cols;
  const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const OUTCOME = ["wrong", "correct", "unparsed", "error"];

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function label(dict, code) { return code < 0 ? null : D.dicts[dict][code]; }
  function letter(i) { return i >= 0 && i < LETTERS.length ? LETTERS[i] : "–"; }
  function fmt(x, digits) { return x === null || x === undefined ? "–" : x.toFixed(digits); }

  // Cards are contiguous runs of rows (one model × benchmark × sample).
  const cardStart = [];
  for (let i = 0; i < D.n; i++) if (i === 0 || C.card[i] !== C.card[i - 1]) cardStart.push(i);
  cardStart.push(D.n);

  const state = { model: -1, benchmark: -1, variant: -1, quadrant: -1, outcome: -1, abstain: -1,
                  search: "", onlyMatching: false, page: 0 };
  let matches = [];

  function rowMatches(i) {
    if (state.model >= 0 && C.model[i] !== state.model) return false;
    if (state.benchmark >= 0 && C.benchmark[i] !== state.benchmark) return false;
    if (state.variant >= 0 && C.variant[i] !== state.variant) return false;
    if (state.quadrant === -2 && C.quadrant[i] >= 0) return false;
    if (state.quadrant >= 0 && C.quadrant[i] !== state.quadrant) return false;
    if (state.outcome >= 0 && C.correct[i] !== state.outcome) return false;
    if (state.abstain >= 0 && C.abstain[i] !== state.abstain) return false;
    if (state.search) {
      const id = D.samples.sample_id[C.sample[i]].toLowerCase();
      if (id.indexOf(state.search) < 0) return false;
    }
    return true;
  }

  function recompute() {
    matches = [];
    let rows = 0;
    for (let c = 0; c + 1 < cardStart.length; c++) {
      let any = false;
      for (let i = cardStart[c]; i < cardStart[c + 1]; i++) if (rowMatches(i)) { any = true; rows++; }
      if (any) matches.push(c);
    }
    state.rowsMatching = rows;
  }

  function select(id, text, options, key) {
    const wrap = el("label", "filter");
    wrap.appendChild(el("span", null, text));
    const sel = el("select");
    sel.id = id;
    options.forEach(function (opt) {
      const o = el("option", null, opt[1]);
      o.value = String(opt[0]);
      sel.appendChild(o);
    });
    sel.addEventListener("change", function () { state[key] = Number(sel.value); state.page = 0; update(); });
    wrap.appendChild(sel);
    return wrap;
  }
  function dictOptions(name) {
    return [[-1, "all"]].concat(D.dicts[name].map(function (v, i) { return [i, v]; }));
  }

  function buildControls() {
    const form = el("div", "filters");
    form.appendChild(select("f-model", "model", dictOptions("model"), "model"));
    form.appendChild(select("f-benchmark", "benchmark", dictOptions("benchmark"), "benchmark"));
    form.appendChild(select("f-variant", "variant", dictOptions("variant"), "variant"));
    form.appendChild(select("f-quadrant", "quadrant", dictOptions("quadrant").concat([[-2, "undecided"]]), "quadrant"));
    form.appendChild(select("f-outcome", "answer", [[-1, "all"]].concat(OUTCOME.map(function (v, i) { return [i, v]; })), "outcome"));
    form.appendChild(select("f-abstain", "abstain option", [[-1, "either"], [0, "off"], [1, "on"]], "abstain"));
    const search = el("label", "filter");
    search.appendChild(el("span", null, "sample id"));
    const input = el("input");
    input.id = "f-search";
    input.type = "search";
    input.addEventListener("input", function () { state.search = input.value.trim().toLowerCase(); state.page = 0; update(); });
    search.appendChild(input);
    form.appendChild(search);
    const only = el("label", "filter");
    const box = el("input");
    box.id = "f-only";
    box.type = "checkbox";
    box.addEventListener("change", function () { state.onlyMatching = box.checked; update(); });
    only.appendChild(box);
    only.appendChild(el("span", null, "only matching variants"));
    form.appendChild(only);
    return form;
  }

  function pager(where) {
    const bar = el("div", "pager");
    const pages = Math.max(1, Math.ceil(matches.length / D.page_size));
    const prev = el("button", null, "‹ previous");
    prev.type = "button";
    prev.className = "prev";
    prev.disabled = state.page === 0;
    prev.addEventListener("click", function () { state.page--; update(); root.scrollIntoView(); });
    const next = el("button", null, "next ›");
    next.type = "button";
    next.className = "next";
    next.disabled = state.page >= pages - 1;
    next.addEventListener("click", function () { state.page++; update(); root.scrollIntoView(); });
    bar.appendChild(prev);
    bar.appendChild(el("span", "page-label", "page " + (state.page + 1) + " of " + pages));
    bar.appendChild(next);
    bar.dataset.where = where;
    return bar;
  }

  function promptNode(i) {
    const pre = el("pre", "prompt");
    const value = C.prompt[i];
    if (value === null) { pre.textContent = "(no prompt recorded)"; return pre; }
    if (typeof value === "string") { pre.textContent = value; return pre; }
    const base = C.prompt[value[0]];
    const ins = value[2];
    pre.appendChild(document.createTextNode(base.slice(0, value[1])));
    if (ins) pre.appendChild(el("mark", "injected", ins));
    pre.appendChild(document.createTextNode(base.slice(base.length - value[3])));
    return pre;
  }

  function insertedText(i) {
    const value = C.prompt[i];
    return Array.isArray(value) ? value[2] : "";
  }

  function distribution(i) {
    const probs = C.probs[i];
    const box = el("div", "dist");
    if (!probs) { box.appendChild(el("span", "muted", "no letter distribution")); return box; }
    const options = C.options[i];
    probs.forEach(function (p, j) {
      const row = el("div", "bar-row");
      if (j === C.gold[i]) row.classList.add("gold");
      if (j === C.injected[i]) row.classList.add("injected");
      if (j === C.answer[i]) row.classList.add("answer");
      const name = letter(j) + (options && options[j] !== undefined ? ". " + options[j] : "");
      row.appendChild(el("span", "opt", name));
      const track = el("span", "track");
      const bar = el("span", "bar");
      bar.style.width = (100 * Math.max(0, Math.min(1, p))).toFixed(1) + "%";
      track.appendChild(bar);
      row.appendChild(track);
      row.appendChild(el("span", "val", p.toFixed(3)));
      box.appendChild(row);
    });
    return box;
  }

  function cell(i, matched) {
    const box = el("div", "cell");
    box.dataset.row = String(i);
    box.dataset.match = matched ? "1" : "0";
    box.dataset.variant = label("variant", C.variant[i]);
    box.dataset.outcome = OUTCOME[C.correct[i]];
    const head = el("div", "cell-head");
    head.appendChild(el("strong", null, label("variant", C.variant[i]) + (C.abstain[i] ? " + abstain" : "")));
    head.appendChild(el("span", "badge " + OUTCOME[C.correct[i]], OUTCOME[C.correct[i]]));
    const quad = label("quadrant", C.quadrant[i]);
    head.appendChild(el("span", "badge quadrant", quad === null ? "undecided" : quad.replace("_", " ")));
    box.appendChild(head);
    const facts = "answer " + letter(C.answer[i]) + " · gold " + letter(C.gold[i]) +
      (C.injected[i] >= 0 ? " · injected " + letter(C.injected[i]) : "") +
      (C.abstain_index[i] >= 0 ? " · abstain option " + letter(C.abstain_index[i]) : "");
    box.appendChild(el("div", "meta", facts));
    box.appendChild(el("div", "meta", "H = " + fmt(C.entropy[i], 3) + " nats · P(correct) = " + fmt(C.p_correct[i], 3) +
      " · status " + label("status", C.status[i])));
    box.appendChild(distribution(i));
    const judges = el("div", "judges");
    D.judges.forEach(function (j) {
      const v = label(j, C[j][i]);
      judges.appendChild(el("span", "judge", j.replace("judge_", "") + ": " + (v === null ? "not asked" : v)));
    });
    box.appendChild(judges);
    const caption = insertedText(i);
    if (caption) {
      const note = el("div", "inserted-note");
      note.appendChild(el("span", "muted", "inserted in prompt: "));
      note.appendChild(el("mark", "injected", caption));
      box.appendChild(note);
    }
    const details = el("details", "prompt-box");
    details.appendChild(el("summary", null, "prompt"));
    details.appendChild(promptNode(i));
    box.appendChild(details);
    const out = el("pre", "response");
    if (C.prefill[i]) out.appendChild(el("mark", "prefill", C.prefill[i]));
    out.appendChild(document.createTextNode(C.response[i] === null ? "" : C.response[i]));
    box.appendChild(el("div", "muted", C.prefill[i] ? "prefill (highlighted) + response" : "response"));
    box.appendChild(out);
    box.appendChild(el("div", "meta", "parsed answer text: " + (C.answer_text[i] === null ? "–" : C.answer_text[i])));
    if (C.error[i]) box.appendChild(el("div", "error", "error: " + C.error[i]));
    return box;
  }

  function card(c) {
    const first = cardStart[c];
    const box = el("article", "card");
    box.dataset.card = String(c);
    const head = el("div", "card-head");
    const thumb = D.thumbs[C.sample[first]];
    if (thumb && thumb.indexOf("data:image/jpeg;base64,") === 0) {
      const img = el("img", "thumb");
      img.loading = "lazy";
      img.alt = "image of " + D.samples.sample_id[C.sample[first]];
      img.src = thumb;
      head.appendChild(img);
    }
    const title = el("div", "card-title");
    title.appendChild(el("strong", null, D.samples.sample_id[C.sample[first]]));
    title.appendChild(el("span", "muted", label("model", C.model[first]) + " · " + label("benchmark", C.benchmark[first]) +
      (label("category", C.category[first]) ? " · " + label("category", C.category[first]) : "")));
    head.appendChild(title);
    box.appendChild(head);
    const cells = el("div", "cells");
    for (let i = first; i < cardStart[c + 1]; i++) {
      const m = rowMatches(i);
      if (!state.onlyMatching || m) cells.appendChild(cell(i, m));
    }
    box.appendChild(cells);
    return box;
  }

  const summary = el("div", "summary");
  summary.id = "browser-summary";
  const top = el("div");
  const list = el("div", "cards");
  list.id = "cards";
  const bottom = el("div");

  function update() {
    recompute();
    const pages = Math.max(1, Math.ceil(matches.length / D.page_size));
    state.page = Math.min(Math.max(state.page, 0), pages - 1);
    const lo = state.page * D.page_size;
    const shown = matches.slice(lo, lo + D.page_size);
    summary.textContent = matches.length + " of " + (cardStart.length - 1) + " sample cards match (" +
      state.rowsMatching + " rows); showing " + (shown.length ? lo + 1 : 0) + "–" + (lo + shown.length) + ".";
    top.replaceChildren(pager("top"));
    bottom.replaceChildren(pager("bottom"));
    list.replaceChildren.apply(list, shown.map(card));
  }

  const note = el("p", "muted", "Embedded: " + D.n_samples + " of " + D.n_samples_total + " samples (" + D.n +
    " of " + D.n_rows_total + " rows)" + (D.n_samples < D.n_samples_total ?
    ", a seeded random subset drawn per benchmark; records.parquet holds every row." : ".") +
    " Texts longer than " + D.max_text_chars + " characters are cut.");
  root.appendChild(note);
  root.appendChild(buildControls());
  root.appendChild(summary);
  root.appendChild(top);
  root.appendChild(list);
  root.appendChild(bottom);
  update();
})();
