"""plan(): who is opted in, what is injected, how clashes and bad settings are reported."""

from __future__ import annotations

import json
from typing import Any

import jsonpointer
import pytest

from tests.conftest import deep, make_pod, validate, without_status, workload_of, WORKLOADS
from webhook.core.inject import ProbeHelper
from webhook.core.plan import Plan, plan, PlanOptions
from webhook.core.review import verdict_of
from webhook.core.rules import parse_rules
from webhook.core.types import WARNING_MAX_CHARS, WARNINGS_MAX


def injected(obj: dict[str, Any], **kwargs: Any) -> Plan:
    """Plan obj, and check the result is a valid object that a second plan leaves alone, with or
    without its status annotation."""
    result = plan(obj, **kwargs)
    assert result.allowed, result.errors
    assert result.patch, result.skip
    mutated = result.mutated()
    validate(mutated)
    for again in (mutated, without_status(mutated)):
        replanned = plan(again, **kwargs)
        assert (replanned.allowed, replanned.patch, replanned.errors) == (True, [], [])
    return result


def container_of(result: Plan, index: int = 0) -> dict[str, Any]:
    return result.mutated()["spec"]["containers"][index]


def sources(result: Plan) -> dict[str, str]:
    return {item.setting: item.source for item in result.explanations}


# --- who is touched ---------------------------------------------------------------------------------


@pytest.mark.parametrize("label", [None, "false", "True", "yes", ""])
def test_pods_without_the_exact_opt_in_label_are_untouched(label: str | None) -> None:
    pod = make_pod()
    if label is None:
        del pod["metadata"]["labels"]["workerguard.io/inject"]
    else:
        pod["metadata"]["labels"]["workerguard.io/inject"] = label
    result = plan(pod)
    assert (result.allowed, result.patch, result.skip.code if result.skip else None) == (True, [], "not_opted_in")


def test_an_unquoted_opt_in_label_is_skipped_with_the_yaml_hint() -> None:
    pod = make_pod()
    pod["metadata"]["labels"]["workerguard.io/inject"] = True  # `workerguard.io/inject: true` in YAML
    skip = plan(pod).skip
    assert skip is not None and (skip.code, skip.message) == (
        "not_opted_in",
        'workerguard.io/inject: true is a YAML boolean, not the string "true": quote it',
    )


@pytest.mark.parametrize(
    ("metadata_namespace", "request_namespace", "own", "skipped"),
    [
        ("kube-system", None, "workerguard", True),
        ("kube-public", None, "workerguard", True),
        ("workerguard", None, "workerguard", True),
        ("tools", None, "tools", True),
        (None, "kube-system", "workerguard", True),
        ("jobs", "kube-system", "workerguard", True),
        (None, "jobs", "workerguard", False),
        ("jobs", None, "workerguard", False),
    ],
)
def test_system_and_own_namespaces_are_never_mutated(
    metadata_namespace: str | None, request_namespace: str | None, own: str, skipped: bool
) -> None:
    result = plan(make_pod(namespace=metadata_namespace), options=PlanOptions(own_namespace=own), namespace=request_namespace)
    assert (result.skip is not None and result.skip.code == "excluded_namespace") is skipped
    assert (result.patch == []) is skipped


def test_windows_pods_are_left_alone_with_a_warning() -> None:
    pod = make_pod()
    pod["spec"]["os"] = {"name": "windows"}
    result = plan(pod)
    assert result.patch == [] and result.allowed
    assert [w.code for w in result.warnings] == ["windows_pod"]


