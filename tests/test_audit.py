"""workerguard audit: which workloads are workers (each rule), what each risks today (each code), the
whole dump of the project's own manifests as a golden table and JSON, and the property that audit
never raises and says of opting in exactly what preview says.

The workloads of the table are written from the shapes public Helm charts and deployment guides give
their workers: a Sidekiq chart whose probes call sidekiqmon, Airflow's Celery worker with its
`celery inspect ping` liveness, a Celery beat, an RQ worker checked with redis-cli, a Resque rake task
in sh -c, a Go Pub/Sub subscriber with an HTTP health check it does not serve, generic consumers, and
web servers and a Celery dashboard that are not workers.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, note
from hypothesis import strategies as st

from tests.conftest import golden_text, make_pod, workload_of
from tests.strategies import objects
from webhook.adapters.audit import audit_json
from webhook.adapters.documents import load_objects
from webhook.adapters.preview import describe
from webhook.core.audit import audit, WorkloadAudit
from webhook.core.plan import plan
from webhook.core.risks import dangerous_probe, PROBE_FIELDS, RISK_REASONS
from webhook.core.rules import BUILTIN_RULES
from webhook.core.workers import recognise, RULES
from webhook.core.workload import TEMPLATE_PATHS

ROOT = Path(__file__).parent.parent
GOLDEN = ROOT / "tests" / "golden"
AUDIT_GOLDEN = GOLDEN / "audit"
INJECT = "workerguard.io/inject"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"


def deployment(
    name: str,
    containers: list[dict[str, Any]],
    kind: str = "Deployment",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    namespace: str = "apps",
    **spec: Any,
) -> dict[str, Any]:
    """A workload of that kind whose pod runs the containers; spec keywords go into the pod spec."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name, **(labels or {})}},
        "spec": {"containers": containers, **spec},
    }
    if annotations:
        pod["metadata"]["annotations"] = annotations
    if kind == "Pod":
        return pod
    obj = workload_of(kind, pod)
    obj["metadata"] = {"name": name, "namespace": namespace}
    return obj


def exec_probe(*command: str, **timing: int) -> dict[str, Any]:
    return {"exec": {"command": list(command)}, **timing}


# --- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    obj: dict[str, Any]
    rule: str | None  # None: not a worker
    by: str | None
    risks: tuple[str, ...]  # the codes, in the order audit gives them
    restart_storm: bool = False


SIDEKIQ_PROBE = exec_probe("bundle", "exec", "sidekiqmon", "processes", initialDelaySeconds=30, periodSeconds=30)
AIRFLOW_PING = exec_probe(
    "sh",
    "-c",
    "CONNECTION_CHECK_MAX_COUNT=0 exec /entrypoint python -m celery --app airflow.providers.celery.executors."
    "celery_executor.app inspect ping -d celery@$(hostname)",
    initialDelaySeconds=10,
    timeoutSeconds=20,
    failureThreshold=5,
    periodSeconds=60,
)

