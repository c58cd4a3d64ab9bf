"""Prometheus metrics, on a registry of the app's own (so several apps can live in one test process)."""

from __future__ import annotations

from collections.abc import Container

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, Histogram

from webhook.core.mode import ShadowOutcome
from webhook.core.reasons import INVALID, REFUSAL_CODES, SKIP_CODES
from webhook.core.wire import DECISIONS, OPERATIONS

# Label values that come from a request are kept to fixed sets; anything else is counted as OTHER, so
# crafted requests cannot grow the number of series.
OTHER = "other"
WEBHOOKS = ("mutate", "validate")

# The (outcome, reason) pairs a shadow admission is counted under: an injection has no skip reason, a
# refusal is always `invalid`, a skip has its code.
SHADOW_SERIES: tuple[tuple[ShadowOutcome, str], ...] = (
    ("would_inject", ""),
    ("would_deny", INVALID.code),
    *(("would_skip", code) for code in sorted({*SKIP_CODES, OTHER})),
)

# The apiserver's own admission latency buckets include 5ms, 25ms and 100ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.admissions = Counter(
            "workerguard_admission_requests", "AdmissionReviews answered", ["webhook", "operation", "decision"], registry=r
        )
        self.injections = Counter("workerguard_injections", "Pods injected, by profile", ["profile"], registry=r)
        self.rule_matches = Counter("workerguard_rule_matches", "Injected pods a rule matched, by rule", ["rule"], registry=r)
        self.skips = Counter("workerguard_skips", "Admissions left untouched, by reason code", ["reason"], registry=r)
        self.invalid = Counter("workerguard_validation_failures", "Opted-in pods with invalid settings", ["action"], registry=r)
        self.rejected = Counter(
            "workerguard_rejected_requests", "Requests refused before planning, by refusal code", ["reason"], registry=r
        )
        self.latency = Histogram(
            "workerguard_request_duration_seconds", "Time to answer a request", ["endpoint"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.cert_expiry = Gauge(
            "workerguard_certificate_expiry_timestamp_seconds", "notAfter of the serving certificate", registry=r
        )
        self.cert_reloads = Counter(
            "workerguard_certificate_reloads", "Certificate reload attempts by outcome", ["outcome"], registry=r
        )
        self.rules_reloads = Counter(
            "workerguard_rules_reloads", "Rules file reload attempts by outcome", ["outcome"], registry=r
        )
        self.draining = Gauge("workerguard_draining", "1 while the process drains after SIGTERM", registry=r)
        # Never by namespace: namespaces are not a fixed set.
        self.shadow_admissions = Counter(
            "workerguard_shadow_admissions",
            "Admissions answered in shadow mode, by what enforcing would have done and the skip reason",
            ["webhook", "outcome", "reason"],
            registry=r,
        )

        # The children of fixed label sets, looked up once here: labels() locks and checks on every call.
        # Profiles and rule names come from the rules file, so those go through labels().
        self.admission = {
            (webhook, operation, decision): self.admissions.labels(webhook, operation, decision)
            for webhook in WEBHOOKS
            for operation in (*OPERATIONS, OTHER)
            for decision in DECISIONS
        }
        self.skip = {code: self.skips.labels(code) for code in (*SKIP_CODES, OTHER)}
        self.invalid_setting = {action: self.invalid.labels(action) for action in ("denied", "allowed")}
        self.refusal = {code: self.rejected.labels(code) for code in REFUSAL_CODES}
        self.shadow = {
            (webhook, outcome, reason): self.shadow_admissions.labels(webhook, outcome, reason)
            for webhook in WEBHOOKS
            for outcome, reason in SHADOW_SERIES
        }

    def render(self) -> bytes:
        return generate_latest(self.registry)


def one_of(value: str, known: Container[str]) -> str:
    return value if value in known else OTHER
