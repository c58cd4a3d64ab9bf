"""Value types shared by the core: findings, explanations and the JSON aliases (problems: core.errors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webhook.core.reasons import MORE_WARNINGS, Reason

JSON = Any
JSONObject = dict[str, Any]
PatchOp = dict[str, Any]

# The apiserver truncates admission warnings longer than this.
WARNING_MAX_CHARS = 120
WARNINGS_MAX = 10


@dataclass(frozen=True, slots=True)
class Finding:
    """A reason from the vocabulary (webhook.core.reasons) and what it means for this object: a warning,
    or why the object was left untouched."""

    reason: Reason
    message: str

    @property
    def code(self) -> str:
        return self.reason.code

    def as_dict(self) -> dict[str, str]:
        return {"code": self.reason.code, "message": self.message}

    def admission_text(self) -> str:
        text = f"workerguard {self.reason.code}: {self.message}"
        if len(text) > WARNING_MAX_CHARS:
            text = text[: WARNING_MAX_CHARS - 3] + "..."
        return text


@dataclass(frozen=True, slots=True)
class Explanation:
    """One resolved setting: its value, where it came from, and which injected paths it shaped."""

    setting: str
    value: str
    source: str
    paths: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "value": self.value, "source": self.source, "paths": list(self.paths)}


def capped(warnings: list[Finding]) -> list[Finding]:
    """At most WARNINGS_MAX, the last of them saying how many more there are: what an admission
    response carries."""
    if len(warnings) <= WARNINGS_MAX:
        return warnings
    hidden = len(warnings) - WARNINGS_MAX + 1
    more = Finding(MORE_WARNINGS, f"{hidden} more warnings; run workerguard preview")
    return [*warnings[: WARNINGS_MAX - 1], more]
