"""Shared helpers: pod builders, validation against the official Kubernetes schemas, golden files, and
the busybox and process helpers the real-shell tests share."""

from __future__ import annotations

import copy
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TYPE_CHECKING

import kubernetes_validate
import pytest
from hypothesis import HealthCheck, settings

from webhook.core.annotations import STATUS
from webhook.core.plan import plan
from webhook.core.workload import locate_pod

if TYPE_CHECKING:
    from webhook.server.metrics import Metrics

# `make test` runs a few hundred examples per property; `make fuzz` (HYPOTHESIS_PROFILE=fuzz) 10,000.
settings.register_profile("default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The Kubernetes minor whose OpenAPI schemas every mutated object must satisfy (strict: no unknown fields).
KUBERNETES_VERSION = "1.33"


def validate(obj: dict[str, Any]) -> None:
    """Raise AssertionError with the schema's first complaint when obj is not a valid object."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = "/".join(str(part) for part in error.path)
        raise AssertionError(f"schema: {error.message} at {path}") from None


def make_pod(
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    namespace: str | None = "jobs",
    **container: Any,
) -> dict[str, Any]:
    """An opted-in pod with one container named 'worker'; keyword arguments go into that container."""
    metadata: dict[str, Any] = {"name": "worker-1", "labels": {"workerguard.io/inject": "true", **(labels or {})}}
    if namespace is not None:
        metadata["namespace"] = namespace
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [{"name": "worker", "image": "registry.example/worker:1.0", **container}]},
    }


@pytest.fixture
def pod() -> dict[str, Any]:
    return make_pod()


def deep(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj)


WORKLOADS = {
    "Deployment": ("apps/v1", ("spec", "template")),
    "StatefulSet": ("apps/v1", ("spec", "template")),
    "DaemonSet": ("apps/v1", ("spec", "template")),
    "ReplicaSet": ("apps/v1", ("spec", "template")),
    "Job": ("batch/v1", ("spec", "template")),
    "CronJob": ("batch/v1", ("spec", "jobTemplate", "spec", "template")),
}


def workload_of(kind: str, pod: dict[str, Any]) -> dict[str, Any]:
    """A workload of that kind whose pod template is the pod."""
    pod = deep(pod)
    template = {
        "metadata": {"labels": pod["metadata"]["labels"], "annotations": pod["metadata"].get("annotations", {})},
        "spec": pod["spec"],
    }
    if kind == "Job" or kind == "CronJob":
        template["spec"]["restartPolicy"] = "Never"
    node: dict[str, Any] = {"template": template}
    if kind == "CronJob":
        node = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": node}}
    elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        node["selector"] = {"matchLabels": {"workerguard.io/inject": "true"}}
    return {"apiVersion": WORKLOADS[kind][0], "kind": kind, "metadata": {"name": "w", "namespace": "jobs"}, "spec": node}


def injected_with(obj: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    """obj injected while its pod carried these extra annotations, which are then taken away again:
    what a committed preview output looks like once the settings it was made with have changed."""
    marked = deep(obj)
    pod = locate_pod(marked)
    assert pod is not None
    pod.metadata.setdefault("annotations", {}).update(annotations)
    mutated = plan(marked).mutated()
    located = locate_pod(mutated)
    assert located is not None
    for key in annotations:
        del located.metadata["annotations"][key]
    return mutated


def without_status(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy without workerguard.io/status, as tools that tidy exported manifests leave it."""
    stripped = deep(obj)
    pod = locate_pod(stripped)
    assert pod is not None
    del pod.metadata["annotations"][STATUS]
    return stripped


def count(metrics: Metrics, name: str, **labels: str) -> float:
    """A metric's sample with these labels; 0 when it was never counted."""
    return metrics.registry.get_sample_value(name, labels) or 0.0


UPDATE_GOLDEN = os.environ.get("WORKERGUARD_UPDATE_GOLDEN") == "1"


def golden_text(golden: Path, actual: str) -> str:
    """The golden file's text; with WORKERGUARD_UPDATE_GOLDEN=1, actual is written there first."""
    if UPDATE_GOLDEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual)
    assert golden.exists(), f"{golden} is missing: run with WORKERGUARD_UPDATE_GOLDEN=1 and review it"
    return golden.read_text()


@pytest.fixture(scope="session")
def busybox_path() -> Iterator[str]:
    """A PATH directory holding only busybox's applets, so cat, date, stat, sleep and rm are busybox's own:
    as on Alpine, or in a distroless sidecar whose only shell is the busybox we copy in."""
    busybox = shutil.which("busybox")
    assert busybox, "busybox is not installed: apt-get install busybox-static (make test installs it)"
    directory = tempfile.mkdtemp(prefix="wg-busybox-")
    subprocess.run([busybox, "--install", "-s", directory], check=True)
    yield directory
    shutil.rmtree(directory)


def pid1_of(unshared: int) -> int:
    """PID 1 of the namespace `unshare --pid --fork` (process `unshared`) made, as the host sees it: its
    child. 0 while it has none yet."""
    found = subprocess.run(["pgrep", "-P", str(unshared)], capture_output=True, text=True).stdout.split()
    return int(found[0]) if found else 0


@pytest.fixture
def admission_log_at_info() -> Iterator[None]:
    """The admission logger at INFO, as `serve` configures it, whatever the test process set before."""
    logger = logging.getLogger("workerguard.admission")
    before = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(before)
