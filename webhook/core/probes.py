"""The injected exec probes and preStop hook, as POSIX sh that behaves the same in dash, bash and busybox.

Paths reach here already validated by parse_heartbeat_path (letters, digits, . _ - / only), so
double quotes are enough to keep them one inert word.
"""

from __future__ import annotations

import math
import re

from webhook.core import reasons
from webhook.core.settings import BUNDLED_SHELL_NAME, DRAINING_MARKER_NAME, NOT_READY_MARKER_NAME, Settings
from webhook.core.types import Finding, JSONObject

LIVENESS_FAILURE_THRESHOLD = 3
PROBE_TIMEOUT_MAX_SECONDS = 5

# On failure a script prints one line, which kubelet copies into the pod's Unhealthy event; success is
# silent. printf, never echo (whose backslash handling differs between dash and bash), and what the file
# holds only ever as an argument, cut to 20 characters.
# Every script workerguard injects says its failures this way, which also tells its scripts from a user's.
_FAIL_PREFIX = 'printf "workerguard: '
_FAIL = _FAIL_PREFIX + '{text}\\n"{args}; exit 1'
_NO_BEAT = _FAIL.format(text="no heartbeat yet at %s", args=' "{file}"')
# A unix-seconds heartbeat must be 1-10 digits with no leading zero: bash reads 0-prefixed numbers as
# octal, and 11+ digits is garbage (or year 2286).
_UNIX_READ = (
    't=$(cat "{file}" 2>/dev/null) || {{ ' + _NO_BEAT + "; }}; "
    'case "$t" in ""|0*|*[!0-9]*|???????????*) '
    + _FAIL.format(text="heartbeat holds '%.20s', not unix seconds", args=' "$t"')
    + ";; esac"
)
_MTIME_READ = (
    't=$(stat -c %Y "{file}" 2>/dev/null) || {{ ' + _NO_BEAT + "; }}; "
    'case "$t" in ""|*[!0-9]*) ' + _FAIL.format(text="cannot read the time of %s", args=' "{file}"') + ";; esac"
)
# A beat from the future is garbage too: writer and probe share the node's clock. One second ahead is
# not: busybox's date reads the kernel's coarse clock, which lags the writers' clock by up to a tick, so
# just after a second boundary a beat written that instant reads as a second ahead.
_AGE_CHECK = (
    "a=$(( $(date +%s) - t )); "
    'if [ "$a" -lt -1 ]; then ' + _FAIL.format(text="heartbeat %s is %ss in the future", args=' "{file}" "$((-a))"') + "; fi; "
    'if [ "$a" -gt {max_age} ]; then '
    + _FAIL.format(text="heartbeat %s is %ss old ({allowance})", args=' "{file}" "$a"')
    + "; fi"
)
# The emptyDir outlives the container, and so does a previous container's last beat: only a beat at or
# after the start of the container's first process (PID 1 in its PID namespace: kernel boot time plus
# its start in clock ticks, 100 a second on Linux) counts. Where /proc cannot say, freshness alone decides.
_STARTED_CHECK = (
    "p=$(cat /proc/1/stat 2>/dev/null) || exit 0; p=${{p##*) }}; set -- $p; k=${{20}}; b=; "
    'while read -r n v; do if [ "$n" = btime ]; then b=$v; fi; done < /proc/stat; '
    'case "$k" in ""|*[!0-9]*) exit 0;; esac; case "$b" in ""|*[!0-9]*) exit 0;; esac; '
    's=$((b + k / 100)); if [ "$t" -lt "$s" ]; then '
    + _FAIL.format(text="heartbeat %s predates this container (%ss before it started)", args=' "{file}" "$((s - t))"')
    + "; fi"
)
_DRAINING_CHECK = 'if [ -e "{draining}" ]; then ' + _FAIL.format(text="draining since preStop", args="") + "; fi"
_NOT_READY_CHECK = (
    'if [ -e "{not_ready}" ]; then r=; read -r r 2>/dev/null < "{not_ready}"; '
    + _FAIL.format(text="not ready: %.100s", args=' "$r"')
    + "; fi"
)
# Each script is one template, filled by one format() call: scripts are built for every pod planned.
_FRESHNESS = {
    "unix": _UNIX_READ + "; " + _AGE_CHECK,
    "mtime": _MTIME_READ + "; " + _AGE_CHECK,
}
_READINESS = {name: _DRAINING_CHECK + "; " + _NOT_READY_CHECK + "; " + fresh for name, fresh in _FRESHNESS.items()}
_STARTUP = {name: 'rm -f "{draining}"; ' + fresh + "; " + _STARTED_CHECK for name, fresh in _FRESHNESS.items()}