@pytest.mark.parametrize("kind", ["Service", "ConfigMap", None])
def test_objects_without_a_pod_are_skipped(kind: str | None) -> None:
    result = plan({"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}})
    assert (result.allowed, result.patch, result.skip.code if result.skip else None) == (True, [], "unsupported_kind")


# --- what is injected --------------------------------------------------------------------------------


def test_a_bare_pod_gets_volume_mount_env_probes_grace_and_status() -> None:
    result = injected(make_pod())
    mutated = result.mutated()
    container = mutated["spec"]["containers"][0]
    assert mutated["spec"]["volumes"] == [{"name": "workerguard-heartbeat", "emptyDir": {"sizeLimit": "1Mi"}}]
    assert container["volumeMounts"] == [{"name": "workerguard-heartbeat", "mountPath": "/var/run/workerguard"}]
    assert container["env"] == [
        {"name": "WORKERGUARD_HEARTBEAT_FILE", "value": "/var/run/workerguard/heartbeat"},
        {"name": "WORKERGUARD_STUCK_AFTER", "value": "1800"},
        {"name": "WORKERGUARD_BEAT_INTERVAL", "value": "10"},
    ]
    assert {k: container["readinessProbe"][k] for k in ("periodSeconds", "timeoutSeconds", "failureThreshold")} == {
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 1,
    }
    assert container["livenessProbe"]["failureThreshold"] == 3
    assert container["startupProbe"]["failureThreshold"] == 30  # 300s / 10s
    assert "lifecycle" not in container  # prestop-sleep defaults to 0
    assert mutated["spec"]["terminationGracePeriodSeconds"] == 30
    annotations = mutated["metadata"]["annotations"]
    assert annotations["cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"] == "workerguard-heartbeat"
    assert '"profile":"generic"' in annotations["workerguard.io/status"]


def test_with_sidecar_wait_off_only_the_target_container_changes() -> None:
    pod = make_pod(annotations={"workerguard.io/sidecar-wait": "off"})
    spec = pod["spec"]
    spec["containers"].append({"name": "proxy", "image": "envoy"})
    spec["initContainers"] = [
        {"name": "migrate", "image": "app"},
        {"name": "log-shipper", "image": "vector", "restartPolicy": "Always"},
    ]
    spec["ephemeralContainers"] = [{"name": "debug", "image": "busybox"}]
    mutated = injected(pod).mutated()
    assert mutated["spec"]["containers"][1] == spec["containers"][1]
    assert mutated["spec"]["initContainers"] == spec["initContainers"]
    assert mutated["spec"]["ephemeralContainers"] == spec["ephemeralContainers"]


@pytest.mark.parametrize(
    ("annotations", "target", "source"),
    [
        ({}, 0, "default (first container)"),
        ({"kubectl.kubernetes.io/default-container": "sidekiq"}, 1, "annotation:kubectl.kubernetes.io/default-container"),
        (
            {"kubectl.kubernetes.io/default-container": "web", "workerguard.io/container": "sidekiq"},
            1,
            "annotation:workerguard.io/container",
        ),
    ],
)
def test_the_target_container_is_chosen_by_annotation_then_default_container_then_first(
    annotations: dict[str, str], target: int, source: str
) -> None:
    pod = make_pod(annotations)
    pod["spec"]["containers"] = [{"name": "web", "image": "a"}, {"name": "sidekiq", "image": "b"}]
    result = injected(pod)
    assert "readinessProbe" in container_of(result, target)
    assert "readinessProbe" not in container_of(result, 1 - target)
    assert sources(result)["container"] == source


def test_an_unknown_container_name_is_an_error_naming_the_containers() -> None:
    result = plan(make_pod({"workerguard.io/container": "sidekik"}))
    assert not result.allowed
    assert [(e.field, e.message) for e in result.errors] == [
        ("metadata.annotations[workerguard.io/container]", "no container named 'sidekik'; containers: worker")
    ]


def test_probes_honour_the_settings() -> None:
    result = injected(
        make_pod(
            {
                "workerguard.io/readiness-max-age": "90s",
                "workerguard.io/liveness-max-age": "10m",
                "workerguard.io/probe-period": "15s",
                "workerguard.io/startup-timeout": "1m",
            }
        )
    )
    container = container_of(result)
    assert 'if [ "$a" -gt 90 ]; then' in container["readinessProbe"]["exec"]["command"][2]
    # Liveness every 60s (a fifth of 10m, at most a minute); one run fails from 600 - 2 x 60 = 480s, so
    # the third failure in a row, the restart, comes once the worker has been silent for 10m.
    assert 'if [ "$a" -gt 480 ]; then' in container["livenessProbe"]["exec"]["command"][2]
    assert "(liveness restarts it at 600s)" in container["livenessProbe"]["exec"]["command"][2]
    assert container["startupProbe"]["failureThreshold"] == 4  # ceil(60 / 15)
    assert {container[p]["periodSeconds"] for p in ("readinessProbe", "startupProbe")} == {15}
    assert container["livenessProbe"]["periodSeconds"] == 60


def test_off_switches_leave_out_liveness_and_startup() -> None:
    container = container_of(
        injected(make_pod({"workerguard.io/liveness-max-age": "off", "workerguard.io/startup-timeout": "off"}))
    )
    assert "livenessProbe" not in container and "startupProbe" not in container
    assert "readinessProbe" in container


def test_user_probes_are_kept_with_a_warning_unless_override_is_asked() -> None:
    own = {"httpGet": {"path": "/health", "port": 8080}}
    kept = injected(make_pod(readinessProbe=own, livenessProbe=own, ports=[{"containerPort": 8080}]))
    assert container_of(kept)["readinessProbe"] == own and container_of(kept)["livenessProbe"] == own
    assert "startupProbe" in container_of(kept)
    assert [(w.code, w.message) for w in kept.warnings] == [
        ("probe_kept", "kept the existing readinessProbe, livenessProbe of 'worker'; override-probes replaces them")
    ]
    replaced = injected(make_pod({"workerguard.io/override-probes": "true"}, readinessProbe=own))
    assert "exec" in container_of(replaced)["readinessProbe"]
    assert replaced.warnings == []
    assert any(op["op"] == "replace" and op["path"] == "/spec/containers/0/readinessProbe" for op in replaced.patch)


def test_prestop_marks_draining_then_sleeps_and_a_users_own_prestop_is_kept() -> None:
    container = container_of(
        injected(make_pod({"workerguard.io/prestop-sleep": "7s"}, lifecycle={"postStart": {"exec": {"command": ["true"]}}}))
    )
    assert container["lifecycle"]["postStart"] == {"exec": {"command": ["true"]}}
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sh", "-c", ': > "/var/run/workerguard/draining"; sleep 7']
    theirs = {"exec": {"command": ["kill", "-TSTP", "1"]}}
    result = injected(make_pod({"workerguard.io/prestop-sleep": "7s"}, lifecycle={"preStop": theirs}))
    assert container_of(result)["lifecycle"]["preStop"] == theirs
    assert [w.code for w in result.warnings] == ["prestop_kept"]


@pytest.mark.parametrize(
    ("existing", "annotations", "expected", "warned"),
    [
        (None, {}, 30, False),  # unset: Kubernetes' 30s, written down
        (None, {"workerguard.io/shutdown-timeout": "5s"}, 30, False),  # never below the default it already had
        (None, {"workerguard.io/shutdown-timeout": "600s", "workerguard.io/prestop-sleep": "10s"}, 615, False),
        (20, {}, 30, True),
        (120, {}, 120, False),  # never lowered
    ],
)
def test_grace_period_is_shutdown_plus_prestop_plus_margin_and_only_raised(
    existing: int | None, annotations: dict[str, str], expected: int, warned: bool
) -> None:
    pod = make_pod(annotations)
    if existing is not None:
        pod["spec"]["terminationGracePeriodSeconds"] = existing
    result = injected(pod)
    assert result.mutated()["spec"]["terminationGracePeriodSeconds"] == expected
    assert ("grace_period_raised" in [w.code for w in result.warnings]) is warned


LONG = {"workerguard.io/shutdown-timeout": "600s"}
SSA_GRACE = {"f:spec": {"f:terminationGracePeriodSeconds": {}}}


def _with_grace_evidence(pod: dict[str, Any], evidence: str) -> dict[str, Any]:
    """What the apiserver leaves in an object about who wrote its grace period."""
    manifest = {"spec": {"terminationGracePeriodSeconds": 30}} if evidence.endswith("wrote it") else {"spec": {}}
    if evidence.startswith("kubectl apply"):
        pod["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(manifest)
    elif evidence.startswith("server-side apply"):
        fields = SSA_GRACE if evidence.endswith("wrote it") else {"f:spec": {"f:containers": {}}}
        pod["metadata"]["managedFields"] = [
            {"manager": "kubectl", "operation": "Apply", "fieldsV1": fields},
            {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": SSA_GRACE},
        ]
    elif evidence == "controller update only":
        pod["metadata"]["managedFields"] = [{"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": SSA_GRACE}]
    return pod


@pytest.mark.parametrize(
    ("grace", "evidence", "warned"),
    [
        (30, "none", False),  # the apiserver's default, or indistinguishable from it: a note
        (60, "none", True),  # not the default: its author wrote it
        (30, "controller update only", False),  # an Update entry owns every field sent, defaults too
        (30, "kubectl apply: the author wrote it", True),
        (30, "kubectl apply: the author left it out", False),
        (30, "server-side apply: the author wrote it", True),
        (30, "server-side apply: the author left it out", False),
    ],
)
def test_a_raised_grace_period_is_a_warning_only_when_its_author_wrote_it(grace: int, evidence: str, warned: bool) -> None:
    pod = _with_grace_evidence(make_pod(LONG), evidence)
    pod["spec"]["terminationGracePeriodSeconds"] = grace
    result = injected(pod)
    assert result.mutated()["spec"]["terminationGracePeriodSeconds"] == 605
    assert [w.code for w in result.warnings if w.code.startswith("grace")] == (["grace_period_raised"] if warned else [])
    assert [n.code for n in result.notes] == ([] if warned else ["grace_period_default_raised"])
    assert verdict_of(result).warnings == tuple(w.admission_text() for w in result.warnings)


def test_a_clean_opted_in_deployment_applies_without_a_warning() -> None:
    """The apiserver has defaulted the template's grace period to 30s by the time /validate sees it."""
    deployment = workload_of("Deployment", make_pod({"workerguard.io/profile": "celery"}))
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
    deployment["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"kind": "Deployment", "spec": {"template": {"spec": {}}}})
    }
    verdict = verdict_of(plan(deployment), with_patch=False)
    assert verdict.decision == "allowed" and verdict.warnings == ()
    assert [n.code for n in plan(deployment).notes] == ["grace_period_default_raised"]


def test_safe_to_evict_false_sets_the_autoscaler_annotation_but_never_overrides_the_users() -> None:
    mutated = injected(make_pod({"workerguard.io/safe-to-evict": "false"})).mutated()
    assert mutated["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    theirs = injected(make_pod({"workerguard.io/profile": "sidekiq", "cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}))
    assert theirs.mutated()["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "true"
    assert [w.code for w in theirs.warnings] == ["safe_to_evict_kept"]


def test_our_volume_joins_an_existing_local_volumes_list() -> None:
    pod = make_pod({"cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes": "cache, scratch"})
    mutated = injected(pod).mutated()
    assert mutated["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"] == (
        "cache,scratch,workerguard-heartbeat"
    )


def test_names_already_taken_are_avoided() -> None:
    pod = make_pod(volumeMounts=[{"name": "workerguard-heartbeat", "mountPath": "/data"}])
    pod["spec"]["volumes"] = [
        {"name": "workerguard-heartbeat", "emptyDir": {}},
        {"name": "workerguard-heartbeat-2", "emptyDir": {}},
    ]
    mutated = injected(pod).mutated()
    assert mutated["spec"]["volumes"][-1]["name"] == "workerguard-heartbeat-3"
    assert mutated["spec"]["containers"][0]["volumeMounts"][-1] == {
        "name": "workerguard-heartbeat-3",
        "mountPath": "/var/run/workerguard",
    }


@pytest.mark.parametrize(
    ("container", "field", "fragment"),
    [
        (
            {"volumeMounts": [{"name": "run", "mountPath": "/var/run/workerguard"}]},
            "spec.containers[0].volumeMounts[0]",
            "/var/run/workerguard is already the mount of volume 'run'",
        ),
        (
            {"volumeMounts": [{"name": "hb", "mountPath": "/var/run/workerguard/heartbeat"}]},
            "spec.containers[0].volumeMounts[0]",
            "already the mount of volume 'hb'",
        ),
        (
            {"env": [{"name": "WORKERGUARD_HEARTBEAT_FILE", "value": "/tmp/x"}]},
            "spec.containers[0].env[0]",
            "WORKERGUARD_HEARTBEAT_FILE is already set",
        ),
    ],
)
def test_real_clashes_are_errors_naming_the_field(container: dict[str, Any], field: str, fragment: str) -> None:
    pod = make_pod(**container)
    pod["spec"]["volumes"] = [{"name": "run", "emptyDir": {}}, {"name": "hb", "emptyDir": {}}]
    result = plan(pod)
    assert not result.allowed and result.patch == []
    assert [e.field for e in result.errors] == [field]
    assert fragment in result.errors[0].message


@pytest.mark.parametrize("kind", ["Pod", "Deployment", "CronJob"])
def test_an_injected_object_without_its_status_is_recognised_by_content(kind: str) -> None:
    pod = make_pod({"workerguard.io/profile": "sidekiq", "workerguard.io/prestop-sleep": "5s"})
    obj = pod if kind == "Pod" else workload_of(kind, pod)
    stripped = without_status(plan(obj).mutated())
    again = plan(stripped)
    assert (again.allowed, again.patch, again.errors) == (True, [], [])
    assert again.skip is not None and again.skip.code == "already_injected"
    assert again.mutated() == stripped


@pytest.mark.parametrize(
    ("volume", "mount_path"),
    [
        ({"configMap": {"name": "settings"}}, "/var/run/workerguard"),  # our name, another source
        ({"emptyDir": {}}, "/data"),  # our name and source, mounted elsewhere
    ],
)
def test_a_users_own_volume_sharing_our_name_is_told_apart_by_shape_and_mount(volume: dict[str, Any], mount_path: str) -> None:
    pod = make_pod(
        volumeMounts=[{"name": "workerguard-heartbeat", "mountPath": mount_path}],
        env=[{"name": "WORKERGUARD_HEARTBEAT_FILE", "value": "/var/run/workerguard/heartbeat"}],
    )
    pod["spec"]["volumes"] = [{"name": "workerguard-heartbeat", **volume}]
    result = plan(pod)
    if mount_path == "/var/run/workerguard":  # not ours, and in the way: a clash to fix, not a skip
        assert not result.allowed and "already the mount of volume 'workerguard-heartbeat'" in result.errors[0].message
        return
    mutated = injected(pod).mutated()
    assert mutated["spec"]["volumes"][-1] == {"name": "workerguard-heartbeat-2", "emptyDir": {"sizeLimit": "1Mi"}}
    assert container_of(injected(pod))["volumeMounts"][-1]["name"] == "workerguard-heartbeat-2"


def test_our_volume_and_mount_without_the_heartbeat_env_are_not_taken_for_an_injection() -> None:
    pod = make_pod(volumeMounts=[{"name": "workerguard-heartbeat", "mountPath": "/var/run/workerguard"}])
    pod["spec"]["volumes"] = [{"name": "workerguard-heartbeat", "emptyDir": {}}]
    result = plan(pod)
    assert not result.allowed and result.skip is not None and result.skip.code == "invalid"


@pytest.mark.parametrize(
    ("container", "field", "hidden"),
    [
        ({"workingDir": "/app"}, "workingDir", "/app"),
        ({"workingDir": "/app/src"}, "workingDir", "/app/src"),
        ({"command": ["python", "/app/worker.py"]}, "command[1]", "/app/worker.py"),
        ({"command": ["sh", "-c", "cd /app && exec ./worker"]}, "command[2]", "/app"),
        ({"args": ["--config=/app/config.yaml"]}, "args[0]", "/app/config.yaml"),
    ],
)
def test_a_heartbeat_directory_over_what_the_container_runs_from_is_refused(
    container: dict[str, Any], field: str, hidden: str
) -> None:
    result = plan(make_pod({"workerguard.io/heartbeat-path": "/app/heartbeat"}, **container))
    assert not result.allowed
    assert [problem.field for problem in result.errors] == [f"spec.containers[0].{field}"]
    assert f"mounted over /app and hide {hidden}, which the container runs from" in result.errors[0].message


@pytest.mark.parametrize(
    "container",
    [{"workingDir": "/application"}, {"command": ["/app-bin/worker"]}, {"args": ["http://app/heartbeat"]}, {}],
)
def test_paths_beside_the_heartbeat_directory_do_not_count(container: dict[str, Any]) -> None:
    injected(make_pod({"workerguard.io/heartbeat-path": "/app/heartbeat"}, **container))


def test_the_same_env_value_already_set_is_not_duplicated() -> None:
    own = [{"name": "WORKERGUARD_HEARTBEAT_FILE", "value": "/var/run/workerguard/heartbeat"}, {"name": "APP", "value": "1"}]
    assert container_of(injected(make_pod(env=own)))["env"] == [
        *own,
        {"name": "WORKERGUARD_STUCK_AFTER", "value": "1800"},
        {"name": "WORKERGUARD_BEAT_INTERVAL", "value": "10"},
    ]


@pytest.mark.parametrize(
    ("annotations", "stuck", "interval"),
    [
        ({}, "1800", "10"),
        ({"workerguard.io/stuck-after": "off"}, "off", "10"),
        (
            {"workerguard.io/stuck-after": "90s", "workerguard.io/readiness-max-age": "6s", "workerguard.io/probe-period": "2s"},
            "90",
            "2",
        ),
        ({"workerguard.io/readiness-max-age": "2s", "workerguard.io/probe-period": "1s"}, "1800", "1"),
        ({"workerguard.io/profile": "celery"}, "600", "10"),
    ],
)
def test_what_a_writer_needs_reaches_it_as_env(annotations: dict[str, str], stuck: str, interval: str) -> None:
    result = injected(make_pod(annotations))
    env = {item["name"]: item["value"] for item in container_of(result)["env"]}
    assert (env["WORKERGUARD_STUCK_AFTER"], env["WORKERGUARD_BEAT_INTERVAL"]) == (stuck, interval)
    explained = {item.setting: item.paths for item in result.explanations}
    assert "/spec/containers/0/env/1" in explained["stuck-after"]
    assert "/spec/containers/0/env/2" in explained["readiness-max-age"]


def test_a_writer_env_the_user_set_to_another_value_is_a_clash() -> None:
    result = plan(make_pod(env=[{"name": "WORKERGUARD_STUCK_AFTER", "value": "60"}]))
    assert not result.allowed
    assert [(e.field, e.message) for e in result.errors] == [
        ("spec.containers[0].env[0]", "WORKERGUARD_STUCK_AFTER is already set to something other than 1800; workerguard sets it")
    ]


# --- warnings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "args", "warned"),
    [
        (["sh", "-c", "bundle exec sidekiq -t 25"], None, True),
        (["/bin/sh", "-c", "cd /app && bundle exec sidekiq"], None, True),
        (["/bin/bash"], ["-c", "bundle exec sidekiq"], True),
        (["sh", "-c", "exec bundle exec sidekiq -t 25"], None, False),
        (["sh", "-c", "cd /app && exec celery worker"], None, False),
        (["bundle", "exec", "sidekiq"], None, False),
        (None, None, False),
        (["sh", "-c", "trap 'echo bye; exit 0' TERM\nwhile :; do date +%s > $F; sleep 5 & wait $!; done"], None, False),
        (["sh", "-c", "trap cleanup INT TERM; run"], None, False),
        (["sh", "-c", "trap cleanup INT; bundle exec sidekiq"], None, True),
    ],
)
def test_a_shell_wrapped_worker_without_exec_is_warned_about(
    command: list[str] | None, args: list[str] | None, warned: bool
) -> None:
    container: dict[str, Any] = {}
    if command:
        container["command"] = command
    if args:
        container["args"] = args
    result = injected(make_pod(**container))
    assert ("shell_wrapped_command" in [w.code for w in result.warnings]) is warned


def test_warnings_fit_the_apiservers_limits() -> None:
    pod = make_pod(
        {
            "workerguard.io/probe-period": "2s",
            "workerguard.io/liveness-max-age": "60s",
            "workerguard.io/prestop-sleep": "1s",
            "workerguard.io/safe-to-evict": "false",
            "cluster-autoscaler.kubernetes.io/safe-to-evict": "true",
        },
        command=["sh", "-c", "run-worker"],
        readinessProbe={"exec": {"command": ["true"]}},
        lifecycle={"preStop": {"exec": {"command": ["true"]}}},
    )
    pod["spec"]["terminationGracePeriodSeconds"] = 1
    result = injected(pod)
    assert len(result.warnings) >= 6
    sent = verdict_of(result).warnings
    assert len(sent) == len(result.warnings) <= WARNINGS_MAX
    assert all(len(text) <= WARNING_MAX_CHARS for text in sent)


def test_a_plan_keeps_every_warning_and_the_response_carries_ten_saying_how_many_more() -> None:
    pod = make_pod({f"workerguard.io/bogus-{n}": "1" for n in range(15)})
    result = plan(pod, options=PlanOptions(on_invalid="allow"))
    assert [w.code for w in result.warnings] == ["invalid_setting"] * 15  # what preview lists
    sent = verdict_of(result).warnings
    assert len(sent) == WARNINGS_MAX
    assert sent[:-1] == tuple(w.admission_text() for w in result.warnings[: WARNINGS_MAX - 1])
    assert sent[-1] == "workerguard more_warnings: 6 more warnings; run workerguard preview"


# --- bad settings ----------------------------------------------------------------------------------------


def test_invalid_settings_deny_by_default_with_every_problem() -> None:
    result = plan(make_pod({"workerguard.io/readiness-max-age": "abc", "workerguard.io/probe-period": "-1"}))
    assert not result.allowed and result.patch == []
    assert [e.field for e in result.errors] == [
        "metadata.annotations[workerguard.io/readiness-max-age]",
        "metadata.annotations[workerguard.io/probe-period]",
    ]


def test_on_invalid_allow_admits_untouched_with_the_errors_as_warnings() -> None:
    result = plan(make_pod({"workerguard.io/readiness-max-age": "abc"}), options=PlanOptions(on_invalid="allow"))
    assert result.allowed and result.patch == []
    assert [w.code for w in result.warnings] == ["invalid_setting"]
    assert "'abc' is not a duration" in result.warnings[0].message


def test_an_unknown_profile_is_an_error() -> None:
    result = plan(make_pod({"workerguard.io/profile": "resque"}))
    assert not result.allowed
    assert result.errors[0].message == "unknown profile 'resque'; known: generic, sidekiq, celery, pubsub"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p["spec"].update(containers=[]), "spec.containers"),
        (lambda p: p["spec"].update(containers="worker"), "spec.containers"),
        (lambda p: p["spec"]["containers"][0].update(env={"A": "1"}), "spec.containers[0].env"),
        (lambda p: p["spec"].update(terminationGracePeriodSeconds="30"), "spec.terminationGracePeriodSeconds"),
        (lambda p: p["metadata"].update(annotations=["x"]), "metadata.annotations"),
        (lambda p: p.update(spec="nope"), "spec"),
    ],
)
def test_malformed_pods_are_problems_not_exceptions(mutate: Any, field: str) -> None:
    pod = make_pod()
    mutate(pod)
    result = plan(pod)
    assert not result.allowed
    assert field in [e.field for e in result.errors]


