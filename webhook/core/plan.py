"""plan(object, rules, options, namespace) -> Plan: the one planning /mutate, /validate, /preview and
`workerguard preview` share. It reads one value, the PlanningInput that planning_input() builds, and
nothing else. Pure: nothing is remembered between calls (the server owns the only cache)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

import jsonpatch
import orjson

from webhook import __version__
from webhook.core import probes, reasons, reinject
from webhook.core.annotations import (
    annotation_field,
    DEFAULT_CONTAINER,
    INJECT_LABEL,
    PREFIX,
    PROFILE,
    read_pod_annotations,
    STATUS,
)
from webhook.core.commands import command_timeout
from webhook.core.errors import Problem, ShapeError
from webhook.core.inject import adds_safe_to_evict, inject, paths_by_setting, ProbeHelper
from webhook.core.inputs import planning_input, PlanningInput
from webhook.core.profiles import DEFAULT_PROFILE
from webhook.core.risks import dangerous_probe, PROBE_FIELDS
from webhook.core.rules import BUILTIN_RULES, pod_target, Rule, RuleSet
from webhook.core.settings import check_relations, resolve, Resolved, SPECS
from webhook.core.types import Explanation, Finding, JSONObject, PatchOp
from webhook.core.workload import container_shape_problems, locate_pod, PodView, shape_problems

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public"})
TRANSPORT_ANNOTATION = PREFIX + "probe-transport"


OnInvalid = Literal["deny", "allow"]


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """Deployment-wide choices, the same for every request a server answers."""

    own_namespace: str = "workerguard"
    on_invalid: OnInvalid = "deny"
    # Where probe-shell: bundled takes its static busybox from (server settings).
    probe_helper: ProbeHelper = ProbeHelper()


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where each injected value came from, kept so explanations can be built when someone asks for them."""

    resolved: Resolved
    shaped: list[tuple[str, str]]  # (injected path, its part in inject.SHAPED_BY)
    profile_source: str
    container: str
    container_source: str


@dataclass(frozen=True, slots=True)
class Plan:
    source: JSONObject
    allowed: bool
    patch: list[PatchOp]
    warnings: list[Finding] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    skip: Finding | None = None
    notes: list[Finding] = field(default_factory=list)  # said in previews beside the explanation, never to kubectl
    profile: str | None = None
    rules: tuple[str, ...] = ()
    provenance: Provenance | None = None

    @property
    def explanations(self) -> list[Explanation]:
        """Every resolved setting with its value, source and the injected paths it shaped (preview only:
        /mutate never needs them, so they are not built on its path)."""
        if self.provenance is None or self.profile is None:
            return []
        provenance, resolved = self.provenance, self.provenance.resolved
        affects = paths_by_setting(provenance.shaped)
        return [
            Explanation("profile", self.profile, provenance.profile_source, ()),
            Explanation("container", provenance.container, provenance.container_source, tuple(affects.get("container", ()))),
            *(
                Explanation(key, resolved.render(key), resolved.sources[key], tuple(affects.get(key, ())))
                for key in SPECS
                if key != "container"
            ),
        ]

    def mutated(self) -> JSONObject:
        """The object with the patch applied; computed on demand since /mutate never needs it."""
        if not self.patch:
            return copy.deepcopy(self.source)
        # jsonpatch 1.33 inserts values as they are: the result gets copies of its own, so editing it
        # never edits this plan's patch.
        mutated: JSONObject = jsonpatch.apply_patch(self.source, copy.deepcopy(self.patch), in_place=False)
        return mutated


def plan(
    obj: JSONObject, rules: RuleSet = BUILTIN_RULES, options: PlanOptions = PlanOptions(), namespace: str | None = None
) -> Plan:
    """The plan for obj created in namespace (core.inputs.planning_input), whose mutated() applies to obj."""
    planned = plan_input(planning_input(obj, rules, namespace), rules, options)
    return planned if planned.source is obj else replace(planned, source=obj)