BEAT_INTERVAL_MAX_SECONDS = 10


def beat_interval(readiness_max_age: int) -> int:
    """How often a writer beats: three beats per readiness window, so one late beat never turns the
    worker unready, and at least every 10s."""
    return max(1, min(BEAT_INTERVAL_MAX_SECONDS, readiness_max_age // 3))


def heartbeat_directory(heartbeat_path: str) -> str:
    """The directory the heartbeat volume is mounted at. Settings only hold absolute, normalized paths
    below a directory other than /, so this is posixpath.dirname without its general cases."""
    return heartbeat_path.rpartition("/")[0]


def marker(heartbeat_path: str, name: str) -> str:
    """A file next to the heartbeat."""
    return f"{heartbeat_directory(heartbeat_path)}/{name}"


def draining_marker(heartbeat_path: str) -> str:
    return marker(heartbeat_path, DRAINING_MARKER_NAME)


def freshness_script(heartbeat_path: str, heartbeat_format: str, max_age: int, allowance: str) -> str:
    """Exit 0 only when the heartbeat is at most max_age seconds old; every failure path says why and
    exits 1 (`allowance` ends the age message: "readiness allows 60s"). Leaves the beat's time in $t."""
    return _FRESHNESS[heartbeat_format].format(file=heartbeat_path, max_age=max_age, allowance=allowance)


def readiness_script(heartbeat_path: str, heartbeat_format: str, max_age: int) -> str:
    """Fresh, not draining, and not marked not-ready by the writer (a dependency it cannot use)."""
    return _READINESS[heartbeat_format].format(
        file=heartbeat_path,
        max_age=max_age,
        allowance=f"readiness allows {max_age}s",
        draining=draining_marker(heartbeat_path),
        not_ready=marker(heartbeat_path, NOT_READY_MARKER_NAME),
    )


def startup_script(heartbeat_path: str, heartbeat_format: str, max_age: int) -> str:
    # kubelet runs preStop before a liveness restart too, and the emptyDir outlives the container:
    # a marker left behind would keep the new container unready forever. The startup probe runs once
    # per container start, before readiness, so it is where a stale marker goes.
    return _STARTUP[heartbeat_format].format(
        file=heartbeat_path, max_age=max_age, allowance=f"startup allows {max_age}s", draining=draining_marker(heartbeat_path)
    )


def prestop_script(heartbeat_path: str, sleep_seconds: int) -> str:
    return f': > "{draining_marker(heartbeat_path)}"; sleep {sleep_seconds}'


_PRESTOP_SCRIPT = re.compile(rf'^: > "[^"]*/{DRAINING_MARKER_NAME}"; sleep \d+$')


def is_probe_script(script: str) -> bool:
    """Whether a probe's script is one of workerguard's (core.reinject takes those back out)."""
    return _FAIL_PREFIX in script


def is_prestop_script(script: str) -> bool:
    """Whether a preStop's script is the one prestop_script() writes."""
    return _PRESTOP_SCRIPT.match(script) is not None


def _exec(shell: tuple[str, ...], script: str) -> JSONObject:
    return {"exec": {"command": [*shell, script]}}


def _timeout(period: int) -> int:
    # Exec probes go through the container runtime and are slow on busy nodes: be generous.
    return max(1, min(PROBE_TIMEOUT_MAX_SECONDS, period))


# Every exec run costs the node CPU in the runtime, the shim and runc, whatever it runs (docs/probes.md
# has the figure); past this many runs a minute per pod, a warning says so.
PROBE_RUNS_PER_MINUTE_WARN = 12
LIVENESS_PERIOD_MAX_SECONDS = 60


def liveness_period(probe_period: int, liveness_max_age: int) -> int:
    """Liveness only has to notice a wedge within its own window, not every readiness period: a fifth of
    liveness-max-age, at most a minute, never shorter than the probe period."""
    return max(probe_period, min(LIVENESS_PERIOD_MAX_SECONDS, liveness_max_age // 5))


def liveness_limit(probe_period: int, liveness_max_age: int) -> int:
    """The age at which one liveness run fails. Kubelet restarts after LIVENESS_FAILURE_THRESHOLD failures
    in a row, one period apart, so failing from max-age minus the periods in between restarts once the
    worker has been silent for liveness-max-age, within one period (and so after readiness failed)."""
    stretch = (LIVENESS_FAILURE_THRESHOLD - 1) * liveness_period(probe_period, liveness_max_age)
    return max(0, liveness_max_age - stretch)


def probe_runs_per_minute(settings: Settings) -> float:
    """Steady-state exec runs a minute for one pod: readiness and liveness (startup stops once it passes)."""
    runs = 60 / settings.probe_period
    if settings.liveness_max_age is not None:
        runs += 60 / liveness_period(settings.probe_period, settings.liveness_max_age)
    return runs


def budget_warnings(settings: Settings) -> list[Finding]:
    if settings.probe_transport == "http":
        return []  # readiness and liveness are HTTP requests; the exec startup probe stops once it passes
    runs = probe_runs_per_minute(settings)
    if runs <= PROBE_RUNS_PER_MINUTE_WARN:
        return []
    message = f"{round(runs)} exec probe runs a minute, 25-46ms of node CPU each; raise probe-period or use http"
    return [Finding(reasons.PROBE_RUNS_COSTLY, message)]


_IMAGE_SHELL = ("sh", "-c")


def shell_of(settings: Settings) -> tuple[str, ...]:
    """How a script is started: the image's sh, or the busybox the init container put in the volume."""
    if settings.probe_shell == "bundled":
        return bundled_shell(settings.heartbeat_path)
    return _IMAGE_SHELL


def bundled_shell(heartbeat_path: str) -> tuple[str, ...]:
    """The busybox the init container copied into the heartbeat's volume, as sh."""
    return (marker(heartbeat_path, BUNDLED_SHELL_NAME), "sh", "-c")


def readiness_schedule(settings: Settings) -> JSONObject:
    """When readiness runs and when it counts, whatever asks (an exec script or workerguard-probe)."""
    return _schedule(settings.probe_period, 1)


def liveness_schedule(settings: Settings, max_age: int) -> JSONObject:
    # Several failures in a row: one run that timed out on a busy node must not restart the worker.
    return _schedule(liveness_period(settings.probe_period, max_age), LIVENESS_FAILURE_THRESHOLD)


def _schedule(period: int, threshold: int) -> JSONObject:
    return {"periodSeconds": period, "timeoutSeconds": _timeout(period), "failureThreshold": threshold}


def readiness_probe(settings: Settings) -> JSONObject:
    script = readiness_script(settings.heartbeat_path, settings.heartbeat_format, settings.readiness_max_age)
    return {**_exec(shell_of(settings), script), **readiness_schedule(settings)}


def liveness_probe(settings: Settings, max_age: int) -> JSONObject:
    """max_age: liveness-max-age, which a pod without liveness (off) has none of."""
    limit = liveness_limit(settings.probe_period, max_age)
    script = freshness_script(settings.heartbeat_path, settings.heartbeat_format, limit, f"liveness restarts it at {max_age}s")
    return {**_exec(shell_of(settings), script), **liveness_schedule(settings, max_age)}


def startup_probe(settings: Settings, timeout: int) -> JSONObject:
    """timeout: startup-timeout, which a pod without a startup probe (off) has none of."""
    attempts = max(1, math.ceil(timeout / settings.probe_period))
    return _startup_probe(
        shell_of(settings),
        settings.heartbeat_path,
        settings.heartbeat_format,
        settings.readiness_max_age,
        settings.probe_period,
        attempts,
    )


def prestop_hook(settings: Settings) -> JSONObject:
    return _prestop_hook(shell_of(settings), settings.heartbeat_path, settings.prestop_sleep)


# Every probe object is built for its plan alone, so a caller may edit a patch without touching another's.


def _startup_probe(
    shell: tuple[str, ...], path: str, heartbeat_format: str, max_age: int, period: int, attempts: int
) -> JSONObject:
    script = startup_script(path, heartbeat_format, max_age)
    return {**_exec(shell, script), **_schedule(period, attempts)}


def _prestop_hook(shell: tuple[str, ...], path: str, sleep_seconds: int) -> JSONObject:
    return _exec(shell, prestop_script(path, sleep_seconds))
