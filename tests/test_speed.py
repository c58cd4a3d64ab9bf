"""A guard, not a benchmark: plan() on the benchmark pod stays far under a generous bound.

The target is 150 us (bench/ measures it); 5x that catches a regression, such as a whole-document
diff or deep copy slipping back into the hot path, without making the suite timing-flaky. Both
paths are guarded: a pod whose decision is remembered, and the first of its kind (fresh rules).
"""

from __future__ import annotations

import statistics
import timeit

import pytest

from bench.pods import realistic_pod
from webhook.core.plan import plan
from webhook.core.rules import BUILTIN_RULES, RuleSet

TARGET_US = 150
BOUND_US = 5 * TARGET_US


@pytest.mark.parametrize("first_of_its_kind", [False, True], ids=["remembered", "first-of-its-kind"])
def test_plan_stays_well_under_five_times_its_target(first_of_its_kind: bool) -> None:
    pod = realistic_pod()

    def rules() -> RuleSet:
        return RuleSet(BUILTIN_RULES.profiles, BUILTIN_RULES.rules) if first_of_its_kind else BUILTIN_RULES

    assert plan(pod, rules()).patch
    runs = [timeit.timeit(lambda: plan(pod, rules()), number=200) / 200 * 1e6 for _ in range(7)]
    assert statistics.median(runs) < BOUND_US, runs