def plan_input(given: PlanningInput, rules: RuleSet = BUILTIN_RULES, options: PlanOptions = PlanOptions()) -> Plan:
    """The plan for what planning_input() gave; its source is given.obj."""
    obj, namespace = given.obj, given.namespace
    try:
        pod = locate_pod(obj)
    except ShapeError as error:
        return _deny_or_allow(obj, [Problem(error.field, error.message)], [], options)
    if pod is None:
        return _skipped(obj, Finding(reasons.UNSUPPORTED_KIND, f"kind {obj.get('kind')!r} holds no pod template"))
    if namespace in SYSTEM_NAMESPACES or namespace == options.own_namespace:
        return _skipped(obj, Finding(reasons.EXCLUDED_NAMESPACE, f"namespace '{namespace}' is never mutated"))
    if not isinstance(pod.metadata.get("labels", {}), dict) or pod.labels.get(INJECT_LABEL) != "true":
        return _skipped(obj, Finding(reasons.NOT_OPTED_IN, _not_opted_in(pod)))
    shape = shape_problems(pod)
    if shape:
        return _deny_or_allow(obj, shape, [], options)
    if isinstance(pod.spec.get("os"), dict) and pod.spec["os"].get("name") == "windows":
        if pod.annotations.get(TRANSPORT_ANNOTATION) == "http":
            # Asked for by name: a refusal says why it cannot be, where a skip would keep quiet.
            message = "workerguard-probe is a Linux program and Windows pods have no POSIX shell for exec either; remove it"
            return _deny_or_allow(obj, [Problem(annotation_field(pod.field_prefix, TRANSPORT_ANNOTATION), message)], [], options)
        windows = Finding(reasons.WINDOWS_POD, "Windows pods have no POSIX shell for exec probes: left untouched")
        return _skipped(obj, windows, [windows])
    if STATUS in pod.annotations or reinject.carries_earlier_injection(pod):
        return _replanned(given, rules, options)
    return _plan_injection(obj, pod, namespace or "", given.grace_written, rules, options)


def _replanned(given: PlanningInput, rules: RuleSet, options: PlanOptions) -> Plan:
    """An object that carries an earlier injection, brought to what the current rules say: the earlier
    one taken out (core.reinject), the object planned afresh, and the patch from the object as it is to
    that result. The same rules give the object as it is: no patch, skipped as already injected."""
    obj = given.obj
    stripped, earlier = reinject.strip(obj)
    fresh = plan_input(replace(given, obj=stripped), rules, options)
    if not fresh.patch:
        return replace(fresh, source=obj)
    result = fresh.mutated()
    if reinject.without_status(result) == reinject.without_status(obj):
        # Also where a tool stripped the status annotation: the content is what the rules say.
        return _skipped(obj, Finding(reasons.ALREADY_INJECTED, "already injected as the current rules say"))
    patch: list[PatchOp] = jsonpatch.make_patch(obj, result).patch
    what = f"workerguard {earlier.version}, settings {earlier.settings}" if earlier.version else "an earlier workerguard"
    note = Finding(reasons.REINJECTED, f"replaced the injection of {what} with what the current rules say")
    return replace(fresh, source=obj, patch=patch, notes=[note, *fresh.notes])


