"use strict";
// The preview page: sends the pasted YAML (and optional rules) to POST /preview and renders the answer.

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

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  for (const child of children) node.append(child);
  return node;
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = false;
}

function offendingKeys(errors) {
  const keys = [];
  for (const error of errors) {
    const match = /annotations\[([^\]]+)\]/.exec(error.field);
    if (match) keys.push(match[1]);
  }
  return keys;
}

function renderDiff(diff, errors, onlyChanges) {
  const offending = offendingKeys(errors);
  const box = el("div", { class: "diff", "data-testid": "diff" });
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
function isOther(result) {
  return result.warnings.some((warning) => warning.code === "unsupported_kind");
}

function renderOther(result) {
  return el("article", { class: "result other", "data-testid": "other" }, el("h2", {}, result.name), " holds no pod: left as it is");
}

function renderResult(result, onlyChanges) {
  if (isOther(result)) return renderOther(result);
  const card = el("article", { class: "result", "data-testid": "result" });
  const badge = el("span", { class: "badge " + (result.allowed ? "allowed" : "denied") }, result.allowed ? "allowed" : "denied");
  card.append(el("h2", {}, result.name, badge));
  if (result.errors.length) {
    const list = el("ul", { class: "errors", "data-testid": "errors" });
    for (const error of result.errors) list.append(el("li", {}, el("code", {}, error.field), ": " + error.message));
    card.append(el("h3", {}, "Errors"), list);
  }
  if (result.warnings.length) {
    const list = el("ul", { class: "warnings", "data-testid": "warnings" });
    for (const warning of result.warnings) list.append(el("li", {}, el("code", {}, warning.code), ": " + warning.message));
    card.append(el("h3", {}, "Warnings"), list);
  }
  card.append(el("h3", {}, "Mutated object"), renderDiff(result.diff, result.errors, onlyChanges));
  if (result.explanations.length) {
    const table = el("table", { "data-testid": "explanations" },
      el("tr", {}, el("th", {}, "setting"), el("th", {}, "value"), el("th", {}, "set by"), el("th", {}, "shapes")));
    for (const item of result.explanations) {
      table.append(el("tr", {}, el("td", {}, item.setting), el("td", {}, el("code", {}, item.value)),
        el("td", { class: "source" }, item.source), el("td", {}, el("code", {}, item.paths.join("\n")))));
    }
    card.append(el("h3", {}, "Why each value"), el("div", { class: "table-scroll" }, table));
  }
  card.append(el("h3", {}, "JSON patch"), el("pre", { class: "patch", "data-testid": "patch" }, JSON.stringify(result.patch, null, 2)));
  return card;
}

let lastResults = [];

function render() {
  const onlyChanges = document.getElementById("only-changes").checked;
  const box = document.getElementById("results");
  box.replaceChildren(...lastResults.map((result) => renderResult(result, onlyChanges)));
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
}

async function send() {
  document.getElementById("error").hidden = true;
  const envelope = {
    documents: document.getElementById("documents").value,
    rules: document.getElementById("rules").value,
    namespace: document.getElementById("namespace").value,
  };
  let answer;
  try {
    answer = await fetch("/preview", { method: "POST", headers: { "Content-Type": PREVIEW_TYPE }, body: JSON.stringify(envelope) });
  } catch (error) {
    showError("The webhook did not answer: " + error);
    return;
  }
  const body = await answer.json();
  if (!answer.ok) {
    const problems = (body.problems || []).map((p) => `${p.field}: ${p.message}`).join("\n");
    showError(body.error + (problems ? "\n" + problems : ""));
    lastResults = [];
  } else {
    lastResults = body.results;
  }
  render();
}

function loadFile(input, target) {
  input.addEventListener("change", async () => {
    if (input.files.length) document.getElementById(target).value = await input.files[0].text();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("preview").addEventListener("click", preview);
  document.getElementById("only-changes").addEventListener("change", render);
  for (const button of document.querySelectorAll("[data-example]")) {
    button.addEventListener("click", () => {
      document.getElementById("documents").value = EXAMPLES[button.dataset.example];
      preview();
    });
  }
  loadFile(document.getElementById("documents-file"), "documents");
  loadFile(document.getElementById("rules-file"), "rules");
});