CASES = [
    Case(
        "sidekiq: sidekiqmon as liveness and readiness, -t 25, no safe-to-evict",
        deployment(
            "shop-sidekiq",
            [
                {
                    "name": "sidekiq",
                    "image": "registry.example/shop:2024.11",
                    "command": ["bundle", "exec", "sidekiq", "-C", "config/sidekiq.yml", "-t", "25"],
                    "livenessProbe": SIDEKIQ_PROBE,
                    "readinessProbe": SIDEKIQ_PROBE,
                }
            ],
        ),
        "sidekiq",
        "command",
        ("liveness_copies_readiness", "probe_boots_app", "probe_boots_app", "long_jobs_evictable"),
        restart_storm=True,
    ),
    Case(
        "celery worker: the inspect ping liveness of Airflow's chart, a task time limit past the grace period",
        deployment(
            "reports-celery",
            [
                {"name": "statsd-exporter", "image": "prom/statsd-exporter:v0.26.0"},
                {
                    "name": "celery",
                    "image": "registry.example/reports:5.3",
                    "command": ["celery", "-A", "reports", "worker", "-l", "INFO", "--time-limit=3600"],
                    "livenessProbe": AIRFLOW_PING,
                },
            ],
            kind="StatefulSet",
            terminationGracePeriodSeconds=600,
        ),
        "celery-worker",
        "command",
        ("no_readiness_probe", "probe_boots_app", "grace_period_under_command_timeout", "long_jobs_evictable"),
        restart_storm=True,
    ),
    Case(
        "celery beat: no probes at all",
        deployment(
            "reports-beat",
            [{"name": "beat", "image": "registry.example/reports:5.3", "args": ["celery", "-A", "reports", "beat"]}],
        ),
        "celery-beat",
        "command",
        ("no_liveness_probe", "no_readiness_probe"),
    ),
    Case(
        "rq: redis-cli ping liveness, rq info readiness",
        deployment(
            "rq-worker",
            [
                {
                    "name": "rq",
                    "image": "registry.example/jobs:1.4",
                    "command": ["rq", "worker", "--url", "redis://redis:6379/0", "high", "default"],
                    "livenessProbe": exec_probe("redis-cli", "-h", "redis", "ping"),
                    "readinessProbe": exec_probe("sh", "-c", "rq info --url $REDIS_URL --only-workers | grep -q $(hostname)"),
                }
            ],
        ),
        "rq",
        "command",
        ("probe_asks_broker", "probe_asks_broker"),
        restart_storm=True,
    ),
    Case(
        "resque: a rake task in sh -c without exec",
        deployment(
            "resque",
            [
                {
                    "name": "resque",
                    "image": "registry.example/legacy:9",
                    "command": ["/bin/sh", "-c", "cd /app && QUEUE=* bundle exec rake resque:work"],
                }
            ],
        ),
        "resque",
        "command",
        ("no_liveness_probe", "no_readiness_probe", "shell_wrapped_command"),
    ),
    Case(
        "pubsub subscriber: HTTP and TCP checks on a port it does not declare",
        deployment(
            "orders-subscriber",
            [
                {
                    "name": "subscriber",
                    "image": "registry.example/orders:3.1",
                    "args": ["--project=shop", "--subscription=orders-sub"],
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                    "readinessProbe": {"tcpSocket": {"port": "health"}},
                }
            ],
        ),
        "pubsub-subscriber",
        "command",
        ("probe_without_server", "probe_without_server"),
        restart_storm=True,
    ),
    Case(
        "queue consumer by image, opted in: judged as injected, nothing left",
        deployment(
            "billing-consumer",
            [{"name": "app", "image": "registry.example/team/billing-consumer:3", "command": ["node", "dist/index.js"]}],
            labels={INJECT: "true"},
        ),
        "queue-consumer",
        "image",
        (),
    ),
    Case(
        "queue consumer by command: Laravel's queue:work, its liveness a copy of its readiness",
        deployment(
            "mailer",
            [
                {
                    "name": "php",
                    "image": "registry.example/site:8.3",
                    "command": ["php", "artisan", "queue:work", "--tries=3"],
                    "livenessProbe": exec_probe("cat", "/tmp/alive"),
                    "readinessProbe": exec_probe("cat", "/tmp/alive"),
                }
            ],
            annotations={SAFE_TO_EVICT: "true"},
        ),
        "queue-consumer",
        "command",
        ("liveness_copies_readiness",),
    ),
    Case(
        "queue consumer: python -m app.worker in a Job, which has no rollout to gate",
        deployment(
            "backfill",
            [{"name": "backfill", "image": "python:3.12", "command": ["python", "-m", "app.worker"]}],
            kind="Job",
        ),
        "queue-consumer",
        "command",
        ("no_liveness_probe",),
    ),
    Case(
        "celery in a DaemonSet: the autoscaler does not count its pods",
        deployment(
            "node-celery",
            [
                {
                    "name": "celery",
                    "image": "registry.example/agent:2",
                    "args": ["celery", "--app=agent", "worker"],
                    "livenessProbe": exec_probe("cat", "/tmp/beat"),
                    "readinessProbe": exec_probe("test", "-f", "/tmp/beat"),
                }
            ],
            kind="DaemonSet",
        ),
        "celery-worker",
        "command",
        (),
    ),
    Case(
        "sidekiq opted in with the sidekiq profile: probes, grace and annotation come from injection",
        deployment(
            "billing-sidekiq",
            [{"name": "sidekiq", "image": "registry.example/billing:7", "command": ["bundle", "exec", "sidekiq", "-t", "600"]}],
            labels={INJECT: "true"},
            annotations={"workerguard.io/profile": "sidekiq"},
        ),
        "sidekiq",
        "command",
        (),
    ),
    Case(
        "web: gunicorn with --workers and a uvicorn worker class is not a worker",
        deployment(
            "shop-web",
            [
                {
                    "name": "web",
                    "image": "registry.example/shop-web:1.4",
                    "command": ["gunicorn", "shop.asgi:app", "--workers", "4", "-k", "uvicorn.workers.UvicornWorker"],
                    "ports": [{"name": "http", "containerPort": 8000}],
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                }
            ],
        ),
        None,
        None,
        (),
    ),
    Case(
        "web: celery flower, Celery's dashboard, is not a worker",
        deployment(
            "flower",
            [{"name": "flower", "image": "mher/flower:2.0", "command": ["celery", "--broker=redis://redis", "flower"]}],
        ),
        None,
        None,
        (),
    ),
]


