"""probe-transport: http through plan(): the native sidecar, the httpGet probes on the exec schedule,
startup kept exec, the refusals, the budget, the explanation. Whole pods in tests/golden/http-*.yaml.

The server's judgements against the exec scripts' are test_probe_server.py's.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import make_pod, validate, workload_of
from webhook.core.plan import Plan, plan
from webhook.core.workload import locate_pod

HTTP = {"workerguard.io/probe-transport": "http"}
SERVER = "/usr/local/lib/workerguard/workerguard-probe"


def injected(obj: dict[str, Any]) -> tuple[Plan, dict[str, Any]]:
    result = plan(obj)
    assert result.allowed, result.errors
    mutated = result.mutated()
    validate(mutated)
    assert plan(mutated).patch == []
    pod = locate_pod(mutated)
    assert pod is not None
    return result, pod.spec


def server_of(spec: dict[str, Any]) -> dict[str, Any]:
    [server] = [c for c in spec["initContainers"] if c["name"] == "workerguard-probe"]
    return server


def test_readiness_and_liveness_become_http_on_the_exec_schedule_and_startup_stays_exec() -> None:
    annotations = {"workerguard.io/readiness-max-age": "30s", "workerguard.io/liveness-max-age": "150s"}
    _, over_exec = injected(make_pod(annotations))
    _, over_http = injected(make_pod({**annotations, **HTTP}))
    exec_worker, http_worker = over_exec["containers"][0], over_http["containers"][0]
    assert http_worker["readinessProbe"] == {
        "httpGet": {"path": "/ready", "port": 9478},
        **{key: value for key, value in exec_worker["readinessProbe"].items() if key != "exec"},
    }
    assert http_worker["livenessProbe"] == {
        "httpGet": {"path": "/live", "port": 9478},
        **{key: value for key, value in exec_worker["livenessProbe"].items() if key != "exec"},
    }
    assert http_worker["startupProbe"] == exec_worker["startupProbe"]
    assert "exec" in http_worker["startupProbe"]
    assert server_of(over_http)["command"] == [
        SERVER,
        "--listen=:9478",
        "--heartbeat=/var/run/workerguard/heartbeat",
        "--format=unix",
        "--readiness-max-age=30",
        "--liveness-limit=90",  # 150s less two liveness periods of 30s: the exec script's limit too
        "--liveness-max-age=150",
    ]
    assert 'if [ "$a" -gt 90 ]' in exec_worker["livenessProbe"]["exec"]["command"][2]


def test_the_server_is_a_restricted_native_sidecar_with_a_read_only_mount_and_its_own_liveness() -> None:
    _, spec = injected(make_pod(HTTP))
    server = server_of(spec)
    assert server["restartPolicy"] == "Always"
    assert server["volumeMounts"] == [{"name": "workerguard-heartbeat", "mountPath": "/var/run/workerguard", "readOnly": True}]
    assert server["livenessProbe"] == {
        "httpGet": {"path": "/healthz", "port": 9478},
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "failureThreshold": 2,
        "terminationGracePeriodSeconds": 2,
    }
    context = server["securityContext"]
    assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"] and context["capabilities"] == {"drop": ["ALL"]}


def test_liveness_off_means_no_live_path() -> None:
    _, spec = injected(make_pod({**HTTP, "workerguard.io/liveness-max-age": "off"}))
    assert "livenessProbe" not in spec["containers"][0]
    assert not any(word.startswith("--liveness") for word in server_of(spec)["command"])


def test_the_server_comes_after_the_bundled_shell_and_before_the_pods_own_init_containers() -> None:
    pod = make_pod({**HTTP, "workerguard.io/probe-shell": "bundled"})
    pod["spec"]["initContainers"] = [
        {"name": "migrate", "image": "app:1"},
        {"name": "vector", "image": "timberio/vector:0.39.0", "restartPolicy": "Always"},
    ]
    result, spec = injected(pod)
    assert [c["name"] for c in spec["initContainers"]] == ["workerguard-probe-shell", "workerguard-probe", "migrate", "vector"]
    assert spec["initContainers"][2:] == pod["spec"]["initContainers"]
    assert [note.code for note in result.notes] == ["native_sidecar_left"]


@pytest.mark.parametrize("kind", ["Deployment", "CronJob"])
def test_workloads_get_the_server_in_their_pod_template(kind: str) -> None:
    _, spec = injected(workload_of(kind, make_pod(HTTP)))
    assert server_of(spec)["restartPolicy"] == "Always"  # a native sidecar never holds a Job's completion
    assert spec["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/ready"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"hostNetwork": True},
            "spec.hostNetwork",
            "probe-transport http serves on port 9478, which hostNetwork would take on the node; use probe-transport exec",
        ),
        (
            {"containers": [{"name": "worker", "image": "w:1", "ports": [{"containerPort": 9478}]}]},
            "spec.containers[0].ports[0]",
            "port 9478 is workerguard-probe's for probe-transport http; use probe-transport exec",
        ),
        (
            {
                "initContainers": [
                    {"name": "envoy", "image": "e:1", "restartPolicy": "Always", "ports": [{"containerPort": 9478}]}
                ]
            },
            "spec.initContainers[0].ports[0]",
            "port 9478 is workerguard-probe's for probe-transport http; use probe-transport exec",
        ),
        (
            {"initContainers": [{"name": "workerguard-probe", "image": "mine:1"}]},
            "spec.initContainers",
            "a container is already named workerguard-probe",
        ),
        (
            {"os": {"name": "windows"}},
            "metadata.annotations[workerguard.io/probe-transport]",
            "workerguard-probe is a Linux program and Windows pods have no POSIX shell for exec either; remove it",
        ),
    ],
)
def test_where_http_cannot_apply_it_is_refused_naming_the_reason(change: dict[str, Any], field: str, message: str) -> None:
    pod = make_pod(HTTP)
    pod["spec"].update(change)
    result = plan(pod)
    assert not result.allowed
    assert [(problem.field, problem.message) for problem in result.errors] == [(field, message)]


def test_windows_pods_without_http_are_still_left_untouched() -> None:
    pod = make_pod()
    pod["spec"]["os"] = {"name": "windows"}
    result = plan(pod)
    assert result.allowed and result.patch == [] and result.skip is not None and result.skip.code == "windows_pod"


def test_the_probe_budget_counts_exec_runs_only() -> None:
    costly = {"workerguard.io/probe-period": "2s", "workerguard.io/readiness-max-age": "6s"}
    assert [w.code for w in plan(make_pod(costly)).warnings] == ["probe_runs_costly"]
    assert [w.code for w in plan(make_pod({**costly, **HTTP})).warnings] == []


def test_preview_explains_the_server_and_the_http_probes_by_probe_transport() -> None:
    result = plan(make_pod(HTTP))
    explanation = {item.setting: item for item in result.explanations}["probe-transport"]
    assert (explanation.value, explanation.source) == ("http", "annotation:workerguard.io/probe-transport")
    assert set(explanation.paths) == {
        "/spec/initContainers/0",
        "/spec/containers/0/readinessProbe",
        "/spec/containers/0/livenessProbe",
    }