# --- rules and explanations ------------------------------------------------------------------------------

RULES = parse_rules(
    {
        "profiles": {"long-sidekiq": {"base": "sidekiq", "set": {"shutdown-timeout": "10m"}}},
        "rules": [
            {"name": "billing", "match": {"namespaces": ["billing"]}, "set": {"profile": "long-sidekiq", "prestop-sleep": "5s"}},
            {"name": "patient", "match": {"labels": {"tier": "batch"}}, "set": {"readiness-max-age": "2m"}},
        ],
    }
)


def test_precedence_is_default_then_profile_then_rules_then_annotations() -> None:
    pod = make_pod({"workerguard.io/readiness-max-age": "3m"}, labels={"tier": "batch"}, namespace="billing")
    result = injected(pod, rules=RULES)
    found = {item.setting: (item.value, item.source) for item in result.explanations}
    assert found["profile"] == ("long-sidekiq", "rule:billing")
    assert found["shutdown-timeout"] == ("600s", "profile:long-sidekiq")
    assert found["safe-to-evict"] == ("false", "profile:long-sidekiq")
    assert found["prestop-sleep"] == ("5s", "rule:billing")
    assert found["readiness-max-age"] == ("180s", "annotation:workerguard.io/readiness-max-age")
    assert found["probe-period"] == ("10s", "profile:long-sidekiq")
    assert found["override-probes"] == ("false", "default")
    assert result.rules == ("billing", "patient")
    assert result.mutated()["spec"]["terminationGracePeriodSeconds"] == 610


