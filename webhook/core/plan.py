"""plan(object, rules) -> Plan: the one decision that /mutate, /preview and `workerguard preview` share."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

import jsonpatch
import orjson

from webhook import __version__
from webhook.core import probes
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
from webhook.core.inject import carries_injection, inject, paths_by_setting, ProbeHelper
from webhook.core.profiles import DEFAULT_PROFILE
from webhook.core.rules import BUILTIN_RULES, Rule, RuleSet, Target
from webhook.core.settings import check_relations, resolve, Resolved, SPECS
from webhook.core.types import Explanation, JSONObject, PatchOp, PlanWarning, Problem, Skip, WARNINGS_MAX
from webhook.core.workload import container_shape_problems, locate_pod, PodView, shape_problems, ShapeError

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public"})


@dataclass(frozen=True, slots=True)
class PlanOptions:
    """Deployment-wide choices. `namespace` is the request's namespace (controller-made pods carry none)."""

    namespace: str | None = None
    own_namespace: str = "workerguard"
    on_invalid: str = "deny"
    # Where probe-shell: bundled takes its static busybox from (server settings).
    probe_helper: ProbeHelper = ProbeHelper()


@dataclass(frozen=True, slots=True)
class Chosen:
    """What an injection decided, kept so explanations can be built when someone asks for them."""

    settings: Resolved
    shaped: list[tuple[str, tuple[str, ...]]]
    profile_source: str
    container: str
    container_source: str


