"""The injected exec probes and preStop hook, as POSIX sh that behaves the same in dash, bash and busybox.

Paths reach here already validated by parse_heartbeat_path (letters, digits, . _ - / only), so
double quotes are enough to keep them one inert word.
"""

from __future__ import annotations

import functools
import math
import posixpath

from webhook.core.settings import DRAINING_MARKER_NAME, Resolved
from webhook.core.types import JSONObject

LIVENESS_FAILURE_THRESHOLD = 3
PROBE_TIMEOUT_MAX_SECONDS = 5

# A unix-seconds heartbeat must be 1-10 digits with no leading zero: bash reads 0-prefixed numbers as
# octal, and 11+ digits is garbage (or year 2286).
_UNIX_READ = 't=$(cat "{file}" 2>/dev/null) || exit 1; case "$t" in ""|0*|*[!0-9]*|???????????*) exit 1;; esac'
_MTIME_READ = 't=$(stat -c %Y "{file}" 2>/dev/null) || exit 1; case "$t" in ""|*[!0-9]*) exit 1;; esac'
# A beat from the future is garbage too: writer and probe share the node's clock.
_AGE_CHECK = 'a=$(( $(date +%s) - t )); test "$a" -ge 0 && test "$a" -le {max_age}'


def draining_marker(heartbeat_path: str) -> str:
    return posixpath.join(posixpath.dirname(heartbeat_path), DRAINING_MARKER_NAME)


def freshness_script(heartbeat_path: str, heartbeat_format: str, max_age: int) -> str:
    """Exit 0 only when the heartbeat is at most max_age seconds old; every failure path exits 1."""
    read = _UNIX_READ if heartbeat_format == "unix" else _MTIME_READ
    return f"{read.format(file=heartbeat_path)}; {_AGE_CHECK.format(max_age=max_age)}"


def readiness_script(heartbeat_path: str, heartbeat_format: str, max_age: int) -> str:
    marker = draining_marker(heartbeat_path)
    return f'test ! -e "{marker}" || exit 1; {freshness_script(heartbeat_path, heartbeat_format, max_age)}'


def startup_script(heartbeat_path: str, heartbeat_format: str, max_age: int) -> str:
    # kubelet runs preStop before a liveness restart too, and the emptyDir outlives the container:
    # a marker left behind would keep the new container unready forever. The startup probe runs once
    # per container start, before readiness, so it is where a stale marker goes.
    marker = draining_marker(heartbeat_path)
    return f'rm -f "{marker}"; {freshness_script(heartbeat_path, heartbeat_format, max_age)}'


def prestop_script(heartbeat_path: str, sleep_seconds: int) -> str:
    return f': > "{draining_marker(heartbeat_path)}"; sleep {sleep_seconds}'


def _exec(script: str) -> JSONObject:
    return {"exec": {"command": ["sh", "-c", script]}}


def _timeout(period: int) -> int:
    # Exec probes go through the container runtime and are slow on busy nodes: be generous.
    return max(1, min(PROBE_TIMEOUT_MAX_SECONDS, period))


def readiness_probe(settings: Resolved) -> JSONObject:
    return _readiness_probe(
        settings["heartbeat-path"], settings["heartbeat-format"], settings["readiness-max-age"], settings["probe-period"]
    )


def liveness_probe(settings: Resolved) -> JSONObject:
    return _liveness_probe(
        settings["heartbeat-path"], settings["heartbeat-format"], settings["liveness-max-age"], settings["probe-period"]
    )


def startup_probe(settings: Resolved) -> JSONObject:
    attempts = max(1, math.ceil(settings["startup-timeout"] / settings["probe-period"]))
    return _startup_probe(
        settings["heartbeat-path"],
        settings["heartbeat-format"],
        settings["readiness-max-age"],
        settings["probe-period"],
        attempts,
    )


def prestop_hook(settings: Resolved) -> JSONObject:
    return _prestop_hook(settings["heartbeat-path"], settings["prestop-sleep"])


# The builders below are cached, so the objects they return are shared by every patch that injects
# the same probe: a patch is only serialized, and jsonpatch copies the values it applies. Never
# mutate one.


@functools.lru_cache(maxsize=256)
def _readiness_probe(path: str, heartbeat_format: str, max_age: int, period: int) -> JSONObject:
    script = readiness_script(path, heartbeat_format, max_age)
    return {**_exec(script), "periodSeconds": period, "timeoutSeconds": _timeout(period), "failureThreshold": 1}


@functools.lru_cache(maxsize=256)
def _liveness_probe(path: str, heartbeat_format: str, max_age: int, period: int) -> JSONObject:
    script = freshness_script(path, heartbeat_format, max_age)
    # Several failures in a row: one exec that timed out on a busy node must not restart the worker.
    return {
        **_exec(script),
        "periodSeconds": period,
        "timeoutSeconds": _timeout(period),
        "failureThreshold": LIVENESS_FAILURE_THRESHOLD,
    }


@functools.lru_cache(maxsize=256)
def _startup_probe(path: str, heartbeat_format: str, max_age: int, period: int, attempts: int) -> JSONObject:
    script = startup_script(path, heartbeat_format, max_age)
    return {**_exec(script), "periodSeconds": period, "timeoutSeconds": _timeout(period), "failureThreshold": attempts}


@functools.lru_cache(maxsize=256)
def _prestop_hook(path: str, sleep_seconds: int) -> JSONObject:
    return _exec(prestop_script(path, sleep_seconds))
