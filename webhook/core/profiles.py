"""Built-in profiles: settings tuned per worker framework, each value with the reason for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webhook.core.settings import Layer


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    values: Mapping[str, Any]
    reasons: Mapping[str, str]
    origin: Mapping[str, str]

    def layer(self) -> Layer:
        return Layer(f"profile:{self.name}", self.values, self.origin)


def _builtin(name: str, description: str, settings: Mapping[str, tuple[Any, str]]) -> Profile:
    values = {key: value for key, (value, _) in settings.items()}
    reasons = {key: reason for key, (_, reason) in settings.items()}
    origin = {key: f"profile {name} ({key})" for key in settings}
    return Profile(name, description, values, reasons, origin)


BUILTIN_PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        _builtin(
            "generic",
            "Any worker whose writer beats unix time into $WORKERGUARD_HEARTBEAT_FILE (writers/python, writers/go).",
            {
                "shutdown-timeout": (25, "with the 5s margin this keeps Kubernetes' default 30s grace period"),
                "stuck-after": (1800, "a job running half an hour is wedged for most workers; raise it for long jobs"),
            },
        ),
        _builtin(
            "sidekiq",
            "Sidekiq 6.4 to 8.x with the workerguard writer (writers/ruby), which beats from its own thread.",
            {
                "heartbeat-format": ("unix", "the writer writes unix seconds"),
                "readiness-max-age": (60, "the writer beats every 10s: six missed beats before unready"),
                "probe-period": (10, "one check per beat; shorter only costs node CPU"),
                "shutdown-timeout": (25, "Sidekiq's own -t default; raise it with -t for long jobs"),
                "stuck-after": (1800, "a job Sidekiq has run for half an hour is wedged; -t pushes the rest back on stop"),
                "safe-to-evict": (False, "scale-in must not kill long jobs mid-flight"),
            },
        ),
        _builtin(
            "celery",
            "Celery (prefork, threads or solo pool) with the workerguard writer (writers/python).",
            {
                "heartbeat-format": ("mtime", "the writer's atomic write and touch-style recipes both set the mtime"),
                "readiness-max-age": (60, "the writer beats from its own thread, also while a task runs"),
                "stuck-after": (600, "a task running ten minutes is wedged for most queues; raise it for long tasks"),
                "shutdown-timeout": (600, "Celery waits for running tasks with no limit of its own: cover stuck-after"),
                "safe-to-evict": (False, "scale-in must not kill running tasks; acks_late is not the default"),
            },
        ),
        _builtin(
            "pubsub",
            "Pub/Sub subscribers whose writer beats unix time (writers/go, writers/python).",
            {
                "heartbeat-format": ("unix", "the writers write unix seconds"),
                "readiness-max-age": (60, "the writer beats every 10s: six missed beats before unready"),
                "stuck-after": (600, "a message handled for ten minutes is wedged; it is redelivered anyway"),
                "shutdown-timeout": (30, "finish in-flight messages; unacked ones are redelivered anyway"),
                "safe-to-evict": (True, "redelivery after the ack deadline makes eviction safe"),
            },
        ),
    )
}

DEFAULT_PROFILE = "generic"
