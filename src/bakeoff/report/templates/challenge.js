"use strict";
// The data is untrusted dataset text: it is only ever placed with textContent, never parsed as HTML.
(function () {
  const TASKS = JSON.parse(document.getElementById("challenge-data").textContent);
  const $ = (id) => document.getElementById(id);
  const state = TASKS.map(() => ({ pos: 0, choices: [] }));
  let current = 0;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }
  function pct(x) {
    return Math.round(100 * x) + "%";
  }
  function task() {
    return TASKS[current];
  }
  function st() {
    return state[current];
  }
  function answered() {
    return st().choices.length;
  }
  function isRevealed() {
    return answered() > st().pos;
  }
  function finished() {
    return st().pos >= task().items.length;
  }

  // scores over the examples answered so far: the reader and every model
  function scores() {
    const t = task();
    const n = answered();
    let you = 0;
    const models = t.models.map((m) => ({ name: m.name, family: m.family, accuracy: m.accuracy, right: 0, seen: 0 }));
    for (let i = 0; i < n; i++) {
      const item = t.items[i];
      if (st().choices[i] === item.gold) you++;
      for (const a of item.answers) {
        const m = models.find((x) => x.name === a.name);
        if (!m) continue;
        m.seen++;
        if (a.correct) m.right++;
      }
    }
    return { n, you, models };
  }

  function renderTabs() {
    const tabs = $("tabs");
    clear(tabs);
    TASKS.forEach((t, i) => {
      const b = el("button", t.task, i === current ? "tab active" : "tab");
      b.type = "button";
      b.setAttribute("role", "tab");
      b.setAttribute("aria-selected", i === current ? "true" : "false");
      b.addEventListener("click", () => {
        current = i;
        render();
      });
      tabs.appendChild(b);
    });
    tabs.hidden = TASKS.length < 2;
  }

  function renderBoard() {
    const s = scores();
    const board = $("scoreboard");
    clear(board);
    const rows = [{ name: "You", right: s.you, seen: s.n, you: true }].concat(s.models);
    rows.sort((a, b) => (b.seen ? b.right / b.seen : -1) - (a.seen ? a.right / a.seen : -1) || (b.you ? 1 : 0) - (a.you ? 1 : 0));
    for (const r of rows) {
      const li = el("li", null, r.you ? "you" : "");
      li.appendChild(el("span", r.name, "who"));
      li.appendChild(el("span", r.seen ? r.right + "/" + r.seen : "–", "pts"));
      if (r.you) li.id = "your-score";
      board.appendChild(li);
    }
  }

  function renderExample() {
    const t = task();
    const item = t.items[st().pos];
    $("progress").textContent = "Example " + (st().pos + 1) + " of " + t.items.length + " · " + t.task;
    $("why").textContent = isRevealed() ? item.why : "";
    $("bar-fill").style.width = pct(st().pos / t.items.length);
    const box = $("example");
    clear(box);
    const texts = [item.text, item.text_pair];
    t.fields.forEach((f, i) => {
      if (texts[i] === null || texts[i] === undefined) return;
      const p = el("p", null, "field");
      p.appendChild(el("span", f, "field-name"));
      p.appendChild(el("span", texts[i], "field-text"));
      box.appendChild(p);
    });
    const choices = $("choices");
    clear(choices);
    const revealed = isRevealed();
    t.labels.forEach((label, i) => {
      const b = el("button", null, "choice");
      b.type = "button";
      b.dataset.label = String(i);
      b.appendChild(el("kbd", String(i + 1)));
      b.appendChild(el("span", label));
      b.disabled = revealed;
      if (revealed && i === item.gold) b.classList.add("truth");
      if (revealed && i === st().choices[st().pos] && i !== item.gold) b.classList.add("mistake");
      b.addEventListener("click", () => choose(i));
      choices.appendChild(b);
    });
    $("reveal").hidden = !revealed;
    if (!revealed) return;
    const mine = st().choices[st().pos];
    const right = mine === item.gold;
    const verdict = $("verdict");
    verdict.className = "verdict " + (right ? "ok" : "wrong");
    verdict.textContent = (right ? "Right: " : "Not quite: ") + "the answer is " + t.labels[item.gold] + ".";
    const body = $("answers");
    clear(body);
    for (const a of item.answers) {
      const tr = el("tr", null, a.correct ? "ok" : "wrong");
      tr.appendChild(el("td", a.name));
      tr.appendChild(el("td", a.label, "ans"));
      tr.appendChild(el("td", a.confidence === null ? "–" : pct(a.confidence), "num"));
      tr.appendChild(el("td", a.correct ? "✓" : "✗", "mark"));
      body.appendChild(tr);
    }
    $("next").textContent = st().pos + 1 < t.items.length ? "Next →" : "See how you did →";
  }

  function renderSummary() {
    const t = task();
    const s = scores();
    const beaten = s.models.filter((m) => m.seen && s.you / s.n > m.right / m.seen).length;
    const tied = s.models.filter((m) => m.seen && s.you / s.n === m.right / m.seen).length;
    $("summary-title").textContent = "You got " + s.you + " of " + s.n + " (" + pct(s.you / s.n) + ")";
    $("summary-text").textContent =
      "You beat " + beaten + " of " + s.models.length + " models on these examples" +
      (tied ? " and tied with " + tied : "") +
      ". These examples were picked because models struggled with them: compare each model's score here with its accuracy on the whole evaluation set." +
      (t.note ? " " + t.note : "");
    const body = $("summary-table");
    clear(body);
    const rows = [{ name: "You", right: s.you, seen: s.n, accuracy: null, you: true }].concat(s.models);
    rows.sort((a, b) => b.right / Math.max(1, b.seen) - a.right / Math.max(1, a.seen));
    for (const r of rows) {
      const tr = el("tr", null, r.you ? "you" : "");
      tr.appendChild(el("td", r.name));
      tr.appendChild(el("td", r.seen ? r.right + "/" + r.seen + " (" + pct(r.right / r.seen) + ")" : "–", "num"));
      tr.appendChild(el("td", r.accuracy === null ? "–" : pct(r.accuracy), "num"));
      body.appendChild(tr);
    }
  }

  function render() {
    renderTabs();
    const done = finished();
    $("play").hidden = done;
    $("summary").hidden = !done;
    if (done) renderSummary();
    else renderExample();
    renderBoard();
  }

  function choose(i) {
    if (finished() || isRevealed() || i < 0 || i >= task().labels.length) return;
    st().choices.push(i);
    render();
    $("next").focus();
  }
  function next() {
    if (finished() || !isRevealed()) return;
    st().pos++;
    render();
  }
  function restart() {
    state[current] = { pos: 0, choices: [] };
    render();
  }

  $("next").addEventListener("click", next);
  $("again").addEventListener("click", restart);
  document.addEventListener("keydown", (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (/^[1-9]$/.test(ev.key)) {
      choose(Number(ev.key) - 1);
      ev.preventDefault();
    } else if (ev.key === "Enter" || ev.key === "ArrowRight") {
      next();
      ev.preventDefault();
    }
  });

  if (!TASKS.length) {
    $("play").hidden = true;
    $("summary").hidden = false;
    $("summary-title").textContent = "No hard examples to show";
    $("again").hidden = true;
    return;
  }
  render();
})();
