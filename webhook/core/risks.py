"""The risks a worker carries as it runs today: probes that cannot see it or that hurt it, and a shutdown
that Kubernetes or the cluster autoscaler cuts short. Each is a Finding with a reason from the audit's
section of webhook.core.reasons; dangerous_probe judges one probe alone, for whoever keeps one.
"""

from __future__ import annotations

from collections.abc import Iterable

from webhook.core import reasons
from webhook.core.annotations import SAFE_TO_EVICT
from webhook.core.commands import command_timeout
from webhook.core.inject import KUBERNETES_DEFAULT_GRACE_SECONDS, shell_wrapped_warning
from webhook.core.types import Finding, JSONObject
from webhook.core.workers import program, segments_of, subcommand, Words
from webhook.core.workload import PodView

# Every reason worker_risks gives, in the order it gives them (docs/audit.md explains each).
RISK_REASONS = (
    reasons.NO_LIVENESS_PROBE,
    reasons.NO_READINESS_PROBE,
    reasons.LIVENESS_COPIES_READINESS,
    reasons.PROBE_BOOTS_APP,
    reasons.PROBE_ASKS_BROKER,
    reasons.PROBE_WITHOUT_SERVER,
    reasons.GRACE_PERIOD_UNDER_COMMAND_TIMEOUT,
    reasons.SHELL_WRAPPED_COMMAND,
    reasons.LONG_JOBS_EVICTABLE,
)
PROBE_FIELDS = ("startupProbe", "readinessProbe", "livenessProbe")
# A failure of these restarts the container; readiness only takes it out of rotation.
RESTARTING_FIELDS = ("startupProbe", "livenessProbe")
_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_NETWORK_HANDLERS = ("httpGet", "tcpSocket", "grpc")

# Subcommands of the celery CLI that load the app and talk to the broker (`celery inspect ping`).
_CELERY_REMOTE = frozenset({"inspect", "status", "control", "report", "result", "call"})
_RAILS_RUNNERS = frozenset({"runner", "r"})
_BROKER_CLIENTS = frozenset({"redis-cli", "rabbitmqctl", "rabbitmq-diagnostics"})
# Kinds whose pods no rollout waits for: readiness gates nothing there.
_NO_ROLLOUT_KINDS = frozenset({"Job", "CronJob"})
# The autoscaler's scale-down does not count DaemonSet pods, so their annotation changes nothing.
_AUTOSCALER_IGNORES = frozenset({"DaemonSet"})


def _boots_app(words: Words) -> str | None:
    """The words of a probe command that starts the application or its framework's CLI."""
    for i, word in enumerate(words):
        name = program(word)
        following = subcommand(words, i)
        if name == "celery" and following is not None and following[1] in _CELERY_REMOTE:
            after = subcommand(words, following[0])
            return " ".join(["celery", following[1], *([after[1]] if after is not None else [])])
        if name == "sidekiqmon":
            return name
        if name == "rails" and following is not None and following[1] in _RAILS_RUNNERS:
            return f"rails {following[1]}"
        if name in ("rake", "manage.py"):
            return " ".join([name, *([following[1]] if following is not None else [])])
    return None


def _asks_broker(words: Words) -> str | None:
    """The words of a probe command whose answer comes from the broker."""
    for i, word in enumerate(words):
        name = program(word)
        if name in _BROKER_CLIENTS:
            return f"{name} ping" if "ping" in words[i + 1 :] else name
        following = subcommand(words, i)
        if name == "rq" and following is not None and following[1] == "info":
            return "rq info"
    return None


def _declares(container: JSONObject, port: object) -> bool:
    """Whether the container lists the port, by number or by name, among its ports."""
    ports = container.get("ports")
    listed = [entry for entry in ports if isinstance(entry, dict)] if isinstance(ports, list) else []
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if isinstance(port, int) and not isinstance(port, bool):
        return any(entry.get("containerPort") == port for entry in listed)
    return isinstance(port, str) and any(entry.get("name") == port for entry in listed)


def _served(container: JSONObject, port: object, spec: JSONObject | None) -> bool:
    """Whether something in the pod listens on the port: the container itself (by number or name), or,
    by number, another container or a native sidecar, since they share the pod's network."""
    if _declares(container, port):
        return True
    if spec is None or not (isinstance(port, int) or (isinstance(port, str) and port.isdigit())):
        return False
    others = [
        *(spec.get("containers") or []),
        *(c for c in spec.get("initContainers") or [] if isinstance(c, dict) and c.get("restartPolicy") == "Always"),
    ]
    return any(isinstance(other, dict) and _declares(other, port) for other in others)


def dangerous_probe(container: JSONObject, field: str, spec: JSONObject | None = None) -> Finding | None:
    """Why the container's probe in field ("livenessProbe", ...) hurts a worker: it boots the app, asks
    the broker, or checks a server nothing in the pod has (spec: the pod's, when known). None for a
    probe that does none of those."""
    probe = container.get(field)
    if not isinstance(probe, dict):
        return None
    name = container.get("name")
    action = probe.get("exec")
    command = action.get("command") if isinstance(action, dict) else None
    if isinstance(command, list):
        for segment in segments_of(command):
            booted = _boots_app(segment)
            if booted is not None:
                message = f"{field} of '{name}' runs {booted}, which starts the app each time and fails when the broker is slow"
                return Finding(reasons.PROBE_BOOTS_APP, message)
            asked = _asks_broker(segment)
            if asked is not None:
                message = f"{field} of '{name}' runs {asked}: a slow broker fails it in every worker at once"
                return Finding(reasons.PROBE_ASKS_BROKER, message)
        return None
    for handler in _NETWORK_HANDLERS:
        check = probe.get(handler)
        if isinstance(check, dict) and not _served(container, check.get("port"), spec):
            message = f"{field} of '{name}' is a {handler} on port {check.get('port')}, which '{name}' does not declare"
            return Finding(reasons.PROBE_WITHOUT_SERVER, message)
    return None


