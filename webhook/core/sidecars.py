"""Shutdown order for pods with more than one container: the other containers outlive the worker.

On deletion every container gets SIGTERM at once, after its own preStop returns. A database or mesh
proxy beside the worker is usually gone within a second, while the worker drains its jobs for up to
shutdown-timeout: every job still running fails on its next query. So each other regular container gets
a preStop that waits until the worker has finished (docs/shutdown.md). It learns that from the shared
heartbeat volume, mounted read-only: the writer's `exited` marker, else the heartbeat going stale (a
worker killed without a last word), else no heartbeat at all (nothing to wait for). The wait runs in
the bundled busybox, because most sidecar images (distroless) have no shell.

This module decides; inject.py writes the patch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from webhook.core import probes, reasons
from webhook.core.annotations import annotation_field, PREFIX
from webhook.core.errors import Problem, SettingError
from webhook.core.settings import BUNDLED_SHELL_NAME, EXITED_MARKER_NAME, parse_duration, Settings
from webhook.core.types import Finding, JSONObject

# What a sidecar keeps of the grace period after the worker's deadline, to exit before SIGKILL.
SIDECAR_EXIT_SECONDS = 5
# $0 of the composed hook, so the sidecar's own preStop command arrives as "$@", word for word.
_ARGV0 = "workerguard-wait"
_THEN_EXEC = '; exec "$@"'
_THEN_SLEEP = re.compile(r"; sleep (\d+)$")
# The wait ends when the worker's writer left its last word, when the beat went stale or is missing (a
# killed worker, or one that never beat), or at the bound; it polls once a second. A beat that holds no
# time proves nothing (a writer that is not atomic, caught mid-write): the wait goes on.
_WAIT = (
    "d=$(($(date +%s) + {bound})); "
    "while :; do "
    '[ -e "{exited}" ] && break; '
    "{read} || break; "
    "n=$(date +%s); "
    'case "$t" in ""|0*|*[!0-9]*) ;; *) [ $((n - t)) -gt {stale} ] && break;; esac; '
    'if [ "$n" -ge "$d" ]; then printf "workerguard: the worker still runs after %ss; stopped waiting\\n" {bound}; break; fi; '
    "sleep 1; "
    "done"
)
_WAIT_START = _WAIT.split("{bound}", 1)[0]
_READ = {
    "unix": 't=$(cat "{file}" 2>/dev/null)',
    "mtime": 't=$(stat -c %Y "{file}" 2>/dev/null)',
}


def wait_script(settings: Settings, bound: int) -> str:
    """Returns once the worker has finished, or after `bound` seconds; always exits 0 (a failed preStop
    only adds an event, and SIGTERM follows either way)."""
    path = settings.heartbeat_path
    return _WAIT.format(
        bound=bound,
        exited=probes.marker(path, EXITED_MARKER_NAME),
        read=_READ[settings.heartbeat_format].format(file=path),
        stale=settings.readiness_max_age,
    )


def wait_shell(settings: Settings) -> tuple[str, ...]:
    """Always the bundled busybox: a sidecar's image is not ours to assume a shell in."""
    return probes.bundled_shell(settings.heartbeat_path)


@dataclass(frozen=True, slots=True)
class Waiter:
    """A container that will wait for the worker, and the preStop it has today (None: none)."""

    index: int
    own_prestop: JSONObject | None


@dataclass
class SidecarChoice:
    waiters: list[Waiter] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def choose(spec: JSONObject, target: int, settings: Settings, field_prefix: str) -> SidecarChoice:
    """Which regular containers wait for the worker at `target`, and what is worth saying about the rest."""
    choice = SidecarChoice()
    containers = spec["containers"]
    natives = _native_sidecars(spec)
    for name in natives:
        choice.notes.append(
            Finding(reasons.NATIVE_SIDECAR_LEFT, f"'{name}' is a native sidecar: Kubernetes stops it after the worker")
        )
    wanted = _wanted(containers, target, settings, natives, field_prefix, choice)
    if wanted is None:
        return choice
    directory = probes.heartbeat_directory(settings.heartbeat_path)
    for index in wanted:
        container = containers[index]
        where = f"{field_prefix}spec.containers[{index}]"
        usable, own = _own_prestop(container, where, choice)
        if not usable or _mount_clash(container, directory, where, choice):
            continue
        if own is not None and not ("exec" in own or "sleep" in own):
            message = f"'{container['name']}' keeps its own {_handler_kind(own)} preStop and does not wait for the worker"
            choice.warnings.append(Finding(reasons.SIDECAR_PRESTOP_KEPT, message))
            continue
        if own is not None:
            message = f"'{container['name']}' waits for the worker, then runs its own preStop"
            choice.notes.append(Finding(reasons.SIDECAR_PRESTOP_COMPOSED, message))
        choice.waiters.append(Waiter(index, own))
    return choice