def _plan_injection(
    obj: JSONObject, pod: PodView, namespace: str, grace_written: bool | None, rules: RuleSet, options: PlanOptions
) -> Plan:
    matched = rules.matching(pod_target(pod, namespace))
    chosen_settings = _pod_settings(pod, matched, rules)
    problems = list(chosen_settings.problems)
    resolved = chosen_settings.resolved
    if resolved is None:
        return _deny_or_allow(obj, problems, [], options)
    chosen = _target_container(pod, resolved, problems)
    if problems or chosen is None:
        return _deny_or_allow(obj, problems, list(chosen_settings.warnings), options)
    index, container_source = chosen
    shape = container_shape_problems(pod, index)
    if shape:
        return _deny_or_allow(obj, shape, list(chosen_settings.warnings), options)
    resolved, said = _with_command_timeout(pod, index, resolved)
    status = _status(chosen_settings.profile, chosen_settings.rule_names, resolved, pod)
    step = inject(pod, index, resolved.settings, {STATUS: status}, options.probe_helper, grace_written)
    if step.problems:
        return _deny_or_allow(obj, step.problems, list(chosen_settings.warnings), options)
    container_name = pod.spec["containers"][index]["name"]
    return Plan(
        obj,
        allowed=True,
        patch=step.builder.ops,
        warnings=[*chosen_settings.warnings, *said, *step.warnings, *_dangerous_kept(pod, index, resolved)],
        notes=step.notes,
        profile=chosen_settings.profile,
        rules=chosen_settings.rule_names,
        provenance=Provenance(resolved, step.shaped, chosen_settings.profile_source, container_name, container_source),
    )


@dataclass(frozen=True, slots=True)
class PodSettings:
    """The settings that the profile, the matched rules and the pod's own annotations give, before its
    containers count."""

    profile: str
    profile_source: str
    rule_names: tuple[str, ...]
    resolved: Resolved | None  # None: the profile is unknown
    problems: tuple[Problem, ...]
    warnings: tuple[Finding, ...]


def _pod_settings(pod: PodView, matched: list[Rule], rules: RuleSet) -> PodSettings:
    own = read_pod_annotations(pod.annotations, pod.field_prefix)
    problems = list(own.problems)
    profile_name, profile_source = _choose_profile(own.profile, matched)
    rule_names = tuple(rule.name for rule in matched)
    profile = rules.profiles.get(profile_name)
    if profile is None:
        problems.append(
            Problem(
                annotation_field(pod.field_prefix, PROFILE),
                f"unknown profile '{profile_name}'; known: {', '.join(rules.profiles)}",
            )
        )
        return PodSettings(profile_name, profile_source, rule_names, None, tuple(problems), ())
    resolved = resolve([profile.layer(), *(rule.layer() for rule in matched), own.layer])
    relation_problems, warnings = check_relations(resolved)
    if not relation_problems:
        warnings += probes.budget_warnings(resolved.settings)
    return PodSettings(profile_name, profile_source, rule_names, resolved, (*problems, *relation_problems), tuple(warnings))


def _with_command_timeout(pod: PodView, index: int, resolved: Resolved) -> tuple[Resolved, list[Finding]]:
    """The worker's own command knows how long it waits on SIGTERM (Sidekiq's -t): that beats a default
    or a profile, and an annotation or rule that says otherwise is worth a warning."""
    found = command_timeout(pod.spec["containers"][index])
    current, source = resolved.settings.shutdown_timeout, resolved.sources["shutdown-timeout"]
    if found is None or found.seconds == current:
        return resolved, []
    if source == "default" or source.startswith("profile:"):
        where = f"{pod.field_prefix}spec.containers[{index}].{found.field}"
        return resolved.with_value("shutdown-timeout", found.seconds, "command", where), []
    warning = Finding(
        reasons.SHUTDOWN_TIMEOUT_DIFFERS_FROM_COMMAND,
        f"shutdown-timeout {current}s, but the command says {found.said}",
    )
    return resolved, [warning]


def _choose_profile(annotated: str | None, matched: Iterable[Rule]) -> tuple[str, str]:
    """The pod's annotation wins, else the last matching rule that names a profile, else generic."""
    if annotated is not None:
        return annotated, f"annotation:{PROFILE}"
    chosen = (DEFAULT_PROFILE, "default")
    for rule in matched:
        if rule.profile is not None:
            chosen = (rule.profile, f"rule:{rule.name}")
    return chosen


