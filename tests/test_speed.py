"""A guard, not a benchmark: plan() on the benchmark pod stays far under a generous bound.

The target is 150 us (bench/ measures it); 5x that catches a regression, such as a whole-document
diff or deep copy slipping back into the hot path, without making the suite timing-flaky.
"""

from __future__ import annotations

import statistics
import timeit

from bench.pods import realistic_pod
from webhook.core.plan import plan

TARGET_US = 150
BOUND_US = 5 * TARGET_US


def test_plan_stays_well_under_five_times_its_target() -> None:
    pod = realistic_pod()
    assert plan(pod).patch
    runs = [timeit.timeit(lambda: plan(pod), number=200) / 200 * 1e6 for _ in range(7)]
    assert statistics.median(runs) < BOUND_US, runs
