"use strict";
// The preview page: sends the pasted YAML (and optional rules) to POST /preview and renders the answer. No build
// step and no library: plain DOM, with the line-number editor below.

const PREVIEW_TYPE = "application/vnd.workerguard.preview+json";

const EXAMPLES = {
  sidekiq: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: billing-sidekiq
  namespace: billing
spec:
  replicas: 3
  selector:
    matchLabels: {app: billing-sidekiq}
  template:
    metadata:
      labels:
        app: billing-sidekiq
        workerguard.io/inject: "true"
      annotations:
        workerguard.io/profile: sidekiq
        workerguard.io/shutdown-timeout: 10m
        workerguard.io/prestop-sleep: 5s
    spec:
      containers:
        - name: sidekiq
          image: registry.example/billing:2026.11
          # Sidekiq itself as the container's process, so SIGTERM reaches it; -t matches shutdown-timeout.
          command: ["bundle", "exec", "sidekiq", "-t", "600"]
`,
  celery: `apiVersion: v1
kind: Pod
metadata:
  name: reports-celery
  namespace: reports
  labels:
    workerguard.io/inject: "true"
  annotations:
    workerguard.io/profile: celery
spec:
  containers:
    - name: celery
      image: registry.example/reports:5.3
      args: ["celery", "-A", "reports", "worker"]
`,
  invalid: `apiVersion: v1
kind: Pod
metadata:
  name: bad-worker
  namespace: jobs
  labels:
    workerguard.io/inject: "true"
  annotations:
    workerguard.io/readiness-max-age: abc
    workerguard.io/probe-period: 10s
spec:
  containers:
    - name: worker
      image: registry.example/worker:1
`,
};

// The page's state in a link: #preview=<base64url of {"documents", "rules", "namespace"} as UTF-8 JSON>. The part
// after # never leaves the browser, so a link stores nothing on the server; the preview runs once it is opened.
const LINK_PREFIX = "#preview=";

// Side by side from this width (style.css); narrower, the result is below the inputs.
const STACKED = window.matchMedia("(max-width: 1099.98px)");
const REDUCED_MOTION = window.matchMedia("(prefers-reduced-motion: reduce)");

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

// "line 5, column 7" (YAML), "line 1 column 5" (JSON), "line 3" (aliases): where in the text a message points.
function locate(message) {
  const match = /\bline (\d+)(?:,? column (\d+))?/.exec(message);
  return match ? { line: Number(match[1]), column: match[2] ? Number(match[2]) : 1 } : null;
}

// A textarea with a line-number gutter kept in step on input and scroll, and lines marked for errors.
class LineEditor {
  constructor(textarea) {
    this.textarea = textarea;
    this.gutter = el("div", { class: "gutter", "aria-hidden": "true" });
    this.frame = el("div", { class: "editor" });
    this.lines = 0;
    this.marks = [];
    this.bands = [];
    textarea.replaceWith(this.frame);
    this.frame.append(this.gutter, textarea);
    textarea.addEventListener("input", () => { this.clearMarks(); this.refresh(); });
    textarea.addEventListener("scroll", () => this.sync());
    new ResizeObserver(() => this.sync()).observe(textarea);
    this.refresh();
  }

  lineHeight() {
    return parseFloat(getComputedStyle(this.textarea).lineHeight);
  }

  // The gutter holds one number a line; rebuilt only when the count or the marks change.
  refresh(force = false) {
    const text = this.textarea.value;
    let lines = 1;
    for (let at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) lines += 1;
    if (lines !== this.lines || force) {
      this.lines = lines;
      const marked = new Map(this.marks.map((mark) => [mark.line, mark]));
      const parts = [];
      let run = [];
      for (let line = 1; line <= lines; line += 1) {
        if (!marked.has(line)) { run.push(line); continue; }
        if (run.length) parts.push(run.join("\n") + "\n");
        parts.push(el("span", { class: "mark" }, String(line)), "\n");
        run = [];
      }
      if (run.length) parts.push(run.join("\n"));
      this.gutter.replaceChildren(...parts);
      this.gutter.style.setProperty("--digits", String(Math.max(2, String(lines).length)));
    }
    this.sync();
  }

  sync() {
    this.gutter.scrollTop = this.textarea.scrollTop;
    const top = parseFloat(getComputedStyle(this.textarea).paddingTop) - this.textarea.scrollTop;
    const height = this.lineHeight();
    for (const [index, band] of this.bands.entries()) {
      band.style.top = `${top + (this.marks[index].line - 1) * height}px`;
      band.style.height = `${height}px`;
    }
  }

  // marks: [{line, column, message}]; a line past the end marks the last one (YAML says "end of stream" there).
  mark(marks) {
    const last = Math.max(1, this.textarea.value.split("\n").length);
    this.marks = marks.map((mark) => ({ ...mark, line: Math.min(mark.line, last) }));
    for (const band of this.bands) band.remove();
    this.bands = this.marks.map(() => el("div", { class: "band", "data-testid": "band" }));
    this.frame.append(...this.bands);
    this.textarea.setAttribute("aria-invalid", this.marks.length ? "true" : "false");
    this.refresh(true);
  }

  clearMarks() {
    if (this.marks.length || this.bands.length) this.mark([]);
  }

  // Focus the textarea with the whole line selected, the line in view (opening the details it is in).
  goTo(line) {
    const details = this.textarea.closest("details");
    if (details) details.open = true;
    const text = this.textarea.value;
    let start = 0;
    for (let current = 1; current < line; current += 1) {
      const next = text.indexOf("\n", start);
      if (next === -1) break;
      start = next + 1;
    }
    const newline = text.indexOf("\n", start);
    const end = newline === -1 ? text.length : newline;
    this.textarea.focus();
    this.textarea.setSelectionRange(start, end);
    this.textarea.scrollTop = Math.max(0, (line - 1) * this.lineHeight() - this.textarea.clientHeight / 3);
    this.textarea.scrollLeft = 0;
    this.sync();
  }
}

const editors = {};

// A message that points at a line becomes a button: one click puts the cursor on that line.
function jumpTo(target, where, ...content) {
  const button = el("button", { type: "button", class: "goto", "data-line": String(where.line), "data-target": target }, ...content);
  button.addEventListener("click", () => editors[target].goTo(where.line));
  return button;
}

// problems: [{text, target, where}] where `where` is null or {line, column}.
function showError(message, problems = [], target = null) {
  const box = document.getElementById("error");
  const where = target && locate(message);
  box.replaceChildren(el("p", {}, where ? jumpTo(target, where, message) : message));
  if (problems.length) {
    const list = el("ul");
    for (const problem of problems) list.append(el("li", {}, problem.where ? jumpTo(problem.target, problem.where, problem.text) : problem.text));
    box.append(list);
  }
  box.hidden = false;
}

function hideError() {
  const box = document.getElementById("error");
  box.hidden = true;
  box.replaceChildren();
}

function offendingKeys(errors) {
  const keys = [];
  for (const error of errors) {
    const match = /annotations\[([^\]]+)\]/.exec(error.field);
    if (match) keys.push(match[1]);
  }
  return keys;
}

// The line of `key:` in the YAML the user pasted, in the index-th document when each document gave one result.
function keyLine(text, key, index, results) {
  if (text.trimStart().startsWith("{") || text.trimStart().startsWith("[")) return null;
  const lines = text.split("\n");
  const starts = [0];
  let content = false;
  lines.forEach((line, number) => {
    if (/^---(\s|$)/.test(line)) {
      if (content) starts.push(number);
      content = false;
    } else if (line.trim() && !line.trimStart().startsWith("#")) {
      content = true;
    }
  });
  const one = starts.length === results;
  const from = one ? starts[index] : 0;
  const to = one && index + 1 < starts.length ? starts[index + 1] : lines.length;
  for (let number = from; number < to; number += 1) {
    const trimmed = lines[number].trimStart();
    if (trimmed.startsWith(key + ":") || trimmed.startsWith(`"${key}":`) || trimmed.startsWith(`'${key}':`)) return { line: number + 1, column: 1 };
  }
  return null;
}

function renderDiff(diff, errors, onlyChanges, name) {
  const offending = offendingKeys(errors);
  const box = el("div", { class: "diff", "data-testid": "diff", role: "region", tabindex: "0", "aria-label": `${name}, mutated` });
  const changed = diff.map(([tag]) => tag !== " ");
  let skipped = false;
  diff.forEach(([tag, text], index) => {
    const near = changed.slice(Math.max(0, index - 2), index + 3).some(Boolean);
    const isOffending = offending.some((key) => text.trimStart().startsWith(key + ":"));
    if (onlyChanges && !near && !isOffending) {
      if (!skipped) box.append(el("div", { class: "gap" }, "…"));
      skipped = true;
      return;
    }
    skipped = false;
    const kind = tag === "+" ? "add" : tag === "-" ? "del" : "same";
    box.append(el("div", { class: kind + (isOffending ? " offending" : "") }, text));
  });
  return box;
}

// Objects that hold no pod (a ConfigMap, a Service) get one line, not a card.
function renderOther(result) {
  return el("article", { class: "result other", "data-testid": "other" }, el("h2", {}, result.name), " holds no pod: left as it is");
}

// A JSON pointer (or a file path) that may break after each "/", never inside a name.
function breakablePath(path) {
  const code = el("code");
  path.split(/(?<=\/)/).forEach((part, index) => {
    if (index) code.append(el("wbr"));
    code.append(part);
  });
  return code;
}

function renderExplanations(explanations) {
  const head = el("thead", {}, el("tr", {}, ...["setting", "value", "set by", "shapes"].map((name) => el("th", { scope: "col" }, name))));
  const body = el("tbody");
  for (const item of explanations) {
    const paths = el("td", { class: "paths", "data-label": "shapes" });
    if (!item.paths.length) paths.classList.add("empty");
    for (const path of item.paths) paths.append(breakablePath(path));
    body.append(el("tr", {}, el("td", { class: "setting" }, item.setting), el("td", { class: "value" }, breakablePath(item.value)),
      el("td", { class: "source", "data-label": "set by" }, item.source), paths));
  }
  return el("div", { class: "table-scroll" }, el("table", { "data-testid": "explanations" }, head, body));
}

function renderResult(result, onlyChanges, index) {
  const skip = result.skip;
  if (skip && skip.code === "unsupported_kind") return renderOther(result);
  const card = el("article", { class: "result" + (skip ? " skipped" : ""), "data-testid": "result" });
  const verdict = skip ? "skipped" : result.allowed ? "allowed" : "denied";
  card.append(el("h2", {}, result.name, el("span", { class: "badge " + verdict }, verdict)));
  if (skip) {
    card.append(el("p", { class: "skip", "data-testid": "skipped" }, "Left as it is: ", el("code", {}, skip.code), " — " + skip.message));
  }
  if (result.errors.length) {
    const documents = document.getElementById("documents").value;
    const list = el("ul", { class: "errors", "data-testid": "errors" });
    const marks = [];
    for (const error of result.errors) {
      const key = /annotations\[([^\]]+)\]/.exec(error.field);
      const where = key && keyLine(documents, key[1], index, lastResults.length);
      const content = [el("code", {}, error.field), ": " + error.message];
      list.append(el("li", {}, ...(where ? [jumpTo("documents", where, ...content)] : content)));
      if (where) marks.push({ ...where, message: error.message });
    }
    lastMarks.push(...marks);
    card.append(el("h3", {}, "Errors"), list);
  }
  if (result.warnings.length) {
    const list = el("ul", { class: "warnings", "data-testid": "warnings" });
    for (const warning of result.warnings) list.append(el("li", {}, el("code", {}, warning.code), ": " + warning.message));
    card.append(el("h3", {}, "Warnings"), list);
  }
  if (result.notes.length) {
    const list = el("ul", { class: "notes", "data-testid": "notes" });
    for (const note of result.notes) list.append(el("li", {}, el("code", {}, note.code), ": " + note.message));
    card.append(el("h3", {}, "Notes"), list);
  }
  const diff = renderDiff(result.diff, result.errors, onlyChanges && !skip, result.name);
  if (skip) {
    card.append(el("details", { class: "unchanged" }, el("summary", {}, "The object, unchanged"), diff));
    return card;
  }
  card.append(el("h3", {}, "Mutated object"), diff);
  if (result.explanations.length) card.append(el("h3", {}, "Why each value"), renderExplanations(result.explanations));
  const patch = el("pre", { class: "patch", "data-testid": "patch", role: "region", tabindex: "0", "aria-label": `${result.name}, JSON patch` },
    JSON.stringify(result.patch, null, 2));
  card.append(el("h3", {}, "JSON patch"), patch);
  return card;
}

let lastResults = [];
let lastMarks = [];

function render() {
  const onlyChanges = document.getElementById("only-changes").checked;
  const box = document.getElementById("results");
  lastMarks = [];
  box.replaceChildren(...lastResults.map((result, index) => renderResult(result, onlyChanges, index)));
  if (lastResults.length) editors.documents.mark(lastMarks);
}

let running = false;

// A big paste takes seconds: the button is disabled and the elapsed time shows until the answer comes.
function busy(on) {
  const button = document.getElementById("preview");
  const progress = document.getElementById("progress");
  running = on;
  button.disabled = on;
  button.textContent = on ? "Previewing…" : "Preview";
  clearInterval(busy.timer);
  progress.hidden = !on;
  if (!on) return;
  const started = Date.now();
  const tick = () => { progress.textContent = `working… ${Math.round((Date.now() - started) / 1000)}s`; };
  tick();
  busy.timer = setInterval(tick, 500);
}

async function preview() {
  if (running) return;
  busy(true);
  try {
    await send();
  } finally {
    busy(false);
  }
  // Stacked (a phone), the answer is below the inputs: bring it into view.
  if (STACKED.matches) document.querySelector(".output").scrollIntoView({ block: "start", behavior: REDUCED_MOTION.matches ? "auto" : "smooth" });
}

function envelope() {
  return {
    documents: document.getElementById("documents").value,
    rules: document.getElementById("rules").value,
    namespace: document.getElementById("namespace").value,
  };
}

// A 400 names the documents (one message, "line N, column M" for YAML) or the rules file (problems, each with a field).
function showRefusal(body) {
  if (body.error === "the rules file is invalid") {
    const problems = (body.problems || []).map((p) => ({ text: `${p.field}: ${p.message}`, target: "rules", where: locate(p.message) }));
    const marks = problems.filter((p) => p.where).map((p) => ({ ...p.where, message: p.text }));
    editors.rules.mark(marks);
    showError(body.error, problems);
    return;
  }
  const problems = (body.problems || []).map((p) => ({ text: `${p.field}: ${p.message}`, target: null, where: null }));
  const where = body.problems ? null : locate(body.error || "");
  if (where) editors.documents.mark([{ ...where, message: body.error }]);
  showError(body.error || "the preview failed", problems, where ? "documents" : null);
}

async function send() {
  hideError();
  for (const editor of Object.values(editors)) { editor.clearMarks(); editor.refresh(); }
  let answer;
  try {
    answer = await fetch("/preview", { method: "POST", headers: { "Content-Type": PREVIEW_TYPE }, body: JSON.stringify(envelope()) });
  } catch (error) {
    showError("The webhook did not answer: " + error);
    return;
  }
  let body;
  try {
    body = await answer.json();
  } catch {
    body = { error: `the webhook answered ${answer.status} ${answer.statusText}` };
  }
  if (!answer.ok) {
    showRefusal(body);
    lastResults = [];
  } else {
    lastResults = body.results;
  }
  render();
}

function setValue(id, text) {
  const field = document.getElementById(id);
  field.value = text;
  field.dispatchEvent(new Event("input"));
}

function toBase64Url(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let at = 0; at < bytes.length; at += 0x8000) binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
}

async function copyLink() {
  const state = envelope();
  const kept = { documents: state.documents };
  if (state.rules) kept.rules = state.rules;
  if (state.namespace) kept.namespace = state.namespace;
  history.replaceState(null, "", LINK_PREFIX + toBase64Url(JSON.stringify(kept)));
  const status = document.getElementById("link-status");
  const field = document.getElementById("link-text");
  const size = location.href.length > 8000 ? ` (${location.href.length} characters: some chat tools cut long links)` : "";
  try {
    await navigator.clipboard.writeText(location.href);
    field.hidden = true;
    status.textContent = `Link copied${size}. The input travels inside it, after the #, which is never sent to a server.`;
  } catch {
    field.value = location.href;
    field.hidden = false;
    field.select();
    status.textContent = `Copy this link${size}; it is also in the address bar. The input travels inside it, after the #.`;
  }
}

