"""Turning plans into what a person reads: the preview JSON, YAML, the bare patch, or a unified diff."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from typing import Any

import yaml

from webhook.core.plan import Plan

# These skips already speak through errors or warnings; the others are said as a warning in previews only.
_SILENT_SKIPS = frozenset({"invalid", "invalid_allowed", "windows_pod"})


def preview_result(plan: Plan) -> dict[str, Any]:
    warnings = [warning.as_dict() for warning in plan.warnings]
    if plan.skip is not None and plan.skip.code not in _SILENT_SKIPS:
        warnings.append(plan.skip.as_dict())
    return {
        "allowed": plan.allowed,
        "patch": plan.patch,
        "object": plan.mutated(),
        "explanations": [explanation.as_dict() for explanation in plan.explanations],
        "warnings": warnings,
        "errors": [problem.as_dict() for problem in plan.errors],
    }


def _dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1_000_000)


def render(plans: Sequence[Plan], output: str) -> str:
    """Text for `workerguard preview -o OUTPUT`; one plan per input document."""
    if output == "json":
        results = [preview_result(plan) for plan in plans]
        return json.dumps(results[0] if len(results) == 1 else results, indent=2) + "\n"
    if output == "patch":
        patches = [plan.patch for plan in plans]
        return json.dumps(patches[0] if len(patches) == 1 else patches, indent=2) + "\n"
    if output == "diff":
        return "".join(_diff(plan, number) for number, plan in enumerate(plans, start=1))
    return "---\n".join(_dump_yaml(plan.mutated()) + _summary(plan) for plan in plans)


def page_result(plan: Plan, number: int) -> dict[str, Any]:
    """What the web page shows: the preview JSON, the object's name, and a full-context line diff
    ([" ", line], ["+", line], ["-", line]) so the page can highlight what was injected."""
    result = preview_result(plan)
    before = _dump_yaml(plan.source).splitlines()
    after = _dump_yaml(result["object"]).splitlines()
    lines = list(difflib.unified_diff(before, after, lineterm="", n=max(len(before), len(after))))[2:]
    diff = [[line[0], line[1:]] for line in lines if not line.startswith("@@")] or [[" ", line] for line in before]
    return {"name": _name(plan, number), **result, "diff": diff}


def _name(plan: Plan, number: int) -> str:
    metadata = plan.source.get("metadata") or {}
    name = metadata.get("name") or metadata.get("generateName") or f"document-{number}"
    return f"{plan.source.get('kind', 'object')}/{name}"


def _diff(plan: Plan, number: int) -> str:
    name = _name(plan, number)
    before = _dump_yaml(plan.source).splitlines(keepends=True)
    after = _dump_yaml(plan.mutated()).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, f"a/{name}", f"b/{name}")) + _summary(plan)


def _summary(plan: Plan) -> str:
    """Explanations, warnings and errors as YAML comments, so -o yaml stays valid YAML."""
    lines = []
    if plan.skip is not None:
        lines.append(f"# skipped ({plan.skip.code}): {plan.skip.message}")
    lines += [f"# error: {problem}" for problem in plan.errors]
    lines += [f"# warning ({warning.code}): {warning.message}" for warning in plan.warnings]
    lines += [f"# {item.setting} = {item.value}  <- {item.source}" for item in plan.explanations]
    return "".join(f"{line}\n" for line in lines)