def _one(obj: dict[str, Any]) -> WorkloadAudit:
    [entry] = audit([obj]).workloads
    return entry


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_worker_rule_and_the_risks_of_each_workload(case: Case) -> None:
    entry = _one(case.obj)
    assert (entry.worker and entry.worker.rule.name, entry.worker and entry.worker.by) == (case.rule, case.by)
    assert tuple(risk.code for risk in entry.risks) == case.risks, entry.risks
    assert entry.restart_storm is case.restart_storm
    assert entry.is_worker is (case.rule is not None)


def test_the_table_covers_every_worker_rule_and_every_risk_code() -> None:
    assert {case.rule for case in CASES} - {None} == {rule.name for rule in RULES}
    assert {code for case in CASES for code in case.risks} == {reason.code for reason in RISK_REASONS}
    assert any(case.by == "image" for case in CASES) and any(case.rule is None for case in CASES)


def test_each_rule_recognises_by_image_when_no_command_names_a_worker() -> None:
    images = {
        "sidekiq": "registry.example/billing-sidekiq:2",
        "celery-beat": "registry.example/reports-celery-beat:1",
        "celery-worker": "registry.example/celery_reports:1",
        "rq": "ghcr.io/team/rq-jobs@sha256:0123",
        "resque": "registry.example:5000/legacy/resque:9",
        "pubsub-subscriber": "registry.example/orders-subscriber:3",
        "queue-consumer": "registry.example/billing-worker:1",
    }
    assert set(images) == {rule.name for rule in RULES}
    for name, image in images.items():
        found = recognise([{"name": "app", "image": image, "command": ["/app/run"]}])
        assert found is not None and (found.rule.name, found.by, found.evidence) == (name, "image", image), image


def test_images_of_tools_beside_workers_are_not_workers() -> None:
    for image in ("registry.example/sidekiq-exporter:1", "ghcr.io/x/rq-dashboard:2", "mher/flower:2.0", "resque-web:1"):
        assert recognise([{"name": "tool", "image": image}]) is None, image


def test_a_specific_rule_wins_over_an_earlier_command_of_the_script() -> None:
    found = recognise(
        [{"name": "app", "image": "x", "command": ["sh", "-c", "python prepare_worker.py && exec celery -A app worker"]}]
    )
    assert found is not None and (found.rule.name, found.evidence) == ("celery-worker", "celery -A app worker")


def test_a_container_whose_command_names_the_worker_wins_over_an_earlier_image() -> None:
    containers = [
        {"name": "metrics", "image": "registry.example/sidekiq-exporter:1"},
        {"name": "helper", "image": "registry.example/billing-worker:1", "command": ["/helper"]},
        {"name": "app", "image": "registry.example/billing:1", "args": ["sh", "-c", "exec bundle exec sidekiq"]},
    ]
    found = recognise(containers)
    assert found is not None and (found.rule.name, found.container, found.index, found.by) == ("sidekiq", "app", 2, "command")


