"""Every reason code workerguard gives, with the sentence that says what it means.

Skips, warnings and refusals all name their reason from this one table; metrics label by these codes
and logs write them, so the set is fixed and docs/reasons.md lists each one (a test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ReasonKind = Literal["skip", "warning", "note", "refusal"]


@dataclass(frozen=True, slots=True)
class Reason:
    """A stable snake_case code, what kind of answer carries it, and one sentence for the docs.

    `status` is the HTTP status of a refusal (a request answered before any planning)."""

    code: str
    kind: ReasonKind
    meaning: str
    status: int | None = None


# Why an object is left untouched.
OPERATION_IGNORED = Reason(
    "operation_ignored",
    "skip",
    "Not an operation workerguard acts on: /mutate changes Pod CREATE only, /validate judges workload CREATE and UPDATE only.",
)
NOT_A_POD = Reason("not_a_pod", "skip", "/mutate was asked about something other than a Pod (a subresource, or another kind).")
NOT_A_WORKLOAD = Reason(
    "not_a_workload",
    "skip",
    "/validate was asked about a kind that holds no pod template, or about a subresource such as /scale.",
)
UNSUPPORTED_KIND = Reason("unsupported_kind", "skip", "The object's kind holds no pod template, so there is nothing to inject.")
EXCLUDED_NAMESPACE = Reason(
    "excluded_namespace", "skip", "The namespace is kube-system, kube-public or workerguard's own, which are never mutated."
)
NOT_OPTED_IN = Reason("not_opted_in", "skip", 'The pod is not labelled workerguard.io/inject: "true".')
WINDOWS_POD = Reason(
    "windows_pod", "skip", "Windows pods have no POSIX shell for exec probes: left untouched, and said as a warning."
)
ALREADY_INJECTED = Reason(
    "already_injected",
    "skip",
    "The pod already carries exactly the injection the current rules give; an earlier, different one is replaced (note reinjected).",
)
INVALID_ALLOWED = Reason(
    "invalid_allowed",
    "skip",
    "Invalid settings under on-invalid=allow: admitted untouched, each problem sent as an invalid_setting warning.",
)
INVALID = Reason(
    "invalid", "skip", "Invalid settings under on-invalid=deny: denied, with every problem and the field that holds it."
)

# What the injection kept, changed or found worth saying.
INVALID_SETTING = Reason(
    "invalid_setting",
    "warning",
    "One problem with the settings, sent as a warning because on-invalid=allow admitted the pod untouched.",
)
LIVENESS_EQUALS_READINESS = Reason(
    "liveness_equals_readiness",
    "warning",
    "liveness-max-age equals readiness-max-age, so a slow node restarts the worker as soon as it turns unready.",
)
PROBE_KEPT = Reason("probe_kept", "warning", "The container already had this probe; it was kept (override-probes replaces it).")
PRESTOP_KEPT = Reason(
    "prestop_kept", "warning", "The container already had a preStop hook; it was kept, so no draining marker is written."
)
GRACE_PERIOD_RAISED = Reason(
    "grace_period_raised",
    "warning",
    "The grace period the pod's author set is shorter than shutdown-timeout plus prestop-sleep plus a margin (5s more when sidecars wait): raised to that.",
)
SAFE_TO_EVICT_KEPT = Reason(
    "safe_to_evict_kept", "warning", "The pod's own cluster-autoscaler safe-to-evict annotation was kept."
)
SHELL_WRAPPED_COMMAND = Reason(
    "shell_wrapped_command",
    "warning",
    "The worker starts through sh -c without exec, so SIGTERM stops the shell and not the worker.",
)
SHUTDOWN_TIMEOUT_DIFFERS_FROM_COMMAND = Reason(
    "shutdown_timeout_differs_from_command",
    "warning",
    "An annotation or rule sets shutdown-timeout, and the worker's command line (sidekiq -t, celery --time-limit) says another.",
)
PROBE_RUNS_COSTLY = Reason(
    "probe_runs_costly",
    "warning",
    "The settings make more than 12 exec probe runs a minute per pod, each costing the node 25 to 46 ms of CPU; a longer probe-period or probe-transport http (HTTP requests, about 2 ms each) cuts it.",
)
SIDECAR_PRESTOP_KEPT = Reason(
    "sidecar_prestop_kept",
    "warning",
    "A sidecar's own preStop is an HTTP or TCP call, which cannot run after a wait: kept, and that sidecar does not wait for the worker.",
)
SIDECAR_STOPS_EARLY = Reason(
    "sidecar_stops_early",
    "warning",
    "A known sidecar (istio-proxy, linkerd-proxy, cloud-sql-proxy) that does not wait for the worker stops, by its own settings, before the worker's deadline.",
)
# Shadow mode (core.mode): what enforcing would have refused, said while the object is admitted.
SHADOW_WOULD_DENY = Reason(
    "shadow_would_deny",
    "warning",
    "Shadow mode admitted the object untouched; in enforce mode it would be refused for this problem.",
)
SHADOW_MODE = Reason(
    "shadow_mode",
    "note",
    "A rule with mode: shadow matches: the webhook admits the pod untouched and only logs and counts what the preview shows.",
)
MORE_WARNINGS = Reason(
    "more_warnings", "warning", "More warnings than an admission response carries; workerguard preview lists them all."
)

# What audit finds in a workload today, also said when /validate and preview keep such a probe.
NO_LIVENESS_PROBE = Reason(
    "no_liveness_probe", "warning", "The worker has no liveness probe, so a worker that runs but is stuck is never restarted."
)
NO_READINESS_PROBE = Reason(
    "no_readiness_probe",
    "warning",
    "The worker has no readiness probe, so a rollout of a release that cannot work counts as healthy.",
)
LIVENESS_COPIES_READINESS = Reason(
    "liveness_copies_readiness",
    "warning",
    "The liveness probe runs the same check as readiness, so whatever makes the worker unready, a slow broker say, also restarts it.",
)
PROBE_BOOTS_APP = Reason(
    "probe_boots_app",
    "warning",
    "The probe starts the application on every run (celery inspect ping, sidekiqmon, rails runner): it costs a core and hundreds of MB, and fails when the broker is slow.",
)
PROBE_ASKS_BROKER = Reason(
    "probe_asks_broker",
    "warning",
    "The probe asks the broker (redis-cli ping, rq info, rabbitmqctl), so a slow broker fails it in every worker at once.",
)
PROBE_WITHOUT_SERVER = Reason(
    "probe_without_server",
    "warning",
    "An httpGet, tcpSocket or grpc probe on a port the worker does not declare: a worker serves nothing there, so the probe tests nothing of it.",
)
GRACE_PERIOD_UNDER_COMMAND_TIMEOUT = Reason(
    "grace_period_under_command_timeout",
    "warning",
    "The grace period is no longer than the shutdown timeout of the worker's own command (sidekiq -t, celery --time-limit), so Kubernetes kills jobs the worker would have finished or handed back.",
)
LONG_JOBS_EVICTABLE = Reason(
    "long_jobs_evictable",
    "warning",
    'A long-job worker (Sidekiq, Celery, or a command that waits more than 30s on SIGTERM) lacks cluster-autoscaler safe-to-evict: "false", so a scale-in can stop it mid-job.',
)

# Said in the explanation only (preview), never sent to kubectl: what the injection did that needs no action.
GRACE_PERIOD_DEFAULT_RAISED = Reason(
    "grace_period_default_raised",
    "note",
    "Kubernetes' default grace period (30s, which nobody set) was raised to shutdown-timeout plus prestop-sleep plus a margin.",
)

REINJECTED = Reason(
    "reinjected",
    "note",
    "The object carried an earlier injection (applied preview output, an older workerguard): it was replaced by what the current rules say.",
)
NATIVE_SIDECAR_LEFT = Reason(
    "native_sidecar_left",
    "note",
    "An init container with restartPolicy: Always is a native sidecar: Kubernetes stops it after the worker, so it is left as it is.",
)
SIDECAR_PRESTOP_COMPOSED = Reason(
    "sidecar_prestop_composed",
    "note",
    "A sidecar's own exec or sleep preStop runs after the wait for the worker, since a sidecar's hook usually starts its shutdown.",
)
SIDECAR_SETTING_UNNEEDED = Reason(
    "sidecar_setting_unneeded",
    "note",
    "A sidecar that waits for the worker in its preStop needs no SIGTERM delay of its own (cloud-sql-proxy's --max-sigterm-delay).",
)

# Requests answered with an HTTP error before any planning.
BAD_REQUEST = Reason("bad_request", "refusal", "The body is not JSON, or not an AdmissionReview workerguard can answer.", 400)
CLIENT_GONE = Reason("client_gone", "refusal", "The client went away before sending the whole body.", 400)
BODY_TOO_LARGE = Reason("body_too_large", "refusal", "The body is larger than --max-body-bytes.", 413)
BYTES_IN_FLIGHT = Reason(
    "bytes_in_flight", "refusal", "Too many request bytes are being received at once; the client should retry.", 413
)
BODY_TOO_SLOW = Reason("body_too_slow", "refusal", "The body did not arrive within --body-timeout.", 408)
NO_RULES = Reason("no_rules", "refusal", "No valid rules file has been loaded yet.", 503)
PREVIEWS_BUSY = Reason("previews_busy", "refusal", "Every preview place is taken; refused before the body is read.", 503)
PREVIEW_TIMEOUT = Reason("preview_timeout", "refusal", "A preview computed longer than --preview-timeout and was stopped.", 503)
INTERNAL_ERROR = Reason("internal_error", "refusal", "A bug: logged with its traceback and counted, never silent.", 500)

ALL: tuple[Reason, ...] = tuple(value for value in globals().values() if isinstance(value, Reason))
SKIP_CODES = frozenset(reason.code for reason in ALL if reason.kind == "skip")
REFUSAL_CODES = frozenset(reason.code for reason in ALL if reason.kind == "refusal")