def prestop(settings: Settings, bound: int, own: JSONObject | None) -> JSONObject:
    """The wait, then the container's own exec or sleep preStop. Its own hook comes second because a
    sidecar's hook usually starts its shutdown (a drain, a quit call): run first, it would end the
    sidecar while the worker's jobs still need it."""
    shell, script = wait_shell(settings), wait_script(settings, bound)
    if own is None:
        return {"exec": {"command": [*shell, script]}}
    if "sleep" in own:
        return {"exec": {"command": [*shell, f"{script}; sleep {int(own['sleep']['seconds'])}"]}}
    return {"exec": {"command": [*shell, script + _THEN_EXEC, _ARGV0, *own["exec"]["command"]]}}


def is_wait(command: list[str]) -> bool:
    """Whether an exec preStop's command is one prestop() builds."""
    return (
        len(command) >= 4
        and command[0].endswith(f"/{BUNDLED_SHELL_NAME}")
        and command[1:3] == ["sh", "-c"]
        and command[3].startswith(_WAIT_START)
    )


def own_prestop_of(command: list[str]) -> JSONObject | None:
    """prestop() undone, for a command is_wait() accepts: the container's own hook the wait was composed
    with, None when it had none."""
    if command[3].endswith(_THEN_EXEC) and command[4:5] == [_ARGV0]:
        return {"exec": {"command": command[5:]}}
    slept = _THEN_SLEEP.search(command[3])
    return {"sleep": {"seconds": int(slept.group(1))}} if slept else None


def wait_bound(grace: int) -> int:
    return max(1, grace - SIDECAR_EXIT_SECONDS)


def _native_sidecars(spec: JSONObject) -> list[str]:
    return [
        init["name"]
        for init in spec.get("initContainers") or []
        if isinstance(init, dict) and init.get("restartPolicy") == "Always" and isinstance(init.get("name"), str)
    ]


def _wanted(
    containers: list[JSONObject], target: int, settings: Settings, natives: list[str], field_prefix: str, choice: SidecarChoice
) -> list[int] | None:
    """The indexes of the regular containers that should wait; None when sidecar-wait is off."""
    setting = settings.sidecar_wait
    if setting is None:
        return None
    others = [i for i in range(len(containers)) if i != target]
    if setting == "all":
        return others
    by_name = {containers[i]["name"]: i for i in others}
    wanted = []
    for name in setting:
        if name in by_name:
            wanted.append(by_name[name])
        elif name == containers[target]["name"]:
            choice.problems.append(
                Problem(_setting_field(field_prefix), f"'{name}' is the worker itself; it cannot wait for itself")
            )
        elif name in natives:
            continue  # already said: it stops after the worker anyway
        else:
            known = ", ".join(by_name) or "none"
            choice.problems.append(Problem(_setting_field(field_prefix), f"no other container named '{name}'; others: {known}"))
    return sorted(wanted)


def _setting_field(field_prefix: str) -> str:
    return annotation_field(field_prefix, PREFIX + "sidecar-wait")


def _own_prestop(container: JSONObject, where: str, choice: SidecarChoice) -> tuple[bool, JSONObject | None]:
    """Whether the container's lifecycle is usable (else a problem says why), and its preStop handler."""
    lifecycle = container.get("lifecycle")
    if lifecycle is None:
        return True, None
    if not isinstance(lifecycle, dict):
        choice.problems.append(Problem(f"{where}.lifecycle", "must be a mapping"))
        return False, None
    handler = lifecycle.get("preStop")
    if handler is None:
        return True, None
    if not isinstance(handler, dict) or len(handler) != 1:
        choice.problems.append(Problem(f"{where}.lifecycle.preStop", "must be a mapping with exactly one handler"))
        return False, None
    if "exec" in handler:
        command = handler["exec"].get("command") if isinstance(handler["exec"], dict) else None
        if not isinstance(command, list) or not command or not all(isinstance(word, str) for word in command):
            choice.problems.append(Problem(f"{where}.lifecycle.preStop.exec.command", "must be a non-empty list of strings"))
            return False, None
    if "sleep" in handler:
        seconds = handler["sleep"].get("seconds") if isinstance(handler["sleep"], dict) else None
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 0:
            choice.problems.append(Problem(f"{where}.lifecycle.preStop.sleep.seconds", "must be a whole number of seconds"))
            return False, None
    return True, handler


def _handler_kind(handler: JSONObject) -> str:
    return next(iter(handler))


