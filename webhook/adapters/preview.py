"""Previews: each plan described once (describe), then shown as the CLI's YAML, JSON, patch or diff,
as POST /preview's JSON, or as the page's JSON with a line diff. The server runs answer_preview in a
worker process of its own."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import orjson
import yaml

from webhook.adapters.documents import load_objects, parse_json
from webhook.adapters.rulesfile import parse_rules_text
from webhook.core import reasons
from webhook.core.errors import DocumentError, RulesError
from webhook.core.plan import Plan, plan, PlanOptions
from webhook.core.rules import RuleSet
from webhook.core.types import JSONObject, PatchOp

PAGE_PREVIEW_TYPE = "application/vnd.workerguard.preview+json"

# These skips already speak through errors or warnings; the others are said as a warning in previews only.
_SILENT_SKIPS = frozenset({reasons.INVALID, reasons.INVALID_ALLOWED, reasons.WINDOWS_POD})


PreviewOutput = Literal["yaml", "json", "patch", "diff"]


class Described(TypedDict):
    """One planned object as every preview shows it: the CLI, POST /preview and the page."""

    name: str
    allowed: bool
    patch: list[PatchOp]
    object: JSONObject
    explanations: list[dict[str, Any]]
    warnings: list[dict[str, str]]
    errors: list[dict[str, str]]


def describe(plan: Plan, number: int = 1) -> Described:
    """`number` names an object that has no name of its own: document-N, counting from 1."""
    warnings = [warning.as_dict() for warning in plan.warnings]
    if plan.skip is not None and plan.skip.reason not in _SILENT_SKIPS:
        warnings.append(plan.skip.as_dict())
    return {
        "name": _name(plan, number),
        "allowed": plan.allowed,
        "patch": plan.patch,
        "object": plan.mutated(),
        "explanations": [explanation.as_dict() for explanation in plan.explanations],
        "warnings": warnings,
        "errors": [problem.as_dict() for problem in plan.errors],
    }


def render(plans: Sequence[Plan], output: PreviewOutput) -> str:
    """Text for `workerguard preview -o OUTPUT`; one description per input document."""
    described = _describe_all(plans)
    if output == "json":
        return json.dumps(_one_or_all(described), indent=2) + "\n"
    if output == "patch":
        return json.dumps(_one_or_all([item["patch"] for item in described]), indent=2) + "\n"
    if output == "diff":
        return "".join(_unified_diff(plan, item) + _summary(plan) for plan, item in zip(plans, described, strict=True))
    return "---\n".join(_dump_yaml(item["object"]) + _summary(plan) for plan, item in zip(plans, described, strict=True))


def _describe_all(plans: Sequence[Plan]) -> list[Described]:
    return [describe(plan, number) for number, plan in enumerate(plans, start=1)]


def _one_or_all(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else items


def _dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1_000_000)


def _name(plan: Plan, number: int) -> str:
    metadata = plan.source.get("metadata") or {}
    name = metadata.get("name") or metadata.get("generateName") or f"document-{number}"
    return f"{plan.source.get('kind', 'object')}/{name}"


def _yaml_before_after(plan: Plan, item: Described, keepends: bool) -> tuple[list[str], list[str]]:
    return _dump_yaml(plan.source).splitlines(keepends), _dump_yaml(item["object"]).splitlines(keepends)


def _unified_diff(plan: Plan, item: Described) -> str:
    before, after = _yaml_before_after(plan, item, keepends=True)
    return "".join(difflib.unified_diff(before, after, f"a/{item['name']}", f"b/{item['name']}"))


def _line_diff(plan: Plan, item: Described) -> list[list[str]]:
    """The page's full-context diff: [" ", line], ["+", line], ["-", line], so it can highlight what was injected."""
    before, after = _yaml_before_after(plan, item, keepends=False)
    lines = list(difflib.unified_diff(before, after, lineterm="", n=max(len(before), len(after))))[2:]
    return [[line[0], line[1:]] for line in lines if not line.startswith("@@")] or [[" ", line] for line in before]


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
    plans = [plan(obj, request.rules, request.options, request.namespace) for obj in objects]
    return 200, orjson.dumps(_one_or_all(_describe_all(plans)))


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
    plans = [plan(obj, rules, request.options, namespace) for obj in objects]
    results = [{**item, "diff": _line_diff(planned, item)} for planned, item in zip(plans, _describe_all(plans), strict=True)]
    return 200, orjson.dumps({"results": results})