// Nothing is sent before this: the fields are filled from the link, then the preview runs as if clicked.
function restoreFromLink() {
  if (!location.hash.startsWith(LINK_PREFIX)) return;
  let state;
  try {
    state = JSON.parse(fromBase64Url(location.hash.slice(LINK_PREFIX.length)));
    if (typeof state !== "object" || state === null || typeof state.documents !== "string") throw new Error("no documents in it");
  } catch (error) {
    showError(`This link holds no preview that can be read (${error.message}).`);
    return;
  }
  setValue("documents", state.documents);
  setValue("rules", typeof state.rules === "string" ? state.rules : "");
  document.getElementById("namespace").value = typeof state.namespace === "string" ? state.namespace : "";
  if (state.rules) document.getElementById("rules-box").open = true;
  preview();
}

function loadFile(input, target) {
  input.addEventListener("change", async () => {
    if (input.files.length) setValue(target, await input.files[0].text());
  });
}

// Ctrl+Enter (Cmd+Enter on a Mac) previews from any field; a plain Enter too in the one-line namespace field.
function previewKeys(field) {
  field.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.isComposing) return;
    if (!(event.ctrlKey || event.metaKey || field.tagName === "INPUT")) return;
    event.preventDefault();
    preview();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  editors.documents = new LineEditor(document.getElementById("documents"));
  editors.rules = new LineEditor(document.getElementById("rules"));
  document.getElementById("rules-box").addEventListener("toggle", () => editors.rules.sync());
  if (/Mac|iPhone|iPad/.test(navigator.platform)) document.querySelector("#shortcut kbd").textContent = "⌘";
  document.getElementById("preview").addEventListener("click", preview);
  document.getElementById("copy-link").addEventListener("click", copyLink);
  document.getElementById("only-changes").addEventListener("change", render);
  for (const id of ["documents", "rules", "namespace"]) previewKeys(document.getElementById(id));
  for (const button of document.querySelectorAll("[data-example]")) {
    button.addEventListener("click", () => {
      setValue("documents", EXAMPLES[button.dataset.example]);
      preview();
    });
  }
  loadFile(document.getElementById("documents-file"), "documents");
  loadFile(document.getElementById("rules-file"), "rules");
  window.addEventListener("hashchange", restoreFromLink);
  restoreFromLink();
});
