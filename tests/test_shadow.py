"""Shadow mode without the server: the mode decision, the rule field, shadow verdicts, their log line and
metric, the memo, and the preview's note. tests/test_shadow_server.py runs it through the real server."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import count, make_pod, workload_of
from tests.serverproc import review, workload_review
from webhook.adapters.preview import describe, preview_plan
from webhook.adapters.rulesfile import locate_problems, parse_rules_document, parse_rules_text
from webhook.core import reasons
from webhook.core.errors import Problem, RulesError
from webhook.core.inputs import planning_input
from webhook.core.mode import admission_mode, SHADOW_OUTCOMES
from webhook.core.plan import Plan, plan, PlanOptions
from webhook.core.review import mutation_verdict, read_request, Shadow, shadow_verdict, validation_verdict, Verdict
from webhook.core.rules import BUILTIN_RULES, Mode, RuleSet
from webhook.core.types import Finding, WARNINGS_MAX
from webhook.server.ledger import Admission, Ledger
from webhook.server.logs import AdmissionLog
from webhook.server.memo import VerdictMemo
from webhook.server.metrics import Metrics

BAD_VALUE = {"workerguard.io/readiness-max-age": "abc"}
COSTLY = {"workerguard.io/probe-period": "3s"}  # allowed, with the probe_runs_costly warning


def rules_of(*rules: str) -> RuleSet:
    return parse_rules_text("rules:\n" + "".join(f"  - {rule}\n" for rule in rules))


SHADOW_JOBS = "{name: try-jobs, match: {namespaces: [jobs]}, mode: shadow}"


@pytest.mark.parametrize(
    ("namespace_mode", "rules", "obj", "expected"),
    [
        ("enforce", (), make_pod(), "enforce"),
        ("shadow", (), make_pod(), "shadow"),
        ("enforce", (SHADOW_JOBS,), make_pod(), "shadow"),
        ("enforce", (SHADOW_JOBS,), make_pod(namespace="billing"), "enforce"),
        ("enforce", ("{name: all, mode: shadow}",), make_pod(namespace="billing"), "shadow"),
        ("enforce", ("{name: said, match: {namespaces: [jobs]}, mode: enforce}",), make_pod(), "enforce"),
        # Any matching rule is enough, wherever it stands in the file.
        ("enforce", ("{name: a, mode: enforce}", SHADOW_JOBS), make_pod(), "shadow"),
        ("enforce", (SHADOW_JOBS, "{name: b, mode: enforce}"), make_pod(), "shadow"),
        # A rule cannot take a shadow namespace out of shadow.
        ("shadow", ("{name: said, mode: enforce}",), make_pod(), "shadow"),
        ("enforce", ("{name: l, match: {labels: {team: pay}}, mode: shadow}",), make_pod(labels={"team": "pay"}), "shadow"),
        ("enforce", ("{name: l, match: {labels: {team: pay}}, mode: shadow}",), make_pod(labels={"team": "ops"}), "enforce"),
        ("enforce", ("{name: a, match: {annotations: {x.io/t: b*}}, mode: shadow}",), make_pod({"x.io/t": "batch"}), "shadow"),
        ("enforce", ("{name: i, match: {images: ['*/worker:*']}, mode: shadow}",), make_pod(), "shadow"),
        ("enforce", ("{name: i, match: {images: ['*/web:*']}, mode: shadow}",), make_pod(), "enforce"),
        # A pod planning refuses is matched all the same: that refusal is what shadow mode must not enforce.
        ("enforce", (SHADOW_JOBS,), make_pod(BAD_VALUE), "shadow"),
        (
            "enforce",
            ("{name: l, match: {labels: {team: pay}}, mode: shadow}",),
            workload_of("CronJob", make_pod(labels={"team": "pay"})),
            "shadow",
        ),
        # Of an object without a pod to be found, a rule sees only the namespace.
        ("enforce", (SHADOW_JOBS,), {"kind": "Deployment", "metadata": {"namespace": "jobs"}, "spec": {"template": 7}}, "shadow"),
        ("enforce", ("{name: l, match: {labels: {a: b}}, mode: shadow}",), {"kind": "Deployment", "spec": 7}, "enforce"),
    ],
)
def test_the_mode_is_shadow_when_the_namespace_or_any_matching_rule_says_so(
    namespace_mode: Mode, rules: tuple[str, ...], obj: dict[str, Any], expected: Mode
) -> None:
    ruleset = rules_of(*rules) if rules else BUILTIN_RULES
    assert admission_mode(namespace_mode, planning_input(obj, ruleset), ruleset) == expected


def test_a_rule_mode_is_enforce_unless_it_says_shadow() -> None:
    rules = rules_of("{name: a}", "{name: b, mode: enforce}", "{name: c, mode: shadow}")
    assert [(rule.name, rule.mode) for rule in rules.rules] == [("a", "enforce"), ("b", "enforce"), ("c", "shadow")]
    assert [rule.name for rule in rules.shadow_rules] == ["c"]


BAD_MODES = """rules:
  - name: a
    mode: Shadow
  - name: b
    match: {namespaces: [jobs]}
    mode: [shadow]
  - name: c
    mode:
