"""audit(objects, rules, options) -> Audit: which workloads are workers, whether each is opted in, what
opting in would change (the plan preview gives for the object labelled to opt in), and the risks each
worker runs with today. Pure, like plan(): objects in, values out."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

from webhook.core import reasons
from webhook.core.annotations import INJECT_LABEL
from webhook.core.errors import ShapeError
from webhook.core.plan import Plan, plan, PlanOptions
from webhook.core.profiles import BUILTIN_PROFILES
from webhook.core.risks import can_cause_restart_storm, worker_risks
from webhook.core.rules import BUILTIN_RULES, RuleSet
from webhook.core.types import Finding, JSONObject
from webhook.core.workers import recognise, WorkerMatch
from webhook.core.workload import locate_pod, PodView, TEMPLATE_PATHS

DEFAULT_OPTIONS = PlanOptions()


@dataclass(frozen=True, slots=True)
class WorkloadAudit:
    """One object with a pod template. `injection` is what injection does to it today when it is opted
    in, and what it would do once opted in when it is not."""

    position: int  # its index among the objects audited
    kind: str
    name: str | None
    namespace: str | None
    worker: WorkerMatch | None
    opted_in: bool
    injection: Plan
    risks: tuple[Finding, ...]
    restart_storm: bool

    @property
    def is_worker(self) -> bool:
        """Recognised by a rule, or opted in: its owner says it is a worker."""
        return self.worker is not None or self.opted_in

    @property
    def injected(self) -> bool:
        """Opted in, and its pods get (or already carry) workerguard's injection."""
        if not self.opted_in or not self.injection.allowed:
            return False
        skip = self.injection.skip
        return bool(self.injection.patch) or (skip is not None and skip.reason == reasons.ALREADY_INJECTED)


@dataclass(frozen=True, slots=True)
class Summary:
    workloads: int
    workers: int
    not_opted_in: int
    not_injected: int  # opted in, yet denied or left untouched
    with_risks: int
    restart_storm: int
    others: int  # objects without a pod template, left out

    def sentence(self) -> str:
        """'7 workloads: 5 workers, 2 not opted in, 4 with risks, 1 with a probe that can cause a restart storm'."""
        parts = [_count(self.workers, "worker"), f"{self.not_opted_in} not opted in"]
        if self.not_injected:
            parts.append(f"{self.not_injected} opted in but not injected")
        parts += [f"{self.with_risks} with risks", f"{self.restart_storm} with a probe that can cause a restart storm"]
        text = f"{_count(self.workloads, 'workload')}: {', '.join(parts)}"
        if self.others:
            text += f"; {_count(self.others, 'other object')} without a pod template left out"
        return text


@dataclass(frozen=True, slots=True)
class Audit:
    workloads: tuple[WorkloadAudit, ...]
    others: int

    @property
    def summary(self) -> Summary:
        workers = [entry for entry in self.workloads if entry.is_worker]
        return Summary(
            workloads=len(self.workloads),
            workers=len(workers),
            not_opted_in=sum(not entry.opted_in for entry in workers),
            not_injected=sum(entry.opted_in and not entry.injected for entry in workers),
            with_risks=sum(bool(entry.risks) for entry in workers),
            restart_storm=sum(entry.restart_storm for entry in workers),
            others=self.others,
        )


def audit(
    objects: Sequence[JSONObject],
    rules: RuleSet = BUILTIN_RULES,
    options: PlanOptions = DEFAULT_OPTIONS,
    namespace: str | None = None,
) -> Audit:
    """namespace: where the objects are created, instead of their own metadata.namespace (as plan())."""
    entries = [audit_workload(obj, position, rules, options, namespace) for position, obj in enumerate(objects)]
    found = tuple(entry for entry in entries if entry is not None)
    return Audit(found, len(objects) - len(found))


def audit_workload(
    obj: JSONObject, position: int, rules: RuleSet, options: PlanOptions, namespace: str | None
) -> WorkloadAudit | None:
    """The audit of one object; None for an object that holds no pod."""
    kind = obj.get("kind")
    try:
        pod = locate_pod(obj)
    except ShapeError:  # plan() denies it and says why; there is no pod to judge
        return _malformed(obj, position, rules, options, namespace)
    if pod is None or not isinstance(kind, str):
        return None
    containers = pod.spec.get("containers")
    worker = recognise(containers if isinstance(containers, list) else [])
    opted_in = pod.labels.get(INJECT_LABEL) == "true"
    injection = plan(obj if opted_in else opted_in_copy(obj), rules, options, namespace)
    today = _as_it_runs(pod, injection if opted_in else None)
    risks: tuple[Finding, ...] = ()
    storm = False
    if worker is not None or opted_in:
        index = _worker_index(today, worker, injection)
        risks = tuple(worker_risks(today, index, _long_jobs_by_rule(worker)))
        storm = can_cause_restart_storm(_container(today, index), today.spec)
    return WorkloadAudit(position, kind, _name(obj), _namespace(obj, namespace), worker, opted_in, injection, risks, storm)


def opted_in_copy(obj: JSONObject) -> JSONObject:
    """A copy of obj whose pod carries workerguard.io/inject: "true" beside its other labels (replacing
    labels that are not a mapping). The caller has located the pod, so the path to it holds mappings."""
    opted = copy.deepcopy(obj)
    node = opted
    for key in TEMPLATE_PATHS[opted["kind"]]:
        node = node[key]
    metadata = node.setdefault("metadata", {})
    labels = metadata.get("labels")
    metadata["labels"] = {**(labels if isinstance(labels, dict) else {}), INJECT_LABEL: "true"}
    return opted


def _as_it_runs(pod: PodView, injection: Plan | None) -> PodView:
    """The pod as it runs: with today's injection applied when there is one."""
    if injection is None or not injection.patch:
        return pod
    located = locate_pod(injection.mutated())
    return located if located is not None else pod


def _worker_index(pod: PodView, worker: WorkerMatch | None, injection: Plan) -> int:
    """The worker's container: the one its rule recognised, else the one injection targets, else the first."""
    if worker is not None:
        return worker.index
    target = injection.provenance.container if injection.provenance is not None else None
    containers = pod.spec.get("containers")
    names = [c.get("name") if isinstance(c, dict) else None for c in containers] if isinstance(containers, list) else []
    return names.index(target) if target in names else 0


def _container(pod: PodView, index: int) -> object:
    containers = pod.spec.get("containers")
    return containers[index] if isinstance(containers, list) and 0 <= index < len(containers) else None


def _long_jobs_by_rule(worker: WorkerMatch | None) -> bool:
    """The rule's own profile keeps such workers from eviction (sidekiq, celery)."""
    if worker is None:
        return False
    profile = BUILTIN_PROFILES.get(worker.rule.profile)
    return profile is not None and profile.values.get("safe-to-evict") is False


def _malformed(obj: JSONObject, position: int, rules: RuleSet, options: PlanOptions, namespace: str | None) -> WorkloadAudit:
    kind = str(obj.get("kind"))
    injection = plan(obj, rules, options, namespace)
    return WorkloadAudit(position, kind, _name(obj), _namespace(obj, namespace), None, False, injection, (), False)


def _name(obj: JSONObject) -> str | None:
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return None
    name = metadata.get("name") or metadata.get("generateName")
    return name if isinstance(name, str) else None


def _namespace(obj: JSONObject, given: str | None) -> str | None:
    if given is not None:
        return given
    metadata = obj.get("metadata")
    found = metadata.get("namespace") if isinstance(metadata, dict) else None
    return found if isinstance(found, str) else None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
