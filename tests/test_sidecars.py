"""Shutdown order (core.sidecars through plan()): which other containers wait for the worker, with what
hook, and what is said. Each case asserts the whole mutated object: the plan with sidecar-wait off (the
worker's own injection, tested in test_plan.py) plus exactly the changes the sidecars bring.

The wait script's behaviour is proved in real shells by test_sidecar_wait_shell.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import injected_with, make_pod, validate, workload_of
from webhook.core.annotations import STATUS
from webhook.core.plan import Plan, plan
from webhook.core.settings import DEFAULTS
from webhook.core.sidecars import wait_script
from webhook.core.workload import locate_pod

BUSYBOX = "/var/run/workerguard/busybox"
HEARTBEAT_DIR = "/var/run/workerguard"
SQL_PROXY = {"name": "cloud-sql-proxy", "image": "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.11.0", "args": ["db"]}
PGBOUNCER = {"name": "pgbouncer", "image": "bitnami/pgbouncer:1.22"}
VECTOR = {"name": "vector", "image": "timberio/vector:0.39.0-distroless-libc"}
ISTIO = {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.0"}
SHELL_INIT = {
    "name": "workerguard-probe-shell",
    "image": "workerguard:0.1.0",
    "command": ["/usr/local/lib/workerguard/busybox", "cp", "/usr/local/lib/workerguard/busybox", BUSYBOX],
    "volumeMounts": [{"name": "workerguard-heartbeat", "mountPath": HEARTBEAT_DIR}],
    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "16Mi"}},
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}
READ_ONLY_MOUNT = {"name": "workerguard-heartbeat", "mountPath": HEARTBEAT_DIR, "readOnly": True}


def wait(bound: int, then: list[str] | None = None) -> dict[str, Any]:
    script = wait_script(DEFAULTS, bound)
    if then is None:
        return {"exec": {"command": [BUSYBOX, "sh", "-c", script]}}
    return {"exec": {"command": [BUSYBOX, "sh", "-c", f'{script}; exec "$@"', "workerguard-wait", *then]}}


def pod_with(*sidecars: dict[str, Any], annotations: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    pod = make_pod(annotations=annotations, **kwargs)
    pod["spec"]["containers"].extend(copy.deepcopy(list(sidecars)))
    return pod


def planned(obj: dict[str, Any]) -> tuple[Plan, dict[str, Any], dict[str, Any]]:
    """The plan, its mutated object, and the expected object so far (sidecar-wait off, same status)."""
    result = plan(obj)
    assert result.allowed, result.errors
    mutated = result.mutated()
    validate(mutated)
    expected = injected_with(obj, {"workerguard.io/sidecar-wait": "off"})  # the worker's injection alone
    pod, expected_pod = locate_pod(mutated), locate_pod(expected)
    assert pod is not None and expected_pod is not None
    if "workerguard.io/sidecar-wait" in (locate_pod(obj) or pod).annotations:
        expected_pod.metadata["annotations"]["workerguard.io/sidecar-wait"] = pod.annotations["workerguard.io/sidecar-wait"]
    expected_pod.metadata["annotations"][STATUS] = pod.annotations[STATUS]
    assert plan(mutated).patch == []  # planning the result again changes nothing
    return result, mutated, expected


def with_waiting(expected: dict[str, Any], grace: int, *indexes: int, hooks: dict[int, dict[str, Any]] | None = None) -> None:
    """What sidecars waiting for the worker add: the busybox init container, room for it in the volume,
    the read-only mount and the hook in each waiting container, and the grace period."""
    pod = locate_pod(expected)
    assert pod is not None
    spec = pod.spec
    spec["initContainers"] = [copy.deepcopy(SHELL_INIT), *spec.get("initContainers", [])]
    spec["volumes"][-1]["emptyDir"]["sizeLimit"] = "8Mi"
    spec["terminationGracePeriodSeconds"] = grace
    for index in indexes:
        container = spec["containers"][index]
        container.setdefault("volumeMounts", []).append(dict(READ_ONLY_MOUNT))
        hook = (hooks or {}).get(index, wait(grace - 5))
        container.setdefault("lifecycle", {})["preStop"] = hook


def codes(findings: list[Any]) -> list[str]:
    return [finding.code for finding in findings]


def test_one_sidecar_waits_for_the_worker_in_the_bundled_shell() -> None:
    result, mutated, expected = planned(pod_with(PGBOUNCER))
    with_waiting(expected, 35, 1)
    assert mutated == expected
    assert codes(result.warnings) == [] and codes(result.notes) == []


def test_three_sidecars_each_wait_and_a_distroless_one_needs_no_shell_of_its_own() -> None:
    result, mutated, expected = planned(pod_with(SQL_PROXY, ISTIO, VECTOR))
    with_waiting(expected, 35, 1, 2, 3)
    assert mutated == expected
    # The hook names the bundled busybox by absolute path: the distroless images have no sh.
    assert all(c["lifecycle"]["preStop"]["exec"]["command"][0] == BUSYBOX for c in mutated["spec"]["containers"][1:])
    assert codes(result.warnings) == []


def test_a_sidecars_exec_prestop_runs_after_the_wait_word_for_word() -> None:
    own = ["/bin/sh", "-c", "kill -INT 1; sleep 2"]
    sidecar = {**PGBOUNCER, "lifecycle": {"preStop": {"exec": {"command": own}}, "postStart": {"exec": {"command": ["true"]}}}}
    result, mutated, expected = planned(pod_with(sidecar))
    with_waiting(expected, 35, 1, hooks={1: wait(30, then=own)})
    assert mutated == expected
    assert mutated["spec"]["containers"][1]["lifecycle"]["postStart"] == {"exec": {"command": ["true"]}}
    assert codes(result.notes) == ["sidecar_prestop_composed"]


def test_a_sidecars_sleep_prestop_runs_after_the_wait() -> None:
    sidecar = {**PGBOUNCER, "lifecycle": {"preStop": {"sleep": {"seconds": 3}}}}
    _, mutated, expected = planned(pod_with(sidecar))
    hook = {"exec": {"command": [BUSYBOX, "sh", "-c", wait_script(DEFAULTS, 30) + "; sleep 3"]}}
    with_waiting(expected, 35, 1, hooks={1: hook})
    assert mutated == expected


def test_a_sidecars_http_prestop_is_kept_and_said() -> None:
    sidecar = {**ISTIO, "lifecycle": {"preStop": {"httpGet": {"path": "/quitquitquit", "port": 15000}}}}
    result, mutated, expected = planned(pod_with(sidecar))
    assert mutated == expected  # nothing waits, so nothing is added for the sidecars
    assert codes(result.warnings) == ["sidecar_prestop_kept", "sidecar_stops_early"]
    assert "'istio-proxy' keeps its own httpGet preStop" in result.warnings[0].message


def test_a_native_sidecar_is_left_alone_and_said() -> None:
    native = {**SQL_PROXY, "restartPolicy": "Always"}
    obj = make_pod()
    obj["spec"]["initContainers"] = [native]
    result, mutated, expected = planned(obj)
    assert mutated == expected
    assert mutated["spec"]["initContainers"] == [native]
    assert codes(result.notes) == ["native_sidecar_left"]


def test_a_native_sidecar_beside_a_regular_one_stays_after_the_shell_init() -> None:
    native = {**SQL_PROXY, "restartPolicy": "Always"}
    obj = pod_with(PGBOUNCER)
    obj["spec"]["initContainers"] = [native]
    _, mutated, expected = planned(obj)
    with_waiting(expected, 35, 1)
    assert mutated == expected
    assert [c["name"] for c in mutated["spec"]["initContainers"]] == ["workerguard-probe-shell", "cloud-sql-proxy"]


def test_sidecar_wait_off_adds_nothing_for_the_sidecars() -> None:
    obj = pod_with(PGBOUNCER, annotations={"workerguard.io/sidecar-wait": "off"})
    result = plan(obj)
    mutated = result.mutated()
    assert mutated["spec"]["containers"][1] == PGBOUNCER
    assert "initContainers" not in mutated["spec"] and mutated["spec"]["terminationGracePeriodSeconds"] == 30


def test_sidecar_wait_names_the_containers_that_wait() -> None:
    obj = pod_with(PGBOUNCER, VECTOR, annotations={"workerguard.io/sidecar-wait": "pgbouncer"})
    _, mutated, expected = planned(obj)
    with_waiting(expected, 35, 1)
    assert mutated == expected
    assert mutated["spec"]["containers"][2] == VECTOR


def test_a_jobs_pod_template_gets_the_same_order() -> None:
    job = workload_of("Job", pod_with(PGBOUNCER))
    _, mutated, expected = planned(job)
    with_waiting(expected, 35, 1)
    assert mutated == expected


def test_the_target_need_not_be_the_first_container() -> None:
    obj = pod_with(annotations={"workerguard.io/container": "sidekiq"})
    obj["spec"]["containers"] = [copy.deepcopy(PGBOUNCER), {"name": "sidekiq", "image": "app", "args": ["sidekiq", "-t", "60"]}]
    _, mutated, expected = planned(obj)
    with_waiting(expected, 70, 0)  # the command's -t 60, the margin, and 5s for the sidecar to exit
    assert mutated == expected
    assert "lifecycle" not in mutated["spec"]["containers"][1]


def test_a_grace_period_the_author_wrote_covers_the_sidecars_too() -> None:
    obj = pod_with(PGBOUNCER)
    obj["spec"]["terminationGracePeriodSeconds"] = 32
    result, mutated, expected = planned(obj)
    with_waiting(expected, 35, 1)
    assert mutated == expected
    assert [f.message for f in result.warnings] == [
        "terminationGracePeriodSeconds 32s is shorter than the worker needs: raised to 35s"
    ]


def test_a_long_grace_period_is_kept_and_bounds_the_wait() -> None:
    obj = pod_with(PGBOUNCER)
    obj["spec"]["terminationGracePeriodSeconds"] = 3600
    _, mutated, expected = planned(obj)
    with_waiting(expected, 3600, 1)
    assert mutated == expected
    assert "+ 3595))" in mutated["spec"]["containers"][1]["lifecycle"]["preStop"]["exec"]["command"][3]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"annotations": {"workerguard.io/sidecar-wait": "pgbouncer,redis"}},
            "metadata.annotations[workerguard.io/sidecar-wait]",
            "no other container named 'redis'; others: pgbouncer",
        ),
        (
            {"annotations": {"workerguard.io/sidecar-wait": "worker"}},
            "metadata.annotations[workerguard.io/sidecar-wait]",
            "'worker' is the worker itself; it cannot wait for itself",
        ),
        (
            {"sidecar": {"volumeMounts": [{"name": "run", "mountPath": "/var/run/workerguard"}]}},
            "spec.containers[1].volumeMounts[0]",
            "/var/run/workerguard is already a mount here; set workerguard.io/heartbeat-path to a free directory",
        ),
        (
            {"sidecar": {"lifecycle": {"preStop": {"exec": {"command": []}}}}},
            "spec.containers[1].lifecycle.preStop.exec.command",
            "must be a non-empty list of strings",
        ),
        (
            {"sidecar": {"lifecycle": "soon"}},
            "spec.containers[1].lifecycle",
            "must be a mapping",
        ),
        (
            {"annotations": {"workerguard.io/sidecar-wait": "Pg Bouncer"}},
            "metadata.annotations[workerguard.io/sidecar-wait]",
            "'Pg Bouncer' is not all, off or a comma-separated list of container names",
        ),
    ],
)
def test_what_cannot_wait_is_refused_naming_the_field(change: dict[str, Any], field: str, message: str) -> None:
    obj = pod_with({**PGBOUNCER, **change.get("sidecar", {})}, annotations=change.get("annotations"))
    result = plan(obj)
    assert not result.allowed
    assert [(problem.field, problem.message) for problem in result.errors] == [(field, message)]


@pytest.mark.parametrize(
    ("sidecars", "annotations", "labels", "expected"),
    [
        # Not in the pod yet: its injector adds it, and workerguard, called again, gives it the wait.
        ([], {}, {"sidecar.istio.io/inject": "true"}, []),
        ([], {"linkerd.io/inject": "enabled"}, {}, []),
        (
            [{"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:stable-2.14.10"}],
            {"workerguard.io/sidecar-wait": "off"},
            {},
            ["linkerd-proxy exits 0s after SIGTERM"],
        ),
        (
            [{"name": "linkerd-proxy", "image": "cr.l5d.io/linkerd/proxy:stable-2.14.10"}],
            {"workerguard.io/sidecar-wait": "off", "config.alpha.linkerd.io/proxy-wait-before-exit-seconds": "30"},
            {},
            [],
        ),
        ([ISTIO], {"workerguard.io/sidecar-wait": "off", "proxy.istio.io/config": "terminationDrainDuration: 40s"}, {}, []),
        # Present and covered: the wait does the job, nothing to say.
        ([ISTIO], {}, {}, []),
        ([ISTIO], {"workerguard.io/sidecar-wait": "off"}, {}, ["istio-proxy drains 5s after SIGTERM"]),
        ([SQL_PROXY, PGBOUNCER], {"workerguard.io/sidecar-wait": "pgbouncer"}, {}, ["'cloud-sql-proxy' exits 0s after SIGTERM"]),
        (
            [{**SQL_PROXY, "args": ["--max-sigterm-delay=10s", "db"]}, PGBOUNCER],
            {"workerguard.io/sidecar-wait": "pgbouncer"},
            {},
            ["'cloud-sql-proxy' exits 10s after SIGTERM"],
        ),
        (
            [{**SQL_PROXY, "args": ["--max-sigterm-delay", "1m0s", "db"]}, PGBOUNCER],
            {"workerguard.io/sidecar-wait": "pgbouncer"},
            {},
            [],
        ),
    ],
)
def test_a_known_sidecar_that_stops_before_the_worker_is_warned_about(
    sidecars: list[dict[str, Any]], annotations: dict[str, str], labels: dict[str, str], expected: list[str]
) -> None:
    result = plan(pod_with(*sidecars, annotations=annotations, labels=labels))
    early = [finding.message for finding in result.warnings if finding.code == "sidecar_stops_early"]
    assert [message.split(";")[0] for message in early] == expected
    # Whole in kubectl's output: the admission warning, code included, is cut at 120 characters.
    assert all(
        "jobs may need 25s" in f.message and f.admission_text() == f"workerguard {f.code}: {f.message}"
        for f in result.warnings
        if f.code == "sidecar_stops_early"
    )


def test_a_covered_cloud_sql_proxy_needs_no_sigterm_delay_and_is_told_so() -> None:
    result = plan(pod_with({**SQL_PROXY, "args": ["--max-sigterm-delay=30s", "db"]}))
    assert [(f.code, f.message) for f in result.notes] == [
        ("sidecar_setting_unneeded", "'cloud-sql-proxy' waits for the worker in its preStop: its SIGTERM delay is not needed")
    ]


def test_every_injected_hook_is_explained_by_its_settings() -> None:
    result = plan(pod_with(PGBOUNCER))
    by_setting = {explanation.setting: explanation for explanation in result.explanations}
    paths = by_setting["sidecar-wait"].paths
    assert set(paths) == {
        "/spec/volumes/0",
        "/spec/initContainers/0",
        "/spec/terminationGracePeriodSeconds",
        "/spec/containers/1/volumeMounts/0",
        "/spec/containers/1/lifecycle/preStop",
    }
    assert by_setting["sidecar-wait"].source == "default"
    assert "/spec/containers/1/lifecycle/preStop" in by_setting["readiness-max-age"].paths  # the staleness bound
    assert "/spec/containers/1/lifecycle/preStop" in by_setting["shutdown-timeout"].paths  # the wait's bound
