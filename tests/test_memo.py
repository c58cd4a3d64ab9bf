"""The verdict memo answers exactly what planning would, and forgets when the question or the rules change."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.pods import realistic_pod
from tests.conftest import make_pod
from webhook.core.memo import VerdictMemo
from webhook.core.plan import PlanOptions
from webhook.core.review import decide
from webhook.core.rules import BUILTIN_RULES, parse_rules

GOLDEN = Path(__file__).parent / "golden"
OPTIONS = PlanOptions(namespace="billing")


def test_a_replica_is_answered_from_the_memo() -> None:
    memo = VerdictMemo()
    first, second = realistic_pod(), realistic_pod()
    second["metadata"]["generateName"] = "billing-sidekiq-6f7c9d8b54-x"  # what differs between replicas
    second["metadata"]["uid"] = "another"
    one, two = memo.decide(first, BUILTIN_RULES, OPTIONS), memo.decide(second, BUILTIN_RULES, OPTIONS)
    assert (memo.hits, memo.misses) == (1, 1)
    assert two is one and two == decide(second, BUILTIN_RULES, OPTIONS)
    assert two.decision == "patched" and two.profile == "sidekiq"


def _variants() -> list[tuple[str, Any]]:
    return [
        ("annotation", lambda p: p["metadata"]["annotations"].update({"workerguard.io/probe-period": "20s"})),
        ("label", lambda p: p["metadata"]["labels"].update({"workerguard.io/inject": "false"})),
        ("spec", lambda p: p["spec"]["containers"][0].update({"readinessProbe": {"exec": {"command": ["true"]}}})),
        ("namespace", lambda p: p["metadata"].update({"namespace": "kube-system"})),
    ]


@pytest.mark.parametrize(("name", "change"), _variants())
def test_any_change_plan_reads_is_a_different_question(name: str, change: Any) -> None:
    memo = VerdictMemo()
    pod = realistic_pod()
    memo.decide(pod, BUILTIN_RULES, PlanOptions())
    changed = copy.deepcopy(pod)
    change(changed)
    result = memo.decide(changed, BUILTIN_RULES, PlanOptions())
    assert memo.misses == 2
    assert result == decide(changed, BUILTIN_RULES, PlanOptions())


def test_new_rules_or_options_are_never_answered_from_old_memories() -> None:
    memo = VerdictMemo()
    pod = make_pod()
    assert memo.decide(pod, BUILTIN_RULES, PlanOptions()).profile == "generic"
    rules = parse_rules({"rules": [{"name": "all", "set": {"profile": "celery"}}]})
    assert memo.decide(pod, rules, PlanOptions()).profile == "celery"
    denied = memo.decide(make_pod({"workerguard.io/probe-period": "x"}), rules, PlanOptions(on_invalid="deny"))
    allowed = memo.decide(make_pod({"workerguard.io/probe-period": "x"}), rules, PlanOptions(on_invalid="allow"))
    assert (denied.fields["allowed"], allowed.fields["allowed"]) == (False, True)


@pytest.mark.parametrize("case", ["celery-pod", "native-sidecar", "invalid-annotations", "not-opted-in"])
def test_memo_and_plan_agree_on_the_golden_pods(case: str) -> None:
    pod = yaml.safe_load((GOLDEN / f"{case}.yaml").read_text())
    memo = VerdictMemo()
    for _ in range(2):
        assert memo.decide(copy.deepcopy(pod), BUILTIN_RULES, PlanOptions()) == decide(pod, BUILTIN_RULES, PlanOptions())
    assert memo.hits == 1


def test_workloads_are_not_memoized_and_the_memo_is_bounded() -> None:
    memo = VerdictMemo(size=3)
    workload = yaml.safe_load((GOLDEN / "sidekiq-deployment.yaml").read_text())
    memo.decide(workload, BUILTIN_RULES, PlanOptions())
    assert (memo.hits, memo.misses, len(memo.verdicts)) == (0, 0, 0)
    for i in range(5):
        memo.decide(make_pod({"example.com/n": str(i)}), BUILTIN_RULES, PlanOptions())
    assert len(memo.verdicts) == 3
