"""Turning plans into what a person reads: the preview JSON, YAML, the bare patch, or a unified diff;
and the whole answer to a POST /preview, which the server runs in a worker process of its own."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from webhook.core import reasons
from webhook.core.plan import Plan, plan, PlanOptions
from webhook.core.rules import RulesError, RuleSet
from webhook.documents import DocumentError, load_objects, parse_json
from webhook.rulesfile import parse_rules_text

PAGE_PREVIEW_TYPE = "application/vnd.workerguard.preview+json"

# These skips already speak through errors or warnings; the others are said as a warning in previews only.
_SILENT_SKIPS = frozenset({reasons.INVALID, reasons.INVALID_ALLOWED, reasons.WINDOWS_POD})


def preview_result(plan: Plan) -> dict[str, Any]:
    warnings = [warning.as_dict() for warning in plan.warnings]
    if plan.skip is not None and plan.skip.reason not in _SILENT_SKIPS:
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


@dataclass(frozen=True, slots=True)
class PreviewRequest:
    """A POST /preview: its body, whether it is the page's envelope, and the server's rules and options."""

    body: bytes
    page: bool
    namespace: str | None
    rules: RuleSet
    options: PlanOptions


def answer_preview(request: PreviewRequest) -> tuple[int, bytes]:
    """HTTP status and JSON body. Pure but for CPU: big YAML takes seconds, so the server never runs it
    on the loop that answers admissions."""
    try:
        if request.page:
            return _page_answer(request)
        objects = load_objects(request.body)
    except DocumentError as error:
        return 400, orjson.dumps({"error": str(error)})
    results = [preview_result(plan(obj, request.rules, request.options, request.namespace)) for obj in objects]
    return 200, orjson.dumps(results[0] if len(results) == 1 else results)


def _page_answer(request: PreviewRequest) -> tuple[int, bytes]:
    """The page's envelope: {"documents": YAML text, "rules": optional YAML text, "namespace": optional}."""
    envelope = parse_json(request.body)
    if not isinstance(envelope, dict) or not isinstance(envelope.get("documents"), str):
        return 400, orjson.dumps({"error": 'expected {"documents": text, "rules": text, "namespace": text}'})
    rules_text, namespace = envelope.get("rules"), envelope.get("namespace")
    try:
        rules = parse_rules_text(rules_text) if isinstance(rules_text, str) and rules_text.strip() else request.rules
    except RulesError as error:
        problems = [problem.as_dict() for problem in error.problems]
        return 400, orjson.dumps({"error": "the rules file is invalid", "problems": problems})
    objects = load_objects(envelope["documents"])
    namespace = namespace if isinstance(namespace, str) else None
    results = [page_result(plan(obj, rules, request.options, namespace), n) for n, obj in enumerate(objects, start=1)]
    return 200, orjson.dumps({"results": results})

