"""Shared helpers: pod builders and validation against the official Kubernetes schemas."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
from hypothesis import HealthCheck, settings

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


@pytest.fixture
def admission_log_at_info() -> Iterator[None]:
    """The admission logger at INFO, as `serve` configures it, whatever the test process set before."""
    logger = logging.getLogger("workerguard.admission")
    before = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(before)
