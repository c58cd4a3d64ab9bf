"""probe-transport: http. Readiness and liveness asked over HTTP of workerguard-probe, a native sidecar
that judges the same heartbeat files the exec scripts judge, instead of a runtime exec per run
(docs/probes.md has the cost of each).

The startup probe stays exec: only the worker's own container can tell that a beat is its own (the
beat must not predate the container), and it runs only until the worker has booted.
"""

from __future__ import annotations

import copy

from webhook.core import probes
from webhook.core.errors import Problem
from webhook.core.settings import Settings
from webhook.core.types import JSONObject

PROBE_SERVER_NAME = "workerguard-probe"
PROBE_PORT = 9478
PROBE_PORT_NAME = "wg-probe"
READY_PATH = "/ready"
LIVE_PATH = "/live"
HEALTH_PATH = "/healthz"
# The server's own liveness: kubelet restarts a hung server within two periods, long before the
# worker's liveness could count three failures (LIVENESS_FAILURE_THRESHOLD runs, a liveness period
# apart, at least the probe period): docs/probes.md has the arithmetic.
SERVER_PROBE_PERIOD = 10
SERVER_FAILURE_THRESHOLD = 2
# A hung server ignores SIGTERM: without a grace of its own, kubelet would wait the pod's (605s for
# Celery's profile) before SIGKILL, and the worker's liveness would run out first.
SERVER_KILL_GRACE = 2
# How every container workerguard adds runs, as any restricted pod may: the emptyDir is writable by
# every user, and nothing else needs writing.
RESTRICTED_SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def uses_http(settings: Settings) -> bool:
    return settings.probe_transport == "http"


def server_container(settings: Settings, volume: str, image: str, binary: str) -> JSONObject:
    """The native sidecar: started before the worker, stopped after it, restarted when it dies."""
    arguments = [
        f"--listen=:{PROBE_PORT}",
        f"--heartbeat={settings.heartbeat_path}",
        f"--format={settings.heartbeat_format}",
        f"--readiness-max-age={settings.readiness_max_age}",
    ]
    if settings.liveness_max_age is not None:
        limit = probes.liveness_limit(settings.probe_period, settings.liveness_max_age)
        arguments += [f"--liveness-limit={limit}", f"--liveness-max-age={settings.liveness_max_age}"]
    return {
        "name": PROBE_SERVER_NAME,
        "image": image,
        "command": [binary, *arguments],
        "restartPolicy": "Always",
        "ports": [{"name": PROBE_PORT_NAME, "containerPort": PROBE_PORT, "protocol": "TCP"}],
        "volumeMounts": [{"name": volume, "mountPath": probes.heartbeat_directory(settings.heartbeat_path), "readOnly": True}],
        "livenessProbe": {
            "httpGet": {"path": HEALTH_PATH, "port": PROBE_PORT},
            "periodSeconds": SERVER_PROBE_PERIOD,
            "timeoutSeconds": 1,
            "failureThreshold": SERVER_FAILURE_THRESHOLD,
            "terminationGracePeriodSeconds": SERVER_KILL_GRACE,
        },
        "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
        "securityContext": copy.deepcopy(RESTRICTED_SECURITY_CONTEXT),
    }


def readiness_probe(settings: Settings) -> JSONObject:
    """The exec probe's schedule, so readiness fails at the same second."""
    return {**_get(READY_PATH), **probes.readiness_schedule(settings)}


def liveness_probe(settings: Settings, max_age: int) -> JSONObject:
    return {**_get(LIVE_PATH), **probes.liveness_schedule(settings, max_age)}


def _get(path: str) -> JSONObject:
    return {"httpGet": {"path": path, "port": PROBE_PORT}}


def refusals(spec: JSONObject, field_prefix: str) -> list[Problem]:
    """Where a port of the pod cannot be ours: the node's network, or a port a container already has."""
    problems = []
    if spec.get("hostNetwork") is True:
        problems.append(
            Problem(
                f"{field_prefix}spec.hostNetwork",
                f"probe-transport http serves on port {PROBE_PORT}, which hostNetwork would take on the node; use probe-transport exec",
            )
        )
    for group in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(group) or []):
            for j, port in enumerate(container.get("ports") or [] if isinstance(container, dict) else []):
                if isinstance(port, dict) and port.get("containerPort") == PROBE_PORT:
                    problems.append(
                        Problem(
                            f"{field_prefix}spec.{group}[{i}].ports[{j}]",
                            f"port {PROBE_PORT} is workerguard-probe's for probe-transport http; use probe-transport exec",
                        )
                    )
        if any(isinstance(c, dict) and c.get("name") == PROBE_SERVER_NAME for c in spec.get(group) or []):
            problems.append(Problem(f"{field_prefix}spec.{group}", f"a container is already named {PROBE_SERVER_NAME}"))
    return problems