def _mount_clash(container: JSONObject, directory: str, where: str, choice: SidecarChoice) -> bool:
    for j, mount in enumerate(container.get("volumeMounts") or []):
        if isinstance(mount, dict) and str(mount.get("mountPath", "")).rstrip("/") == directory:
            message = f"{directory} is already a mount here; set workerguard.io/heartbeat-path to a free directory"
            choice.problems.append(Problem(f"{where}.volumeMounts[{j}]", message))
            return True
    return False


# Known sidecars whose own settings decide when they stop. A known sidecar that workerguard's wait does
# not cover (left out by sidecar-wait, or keeping an HTTP preStop) gets a warning when that setting ends
# it before the worker's deadline. A mesh proxy added by its injector is in the pod by the time
# workerguard sees it: the meshes' webhooks sort before workerguard's, and one that runs after it gets
# workerguard called again (reinvocationPolicy: IfNeeded), which re-injects with the proxy in place.
ISTIO_PROXY = "istio-proxy"
LINKERD_PROXY = "linkerd-proxy"
ISTIO_CONFIG = "proxy.istio.io/config"
ISTIO_DEFAULT_DRAIN_SECONDS = 5
LINKERD_WAIT = "config.alpha.linkerd.io/proxy-wait-before-exit-seconds"
_ISTIO_DRAIN = re.compile(r"terminationDrainDuration\"?\s*:\s*\"?(\w+)")
_SQL_PROXY_IMAGE = re.compile(r"cloud[-_]?sql[-_]proxy")
_SQL_PROXY_DELAY = re.compile(r"^--?(?:max-sigterm-delay|term_timeout)(?:=(.*))?$")


def known_sidecar_findings(
    spec: JSONObject,
    target: int,
    covered: set[int],
    annotations: Mapping[str, object],
    deadline: int,
) -> tuple[list[Finding], list[Finding]]:
    """(warnings, notes) about known sidecars; deadline: seconds from deletion until the worker is done."""
    warnings: list[Finding] = []
    notes: list[Finding] = []
    names = {c["name"]: i for i, c in enumerate(spec["containers"]) if i != target}
    if _uncovered(ISTIO_PROXY, names, covered):
        drain = _istio_drain(annotations)
        if drain < deadline:
            message = f"{ISTIO_PROXY} drains {drain}s after SIGTERM; jobs may need {deadline}s (terminationDrainDuration)"
            warnings.append(Finding(reasons.SIDECAR_STOPS_EARLY, message))
    if _uncovered(LINKERD_PROXY, names, covered):
        wait = _int_or_zero(annotations.get(LINKERD_WAIT))
        if wait < deadline:
            message = f"{LINKERD_PROXY} exits {wait}s after SIGTERM; jobs may need {deadline}s (proxy-wait-before-exit)"
            warnings.append(Finding(reasons.SIDECAR_STOPS_EARLY, message))
    for index, container in enumerate(spec["containers"]):
        if index == target or not _SQL_PROXY_IMAGE.search(str(container.get("image", ""))):
            continue
        delay = _sql_proxy_delay(container)
        if index in covered:
            if delay is not None:
                message = f"'{container['name']}' waits for the worker in its preStop: its SIGTERM delay is not needed"
                notes.append(Finding(reasons.SIDECAR_SETTING_UNNEEDED, message))
        elif (delay or 0) < deadline:
            message = f"'{container['name']}' exits {delay or 0}s after SIGTERM; jobs may need {deadline}s (--max-sigterm-delay)"
            warnings.append(Finding(reasons.SIDECAR_STOPS_EARLY, message))
    return warnings, notes


def _uncovered(name: str, names: Mapping[str, int], covered: set[int]) -> bool:
    return name in names and names[name] not in covered


def _istio_drain(annotations: Mapping[str, object]) -> int:
    config = annotations.get(ISTIO_CONFIG)
    found = _ISTIO_DRAIN.search(config) if isinstance(config, str) else None
    return _seconds_or(found.group(1) if found else None, ISTIO_DEFAULT_DRAIN_SECONDS)


def _sql_proxy_delay(container: JSONObject) -> int | None:
    """The SIGTERM delay cloud-sql-proxy's arguments give (v2 --max-sigterm-delay, v1 -term_timeout)."""
    words = [word for word in [*(container.get("command") or []), *(container.get("args") or [])] if isinstance(word, str)]
    for i, word in enumerate(words):
        match = _SQL_PROXY_DELAY.match(word)
        if match:
            value = match.group(1) if match.group(1) is not None else (words[i + 1] if i + 1 < len(words) else None)
            return _seconds_or(value, 0)
    return None


def _seconds_or(text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        return parse_duration(text)  # Go's durations as these sidecars print them: 30s, 1m30s, 2m0s
    except SettingError:
        return default


def _int_or_zero(value: object) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() else 0
