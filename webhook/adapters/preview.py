"""Previews: each plan described once (describe), then shown as the CLI's YAML, JSON, patch or diff,
as POST /preview's JSON, or as the page's JSON with a line diff. The server runs answer_preview in a
worker process of its own."""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypedDict

import orjson
import yaml

from webhook.adapters.documents import load_objects, object_name, parse_json
from webhook.adapters.rulesfile import parse_rules_text
from webhook.core import reasons
from webhook.core.errors import DocumentError, RulesError
from webhook.core.inputs import planning_input
from webhook.core.mode import shadowing_rules
from webhook.core.plan import Plan, plan, PlanOptions
from webhook.core.rules import RuleSet
from webhook.core.types import Finding, JSONObject, PatchOp

PAGE_PREVIEW_TYPE = "application/vnd.workerguard.preview+json"

# These skips already speak through errors or warnings; the others are a preview's `skip`.
_SILENT_SKIPS = frozenset({reasons.INVALID, reasons.INVALID_ALLOWED, reasons.WINDOWS_POD})


PreviewOutput = Literal["yaml", "json", "patch", "diff"]


class Findings(TypedDict):
    """What a plan says of its object besides the object itself; audit shows it for each workload."""

    explanations: list[dict[str, Any]]
    skip: dict[str, str] | None  # why the object was left as it is, when nothing else says so
    warnings: list[dict[str, str]]
    notes: list[dict[str, str]]  # what the injection did that needs no action (never sent to kubectl)
    errors: list[dict[str, str]]


class Described(Findings):
    """One planned object as every preview shows it: the CLI, POST /preview and the page."""

    name: str
    allowed: bool
    patch: list[PatchOp]
    object: JSONObject


def preview_plan(obj: JSONObject, rules: RuleSet, options: PlanOptions, namespace: str | None = None) -> Plan:
    """plan(), and a note when a rule puts the object in shadow mode: a preview answers what would
    happen, and in shadow mode that is nothing. A namespace's shadow label is the cluster's to know."""
    planned = plan(obj, rules, options, namespace)
    shadowing = shadowing_rules(planning_input(obj, rules, namespace), rules)
    if not shadowing:
        return planned
    said = ("rule " if len(shadowing) == 1 else "rules ") + ", ".join(rule.name for rule in shadowing)
    note = Finding(
        reasons.SHADOW_MODE,
        f"shadow mode ({said}): the webhook admits this untouched, and logs and counts what is shown here",
    )
    return replace(planned, notes=[*planned.notes, note])


def describe(plan: Plan, number: int = 1) -> Described:
    """`number` names an object that has no name of its own: document-N, counting from 1."""
    return {
        "name": object_name(plan.source, number),
        "allowed": plan.allowed,
        "patch": plan.patch,
        "object": plan.mutated(),
        **findings(plan),
    }


def findings(plan: Plan) -> Findings:
    skip = plan.skip.as_dict() if plan.skip is not None and plan.skip.reason not in _SILENT_SKIPS else None
    return {
        "explanations": [explanation.as_dict() for explanation in plan.explanations],
        "skip": skip,
        "warnings": [warning.as_dict() for warning in plan.warnings],
        "notes": [note.as_dict() for note in plan.notes],
        "errors": [problem.as_dict() for problem in plan.errors],
    }


def render(plans: Sequence[Plan], output: PreviewOutput) -> str:
    """Text for `workerguard preview -o OUTPUT` on stdout; one description per input document. YAML carries
    why as # comments; a diff is only the diff (render_diff gives why beside it)."""
    described = _describe_all(plans)
    if output == "json":
        return json.dumps(_one_or_all(described), indent=2) + "\n"
    if output == "patch":
        return json.dumps(_one_or_all([item["patch"] for item in described]), indent=2) + "\n"
    if output == "diff":
        return "".join(diff for diff, _ in render_diff(plans))
    return "---\n".join(_dump_yaml(item["object"]) + _summary(plan) for plan, item in zip(plans, described, strict=True))


def render_diff(plans: Sequence[Plan]) -> list[tuple[str, str]]:
    """Each object's unified diff (empty when nothing changes), and why as # lines headed by its name,
    for stderr: a unified diff has no comments, so nothing else may go between its lines. A denied
    object's errors are left out of why: the denial says them."""
    parts = []
    for planned, item in zip(plans, _describe_all(plans), strict=True):
        why = _summary(planned, errors=planned.allowed)
        parts.append((_unified_diff(planned, item), f"# {item['name']}\n{why}" if why else ""))
    return parts


def _describe_all(plans: Sequence[Plan]) -> list[Described]:
    return [describe(plan, number) for number, plan in enumerate(plans, start=1)]


def _one_or_all(items: list[Any]) -> Any:
    return items[0] if len(items) == 1 else items


class _Dumper(yaml.SafeDumper):
    """safe_dump, but a multi-line string is written as a | block, as people write scripts and config
    files in ConfigMaps, rather than one long quoted line. The emitter keeps quoting what a block cannot
    carry exactly (trailing spaces on a line, control characters); tabs, which it refuses in blocks only
    to be careful, are content a block carries, except as the very first character (where a reader
    would take it for indentation)."""

    def analyze_scalar(self, scalar: str) -> Any:
        analysis = super().analyze_scalar(scalar)
        if "\t" in scalar and not scalar.startswith("\t") and not analysis.allow_block:
            analysis.allow_block = super().analyze_scalar(scalar.replace("\t", "x")).allow_block
        return analysis

    def choose_scalar_style(self) -> str:
        # A string no block can carry is quoted as safe_dump would quote it, not always with "".
        event = self.event
        if isinstance(event, yaml.ScalarEvent) and event.style == "|":
            if self.analysis is None:
                self.analysis = self.analyze_scalar(event.value)
            if not self.analysis.allow_block or self.flow_level or self.simple_key_context:
                event.style = None
        return str(super().choose_scalar_style())


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # Line breaks other than \n come back as \n from a block or a single-quoted string (or as a space):
    # only double quotes, which escape them, carry them exactly.
    if any(char in data for char in "\r\x85\u2028\u2029"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_str(data)


_Dumper.add_representer(str, _represent_str)


def _dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1_000_000)


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


def _summary(plan: Plan, errors: bool = True) -> str:
    """Explanations, warnings, notes and errors as YAML comments, so -o yaml stays valid YAML."""
    lines = []
    if plan.skip is not None:
        lines.append(f"# skipped ({plan.skip.code}): {plan.skip.message}")
    if errors:
        lines += [f"# error: {problem}" for problem in plan.errors]
    lines += [f"# warning ({warning.code}): {warning.message}" for warning in plan.warnings]
    lines += [f"# note ({note.code}): {note.message}" for note in plan.notes]
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
    plans = [preview_plan(obj, request.rules, request.options, request.namespace) for obj in objects]
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
    plans = [preview_plan(obj, rules, request.options, namespace) for obj in objects]
    results = [{**item, "diff": _line_diff(planned, item)} for planned, item in zip(plans, _describe_all(plans), strict=True)]
    return 200, orjson.dumps({"results": results})
