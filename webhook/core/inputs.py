"""What planning reads of an object, gathered into one value: the PlanningInput. plan_input() is handed
it and nothing else, so two objects with equal inputs get equal plans, and the server keys its memo of
verdicts by the input."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from webhook.core.annotations import DEFAULT_CONTAINER, PREFIX, SAFE_TO_EVICT, SAFE_TO_EVICT_LOCAL_VOLUMES
from webhook.core.rules import BUILTIN_RULES, RuleSet
from webhook.core.sidecars import ISTIO_CONFIG, LINKERD_WAIT
from webhook.core.types import JSONObject
from webhook.core.workload import grace_period_written

# The fields of a Pod's spec that planning reads; planning_input() drops the others, so planning sees
# none of them. Reading one more means naming it here. Pods may differ in what is left out and still
# share a verdict: a StatefulSet's hostname, a DaemonSet's node affinity, a node name.
PLANNED_SPEC_FIELDS = ("containers", "initContainers", "volumes", "terminationGracePeriodSeconds", "os", "hostNetwork")
# The annotations planning reads besides workerguard.io/* and those the rules match on (labels: only
# those the rules match on, RuleSet.label_keys, which holds the opt-in label). The meshes' keys say how
# their proxies stop (core.sidecars).
READ_ANNOTATIONS = frozenset({DEFAULT_CONTAINER, SAFE_TO_EVICT, SAFE_TO_EVICT_LOCAL_VOLUMES, ISTIO_CONFIG, LINKERD_WAIT})


@dataclass(frozen=True, slots=True)
class PlanningInput:
    """Everything planning reads: where the object is created, and the object as planning sees it.

    For a Pod that is its kind, the spec's PLANNED_SPEC_FIELDS and, of its labels and annotations, only
    the keys planning reads; a missing or malformed map stays as it is. Anything else counts whole.
    plan_input() (core.plan) sees nothing but this value, so equal inputs get equal plans, and the server remembers
    verdicts by key()."""

    namespace: str | None
    obj: JSONObject
    # Whether the author wrote the grace period (workload.grace_period_written): for a Pod, read from
    # metadata planning otherwise leaves out.
    grace_written: bool | None = None

    def key(self) -> bytes:
        return orjson.dumps((self.namespace, self.grace_written, self.obj))  # JSON from parse_json: serializable again


def planning_input(obj: JSONObject, rules: RuleSet = BUILTIN_RULES, namespace: str | None = None) -> PlanningInput:
    """`namespace` is where the object is created: the request's namespace, or the one a preview names.
    Without it, the object's own metadata.namespace counts (controller-made pods carry none)."""
    namespace = namespace or _metadata_namespace(obj)
    metadata, spec = obj.get("metadata"), obj.get("spec")
    grace_written = grace_period_written(obj)
    if obj.get("kind") != "Pod" or not isinstance(metadata, dict) or not isinstance(spec, dict):
        return PlanningInput(namespace, obj, grace_written)
    seen: JSONObject = {}
    if "labels" in metadata:
        seen["labels"] = _read_labels(metadata["labels"], rules)
    if "annotations" in metadata:
        seen["annotations"] = _read_annotations(metadata["annotations"], rules)
    planned_spec = {key: spec[key] for key in PLANNED_SPEC_FIELDS if key in spec}
    return PlanningInput(namespace, {"kind": "Pod", "metadata": seen, "spec": planned_spec}, grace_written)


def _read_labels(labels: object, rules: RuleSet) -> object:
    """A map whose other keys are all that differ plans the same as an empty one; a missing map, or a
    malformed one, counts as it is (the same for annotations)."""
    if not isinstance(labels, dict):
        return labels
    return {key: labels[key] for key in sorted(labels.keys() & rules.label_keys)}


def _read_annotations(annotations: object, rules: RuleSet) -> object:
    if not isinstance(annotations, dict):
        return annotations
    keys = rules.annotation_keys
    return {key: value for key, value in annotations.items() if key.startswith(PREFIX) or key in READ_ANNOTATIONS or key in keys}


def _metadata_namespace(obj: JSONObject) -> str | None:
    metadata = obj.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) else None