def _target_container(pod: PodView, resolved: Resolved, problems: list[Problem]) -> tuple[int, str] | None:
    """The index of the container to inject and the source that chose it."""
    names = [container["name"] for container in pod.spec["containers"]]
    wanted, source = resolved.settings.container, resolved.sources["container"]
    where = resolved.origins.get("container", source)
    if wanted is None and isinstance(pod.annotations.get(DEFAULT_CONTAINER), str):
        wanted, source = pod.annotations[DEFAULT_CONTAINER], f"annotation:{DEFAULT_CONTAINER}"
        where = annotation_field(pod.field_prefix, DEFAULT_CONTAINER)
    if wanted is None:
        return 0, "default (first container)"
    if wanted in names:
        return names.index(wanted), source
    problems.append(Problem(where, f"no container named '{wanted}'; containers: {', '.join(names)}"))
    return None


def _status(profile: str, rule_names: tuple[str, ...], resolved: Resolved, pod: PodView) -> str:
    """Who injected with what, and what a later re-injection cannot tell from the content: the grace
    period before (null: unset) and whether safe-to-evict is workerguard's (core.reinject)."""
    body = {
        "version": __version__,
        "profile": profile,
        "rules": list(rule_names),
        "settings": resolved.digest(),
        reinject.STATUS_GRACE: pod.spec.get("terminationGracePeriodSeconds"),
        reinject.STATUS_EVICT: adds_safe_to_evict(pod, resolved.settings),
    }
    # orjson writes the compact form json.dumps(separators=(",", ":")) would, and faster
    # (docs/performance.md); every name in it is a validated DNS label, so there is nothing to escape.
    return orjson.dumps(body).decode()


# What audit calls each dangerous probe, said shortly enough for kubectl's 120 characters.
_DANGER = {
    reasons.PROBE_BOOTS_APP.code: "boots the app",
    reasons.PROBE_ASKS_BROKER.code: "asks the broker",
    reasons.PROBE_WITHOUT_SERVER.code: "checks a server the pod lacks",
}


def _dangerous_kept(pod: PodView, index: int, resolved: Resolved) -> list[Finding]:
    """A probe the injection kept (override-probes off) that audit would call dangerous, with audit's
    code: one vocabulary for what hurts a worker, whether found by audit or at apply time."""
    if resolved.settings.override_probes:
        return []
    container = pod.spec["containers"][index]
    found = []
    for field_name in PROBE_FIELDS:
        danger = dangerous_probe(container, field_name, pod.spec)
        if danger is not None:
            message = f"kept {field_name} of '{container['name']}' {_DANGER[danger.code]}; override-probes checks the heartbeat"
            found.append(Finding(danger.reason, message))
    return found


def _not_opted_in(pod: PodView) -> str:
    """Why the pod is not opted in, with the hint an unquoted YAML value needs (true is a boolean there,
    and a label value must be a string)."""
    labels = pod.metadata.get("labels")
    value = labels.get(INJECT_LABEL) if isinstance(labels, dict) else None
    if value is True:
        return f'{INJECT_LABEL}: true is a YAML boolean, not the string "true": quote it'
    return f'the pod is not labelled {INJECT_LABEL}: "true"'


def _skipped(obj: JSONObject, skip: Finding, warnings: list[Finding] | None = None) -> Plan:
    return Plan(obj, allowed=True, patch=[], warnings=warnings or [], skip=skip)


def _deny_or_allow(obj: JSONObject, problems: list[Problem], warnings: list[Finding], options: PlanOptions) -> Plan:
    """An invalid opted-in pod is denied, or with on-invalid=allow admitted untouched with the errors as warnings."""
    if options.on_invalid == "allow":
        as_warnings = [Finding(reasons.INVALID_SETTING, str(problem)) for problem in problems]
        return Plan(
            obj,
            allowed=True,
            patch=[],
            warnings=[*as_warnings, *warnings],
            errors=problems,
            skip=Finding(reasons.INVALID_ALLOWED, "invalid settings; admitted untouched (on-invalid=allow)"),
        )
    return Plan(
        obj,
        allowed=False,
        patch=[],
        warnings=warnings,
        errors=problems,
        skip=Finding(reasons.INVALID, "invalid settings; denied (on-invalid=deny)"),
    )
