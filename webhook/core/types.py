"""Value types shared by the core: problems, warnings, explanations and the JSON aliases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JSON = Any
JSONObject = dict[str, Any]
PatchOp = dict[str, Any]

# The apiserver truncates admission warnings longer than this.
WARNING_MAX_CHARS = 120
WARNINGS_MAX = 10


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with the input, located by a field path a user can find."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class PlanWarning:
    """A non-fatal finding with a stable snake_case code (used in logs, metrics and CLI output)."""

    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    def admission_text(self) -> str:
        text = f"workerguard {self.code}: {self.message}"
        if len(text) > WARNING_MAX_CHARS:
            text = text[: WARNING_MAX_CHARS - 3] + "..."
        return text


# Every reason an object is left untouched: a fixed set, so metrics labelled by it stay bounded.
SKIP_CODES = frozenset(
    {
        "operation_ignored",
        "not_a_pod",
        "not_a_workload",
        "unsupported_kind",
        "excluded_namespace",
        "not_opted_in",
        "windows_pod",
        "already_injected",
        "invalid_allowed",
        "invalid",
    }
)


@dataclass(frozen=True, slots=True)
class Skip:
    """Why an object was left untouched, as a stable reason code (one of SKIP_CODES) and one sentence."""

    code: str
    message: str

    def __post_init__(self) -> None:
        if self.code not in SKIP_CODES:
            raise ValueError(f"unknown skip code {self.code!r}: add it to SKIP_CODES and the docs")

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Explanation:
    """One resolved setting: its value, where it came from, and which injected paths it shaped."""

    setting: str
    value: str
    source: str
    paths: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "value": self.value, "source": self.source, "paths": list(self.paths)}
