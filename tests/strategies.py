"""Hypothesis strategies: pods and workloads shaped like the Kubernetes API allows, annotations good and bad."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from webhook.core.annotations import PREFIX

dns_label = st.from_regex(r"[a-z]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True)
paths = st.sampled_from(["/var/run/workerguard", "/var/run/workerguard/heartbeat", "/data", "/tmp", "/var/run", "/app/cache"])
any_text = st.text(max_size=12)

GOOD_VALUES: dict[str, st.SearchStrategy[str]] = {
    "profile": st.sampled_from(["generic", "sidekiq", "celery", "pubsub"]),
    "heartbeat-path": st.sampled_from(["/var/run/workerguard/heartbeat", "/run/beat/hb", "/tmp/wg/heartbeat.txt"]),
    "heartbeat-format": st.sampled_from(["unix", "mtime"]),
    "readiness-max-age": st.sampled_from(["60s", "2m", "90", "1h"]),
    "liveness-max-age": st.sampled_from(["off", "10m", "5m", "3600"]),
    "startup-timeout": st.sampled_from(["off", "5m", "60s"]),
    "probe-period": st.sampled_from(["10s", "5s", "15", "3s"]),
    "shutdown-timeout": st.sampled_from(["25s", "10m", "0", "1h30m"]),
    "prestop-sleep": st.sampled_from(["0s", "5s", "1m"]),
    "safe-to-evict": st.sampled_from(["true", "false"]),
    "override-probes": st.sampled_from(["true", "false"]),
}
BAD: dict[str, list[str]] = {
    "heartbeat-path": ["relative", "/tmp/a b", '/tmp/"x', "/tmp/$(id)", "/tmp/a;b", "/x", "/a/../b", "/a/draining"],
    "heartbeat-format": ["json", "UNIX", ""],
    "readiness-max-age": ["abc", "1.5s", "-1s", "25h", "", "5 s"],
    "probe-period": ["fast", "500ms", "1e3"],
    "safe-to-evict": ["yes", "True", "0"],
    "override-probes": ["no", "1"],
    "container": ["Not_A_Name", "-x", "ghost-container"],
}
BAD_VALUES = {key: st.sampled_from(values) for key, values in BAD.items()}

exec_probe = st.fixed_dictionaries(
    {"exec": st.fixed_dictionaries({"command": st.just(["true"])})}, optional={"periodSeconds": st.integers(1, 60)}
)
lifecycle = st.fixed_dictionaries(
    {},
    optional={
        "preStop": exec_probe.map(lambda p: {"exec": p["exec"]}),
        "postStart": exec_probe.map(lambda p: {"exec": p["exec"]}),
    },
)
command = st.sampled_from([["sh", "-c", "bundle exec sidekiq"], ["sh", "-c", "exec celery worker"], ["/app/run"], ["/bin/bash"]])


def container(name: str) -> st.SearchStrategy[dict[str, Any]]:
    env_entry = st.one_of(
        st.fixed_dictionaries({"name": st.sampled_from(["A", "B_C", "WORKERGUARD_HEARTBEAT_FILE"]), "value": any_text}),
        st.fixed_dictionaries(
            {"name": st.just("WORKERGUARD_HEARTBEAT_FILE"), "value": st.just("/var/run/workerguard/heartbeat")}
        ),
    )
    mount = st.fixed_dictionaries({"name": st.sampled_from(["data", "cache", "workerguard-heartbeat"]), "mountPath": paths})
    return st.fixed_dictionaries(
        {"name": st.just(name), "image": st.sampled_from(["registry.example/w:1", "busybox", "ruby:3.3"])},
        optional={
            "env": st.lists(env_entry, max_size=4),
            "volumeMounts": st.lists(mount, max_size=3, unique_by=lambda m: m["mountPath"]),
            "readinessProbe": exec_probe,
            "livenessProbe": exec_probe,
            "startupProbe": exec_probe,
            "lifecycle": lifecycle,
            "command": command,
        },
    )


@st.composite
def annotations(draw: st.DrawFn, container_names: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for key in draw(st.lists(st.sampled_from(sorted(GOOD_VALUES)), unique=True, max_size=5)):
        result[PREFIX + key] = draw(GOOD_VALUES[key])
    for key in draw(st.lists(st.sampled_from(sorted(BAD_VALUES)), unique=True, max_size=2)):
        result[PREFIX + key] = draw(BAD_VALUES[key])
    if draw(st.booleans()):
        result[PREFIX + "container"] = draw(st.sampled_from(container_names))
    # Keys people write: unicode, '/' and '~' (JSON pointer specials), autoscaler keys, misspellings.
    others = st.one_of(
        st.text(min_size=1, max_size=15),
        st.sampled_from(
            [
                "a/b~c",
                "~0~1",
                "example.com/ä",
                "cluster-autoscaler.kubernetes.io/safe-to-evict",
                "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes",
                "kubectl.kubernetes.io/default-container",
                PREFIX + "readines-max-age",
                PREFIX + "ünïcode",
            ]
        ),
    )
    for key in draw(st.lists(others, max_size=3)):
        result[key] = draw(st.one_of(any_text, st.sampled_from(container_names), st.just("data,cache")))
    return result


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(dns_label, min_size=1, max_size=3, unique=True))
    spec: dict[str, Any] = {"containers": [draw(container(name)) for name in names]}
    volumes = draw(
        st.lists(st.sampled_from(["data", "cache", "workerguard-heartbeat", "workerguard-heartbeat-2"]), unique=True, max_size=3)
    )
    if volumes:
        spec["volumes"] = [{"name": name, "emptyDir": {}} for name in volumes]
    if draw(st.booleans()):
        spec["initContainers"] = [
            {"name": "init-" + names[0], "image": "busybox"},
            {"name": "sidecar-" + names[0], "image": "envoy", "restartPolicy": "Always"},
        ]
    if draw(st.booleans()):
        spec["ephemeralContainers"] = [{"name": "debug-" + names[0], "image": "busybox"}]
    if draw(st.booleans()):
        spec["terminationGracePeriodSeconds"] = draw(st.integers(0, 1000))
    if draw(st.integers(0, 9)) == 0:
        spec["os"] = {"name": "windows"}
    labels = draw(st.dictionaries(st.sampled_from(["app", "tier"]), dns_label, max_size=2))
    inject = draw(st.sampled_from(["true", "true", "true", "false", None]))
    if inject is not None:
        labels["workerguard.io/inject"] = inject
    metadata: dict[str, Any] = {"name": "p-" + names[0], "labels": labels, "annotations": draw(annotations(names))}
    namespace = draw(st.sampled_from(["jobs", "billing", "kube-system", "workerguard", None]))
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


WRAPPERS = {
    "Pod": None,
    "Deployment": ("apps/v1", lambda t: {"selector": {"matchLabels": {"x": "y"}}, "template": t}),
    "StatefulSet": ("apps/v1", lambda t: {"selector": {"matchLabels": {"x": "y"}}, "serviceName": "s", "template": t}),
    "Job": ("batch/v1", lambda t: {"template": t}),
    "CronJob": ("batch/v1", lambda t: {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": t}}}),
}


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    """A Pod, or a workload whose pod template is a generated pod."""
    pod = draw(pods())
    kind = draw(st.sampled_from(sorted(WRAPPERS)))
    if kind == "Pod":
        return pod
    api_version, spec = WRAPPERS[kind]  # type: ignore[misc]
    template = {"metadata": {k: v for k, v in pod["metadata"].items() if k in ("labels", "annotations")}, "spec": pod["spec"]}
    if kind in ("Job", "CronJob"):
        template["spec"] = {**template["spec"], "restartPolicy": "Never"}
    metadata = {"name": "w", **({"namespace": pod["metadata"]["namespace"]} if "namespace" in pod["metadata"] else {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec(template)}
