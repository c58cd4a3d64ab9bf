"""The rules file: profiles and rules, validated whole, and matching rules against a pod.

profiles:
  long-sidekiq: {base: sidekiq, description: ..., set: {shutdown-timeout: 10m}}
rules:
  - name: billing
    match: {namespaces: [billing-*], labels: {app: sidekiq}, annotations: {}, images: ["*/billing:*"]}
    set: {profile: long-sidekiq, prestop-sleep: 5s}
    mode: shadow          # optional: enforce (the default) or shadow (core.mode)
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args, Literal

from webhook.core.annotations import INJECT_LABEL
from webhook.core.errors import Problem, RulesError, SettingError
from webhook.core.profiles import BUILTIN_PROFILES, Profile
from webhook.core.settings import check_relations, Layer, parse_setting, resolve, SPECS
from webhook.core.workload import PodView

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_MATCH_KEYS = ("namespaces", "labels", "annotations", "images")
_RULE_KEYS = ("name", "match", "set", "mode")

# Whether an admission changes anything: shadow plans as enforce does, then admits untouched (core.mode).
Mode = Literal["enforce", "shadow"]
MODES: tuple[Mode, ...] = get_args(Mode)


@dataclass(frozen=True, slots=True)
class Target:
    """What a rule can see of a pod."""

    namespace: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    images: Sequence[str]


def pod_target(pod: PodView, namespace: str) -> Target:
    """What a rule sees of the pod created in namespace: its string labels and annotations, and its
    containers' images."""
    containers = pod.spec.get("containers")
    # Shadow mode matches pods planning refuses, malformed containers included.
    listed = containers if isinstance(containers, list) else []
    images = [c["image"] for c in listed if isinstance(c, dict) and isinstance(c.get("image"), str)]
    return Target(namespace, _strings(pod.labels), _strings(pod.annotations), images)


def _strings(mapping: Mapping[str, object]) -> dict[str, str]:
    return {key: value for key, value in mapping.items() if isinstance(value, str)}


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    index: int
    namespaces: tuple[re.Pattern[str], ...] = ()
    labels: tuple[tuple[str, re.Pattern[str]], ...] = ()
    annotations: tuple[tuple[str, re.Pattern[str]], ...] = ()
    images: tuple[re.Pattern[str], ...] = ()
    profile: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    mode: Mode = "enforce"

    def matches(self, target: Target) -> bool:
        if self.namespaces and not any(glob.match(target.namespace) for glob in self.namespaces):
            return False
        if not _map_matches(self.labels, target.labels) or not _map_matches(self.annotations, target.annotations):
            return False
        return not self.images or any(glob.match(image) for glob in self.images for image in target.images)

    def layer(self) -> Layer:
        origin = {key: f"rules[{self.index}] ({self.name}).set.{key}" for key in self.values}
        return Layer(f"rule:{self.name}", self.values, origin)


def _map_matches(wanted: Sequence[tuple[str, re.Pattern[str]]], actual: Mapping[str, str]) -> bool:
    return all(key in actual and glob.match(actual[key]) for key, glob in wanted)


@dataclass(frozen=True, slots=True)
class RuleSet:
    profiles: Mapping[str, Profile]
    rules: tuple[Rule, ...] = ()
    # The only labels planning reads (the opt-in label and those the rules match on) and the annotations
    # the rules match on: a pod's other labels and annotations cannot change which rules match.
    label_keys: frozenset[str] = field(init=False)
    annotation_keys: frozenset[str] = field(init=False)
    # The rules that say mode: shadow; without any, deciding the mode costs no matching.
    shadow_rules: tuple[Rule, ...] = field(init=False)

    def __post_init__(self) -> None:
        labels = {INJECT_LABEL, *(key for rule in self.rules for key, _ in rule.labels)}
        object.__setattr__(self, "label_keys", frozenset(labels))
        object.__setattr__(self, "annotation_keys", frozenset(key for rule in self.rules for key, _ in rule.annotations))
        object.__setattr__(self, "shadow_rules", tuple(rule for rule in self.rules if rule.mode == "shadow"))

    def matching(self, target: Target) -> list[Rule]:
        return [rule for rule in self.rules if rule.matches(target)]


BUILTIN_RULES = RuleSet(BUILTIN_PROFILES)


def parse_rules(document: object) -> RuleSet:
    """Validate a loaded rules document; raise RulesError listing every problem."""
    if document is None:
        return BUILTIN_RULES
    problems: list[Problem] = []
    if not isinstance(document, dict):
        raise RulesError([Problem("(top level)", "the rules file must be a mapping with profiles and rules")])
    for key in document:
        if key not in ("profiles", "rules"):
            problems.append(Problem(str(key), "unknown top-level key; expected profiles and rules"))
    profiles, broken = _parse_profiles(document.get("profiles") or {}, problems)
    rules = _parse_rule_list(document.get("rules") or [], profiles, broken, problems)
    if problems:
        raise RulesError(problems)
    return RuleSet(profiles, tuple(rules))


