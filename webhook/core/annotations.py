"""The workerguard.io/* keys and reading a pod's own annotations into a settings layer."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from webhook.core.errors import Problem, SettingError
from webhook.core.settings import Layer, parse_setting, SPECS

PREFIX = "workerguard.io/"
INJECT_LABEL = PREFIX + "inject"
PROFILE = PREFIX + "profile"
STATUS = PREFIX + "status"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict"
SAFE_TO_EVICT_LOCAL_VOLUMES = "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"

SETTING_KEYS = {PREFIX + key: key for key in SPECS}
KNOWN = frozenset({PROFILE, STATUS, *SETTING_KEYS})


@dataclass(frozen=True, slots=True)
class PodAnnotations:
    profile: str | None
    layer: Layer
    problems: list[Problem]


def annotation_field(prefix: str, key: str) -> str:
    return f"{prefix}metadata.annotations[{key}]"


def read_pod_annotations(annotations: Mapping[str, object], field_prefix: str = "") -> PodAnnotations:
    """Parse every workerguard.io/* annotation, collecting every problem rather than stopping at the first."""
    values: dict[str, object] = {}
    origin: dict[str, str] = {}
    problems: list[Problem] = []
    profile: str | None = None
    for key, raw in annotations.items():
        if not key.startswith(PREFIX):
            continue
        where = annotation_field(field_prefix, key)
        if not isinstance(raw, str):
            problems.append(Problem(where, _not_a_string(raw)))
        elif key == PROFILE:
            profile = raw
        elif key in SETTING_KEYS:
            setting = SETTING_KEYS[key]
            try:
                values[setting] = parse_setting(setting, raw)
                origin[setting] = where
            except SettingError as error:
                problems.append(Problem(where, str(error)))
        elif key != STATUS:
            problems.append(Problem(where, _unknown_key_message(key)))
    layer = Layer(f"annotation:{PREFIX}{{key}}", values, origin)
    return PodAnnotations(profile, layer, problems)


def _unknown_key_message(key: str) -> str:
    close = difflib.get_close_matches(key, sorted(KNOWN), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unknown workerguard annotation{hint}"


def _not_a_string(raw: object) -> str:
    """Annotation values are strings; YAML turns unquoted off, true, 90 into something else."""
    if isinstance(raw, bool):
        return f'YAML read an unquoted value as the boolean {str(raw).lower()}: quote it, as in "off" or "{str(raw).lower()}"'
    if isinstance(raw, int | float):
        return f'YAML read {raw} as a number: quote it, as in "{raw}"'
    return f"{raw!r} is not a string"