def test_the_pods_profile_annotation_beats_a_rules_profile() -> None:
    result = injected(make_pod({"workerguard.io/profile": "celery"}, namespace="billing"), rules=RULES)
    assert result.profile == "celery"
    assert sources(result)["profile"] == "annotation:workerguard.io/profile"


def test_every_injected_value_is_explained_and_every_explanation_points_into_the_object() -> None:
    result = injected(make_pod({"workerguard.io/prestop-sleep": "5s", "workerguard.io/safe-to-evict": "false"}))
    mutated = result.mutated()
    explained = {path for item in result.explanations for path in item.paths}
    for path in explained:
        jsonpointer.resolve_pointer(mutated, path)  # raises when the pointer does not exist
    status = "/metadata/annotations/workerguard.io~1status"
    for op in result.patch:
        if op["path"] != status:
            # an op that adds a whole list or map is explained through the element it carries
            assert any(path == op["path"] or path.startswith(op["path"] + "/") for path in explained), op["path"]


@pytest.mark.parametrize("kind", list(WORKLOADS))
def test_workloads_are_patched_at_their_pod_template(kind: str) -> None:
    path = WORKLOADS[kind][1]
    result = injected(workload_of(kind, make_pod({"workerguard.io/profile": "sidekiq"})))
    prefix = "".join(f"/{key}" for key in path)
    assert all(op["path"].startswith(prefix + "/") for op in result.patch)
    assert result.profile == "sidekiq"