@dataclass(frozen=True, slots=True)
class Plan:
    source: JSONObject
    allowed: bool
    patch: list[PatchOp]
    warnings: list[PlanWarning] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    skip: Skip | None = None
    profile: str | None = None
    rules: tuple[str, ...] = ()
    chosen: Chosen | None = None

    @property
    def explanations(self) -> list[Explanation]:
        """Every resolved setting with its value, source and the injected paths it shaped (preview only:
        /mutate never needs them, so they are not built on its path)."""
        if self.chosen is None or self.profile is None:
            return []
        chosen, settings = self.chosen, self.chosen.settings
        affects = paths_by_setting(chosen.shaped)
        return [
            Explanation("profile", self.profile, chosen.profile_source, ()),
            Explanation("container", chosen.container, chosen.container_source, tuple(affects.get("container", ()))),
            *(
                Explanation(key, settings.render(key), settings.sources[key], tuple(affects.get(key, ())))
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


def plan(obj: JSONObject, rules: RuleSet = BUILTIN_RULES, options: PlanOptions = PlanOptions()) -> Plan:
    try:
        pod = locate_pod(obj)
    except ShapeError as error:
        return _deny_or_allow(obj, [Problem(error.field, error.message)], [], options)
    if pod is None:
        return _skipped(obj, Skip("unsupported_kind", f"kind {obj.get('kind')!r} holds no pod template"))
    namespace = options.namespace or _metadata_namespace(obj)
    if namespace in SYSTEM_NAMESPACES or namespace == options.own_namespace:
        return _skipped(obj, Skip("excluded_namespace", f"namespace '{namespace}' is never mutated"))
    if not isinstance(pod.metadata.get("labels", {}), dict) or pod.labels.get(INJECT_LABEL) != "true":
        return _skipped(obj, Skip("not_opted_in", f'the pod is not labelled {INJECT_LABEL}: "true"'))
    shape = shape_problems(pod)
    if shape:
        return _deny_or_allow(obj, shape, [], options)
    if isinstance(pod.spec.get("os"), dict) and pod.spec["os"].get("name") == "windows":
        warning = PlanWarning("windows_pod", "Windows pods have no POSIX shell for exec probes: left untouched")
        return _skipped(obj, Skip(warning.code, warning.message), [warning])
    if STATUS in pod.annotations:
        return _skipped(obj, Skip("already_injected", f"{STATUS} is present: already injected"))
    return _plan_injection(obj, pod, namespace or "", rules, options)


def _plan_injection(obj: JSONObject, pod: PodView, namespace: str, rules: RuleSet, options: PlanOptions) -> Plan:
    target = Target(namespace, _strings(pod.labels), _strings(pod.annotations), _images(pod))
    matched = rules.matching(target)
    decision = _decision(pod, matched, rules)
    problems = list(decision.problems)
    settings = decision.settings
    if settings is None:
        return _deny_or_allow(obj, problems, [], options)
    chosen = _target_container(pod, settings, problems)
    if problems or chosen is None:
        return _deny_or_allow(obj, problems, list(decision.warnings), options)
    index, container_source = chosen
    shape = container_shape_problems(pod, index)
    if shape:
        return _deny_or_allow(obj, shape, list(decision.warnings), options)
    if carries_injection(pod, index, settings["heartbeat-path"]):
        return _skipped(obj, Skip("already_injected", "it already carries workerguard's heartbeat volume, mount and env"))
    settings, status, said = _with_command_timeout(pod, index, settings, decision)
    step = inject(pod, index, settings, {STATUS: status}, options.probe_helper)
    if step.problems:
        return _deny_or_allow(obj, step.problems, list(decision.warnings), options)
    container_name = pod.spec["containers"][index]["name"]
    return Plan(
        obj,
        allowed=True,
        patch=step.builder.ops,
        warnings=_capped([*decision.warnings, *said, *step.warnings]),
        profile=decision.profile,
        rules=decision.rule_names,
        chosen=Chosen(settings, step.shaped, decision.profile_source, container_name, container_source),
    )


@dataclass(frozen=True, slots=True)
class Decision:
    """What the profile, the matched rules and the pod's own annotations decide, before its containers count."""

    profile: str
    profile_source: str
    rule_names: tuple[str, ...]
    settings: Resolved | None  # None: the profile is unknown
    problems: tuple[Problem, ...]
    warnings: tuple[PlanWarning, ...]
    status: str


DECISIONS_MAX = 1024


def _decision(pod: PodView, matched: list[Rule], rules: RuleSet) -> Decision:
    """Decided once per question under these rules: replicas and similar pods ask the same one, and
    parsing, layering and the status digest measured about a third of plan()."""
    own = tuple((key, value) for key, value in pod.annotations.items() if key.startswith(PREFIX))
    key = (pod.field_prefix, tuple(rule.index for rule in matched), own)
    try:
        return rules.decisions[key]  # type: ignore[no-any-return]
    except KeyError:
        pass
    except TypeError:  # an annotation that is not a string (a problem to report): nothing to remember it by
        return _decide(pod, matched, rules)
    if len(rules.decisions) >= DECISIONS_MAX:
        rules.decisions.clear()
    decision = rules.decisions[key] = _decide(pod, matched, rules)
    return decision


def _decide(pod: PodView, matched: list[Rule], rules: RuleSet) -> Decision:
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
        return Decision(profile_name, profile_source, rule_names, None, tuple(problems), (), "")
    settings = resolve([profile.layer(), *(rule.layer() for rule in matched), own.layer])
    relation_problems, warnings = check_relations(settings)
    if not relation_problems:
        warnings += probes.budget_warnings(settings)
    status = _status(profile_name, rule_names, settings)
    return Decision(profile_name, profile_source, rule_names, settings, (*problems, *relation_problems), tuple(warnings), status)


def _with_command_timeout(
    pod: PodView, index: int, settings: Resolved, decision: Decision
) -> tuple[Resolved, str, list[PlanWarning]]:
    """The worker's own command knows how long it waits on SIGTERM (Sidekiq's -t): that beats a default
    or a profile, and an annotation or rule that says otherwise is worth a warning."""
    found = command_timeout(pod.spec["containers"][index])
    current, source = settings["shutdown-timeout"], settings.sources["shutdown-timeout"]
    if found is None or found.seconds == current:
        return settings, decision.status, []
    if source == "default" or source.startswith("profile:"):
        where = f"{pod.field_prefix}spec.containers[{index}].{found.field}"
        settings = settings.with_value("shutdown-timeout", found.seconds, "command", where)
        return settings, _status(decision.profile, decision.rule_names, settings), []
    warning = PlanWarning(
        "shutdown_timeout_differs_from_command",
        f"shutdown-timeout {current}s, but the command says {found.said}",
    )
    return settings, decision.status, [warning]


def _choose_profile(annotated: str | None, matched: Iterable[Rule]) -> tuple[str, str]:
    """The pod's annotation wins, else the last matching rule that names a profile, else generic."""
    if annotated is not None:
        return annotated, f"annotation:{PROFILE}"
    chosen = (DEFAULT_PROFILE, "default")
    for rule in matched:
        if rule.profile is not None:
            chosen = (rule.profile, f"rule:{rule.name}")
    return chosen


def _target_container(pod: PodView, settings: Resolved, problems: list[Problem]) -> tuple[int, str] | None:
    """The index of the container to inject and the source that chose it."""
    names = [container["name"] for container in pod.spec["containers"]]
    wanted, source = settings["container"], settings.sources["container"]
    where = settings.origins.get("container", source)
    if wanted is None and isinstance(pod.annotations.get(DEFAULT_CONTAINER), str):
        wanted, source = pod.annotations[DEFAULT_CONTAINER], f"annotation:{DEFAULT_CONTAINER}"
        where = annotation_field(pod.field_prefix, DEFAULT_CONTAINER)
    if wanted is None:
        return 0, "default (first container)"
    if wanted in names:
        return names.index(wanted), source
    problems.append(Problem(where, f"no container named '{wanted}'; containers: {', '.join(names)}"))
    return None


def _status(profile: str, rule_names: tuple[str, ...], settings: Resolved) -> str:
    body = {"version": __version__, "profile": profile, "rules": list(rule_names), "settings": settings.digest()}
    # orjson writes the compact form json.dumps(separators=(",", ":")) would, in a twentieth of the time;
    # every name in it is a validated DNS label, so there is nothing to escape either way.
    return orjson.dumps(body).decode()


def _metadata_namespace(obj: JSONObject) -> str | None:
    metadata = obj.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) else None


def _strings(mapping: dict[str, object]) -> dict[str, str]:
    return {key: value for key, value in mapping.items() if isinstance(value, str)}


def _images(pod: PodView) -> list[str]:
    return [c["image"] for c in pod.spec.get("containers", []) if isinstance(c, dict) and isinstance(c.get("image"), str)]


def _skipped(obj: JSONObject, skip: Skip, warnings: list[PlanWarning] | None = None) -> Plan:
    return Plan(obj, allowed=True, patch=[], warnings=warnings or [], skip=skip)


def _deny_or_allow(obj: JSONObject, problems: list[Problem], warnings: list[PlanWarning], options: PlanOptions) -> Plan:
    """An invalid opted-in pod is denied, or with on-invalid=allow admitted untouched with the errors as warnings."""
    if options.on_invalid == "allow":
        as_warnings = [PlanWarning("invalid_setting", str(problem)) for problem in problems]
        return Plan(
            obj,
            allowed=True,
            patch=[],
            warnings=_capped([*as_warnings, *warnings]),
            errors=problems,
            skip=Skip("invalid_allowed", "invalid settings; admitted untouched (on-invalid=allow)"),
        )
    return Plan(
        obj,
        allowed=False,
        patch=[],
        warnings=_capped(warnings),
        errors=problems,
        skip=Skip("invalid", "invalid settings; denied (on-invalid=deny)"),
    )


def _capped(warnings: list[PlanWarning]) -> list[PlanWarning]:
    if len(warnings) <= WARNINGS_MAX:
        return warnings
    hidden = len(warnings) - WARNINGS_MAX + 1
    return [*warnings[: WARNINGS_MAX - 1], PlanWarning("more_warnings", f"{hidden} more warnings; run workerguard preview")]