def test_the_risks_of_an_opted_in_worker_are_judged_with_its_injection() -> None:
    written = deployment(
        "billing",
        [{"name": "sidekiq", "image": "registry.example/billing:7", "command": ["bundle", "exec", "sidekiq", "-t", "600"]}],
        annotations={"workerguard.io/profile": "sidekiq"},
    )
    before = _one(written)
    assert [risk.code for risk in before.risks] == [
        "no_liveness_probe",
        "no_readiness_probe",
        "grace_period_under_command_timeout",
        "long_jobs_evictable",
    ]
    assert (before.opted_in, before.injected, before.injection.allowed, bool(before.injection.patch)) == (
        False,
        False,
        True,
        True,
    )
    opted = copy.deepcopy(written)
    opted["spec"]["template"]["metadata"]["labels"][INJECT] = "true"
    after = _one(opted)
    assert (after.risks, after.opted_in, after.injected) == ((), True, True)
    assert after.injection.patch == before.injection.patch


def test_an_opted_in_worker_that_would_not_be_injected_is_counted_so() -> None:
    excluded = deployment(
        "system-sidekiq",
        [{"name": "sidekiq", "image": "registry.example/ops:1", "command": ["sidekiq"]}],
        labels={INJECT: "true"},
        namespace="kube-system",
    )
    report = audit([excluded, CASES[0].obj, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}])
    [entry, _] = report.workloads
    assert (entry.opted_in, entry.injected, entry.injection.skip and entry.injection.skip.code) == (
        True,
        False,
        "excluded_namespace",
    )
    summary = report.summary
    assert (summary.workers, summary.not_opted_in, summary.not_injected, summary.others) == (2, 1, 1, 1)
    assert summary.sentence() == (
        "2 workloads: 2 workers, 1 not opted in, 1 opted in but not injected, 2 with risks, "
        "1 with a probe that can cause a restart storm; 1 other object without a pod template left out"
    )


@pytest.mark.parametrize(("grace", "risky"), [(None, True), (60, True), (61, False)])
def test_a_grace_period_no_longer_than_sidekiq_t_leaves_no_time_to_hand_jobs_back(grace: int | None, risky: bool) -> None:
    spec = {} if grace is None else {"terminationGracePeriodSeconds": grace}
    sidekiq = {"name": "sidekiq", "image": "x", "command": ["bundle", "exec", "sidekiq", "-t", "60"]}
    entry = _one(deployment("jobs", [sidekiq], annotations={SAFE_TO_EVICT: "false"}, **spec))
    found = [risk for risk in entry.risks if risk.code == "grace_period_under_command_timeout"]
    assert bool(found) is risky
    if grace is None:
        assert found[0].message.startswith(
            "Kubernetes' default terminationGracePeriodSeconds 30s is no longer than sidekiq -t 60"
        )


# --- dangerous_probe, for /validate and preview -----------------------------------------------------


@pytest.mark.parametrize(
    ("probe", "ports", "code"),
    [
        (exec_probe("celery", "-A", "app", "inspect", "ping"), [], "probe_boots_app"),
        (exec_probe("/bin/sh", "-c", "celery -A app status | grep -q OK"), [], "probe_boots_app"),
        (exec_probe("bin/rails", "runner", "Sidekiq.redis(&:ping)"), [], "probe_boots_app"),
        (exec_probe("python", "manage.py", "health_check"), [], "probe_boots_app"),
        (exec_probe("redis-cli", "-u", "$REDIS_URL", "ping"), [], "probe_asks_broker"),
        (exec_probe("rabbitmq-diagnostics", "-q", "ping"), [], "probe_asks_broker"),
        ({"httpGet": {"path": "/", "port": 7433}}, [], "probe_without_server"),
        ({"grpc": {"port": 9090}}, [{"containerPort": 8080}], "probe_without_server"),
        ({"httpGet": {"path": "/", "port": 7433}}, [{"containerPort": 7433}], None),
        ({"tcpSocket": {"port": "metrics"}}, [{"name": "metrics", "containerPort": 9394}], None),
        (exec_probe("sh", "-c", "ps aux | grep -q '[s]idekiq'"), [], None),
        (exec_probe("cat", "/tmp/healthy"), [], None),
        ("not a probe", [], None),
    ],
)
def test_dangerous_probe_names_what_a_probe_asks(probe: Any, ports: list[dict[str, Any]], code: str | None) -> None:
    container = {"name": "worker", "image": "x", "livenessProbe": probe, "ports": ports}
    found = dangerous_probe(container, "livenessProbe")
    assert (found and found.code) == code
    assert dangerous_probe(container, "readinessProbe") is None
    if found is not None:
        assert found.message.startswith("livenessProbe of 'worker' ")