def test_the_template_label_decides_not_the_workloads_own() -> None:
    workload = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "w", "labels": {"workerguard.io/inject": "true"}},
        "spec": {"template": {"metadata": {"labels": {}}, "spec": {"containers": [{"name": "a", "image": "b"}]}}},
    }
    assert plan(workload).skip.code == "not_opted_in"  # type: ignore[union-attr]


def test_planning_does_not_modify_its_input() -> None:
    pod = make_pod({"workerguard.io/prestop-sleep": "5s"})
    before = deep(pod)
    injected(pod)
    assert pod == before


# --- plans share nothing --------------------------------------------------------------------------


def test_the_same_problem_names_the_field_of_each_object_asked_about() -> None:
    bad = {"workerguard.io/probe-period": "soon"}
    pod_problem = plan(make_pod(bad)).errors
    template = {"kind": "Deployment", "metadata": {"name": "w"}, "spec": {"template": make_pod(bad)}}
    template_problem = plan(template).errors
    assert [p.field for p in pod_problem] == ["metadata.annotations[workerguard.io/probe-period]"]
    assert [p.field for p in template_problem] == ["spec.template.metadata.annotations[workerguard.io/probe-period]"]


def test_a_non_string_annotation_is_reported_every_time() -> None:
    rules = parse_rules({"rules": []})
    for _ in range(2):
        errors = plan(make_pod({"workerguard.io/probe-period": 10}), rules=rules).errors  # type: ignore[dict-item]
        assert [p.field for p in errors] == ["metadata.annotations[workerguard.io/probe-period]"]


