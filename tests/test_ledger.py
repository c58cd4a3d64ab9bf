"""The ledger: answers are counted and logged in batches, each with the time it was given, none lost."""

from __future__ import annotations

import io
import json

import pytest

from tests.conftest import count
from webhook.core import reasons
from webhook.core.review import skipped, Verdict
from webhook.core.types import Finding
from webhook.server.ledger import Admission, Ledger
from webhook.server.logs import AdmissionLog
from webhook.server.metrics import Metrics

PATCHED = Verdict("patched", True, patch="W10=", profile="sidekiq", rules=("billing",))


pytestmark = pytest.mark.usefixtures("admission_log_at_info")


def admission(uid: str, verdict: Verdict = PATCHED, at: float = 1_800_000_000.0) -> Admission:
    return Admission("mutate", uid, "billing", "worker-1", "CREATE", verdict, 0.0004, at)


def test_nothing_is_counted_or_logged_until_settled_then_everything_is() -> None:
    metrics, stream = Metrics(), io.StringIO()
    ledger = Ledger(metrics, AdmissionLog("json", stream, clock=lambda: 0.0))
    ledger.add(admission("a"))
    ledger.add(admission("b", skipped(Finding(reasons.NOT_OPTED_IN, "not labelled"))))
    assert count(metrics, "workerguard_admission_requests_total", webhook="mutate", operation="CREATE", decision="patched") == 0
    assert stream.getvalue() == ""
    ledger.settle()
    assert count(metrics, "workerguard_admission_requests_total", webhook="mutate", operation="CREATE", decision="patched") == 1
    assert count(metrics, "workerguard_injections_total", profile="sidekiq") == 1
    assert count(metrics, "workerguard_rule_matches_total", rule="billing") == 1
    assert count(metrics, "workerguard_skips_total", reason="not_opted_in") == 1
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["uid"], line["decision"], line["duration_ms"]) for line in lines] == [
        ("a", "patched", 0.4),
        ("b", "allowed", 0.4),
    ]
    assert ledger.pending == []


def test_a_log_line_carries_the_time_of_its_answer_not_of_its_settling() -> None:
    stream = io.StringIO()
    ledger = Ledger(Metrics(), AdmissionLog("json", stream, clock=lambda: 1_900_000_000.0))
    ledger.add(admission("a", at=1_800_000_000.25))
    ledger.settle()
    assert json.loads(stream.getvalue())["time"] == "2027-01-15T08:00:00.250Z"


def test_a_full_ledger_settles_by_itself() -> None:
    metrics = Metrics()
    ledger = Ledger(metrics, AdmissionLog("json", io.StringIO()))
    for n in range(Ledger.MAX_PENDING):
        ledger.add(admission(f"u{n}"))
    assert ledger.pending == []
    assert count(metrics, "workerguard_injections_total", profile="sidekiq") == Ledger.MAX_PENDING