def _parse_profiles(raw: object, problems: list[Problem]) -> tuple[dict[str, Profile], set[str]]:
    """The usable profiles, and the names of those defined with problems (already reported, so a rule
    that names one is not reported again as naming an unknown profile). A profile's problems are all
    found: a bad name or base does not hide those of its set."""
    profiles = dict(BUILTIN_PROFILES)
    broken: set[str] = set()
    if not isinstance(raw, dict):
        problems.append(Problem("profiles", "must be a mapping of profile name to profile"))
        return profiles, broken
    for name, body in raw.items():
        where = f"profiles.{name}"
        usable = True
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            problems.append(Problem(where, "a profile name must be a DNS label (lowercase letters, digits, -)"))
            usable = False
        elif name in BUILTIN_PROFILES:
            problems.append(Problem(where, f"'{name}' is a built-in profile; pick another name and use base: {name}"))
            usable = False
        if not isinstance(body, dict):
            problems.append(Problem(where, "must be a mapping with base, description and set"))
            broken.add(str(name))
            continue
        _unknown_keys(body, ("base", "description", "set"), where, problems)
        base_name = body.get("base", "generic")
        base = BUILTIN_PROFILES.get(base_name) if isinstance(base_name, str) else None
        if base is None:
            problems.append(Problem(f"{where}.base", f"'{base_name}' is not a built-in profile: {', '.join(BUILTIN_PROFILES)}"))
        settings = _parse_settings(body.get("set") or {}, f"{where}.set", problems, allow_profile=False)
        if base is None:  # without its base, the profile's values are unknown: no relation to check
            broken.add(str(name))
            continue
        values = {**base.values, **settings}
        origin = {key: f"{where}.set.{key}" for key in values}
        profile = Profile(str(name), str(body.get("description", "")), values, {}, origin)
        relation_problems, _ = check_relations(resolve([profile.layer()]))
        problems.extend(relation_problems)
        if usable:
            profiles[str(name)] = profile
        else:
            broken.add(str(name))
    return profiles, broken


def _parse_rule_list(raw: object, profiles: Mapping[str, Profile], broken: set[str], problems: list[Problem]) -> list[Rule]:
    """Every rule's problems, all of them: a bad name does not hide those of its set and match."""
    if not isinstance(raw, list):
        problems.append(Problem("rules", "must be a list of rules"))
        return []
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, body in enumerate(raw):
        name = body.get("name") if isinstance(body, dict) else None
        where = f"rules[{index}]" + (f" ({name})" if isinstance(name, str) else "")
        if not isinstance(body, dict):
            problems.append(Problem(where, "must be a mapping with name, match and set"))
            continue
        _unknown_keys(body, _RULE_KEYS, where, problems)
        named = isinstance(name, str) and _NAME.fullmatch(name) is not None
        if not named:
            problems.append(Problem(f"{where}.name", "every rule needs a name that is a DNS label"))
        elif name in seen:
            problems.append(Problem(f"{where}.name", f"duplicate rule name '{name}'"))
        if isinstance(name, str):
            seen.add(name)
        settings = _parse_settings(body.get("set") or {}, f"{where}.set", problems, allow_profile=True)
        profile = settings.pop("profile", None)
        if profile is not None and profile not in profiles and profile not in broken:
            problems.append(Problem(f"{where}.set.profile", f"unknown profile '{profile}'"))
        mode = _parse_mode(body.get("mode", "enforce"), f"{where}.mode", problems)
        match = body.get("match") or {}
        if not isinstance(match, dict):
            problems.append(Problem(f"{where}.match", "must be a mapping"))
            continue
        _unknown_keys(match, _MATCH_KEYS, f"{where}.match", problems)
        rule = Rule(
            name=str(name),
            index=index,
            namespaces=_glob_list(match.get("namespaces"), f"{where}.match.namespaces", problems),
            labels=_glob_map(match.get("labels"), f"{where}.match.labels", problems),
            annotations=_glob_map(match.get("annotations"), f"{where}.match.annotations", problems),
            images=_glob_list(match.get("images"), f"{where}.match.images", problems),
            profile=profile,
            values=settings,
            mode=mode,
        )
        if named:
            rules.append(rule)
    return rules


def _parse_mode(raw: object, where: str, problems: list[Problem]) -> Mode:
    for mode in MODES:
        if raw == mode:
            return mode
    problems.append(Problem(where, f"{raw!r} is not a mode; expected {' or '.join(MODES)}"))
    return "enforce"


def _parse_settings(raw: object, where: str, problems: list[Problem], *, allow_profile: bool) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.append(Problem(where, "must be a mapping of setting name to value"))
        return {}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "profile" and allow_profile:
            if isinstance(value, str):
                values["profile"] = value
            else:
                problems.append(Problem(f"{where}.profile", f"{value!r} is not a profile name"))
        elif key in SPECS:
            try:
                values[key] = parse_setting(key, value)
            except SettingError as error:
                problems.append(Problem(f"{where}.{key}", str(error)))
        else:
            known = ", ".join(sorted(SPECS) + (["profile"] if allow_profile else []))
            problems.append(Problem(f"{where}.{key}", f"unknown setting; known: {known}"))
    return values


def _glob(pattern: object, where: str, problems: list[Problem]) -> re.Pattern[str] | None:
    if isinstance(pattern, bool) or not isinstance(pattern, (str, int)):
        problems.append(Problem(where, f"{pattern!r} is not a glob string"))
        return None
    return re.compile(fnmatch.translate(str(pattern)))


def _glob_list(raw: object, where: str, problems: list[Problem]) -> tuple[re.Pattern[str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(Problem(where, "must be a list of globs"))
        return ()
    globs = (_glob(item, f"{where}[{i}]", problems) for i, item in enumerate(raw))
    return tuple(glob for glob in globs if glob is not None)


def _glob_map(raw: object, where: str, problems: list[Problem]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        problems.append(Problem(where, "must be a mapping of key to glob"))
        return ()
    pairs = ((str(key), _glob(value, f"{where}.{key}", problems)) for key, value in raw.items())
    return tuple((key, glob) for key, glob in pairs if glob is not None)


def _unknown_keys(body: Mapping[str, object], allowed: Sequence[str], where: str, problems: list[Problem]) -> None:
    for key in body:
        if key not in allowed:
            problems.append(Problem(f"{where}.{key}", f"unknown key; expected {', '.join(allowed)}"))
