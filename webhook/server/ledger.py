"""Admission bookkeeping, kept off the answer's path: an answer adds one record to the ledger, and the
records are settled into the metrics and the admission log in batches.

Settling happens every tick (a quarter second), before every /metrics scrape (so a scrape counts every
answer already given), at shutdown, and whenever MAX_PENDING records have gathered: the answer that
fills a batch settles it, so no answer waits for more than one small batch. Counting and formatting
in one loop per batch is cheaper than the same work spread over every request (docs/performance.md
has the figures).
"""

from __future__ import annotations

from typing import NamedTuple

from webhook.core.reasons import SKIP_CODES
from webhook.core.review import Shadow, Verdict
from webhook.core.wire import OPERATIONS
from webhook.server.logs import AdmissionLog
from webhook.server.metrics import Metrics, one_of


class Admission(NamedTuple):
    """One answered AdmissionReview: only what the metrics and the log line need, never the object."""

    webhook: str
    uid: str
    namespace: str
    name: str
    operation: str
    verdict: Verdict
    seconds: float
    at: float  # wall-clock time of the answer, for the log line


class Ledger:
    MAX_PENDING = 256

    def __init__(self, metrics: Metrics, log: AdmissionLog) -> None:
        self.metrics, self.log = metrics, log
        self.pending: list[Admission] = []

    def add(self, admission: Admission) -> None:
        self.pending.append(admission)
        if len(self.pending) >= self.MAX_PENDING:
            self.settle()

    def settle(self) -> None:
        """Count and log every pending record, then write the log's lines out."""
        pending, self.pending = self.pending, []
        for admission in pending:
            self._count(admission)
            self._log(admission)
        self.log.flush()

    def _count(self, admission: Admission) -> None:
        metrics, verdict = self.metrics, admission.verdict
        metrics.admission[(admission.webhook, one_of(admission.operation, OPERATIONS), verdict.decision)].inc()
        if verdict.shadow is not None:  # counted apart: the injection, skip and refusal counters stay enforce's
            self._count_shadow(admission.webhook, verdict.shadow)
            return
        if verdict.decision == "patched":
            metrics.injections.labels(verdict.profile or "").inc()
            for rule in verdict.rules:
                metrics.rule_matches.labels(rule).inc()
        elif verdict.reasons and verdict.decision == "allowed":
            metrics.skip[one_of(verdict.reasons[0], SKIP_CODES)].inc()
        if verdict.invalid:
            metrics.invalid_setting["denied" if verdict.decision == "denied" else "allowed"].inc()

    def _count_shadow(self, webhook: str, shadow: Shadow) -> None:
        key = (webhook, shadow.outcome, one_of(shadow.reason, SKIP_CODES) if shadow.reason else "")
        counter = self.metrics.shadow.get(key)
        (counter or self.metrics.shadow_admissions.labels(*key)).inc()

    def _log(self, admission: Admission) -> None:
        fields = {
            "webhook": admission.webhook,
            "uid": admission.uid,
            "namespace": admission.namespace,
            "pod": admission.name,
            "operation": admission.operation,
            "decision": admission.verdict.decision,
            "reasons": list(admission.verdict.reasons),
            "duration_ms": round(admission.seconds * 1000, 3),
        }
        shadow = admission.verdict.shadow
        if shadow is not None:
            fields.update(shadow=True, would_patch=shadow.patch_ops, would_deny=shadow.outcome == "would_deny")
        self.log.write(fields, at=admission.at)