"""


def test_an_unknown_mode_is_an_error_placed_at_its_line_and_column() -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules_document(BAD_MODES)
    assert locate_problems(BAD_MODES, caught.value.problems) == [
        "line 3, column 5: rules[0] (a).mode: 'Shadow' is not a mode; expected enforce or shadow",
        "line 6, column 5: rules[1] (b).mode: ['shadow'] is not a mode; expected enforce or shadow",
        "line 8, column 5: rules[2] (c).mode: None is not a mode; expected enforce or shadow",
    ]


def test_rules_check_lists_an_unknown_mode_with_its_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(BAD_MODES)
    done = subprocess.run(
        [sys.executable, "-m", "webhook", "rules", "check", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 1 and done.stdout == ""
    assert (
        "workerguard: rules.yaml: line 3, column 5: rules[0] (a).mode: 'Shadow' is not a mode; expected enforce or shadow\n"
        in done.stderr
    )
    (tmp_path / "rules.yaml").write_text(f"rules:\n  - {SHADOW_JOBS}\n")
    done = subprocess.run(
        [sys.executable, "-m", "webhook", "rules", "check", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, "rules.yaml: ok: 0 profile(s), 1 rule(s)\n"), done.stderr


DENY = PlanOptions()


def mutate(obj: dict[str, Any], namespace_mode: Mode = "enforce", options: PlanOptions = DENY) -> Verdict:
    return mutation_verdict(read_request(review(obj)), BUILTIN_RULES, options, namespace_mode)


def sent(text: str) -> str:
    """A warning as the apiserver keeps it: at most 120 characters."""
    return text if len(text) <= 120 else text[:117] + "..."


def test_a_shadow_verdict_allows_with_no_patch_and_keeps_what_enforce_would_patch() -> None:
    pod = make_pod(COSTLY)
    enforced, shadowed = mutate(pod), mutate(pod, "shadow")
    assert enforced.patch is not None and enforced.shadow is None
    ops = len(orjson.loads(base64.b64decode(enforced.patch)))
    assert (shadowed.decision, shadowed.allowed, shadowed.patch, shadowed.denial) == ("allowed", True, None, None)
    assert shadowed.shadow == Shadow("would_inject", ops, "")
    assert shadowed.warnings == enforced.warnings and shadowed.reasons == enforced.reasons == ("probe_runs_costly",)


def test_a_pod_enforce_would_refuse_is_admitted_with_a_warning_for_each_problem() -> None:
    pod = make_pod({**BAD_VALUE, "workerguard.io/stuck-after": "soon", **COSTLY})
    enforced, shadowed = mutate(pod), mutate(pod, "shadow")
    assert enforced.allowed is False and enforced.denial is not None
    assert (shadowed.allowed, shadowed.patch, shadowed.denial) == (True, None, None)
    assert shadowed.shadow == Shadow("would_deny", 0, "invalid")
    problems = enforced.denial.removeprefix("workerguard: ").split("; ")
    assert shadowed.warnings == (
        *(sent(f"workerguard shadow_would_deny: {problem}") for problem in problems),
        *enforced.warnings,
    )
    assert shadowed.reasons == ("invalid", "shadow_would_deny", "shadow_would_deny", *enforced.reasons[1:])


def test_a_shadow_skip_keeps_its_reason_and_on_invalid_allow_is_a_skip_there_too() -> None:
    injected = plan(make_pod()).mutated()
    assert mutate(injected, "shadow").shadow == Shadow("would_skip", 0, "already_injected")
    allowed = mutate(make_pod(BAD_VALUE), "shadow", PlanOptions(on_invalid="allow"))
    assert allowed.shadow == Shadow("would_skip", 0, "invalid_allowed")
    assert allowed.warnings == mutate(make_pod(BAD_VALUE), "enforce", PlanOptions(on_invalid="allow")).warnings


def test_refusals_and_warnings_are_capped_once_and_the_count_of_the_rest_is_right() -> None:
    pod = make_pod()
    planned = Plan(
        pod,
        allowed=False,
        patch=[],
        warnings=[Finding(reasons.PROBE_RUNS_COSTLY, f"warning {n}") for n in range(15)],
        errors=[Problem(f"metadata.annotations[workerguard.io/bad-{n}]", "unknown") for n in range(2)],
    )
    warnings = shadow_verdict(planned).warnings
    assert len(warnings) == WARNINGS_MAX
    assert warnings[:2] == tuple(
        f"workerguard shadow_would_deny: metadata.annotations[workerguard.io/bad-{n}]: unknown" for n in range(2)
    )
    assert warnings[-1] == "workerguard more_warnings: 8 more warnings; run workerguard preview"  # 17 - 9 shown


def test_shadow_warnings_stay_within_what_an_admission_response_carries() -> None:
    annotations = {f"workerguard.io/{key}": "x" for key in ("readiness-max-age", "probe-period", "stuck-after", "prestop-sleep")}
    annotations |= {f"workerguard.io/bogus-{n}": "1" for n in range(12)}
    warnings = mutate(make_pod(annotations), "shadow").warnings
    assert len(warnings) == WARNINGS_MAX
    assert warnings[-1].startswith("workerguard more_warnings: ") and all(
        warning.startswith("workerguard shadow_would_deny: ") for warning in warnings[:-1]
    )


def workload_request(obj: dict[str, Any]) -> Any:
    return read_request(workload_review(obj, "w"))


def test_validate_in_shadow_says_the_refusal_as_warnings_and_otherwise_warns_as_enforce_does() -> None:
    refused = workload_request(workload_of("Deployment", make_pod({**BAD_VALUE, **COSTLY})))
    enforced = validation_verdict(refused, BUILTIN_RULES, PlanOptions())
    shadowed = validation_verdict(refused, BUILTIN_RULES, PlanOptions(), "shadow")
    assert enforced.allowed is False and shadowed.allowed is True and shadowed.denial is None
    assert enforced.denial is not None and "; " not in enforced.denial  # one problem
    assert shadowed.warnings == (
        sent(f"workerguard shadow_would_deny: {enforced.denial.removeprefix('workerguard: ')}"),
        *enforced.warnings,
    )
    warned = workload_request(workload_of("Deployment", make_pod(COSTLY)))
    assert validation_verdict(warned, BUILTIN_RULES, PlanOptions(), "shadow").warnings == (
        validation_verdict(warned, BUILTIN_RULES, PlanOptions()).warnings
    )


def test_the_memo_keeps_a_shadow_namespaces_verdicts_apart() -> None:
    memo, request = VerdictMemo(PlanOptions()), read_request(review(make_pod()))
    assert memo.mutation_verdict(request, BUILTIN_RULES).patch is not None
    assert memo.mutation_verdict(request, BUILTIN_RULES, "shadow").patch is None
    assert memo.mutation_verdict(request, BUILTIN_RULES).patch is not None
    assert memo.mutation_verdict(request, BUILTIN_RULES, "shadow").shadow is not None
    assert (memo.hits, memo.misses) == (2, 2)


def settled(*verdicts: Verdict) -> tuple[Metrics, list[dict[str, Any]]]:
    metrics, stream = Metrics(), io.StringIO()
    ledger = Ledger(metrics, AdmissionLog("json", stream))
    for n, verdict in enumerate(verdicts):
        ledger.add(Admission("mutate", f"u{n}", "jobs", "worker-1", "CREATE", verdict, 0.001, 1_800_000_000.0))
    ledger.settle()
    return metrics, [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.usefixtures("admission_log_at_info")
def test_a_shadow_admission_logs_what_enforce_would_do_and_is_counted_apart() -> None:
    would_inject, would_deny = mutate(make_pod(), "shadow"), mutate(make_pod(BAD_VALUE), "shadow")
    would_skip = mutate(plan(make_pod()).mutated(), "shadow")
    metrics, lines = settled(would_inject, would_deny, would_skip, mutate(make_pod()))
    assert would_inject.shadow is not None
    assert [(line["decision"], line.get("shadow"), line.get("would_patch"), line.get("would_deny")) for line in lines] == [
        ("allowed", True, would_inject.shadow.patch_ops, False),
        ("allowed", True, 0, True),
        ("allowed", True, 0, False),
        ("patched", None, None, None),
    ]
    assert [line["reasons"] for line in lines[1:3]] == [["invalid", "shadow_would_deny"], ["already_injected"]]
    shadow = "workerguard_shadow_admissions_total"
    assert count(metrics, shadow, webhook="mutate", outcome="would_inject", reason="") == 1
    assert count(metrics, shadow, webhook="mutate", outcome="would_deny", reason="invalid") == 1
    assert count(metrics, shadow, webhook="mutate", outcome="would_skip", reason="already_injected") == 1
    # The enforce counters count enforce's answers only: the one patched pod, nothing skipped or refused.
    assert count(metrics, "workerguard_injections_total", profile="generic") == 1
    assert count(metrics, "workerguard_skips_total", reason="already_injected") == 0
    assert count(metrics, "workerguard_validation_failures_total", action="allowed") == 0
    assert count(metrics, "workerguard_admission_requests_total", webhook="mutate", operation="CREATE", decision="allowed") == 3


def test_the_shadow_metric_has_a_series_for_every_outcome_and_skip_code_and_none_by_namespace() -> None:
    metrics = Metrics()
    labels = {
        tuple(sample.labels[key] for key in ("webhook", "outcome", "reason"))
        for family in metrics.registry.collect()
        if family.name == "workerguard_shadow_admissions"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert ("mutate", "would_inject", "") in labels and ("validate", "would_deny", "invalid") in labels
    assert ("mutate", "would_skip", "not_opted_in") in labels and ("mutate", "would_skip", "other") in labels
    assert {outcome for _, outcome, _ in labels} == set(SHADOW_OUTCOMES) == {"would_inject", "would_skip", "would_deny"}
    assert {webhook for webhook, _, _ in labels} == {"mutate", "validate"}


def test_a_preview_says_when_a_rule_puts_the_object_in_shadow_mode() -> None:
    rules = rules_of(SHADOW_JOBS, "{name: also, match: {labels: {team: pay}}, mode: shadow}")
    notes = describe(preview_plan(make_pod(), rules, PlanOptions()))["notes"]
    assert notes[-1] == {
        "code": "shadow_mode",
        "message": "shadow mode (rule try-jobs): the webhook admits this untouched, and logs and counts what is shown here",
    }
    both = describe(preview_plan(make_pod(labels={"team": "pay"}), rules, PlanOptions()))["notes"]
    assert both[-1]["message"].startswith("shadow mode (rules try-jobs, also): ")
    elsewhere = preview_plan(make_pod(namespace="billing"), rules, PlanOptions())
    assert elsewhere == plan(make_pod(namespace="billing"), rules, PlanOptions())
    assert "shadow_mode" not in {note["code"] for note in describe(elsewhere)["notes"]}