def liveness_copies_readiness(container: JSONObject) -> Finding | None:
    """Whether liveness runs the check readiness runs; their timings may differ, the failure is the same."""
    liveness, readiness = container.get("livenessProbe"), container.get("readinessProbe")
    if not isinstance(liveness, dict) or not isinstance(readiness, dict):
        return None
    check = {key: liveness[key] for key in _HANDLERS if key in liveness}
    if not check or check != {key: readiness[key] for key in _HANDLERS if key in readiness}:
        return None
    message = f"the livenessProbe of '{container.get('name')}' runs the same check as its readinessProbe"
    return Finding(reasons.LIVENESS_COPIES_READINESS, message)


def _missing_probes(container: JSONObject, kind: str) -> list[Finding]:
    name = container.get("name")
    missing = []
    if not isinstance(container.get("livenessProbe"), dict):
        missing.append(Finding(reasons.NO_LIVENESS_PROBE, f"'{name}' has no livenessProbe: a stuck worker runs on"))
    if kind not in _NO_ROLLOUT_KINDS and not isinstance(container.get("readinessProbe"), dict):
        missing.append(Finding(reasons.NO_READINESS_PROBE, f"'{name}' has no readinessProbe: a broken rollout counts as ready"))
    return missing


def _short_grace(pod: PodView, container: JSONObject) -> Finding | None:
    written = pod.spec.get("terminationGracePeriodSeconds")
    if written is not None and (isinstance(written, bool) or not isinstance(written, int)):
        return None
    found = command_timeout(container)
    grace = KUBERNETES_DEFAULT_GRACE_SECONDS if written is None else written
    if found is None or grace > found.seconds:
        return None
    whose = "Kubernetes' default terminationGracePeriodSeconds" if written is None else "terminationGracePeriodSeconds"
    message = f"{whose} {grace}s is no longer than {found.said}: what still runs then is killed"
    return Finding(reasons.GRACE_PERIOD_UNDER_COMMAND_TIMEOUT, message)


def _shell_wrapped(container: JSONObject) -> list[Finding]:
    wrapped = shell_wrapped_warning(container)
    return [] if wrapped is None else [wrapped]


def long_jobs(container: JSONObject, by_rule: bool) -> str | None:
    """Why the worker runs long jobs: its rule's profile keeps it from eviction (by_rule), or its
    command waits longer than Kubernetes' default grace period on SIGTERM. None when neither holds."""
    found = command_timeout(container)
    if found is not None and found.seconds > KUBERNETES_DEFAULT_GRACE_SECONDS:
        return found.said
    return "its framework's jobs run long" if by_rule else None


def _evictable(pod: PodView, container: JSONObject, long_jobs_by_rule: bool) -> Finding | None:
    if pod.kind in _AUTOSCALER_IGNORES or pod.annotations.get(SAFE_TO_EVICT) == "false":
        return None
    why = long_jobs(container, long_jobs_by_rule)
    if why is None:
        return None
    message = f"'{container.get('name')}' runs long jobs ({why}), and the pod lacks {SAFE_TO_EVICT}: \"false\""
    return Finding(reasons.LONG_JOBS_EVICTABLE, message)


def _well_formed(container: JSONObject) -> bool:
    """The fields the judging reads hold what the Kubernetes API allows there."""
    return isinstance(container.get("name"), str) and all(
        isinstance(container.get(key), list | None) for key in ("command", "args")
    )


def worker_risks(pod: PodView, index: int, long_jobs_by_rule: bool) -> list[Finding]:
    """Every risk of the worker in container `index` of the pod, as the pod runs today.
    long_jobs_by_rule: the rule that recognised the worker says its jobs run long (Sidekiq, Celery)."""
    containers = pod.spec.get("containers")
    if not isinstance(containers, list) or not 0 <= index < len(containers):
        return []
    container = containers[index]
    if not isinstance(container, dict) or not _well_formed(container):
        return []
    found: list[Finding] = _missing_probes(container, pod.kind)
    copied = liveness_copies_readiness(container)
    found += [copied] if copied is not None else []
    found += _present(dangerous_probe(container, field, pod.spec) for field in PROBE_FIELDS)
    found += _present([_short_grace(pod, container)])
    found += _shell_wrapped(container)
    found += _present([_evictable(pod, container, long_jobs_by_rule)])
    return found


def can_cause_restart_storm(container: object, spec: JSONObject | None = None) -> bool:
    """Whether a probe whose failure restarts the container is one that hurts a worker: it boots the
    app, asks the broker or checks a server the pod lacks, so every worker fails it at once."""
    return isinstance(container, dict) and any(dangerous_probe(container, field, spec) is not None for field in RESTARTING_FIELDS)


def _present(findings: Iterable[Finding | None]) -> list[Finding]:
    return [finding for finding in findings if finding is not None]
