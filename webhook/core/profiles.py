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
            "Any worker that writes unix time to $WORKERGUARD_HEARTBEAT_FILE.",
            {
                "shutdown-timeout": (25, "with the 5s margin this keeps Kubernetes' default 30s grace period"),
            },
        ),
        _builtin(
            "sidekiq",
            "Sidekiq: write Time.now.to_i from config.on(:beat), which fires every 10s.",
            {
                "heartbeat-format": ("unix", "the on(:beat) writer in the field writes Time.now.to_i"),
                "readiness-max-age": (60, "on(:beat) fires every 10s: five missed beats before unready"),
                "probe-period": (10, "matches the beat interval; shorter only costs node CPU"),
                "shutdown-timeout": (25, "Sidekiq's own -t default; raise it with -t for long jobs"),
                "safe-to-evict": (False, "scale-in must not kill long jobs mid-flight"),
            },
        ),
        _builtin(
            "celery",
            "Celery: a bootstep timer or heartbeat_sent signal touches the heartbeat file.",
            {
                "heartbeat-format": ("mtime", "the usual Celery recipe touches the file, so the mtime is the beat"),
                "readiness-max-age": (60, "a worker busy in a long task still beats from its timer thread"),
                "shutdown-timeout": (60, "warm shutdown waits for running tasks; a minute covers typical ones"),
                "safe-to-evict": (False, "scale-in must not kill running tasks; acks_late is not the default"),
            },
        ),
        _builtin(
            "pubsub",
            "Pub/Sub subscribers: a ticker goroutine or thread writes unix time.",
            {
                "heartbeat-format": ("unix", "the Go and Ruby subscribers in the field write unix seconds"),
                "readiness-max-age": (60, "the writer ticks every 10s: five missed ticks before unready"),
                "shutdown-timeout": (30, "finish in-flight messages; unacked ones are redelivered anyway"),
                "safe-to-evict": (True, "redelivery after the ack deadline makes eviction safe"),
            },
        ),
    )
}

DEFAULT_PROFILE = "generic"