def test_the_same_annotations_under_other_matching_rules_are_a_different_question() -> None:
    rules = parse_rules({"rules": [{"name": "billing", "match": {"namespaces": ["billing"]}, "set": {"probe-period": "15s"}}]})
    for namespace, period in [("billing", 15), ("jobs", 10), ("billing", 15)]:
        result = injected(make_pod(namespace=namespace), rules=rules)
        assert container_of(result)["readinessProbe"]["periodSeconds"] == period, namespace


def test_changing_one_mutated_pod_never_changes_what_the_next_pod_gets() -> None:
    asked = {"workerguard.io/prestop-sleep": "5s"}
    first = injected(make_pod(asked))
    mutated = first.mutated()
    mutated["spec"]["containers"][0]["readinessProbe"]["periodSeconds"] = 999
    mutated["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]["command"].append("oops")
    second = injected(make_pod(asked))
    assert container_of(second)["readinessProbe"]["periodSeconds"] == 10
    assert container_of(second)["lifecycle"]["preStop"]["exec"]["command"][-1] != "oops"
    assert second.patch == first.patch


def test_editing_one_plans_patch_never_changes_the_next_plan() -> None:
    """A caller that edits a plan's patch (a test, a tool post-processing it) must not change what the
    next pod gets: nothing mutable leaves the core shared."""
    asked = {"workerguard.io/prestop-sleep": "5s"}
    first = injected(make_pod(asked))
    untouched = deep(first.patch)
    for op in first.patch:
        value = op["value"]
        if isinstance(value, dict) and "periodSeconds" in value:  # every probe
            value["periodSeconds"] = 999
            value["exec"]["command"].append("oops")
        if op["path"].endswith("/lifecycle"):
            value["preStop"]["exec"]["command"][-1] = "oops"
    second = injected(make_pod(asked))
    assert second.patch == untouched
    assert {container_of(second)[probe]["periodSeconds"] for probe in ("startupProbe", "readinessProbe")} == {10}


# --- the worker's own command ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "seconds"),
    [
        ({"command": ["bundle", "exec", "sidekiq", "-t", "600"]}, 600),
        ({"command": ["sidekiq", "-t600", "-c", "5"]}, 600),
        ({"command": ["bundle", "exec", "sidekiq"], "args": ["--timeout", "90"]}, 90),
        ({"command": ["sh", "-c", "exec bundle exec sidekiq --timeout=120"]}, 120),
        ({"command": ["/usr/local/bin/celery", "-A", "app", "worker", "--time-limit", "300"]}, 300),
        ({"command": ["celery", "-A", "app", "worker", "--time-limit=2.5"]}, 3),
    ],
)
def test_the_workers_own_shutdown_timeout_beats_a_profile_default(container: dict[str, Any], seconds: int) -> None:
    result = injected(make_pod({"workerguard.io/profile": "sidekiq"}, **container))
    assert result.mutated()["spec"]["terminationGracePeriodSeconds"] == max(30, seconds + 5)
    explained = {item.setting: (item.value, item.source) for item in result.explanations}
    assert explained["shutdown-timeout"] == (f"{seconds}s", "command")
    assert not [warning for warning in result.warnings if warning.code == "shutdown_timeout_differs_from_command"]