@pytest.mark.parametrize("profile", ["generic", "sidekiq", "celery", "pubsub"])
@pytest.mark.parametrize("shell", ["image", "bundled"])
@pytest.mark.parametrize("transport", ["exec", "http"])
def test_workerguards_own_probes_are_never_dangerous(profile: str, shell: str, transport: str) -> None:
    annotations = {
        "workerguard.io/profile": profile,
        "workerguard.io/probe-shell": shell,
        "workerguard.io/probe-transport": transport,
    }
    mutated = plan(make_pod(annotations, command=["bundle", "exec", "sidekiq"])).mutated()
    container = mutated["spec"]["containers"][0]
    assert set(PROBE_FIELDS) <= set(container)
    found = [dangerous_probe(container, field, mutated["spec"]) for field in PROBE_FIELDS]
    assert found == [None, None, None]


def test_a_port_another_container_of_the_pod_serves_is_a_server_but_only_by_number() -> None:
    worker = {"name": "worker", "image": "x", "livenessProbe": {"httpGet": {"path": "/", "port": 9478}}}
    spec = {
        "containers": [worker],
        "initContainers": [{"name": "p", "restartPolicy": "Always", "ports": [{"containerPort": 9478}]}],
    }
    assert dangerous_probe(worker, "livenessProbe", spec) is None
    assert dangerous_probe(worker, "livenessProbe") is not None  # the container alone does not listen
    spec["initContainers"][0].pop("restartPolicy")  # a plain init container has exited by then
    assert dangerous_probe(worker, "livenessProbe", spec) is not None


# --- what kubectl prints --------------------------------------------------------------------------


def test_a_typed_list_from_the_api_gives_its_items_their_kind_and_an_empty_list_is_no_error() -> None:
    api_answer = json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "DeploymentList",
            "metadata": {"resourceVersion": "1"},
            "items": [{"metadata": {"name": "a"}, "spec": {}}, {"kind": "Deployment", "metadata": {"name": "b"}}],
        }
    )
    assert load_objects(api_answer) == [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"}, "spec": {}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"}},
    ]
    assert load_objects("apiVersion: v1\nkind: List\nitems: []\nmetadata: {resourceVersion: ''}\n") == []


# --- the golden dump ------------------------------------------------------------------------------


def kubectl_list() -> dict[str, Any]:
    """What `kubectl get ... -A -o yaml` would print for the examples and the golden inputs: one List."""
    files = sorted((ROOT / "examples").glob("*.yaml")) + sorted(
        path for path in GOLDEN.glob("*.yaml") if path.name != "rules.yaml"
    )
    items = [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}}


