"""Where the pod lives inside an object: a Pod itself, or the pod template of a workload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from webhook.core.errors import Problem, ShapeError
from webhook.core.types import JSONObject

TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True, slots=True)
class PodView:
    """The pod's metadata and spec, with the JSON pointer and the field path they sit at."""

    kind: str
    pointer: str
    field_prefix: str
    metadata: JSONObject
    spec: JSONObject

    @property
    def labels(self) -> dict[str, Any]:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, dict) else {}

    @property
    def annotations(self) -> dict[str, Any]:
        annotations = self.metadata.get("annotations")
        return annotations if isinstance(annotations, dict) else {}


def locate_pod(obj: JSONObject) -> PodView | None:
    """The pod inside obj, None for a kind that holds no pod; ShapeError when the object is malformed."""
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in TEMPLATE_PATHS:
        return None
    node: Any = obj
    for depth, key in enumerate(TEMPLATE_PATHS[kind]):
        node = node.get(key)
        if not isinstance(node, dict):
            raise ShapeError(".".join(TEMPLATE_PATHS[kind][: depth + 1]), "must be a mapping")
    path = TEMPLATE_PATHS[kind]
    prefix = "".join(f"{key}." for key in path)
    metadata = node.get("metadata", {})
    spec = node.get("spec")
    if not isinstance(metadata, dict):
        raise ShapeError(f"{prefix}metadata", "must be a mapping")
    if not isinstance(spec, dict):
        raise ShapeError(f"{prefix}spec", "must be a mapping")
    return PodView(kind, "".join(f"/{key}" for key in path), prefix, metadata, spec)


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def grace_period_written(obj: JSONObject) -> bool | None:
    """Whether the author of obj wrote its pod's terminationGracePeriodSeconds, where the object can
    say: the manifest client-side `kubectl apply` records, or a server-side apply entry of managedFields
    (it lists only the fields its manager wrote). None where it cannot: an apiserver's default and an
    author's value then look the same."""
    kind, metadata = obj.get("kind"), obj.get("metadata")
    if not isinstance(kind, str) or kind not in TEMPLATE_PATHS or not isinstance(metadata, dict):
        return None
    path = (*TEMPLATE_PATHS[kind], "spec", "terminationGracePeriodSeconds")
    annotations = metadata.get("annotations")
    applied = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if isinstance(applied, str):
        try:
            manifest = orjson.loads(applied)
        except orjson.JSONDecodeError:
            manifest = None
        if isinstance(manifest, dict):
            return _holds(manifest, path)
    entries = metadata.get("managedFields")
    applies = (
        [entry for entry in entries if isinstance(entry, dict) and entry.get("operation") == "Apply"]
        if isinstance(entries, list)
        else []
    )
    if applies:
        return any(_holds(entry.get("fieldsV1"), tuple(f"f:{key}" for key in path)) for entry in applies)
    return None


def _holds(node: object, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def _list_of_mappings(value: object, field: str, problems: list[Problem]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        problems.append(Problem(field, "must be a list of mappings"))
        return []
    return value


def shape_problems(pod: PodView) -> list[Problem]:
    """Pod-level fields the injection reads, checked for the types the Kubernetes API guarantees."""
    problems: list[Problem] = []
    prefix = pod.field_prefix
    for name in ("labels", "annotations"):
        value = pod.metadata.get(name)
        if value is not None and not isinstance(value, dict):
            problems.append(Problem(f"{prefix}metadata.{name}", "must be a mapping"))
    grace = pod.spec.get("terminationGracePeriodSeconds")
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)):
        problems.append(Problem(f"{prefix}spec.terminationGracePeriodSeconds", "must be an integer"))
    _list_of_mappings(pod.spec.get("volumes"), f"{prefix}spec.volumes", problems)
    containers = pod.spec.get("containers")
    if not isinstance(containers, list) or not containers:
        problems.append(Problem(f"{prefix}spec.containers", "the pod has no containers"))
        return problems
    for i, container in enumerate(containers):
        if not isinstance(container, dict) or not isinstance(container.get("name"), str):
            problems.append(Problem(f"{prefix}spec.containers[{i}]", "must be a mapping with a name"))
    return problems


def container_shape_problems(pod: PodView, index: int) -> list[Problem]:
    """The target container's fields the injection reads (only this one: it is on every pod's hot path)."""
    problems: list[Problem] = []
    container = pod.spec["containers"][index]
    where = f"{pod.field_prefix}spec.containers[{index}]"
    for name, key in (("volumeMounts", "mountPath"), ("env", "name")):
        items = container.get(name)
        if items is None:
            continue
        if not isinstance(items, list):
            problems.append(Problem(f"{where}.{name}", "must be a list of mappings"))
            continue
        for j, item in enumerate(items):  # one pass: env lists are often long
            if not isinstance(item, dict):
                problems.append(Problem(f"{where}.{name}", "must be a list of mappings"))
                break
            if not isinstance(item.get(key), str):
                problems.append(Problem(f"{where}.{name}[{j}].{key}", "must be a string"))
    if container.get("lifecycle") is not None and not isinstance(container["lifecycle"], dict):
        problems.append(Problem(f"{where}.lifecycle", "must be a mapping"))
    for name in ("command", "args"):
        if container.get(name) is not None and not isinstance(container[name], list):
            problems.append(Problem(f"{where}.{name}", "must be a list of strings"))
    return problems