@pytest.mark.parametrize(
    "container",
    [
        {"command": ["sidekiq", "-c", "5"]},
        {"command": ["celery", "-A", "app", "beat", "--time-limit", "300"]},
        {"command": ["python", "worker.py", "-t", "600"]},
        {"command": ["sh", "-c", "exec sidekiq -t 'unbalanced"]},
        {"command": ["sidekiq", "-t", "soon"]},
    ],
)
def test_commands_that_say_nothing_about_shutdown_leave_the_profile_value(container: dict[str, Any]) -> None:
    result = injected(make_pod({"workerguard.io/profile": "sidekiq"}, **container))
    explained = {item.setting: (item.value, item.source) for item in result.explanations}
    assert explained["shutdown-timeout"] == ("25s", "profile:sidekiq")


def test_an_annotation_that_contradicts_the_command_wins_with_a_warning() -> None:
    pod = make_pod({"workerguard.io/shutdown-timeout": "60s"}, command=["bundle", "exec", "sidekiq", "-t", "600"])
    result = injected(pod)
    assert result.mutated()["spec"]["terminationGracePeriodSeconds"] == 65
    [warning] = [w for w in result.warnings if w.code == "shutdown_timeout_differs_from_command"]
    assert warning.admission_text() == (
        "workerguard shutdown_timeout_differs_from_command: shutdown-timeout 60s, but the command says sidekiq -t 600"
    )


# --- probe-shell and the probe budget ------------------------------------------------------------------