def run_audit(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "webhook", "audit", "-f", "-", "--rules", str(GOLDEN / "rules.yaml"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@pytest.mark.parametrize(("output", "given"), [("table", "yaml"), ("json", "json")])
def test_the_projects_own_manifests_audit_to_the_golden_output(output: str, given: str) -> None:
    dump = kubectl_list()
    text = yaml.safe_dump(dump, sort_keys=False) if given == "yaml" else json.dumps(dump, indent=4)
    done = run_audit(text, "-o", output)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == golden_text(AUDIT_GOLDEN / f"fleet.{output}", done.stdout), (
        "the audit changed: read the difference, and if it is right, rerun with WORKERGUARD_UPDATE_GOLDEN=1"
    )


def test_the_golden_table_and_json_agree_on_every_workload() -> None:
    """The two golden files are read by people; this holds them to each other, so a careless update of
    one shows."""
    table = (AUDIT_GOLDEN / "fleet.table").read_text()
    report = json.loads((AUDIT_GOLDEN / "fleet.json").read_text())
    rows = table.split("\n\n", 1)[0].splitlines()[1:]
    assert len(rows) == len(report["workloads"])
    for row, entry in zip(rows, report["workloads"], strict=True):
        assert f"{entry['kind']}/{entry['name']}" in row
        codes = [risk["code"] for risk in entry["risks"]]
        assert row.endswith(
            ", ".join(dict.fromkeys(codes)) if codes else ("none" if entry["worker"] or entry["opted_in"] else "-")
        )
    assert table.rstrip("\n").rsplit("\n", 1)[1] == report["summary"]["text"]


# --- the property -----------------------------------------------------------------------------------


def opted_in(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as its owner would opt it in: the label on its pod template."""
    opted = copy.deepcopy(obj)
    node = opted
    for key in TEMPLATE_PATHS[opted["kind"]]:
        node = node[key]
    labels = node.setdefault("metadata", {}).setdefault("labels", {})
    labels[INJECT] = "true"
    return opted


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)


@st.composite
def mangled(draw: st.DrawFn) -> dict[str, Any]:
    """A generated workload with one field the judging reads replaced by any JSON value."""
    obj = draw(objects())
    node = obj
    for key in TEMPLATE_PATHS[obj["kind"]]:
        node = node[key]
    container = node["spec"]["containers"][0]
    target = draw(
        st.sampled_from(
            [(container, "command"), (container, "livenessProbe"), (container, "ports"), (node["spec"], "containers")]
        )
    )
    target[0][target[1]] = draw(json_values)
    return obj


@given(objects())
def test_audit_never_raises_and_says_of_opting_in_what_preview_says(obj: dict[str, Any]) -> None:
    report = audit([obj], BUILTIN_RULES)
    [entry] = report.workloads
    said = audit_json(report, ["generated.yaml"])["workloads"][0]["injection"]
    previewed = describe(plan(opted_in(obj), BUILTIN_RULES))
    note(repr(said["skip"]))
    assert said["patch"] == previewed["patch"]
    assert (said["allowed"], said["explanations"], said["warnings"], said["errors"]) == (
        previewed["allowed"],
        previewed["explanations"],
        previewed["warnings"],
        previewed["errors"],
    )
    assert entry.is_worker or entry.risks == ()


@given(mangled())
def test_audit_never_raises_on_fields_of_any_shape(obj: dict[str, Any]) -> None:
    report = audit([obj])
    audit_json(report, ["generated.yaml"])
    assert report.summary.workloads == 1


# --- the docs -------------------------------------------------------------------------------------


def _table_rows(heading: str) -> list[list[str]]:
    text = (ROOT / "docs" / "audit.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in section.splitlines() if line.startswith("| `")]


def test_the_audit_page_states_each_rule_as_the_code_does() -> None:
    rows = _table_rows("Which workloads are workers")
    assert rows == [[f"`{rule.name}`", rule.matches, f"`{rule.profile}`"] for rule in RULES]


def test_the_audit_page_explains_every_risk_code() -> None:
    rows = _table_rows("Risks")
    assert [row[0] for row in rows] == [f"`{reason.code}`" for reason in RISK_REASONS]
    assert all(len(row) == 4 and all(row) for row in rows)


def test_the_help_and_the_page_state_the_object_limit() -> None:
    from webhook.adapters.documents import DEFAULT_MAX_DOCUMENTS

    page = (ROOT / "docs" / "audit.md").read_text()
    assert f"At most {DEFAULT_MAX_DOCUMENTS} objects are read from one file or from stdin" in page
    for command in ("audit", "preview"):
        done = subprocess.run([sys.executable, "-m", "webhook", command, "--help"], capture_output=True, text=True, timeout=60)
        assert re.search(rf"at most {DEFAULT_MAX_DOCUMENTS} objects from one file or stdin", done.stdout), command


def test_max_objects_lets_a_whole_clusters_dump_through_and_the_default_says_how() -> None:
    pod = make_pod(command=["bundle", "exec", "sidekiq"])
    dump = json.dumps({"apiVersion": "v1", "kind": "List", "items": [workload_of("Deployment", pod)] * 201})
    refused = run_audit(dump)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "the input holds 201 objects; at most 200 are read from one input" in refused.stderr
    read = run_audit(dump, "--max-objects", "201")
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines()[-1].startswith("201 workloads: 201 workers")
    bad = run_audit(dump, "--max-objects", "0")
    assert bad.returncode == 2 and "'0' is not a whole number of objects, at least 1" in bad.stderr