def test_the_bundled_shell_adds_a_first_init_container_a_bigger_volume_and_absolute_commands() -> None:
    pod = make_pod({"workerguard.io/probe-shell": "bundled", "workerguard.io/prestop-sleep": "5s"})
    pod["spec"]["initContainers"] = [{"name": "migrate", "image": "app:1", "command": ["/app/migrate"]}]
    pod["spec"]["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000}
    options = PlanOptions(probe_helper=ProbeHelper("registry.example/workerguard:2", "/opt/bb"))
    mutated = injected(pod, options=options).mutated()
    first, user = mutated["spec"]["initContainers"]
    assert user["name"] == "migrate"
    assert first["name"] == "workerguard-probe-shell" and first["image"] == "registry.example/workerguard:2"
    assert first["command"] == ["/opt/bb", "cp", "/opt/bb", "/var/run/workerguard/busybox"]
    assert first["volumeMounts"] == [{"name": "workerguard-heartbeat", "mountPath": "/var/run/workerguard"}]
    assert first["securityContext"]["runAsNonRoot"] and first["securityContext"]["readOnlyRootFilesystem"]
    assert first["resources"]["limits"] == {"cpu": "100m", "memory": "16Mi"}
    assert mutated["spec"]["volumes"] == [{"name": "workerguard-heartbeat", "emptyDir": {"sizeLimit": "8Mi"}}]
    container = mutated["spec"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"][:3] == ["/var/run/workerguard/busybox", "sh", "-c"]
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "/var/run/workerguard/busybox"


def test_the_image_shell_stays_the_default_with_a_small_volume_and_no_init_container() -> None:
    mutated = injected(make_pod()).mutated()
    assert "initContainers" not in mutated["spec"]
    assert mutated["spec"]["volumes"][0]["emptyDir"] == {"sizeLimit": "1Mi"}
    assert mutated["spec"]["containers"][0]["readinessProbe"]["exec"]["command"][:2] == ["sh", "-c"]


def test_rules_choose_the_bundled_shell_by_image() -> None:
    rules = parse_rules(
        {"rules": [{"name": "distroless", "match": {"images": ["gcr.io/distroless/*"]}, "set": {"probe-shell": "bundled"}}]}
    )
    distroless = make_pod(image="gcr.io/distroless/static:nonroot")
    assert "initContainers" in injected(distroless, rules=rules).mutated()["spec"]
    assert "initContainers" not in injected(make_pod(), rules=rules).mutated()["spec"]


def test_an_init_container_with_our_name_is_a_clash() -> None:
    pod = make_pod({"workerguard.io/probe-shell": "bundled"})
    pod["spec"]["initContainers"] = [{"name": "workerguard-probe-shell", "image": "x"}]
    result = plan(pod)
    assert not result.allowed and result.errors[0].field == "spec.initContainers"


@pytest.mark.parametrize(
    ("annotations", "readiness_period", "liveness_period", "runs", "warned"),
    [
        ({}, 10, 60, 7, False),  # the defaults: 6 readiness + 1 liveness runs a minute
        ({"workerguard.io/profile": "sidekiq"}, 10, 60, 7, False),
        ({"workerguard.io/liveness-max-age": "off"}, 10, None, 6, False),
        ({"workerguard.io/probe-period": "5s", "workerguard.io/readiness-max-age": "30s"}, 5, 30, 14, True),
        (
            {
                "workerguard.io/probe-period": "2s",
                "workerguard.io/readiness-max-age": "6s",
                "workerguard.io/liveness-max-age": "1h",
            },
            2,
            60,
            31,
            True,
        ),
    ],
)
def test_probe_runs_per_minute_stay_within_the_budget_and_beyond_twelve_warn(
    annotations: dict[str, str], readiness_period: int, liveness_period: int | None, runs: int, warned: bool
) -> None:
    result = injected(make_pod(annotations))
    container = container_of(result)
    assert container["readinessProbe"]["periodSeconds"] == readiness_period
    assert container.get("livenessProbe", {}).get("periodSeconds") == liveness_period
    per_minute = 60 / readiness_period + (60 / liveness_period if liveness_period else 0)
    assert round(per_minute) == runs
    costly = [w.message for w in result.warnings if w.code == "probe_runs_costly"]
    assert costly == (
        [f"{runs} exec probe runs a minute, 25-46ms of node CPU each; raise probe-period or use http"] if warned else []
    )


def liveness_limit_of(result: Plan, probe: dict[str, Any]) -> int:
    """The age at which one liveness run fails: in the exec script, or in workerguard-probe's arguments."""
    if "exec" in probe:
        return int(probe["exec"]["command"][2].split('if [ "$a" -gt ')[1].split(" ]")[0])
    [server] = [c for c in result.mutated()["spec"]["initContainers"] if c["name"] == "workerguard-probe"]
    [limit] = [word.split("=")[1] for word in server["command"] if word.startswith("--liveness-limit=")]
    return int(limit)


@pytest.mark.parametrize("transport", ["exec", "http"])
@pytest.mark.parametrize(("readiness", "liveness"), [(60, 300), (30, 120), (60, 60), (10, 3600), (3, 6)])
def test_liveness_restarts_once_the_worker_has_been_silent_for_liveness_max_age(
    readiness: int, liveness: int, transport: str
) -> None:
    """Simulated as kubelet runs it: a probe every period from a random phase, restart at the third
    failure in a row. The restart comes between liveness-max-age and one liveness period after it, and
    never before readiness has failed."""
    annotations = {
        "workerguard.io/readiness-max-age": f"{readiness}s",
        "workerguard.io/liveness-max-age": f"{liveness}s",
        "workerguard.io/probe-period": "1s" if readiness < 20 else "10s",
        "workerguard.io/probe-transport": transport,
    }
    result = injected(make_pod(annotations))
    probe = container_of(result)["livenessProbe"]
    assert ("httpGet" in probe) == (transport == "http")
    period, threshold = probe["periodSeconds"], probe["failureThreshold"]
    limit = liveness_limit_of(result, probe)
    for phase in range(period):
        failures, t = 0, phase
        while failures < threshold:
            failures = failures + 1 if t > limit else 0
            t += period
        restart = t - period
        assert liveness <= restart <= liveness + period, (phase, restart)


@pytest.mark.parametrize(
    ("probe", "override", "expected"),
    [
        (
            {"exec": {"command": ["celery", "-A", "app", "inspect", "ping", "-d", "celery@$(hostname)"]}},
            "false",
            [
                ("probe_kept", None),
                ("probe_boots_app", "kept livenessProbe of 'worker' boots the app; override-probes checks the heartbeat"),
            ],
        ),
        (
            {"exec": {"command": ["redis-cli", "ping"]}},
            "false",
            [
                ("probe_kept", None),
                (
                    "probe_asks_broker",
                    "kept livenessProbe of 'worker' asks the broker; override-probes checks the heartbeat",
                ),
            ],
        ),
        ({"exec": {"command": ["celery", "-A", "app", "inspect", "ping"]}}, "true", []),  # replaced: nothing kept
        ({"exec": {"command": ["cat", "/tmp/healthy"]}}, "false", [("probe_kept", None)]),
    ],
)
def test_a_kept_probe_that_hurts_workers_is_warned_about_with_audits_code(
    probe: dict[str, Any], override: str, expected: list[tuple[str, str | None]]
) -> None:
    result = plan(make_pod({"workerguard.io/override-probes": override}, livenessProbe=probe))
    said = [(w.code, w.message if w.code != "probe_kept" else None) for w in result.warnings]
    assert said == expected
    assert all(len(f"workerguard {w.code}: {w.message}") <= WARNING_MAX_CHARS for w in result.warnings)  # whole in kubectl
