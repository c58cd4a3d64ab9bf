"""The mutations: heartbeat volume, mount and env, exec probes, preStop, grace period, autoscaler
annotations, and the other containers' wait for the worker (decided in core.sidecars).

Each step reads the pod as it is and appends ops; a clash with what the user already has becomes a
Problem (fatal) or a warning Finding (kept the user's choice), never a silent overwrite.
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webhook import __version__
from webhook.core import probes, reasons, sidecars, transport
from webhook.core.annotations import SAFE_TO_EVICT, SAFE_TO_EVICT_LOCAL_VOLUMES
from webhook.core.errors import Problem
from webhook.core.patch import PatchBuilder
from webhook.core.settings import BUNDLED_SHELL_NAME, Settings
from webhook.core.types import Finding, JSONObject
from webhook.core.workload import PodView

HEARTBEAT_ENV = "WORKERGUARD_HEARTBEAT_FILE"
# What a writer needs to know, handed to it by the pod rather than copied into its code.
STUCK_AFTER_ENV = "WORKERGUARD_STUCK_AFTER"
BEAT_INTERVAL_ENV = "WORKERGUARD_BEAT_INTERVAL"
VOLUME_NAME = "workerguard-heartbeat"
VOLUME_SIZE_LIMIT = "1Mi"
# Room for the bundled static busybox (about 2 MB) besides the heartbeat.
BUNDLED_VOLUME_SIZE_LIMIT = "8Mi"
PROBE_SHELL_INIT_NAME = "workerguard-probe-shell"
GRACE_MARGIN_SECONDS = 5
KUBERNETES_DEFAULT_GRACE_SECONDS = 30
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh"})
OUR_VOLUME = re.compile(rf"{VOLUME_NAME}(-[0-9]+)?")
# env name -> value
WriterEnv = dict[str, str]
_EXEC_AT_COMMAND_START = re.compile(r"(^|[;&|(]\s*)exec\s")
# A script that traps TERM is the worker itself, written to stop on it.
_TERM_TRAP = re.compile(r"(^|[;&|(\n]\s*)trap\s[^\n]*\b(TERM|SIGTERM|15)\b")
# Absolute paths inside a command word, including a script's words (`cd /app && exec ./run`).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/:-])/[\w.@+-]+(?:/[\w.@+-]+)*")


DEFAULT_HELPER_IMAGE = f"workerguard:{__version__}"
DEFAULT_HELPER_PATH = "/usr/local/lib/workerguard/busybox"
DEFAULT_PROBE_SERVER_PATH = "/usr/local/lib/workerguard/workerguard-probe"


@dataclass(frozen=True, slots=True)
class ProbeHelper:
    """The image that holds a static busybox for probe-shell: bundled and workerguard-probe for
    probe-transport: http, and their paths inside that image."""

    image: str = DEFAULT_HELPER_IMAGE
    path: str = DEFAULT_HELPER_PATH
    server: str = DEFAULT_PROBE_SERVER_PATH


# Which settings shape each part inject() writes. A step records the path it wrote and the part it is;
# a setting's explanation lists the paths of the parts it shapes.
SHAPED_BY: dict[str, tuple[str, ...]] = {
    "volume": ("heartbeat-path",),
    "volume for the bundled shell": ("heartbeat-path", "probe-shell"),
    "volume for the sidecars' shell": ("heartbeat-path", "sidecar-wait"),
    PROBE_SHELL_INIT_NAME: ("probe-shell", "heartbeat-path"),
    "shell for the sidecars": ("sidecar-wait", "heartbeat-path"),
    "volumeMount": ("heartbeat-path",),
    HEARTBEAT_ENV: ("heartbeat-path",),
    STUCK_AFTER_ENV: ("stuck-after",),
    BEAT_INTERVAL_ENV: ("readiness-max-age",),
    "replaced probe": ("override-probes",),
    "startupProbe": ("startup-timeout", "probe-period", "heartbeat-path", "heartbeat-format", "container", "readiness-max-age"),
    "readinessProbe": ("readiness-max-age", "probe-period", "heartbeat-path", "heartbeat-format", "container", "probe-transport"),
    "livenessProbe": ("liveness-max-age", "probe-period", "heartbeat-path", "heartbeat-format", "container", "probe-transport"),
    transport.PROBE_SERVER_NAME: (
        "probe-transport",
        "heartbeat-path",
        "heartbeat-format",
        "readiness-max-age",
        "liveness-max-age",
        "probe-period",
    ),
    "preStop": ("prestop-sleep", "heartbeat-path", "container"),
    "terminationGracePeriodSeconds": ("shutdown-timeout", "prestop-sleep"),
    "grace for the sidecars": ("sidecar-wait",),
    "sidecar volumeMount": ("sidecar-wait", "heartbeat-path"),
    # The wait's bound comes from the grace period, its staleness from readiness-max-age.
    "sidecar preStop": (
        "sidecar-wait",
        "heartbeat-path",
        "heartbeat-format",
        "readiness-max-age",
        "shutdown-timeout",
        "prestop-sleep",
    ),
    "autoscaler annotation": ("safe-to-evict",),
}


@dataclass
class Injection:
    builder: PatchBuilder = field(default_factory=PatchBuilder)
    shaped: list[tuple[str, str]] = field(default_factory=list)  # (injected path, its part in SHAPED_BY)
    warnings: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def record(self, path: str, part: str) -> None:
        self.shaped.append((path, part))


def paths_by_setting(shaped: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The injected paths each setting shaped: built only when someone asks for explanations."""
    paths: defaultdict[str, list[str]] = defaultdict(list)
    for path, part in shaped:
        for setting in SHAPED_BY[part]:
            paths[setting].append(path)
    return paths


def inject(
    pod: PodView,
    index: int,
    settings: Settings,
    extra_annotations: Mapping[str, str],
    helper: ProbeHelper = ProbeHelper(),
    grace_written: bool | None = None,
) -> Injection:
    """grace_written: whether the pod's author wrote its grace period (None: the object cannot say)."""
    container = pod.spec["containers"][index]
    base = f"{pod.pointer}/spec/containers/{index}"
    where = f"{pod.field_prefix}spec.containers[{index}]"
    step = Injection()
    volume = _free_volume_name(pod.spec)
    env = writer_env(settings)
    present = _writer_env_present(container, env)
    _check_clashes(container, env, present, where, settings.heartbeat_path, step)
    choice = sidecars.choose(pod.spec, index, settings, pod.field_prefix)
    step.problems.extend(choice.problems)
    if transport.uses_http(settings):
        step.problems.extend(transport.refusals(pod.spec, pod.field_prefix))
    if step.problems:
        return step
    bundled = settings.probe_shell == "bundled"
    shell_needed = bundled or bool(choice.waiters)
    if shell_needed and any(
        isinstance(c, dict) and c.get("name") == PROBE_SHELL_INIT_NAME for c in pod.spec.get("initContainers") or []
    ):
        step.problems.append(
            Problem(f"{pod.field_prefix}spec.initContainers", f"an init container is already named {PROBE_SHELL_INIT_NAME}")
        )
        return step
    _add_volume(pod, volume, bundled, bool(choice.waiters), step)
    if shell_needed:
        _add_probe_shell_init(pod, volume, settings.heartbeat_path, helper, bundled, bool(choice.waiters), step)
    if transport.uses_http(settings):
        server = transport.server_container(settings, volume, helper.image, helper.server)
        inits = f"{pod.pointer}/spec/initContainers"
        added = step.builder.insert(inits, pod.spec.get("initContainers"), 1 if shell_needed else 0, server)
        step.record(added, transport.PROBE_SERVER_NAME)
    _add_mount_and_env(container, env, present, base, settings.heartbeat_path, volume, step)
    _add_probes(container, base, settings, step)
    _add_prestop(container, base, settings, step)
    grace = _set_grace_period(pod, settings, grace_written, bool(choice.waiters), step)
    _hold_sidecars(pod, settings, volume, grace, choice, step)
    _say_about_sidecars(pod, index, settings, choice, step)
    _set_annotations(pod, settings, volume, extra_annotations, step)
    wrapped = shell_wrapped_warning(container)
    if wrapped is not None:
        step.warnings.append(wrapped)
    return step


def _free_volume_name(spec: JSONObject) -> str:
    taken = {volume.get("name") for volume in spec.get("volumes") or [] if isinstance(volume, dict)}
    name, suffix = VOLUME_NAME, 1
    while name in taken:
        suffix += 1
        name = f"{VOLUME_NAME}-{suffix}"
    return name


def _application_paths(container: JSONObject) -> list[tuple[str, str]]:
    """(field, absolute path) of what the container runs from: its workingDir and the absolute paths
    its command and args name (a program, a script, the directory a shell cds into)."""
    found: list[tuple[str, str]] = []
    working_dir = container.get("workingDir")
    if isinstance(working_dir, str) and working_dir.startswith("/"):
        found.append(("workingDir", posixpath.normpath(working_dir)))
    for field_name in ("command", "args"):
        for i, word in enumerate(container.get(field_name) or []):
            for token in _ABSOLUTE_PATH.findall(word) if isinstance(word, str) else []:
                found.append((f"{field_name}[{i}]", posixpath.normpath(token)))
    return found


def writer_env(settings: Settings) -> WriterEnv:
    """Every env var a heartbeat writer reads."""
    stuck = settings.stuck_after
    return {
        HEARTBEAT_ENV: settings.heartbeat_path,
        STUCK_AFTER_ENV: "off" if stuck is None else str(stuck),
        BEAT_INTERVAL_ENV: str(probes.beat_interval(settings.readiness_max_age)),
    }


def _writer_env_present(container: JSONObject, env: WriterEnv) -> list[tuple[int, JSONObject]]:
    """(index, entry) of the container's env entries that a writer reads, in one pass over a list that
    is often long. container_shape_problems has checked that each entry is a mapping with a string name."""
    return [(j, item) for j, item in enumerate(container.get("env") or ()) if item["name"] in env]


def _check_clashes(
    container: JSONObject, env: WriterEnv, present: list[tuple[int, JSONObject]], where: str, heartbeat_path: str, step: Injection
) -> None:
    directory = probes.heartbeat_directory(heartbeat_path)
    for field_name, path in _application_paths(container):
        if path == directory or path.startswith(directory + "/"):
            step.problems.append(
                Problem(
                    f"{where}.{field_name}",
                    f"the heartbeat volume would be mounted over {directory} and hide {path}, which the container "
                    "runs from; set workerguard.io/heartbeat-path to a directory of its own, like /var/run/workerguard/heartbeat",
                )
            )
    for j, mount in enumerate(container.get("volumeMounts") or ()):
        mount_path = mount["mountPath"].rstrip("/") or "/"
        if mount_path == directory or mount_path == heartbeat_path:
            step.problems.append(
                Problem(
                    f"{where}.volumeMounts[{j}]",
                    f"{mount_path} is already the mount of volume '{mount.get('name')}'; "
                    "set workerguard.io/heartbeat-path to a free directory",
                )
            )
    for j, item in present:
        name = item["name"]
        if item.get("value") != env[name]:
            step.problems.append(
                Problem(f"{where}.env[{j}]", f"{name} is already set to something other than {env[name]}; workerguard sets it")
            )


def _add_volume(pod: PodView, volume: str, bundled: bool, for_sidecars: bool, step: Injection) -> None:
    size = BUNDLED_VOLUME_SIZE_LIMIT if bundled or for_sidecars else VOLUME_SIZE_LIMIT
    path = step.builder.append(
        f"{pod.pointer}/spec/volumes", pod.spec.get("volumes"), {"name": volume, "emptyDir": {"sizeLimit": size}}
    )
    step.record(path, "volume for the bundled shell" if bundled else "volume")
    if for_sidecars:
        step.record(path, "volume for the sidecars' shell")


def _add_probe_shell_init(
    pod: PodView, volume: str, heartbeat_path: str, helper: ProbeHelper, bundled: bool, for_sidecars: bool, step: Injection
) -> None:
    """An init container that copies the helper image's static busybox next to the heartbeat, so probes run
    in images with no shell (distroless, scratch). It goes first: it needs nothing from the others, and
    nothing a user's init container does can fail it or run before the shell is in place."""
    directory = probes.heartbeat_directory(heartbeat_path)
    init = {
        "name": PROBE_SHELL_INIT_NAME,
        "image": helper.image,
        # busybox's own cp: the helper image needs no shell either.
        "command": [helper.path, "cp", helper.path, probes.marker(heartbeat_path, BUNDLED_SHELL_NAME)],
        "volumeMounts": [{"name": volume, "mountPath": directory}],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "16Mi"}},
        # The copy stays executable for every user.
        "securityContext": copy.deepcopy(transport.RESTRICTED_SECURITY_CONTEXT),
    }
    added = step.builder.insert(f"{pod.pointer}/spec/initContainers", pod.spec.get("initContainers"), 0, init)
    if bundled:
        step.record(added, PROBE_SHELL_INIT_NAME)
    if for_sidecars:
        step.record(added, "shell for the sidecars")


def _add_mount_and_env(
    container: JSONObject,
    env: WriterEnv,
    present: list[tuple[int, JSONObject]],
    base: str,
    heartbeat_path: str,
    volume: str,
    step: Injection,
) -> None:
    mount = {"name": volume, "mountPath": probes.heartbeat_directory(heartbeat_path)}
    step.record(step.builder.append(f"{base}/volumeMounts", container.get("volumeMounts"), mount), "volumeMount")
    named = {item["name"] for _, item in present}  # with our value: _check_clashes refused any other
    missing = [(name, value) for name, value in env.items() if name not in named]
    values = [{"name": name, "value": value} for name, value in missing]
    for path, (name, _) in zip(step.builder.extend(f"{base}/env", container.get("env"), values), missing, strict=True):
        step.record(path, name)


def _probes(settings: Settings) -> dict[str, JSONObject]:
    """The probes the settings ask for, by field: startup and liveness can be off. Startup is always
    exec (core.transport says why)."""
    built = {}
    if settings.startup_timeout is not None:
        built["startupProbe"] = probes.startup_probe(settings, settings.startup_timeout)
    over_http = transport.uses_http(settings)
    built["readinessProbe"] = transport.readiness_probe(settings) if over_http else probes.readiness_probe(settings)
    if settings.liveness_max_age is not None:
        maker = transport.liveness_probe if over_http else probes.liveness_probe
        built["livenessProbe"] = maker(settings, settings.liveness_max_age)
    return built


def _add_probes(container: JSONObject, base: str, settings: Settings, step: Injection) -> None:
    kept = []
    for field_name, probe in _probes(settings).items():
        path = f"{base}/{field_name}"
        if field_name in container and not settings.override_probes:
            kept.append(field_name)
            continue
        if field_name in container:
            step.builder.replace(path, probe)
            step.record(path, "replaced probe")
        else:
            step.builder.add(path, probe)
        step.record(path, field_name)
    if kept:
        names = ", ".join(kept)
        step.warnings.append(
            Finding(reasons.PROBE_KEPT, f"kept the existing {names} of '{container['name']}'; override-probes replaces them")
        )


def _add_prestop(container: JSONObject, base: str, settings: Settings, step: Injection) -> None:
    if settings.prestop_sleep == 0:
        return
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict) and "preStop" in lifecycle:
        step.warnings.append(
            Finding(reasons.PRESTOP_KEPT, f"kept the existing preStop of '{container['name']}'; no draining marker is written")
        )
        return
    for path in step.builder.set_keys(f"{base}/lifecycle", lifecycle, {"preStop": probes.prestop_hook(settings)}):
        step.record(path, "preStop")


def grace_needed(settings: Settings, sidecars_wait: bool) -> int:
    """The worker's preStop sleep and shutdown, a margin, and, when sidecars wait for it, the time they
    have left to exit once it is done: nothing a sidecar waits for may push the worker to SIGKILL."""
    needed = settings.shutdown_timeout + settings.prestop_sleep + GRACE_MARGIN_SECONDS
    return needed + sidecars.SIDECAR_EXIT_SECONDS if sidecars_wait else needed


def _set_grace_period(pod: PodView, settings: Settings, grace_written: bool | None, sidecars_wait: bool, step: Injection) -> int:
    """A grace period shorter than the worker needs is raised. That is worth a warning only when its
    author wrote it: the apiserver's default (30s) is not theirs to fix. Where the object cannot say
    who wrote it, exactly 30s counts as the default. Returns the pod's grace period after the patch."""
    needed = grace_needed(settings, sidecars_wait)
    current = pod.spec.get("terminationGracePeriodSeconds")
    path = f"{pod.pointer}/spec/terminationGracePeriodSeconds"
    if current is None:
        # Unset means Kubernetes' 30s: write the effective value down, never below that default.
        grace = max(needed, KUBERNETES_DEFAULT_GRACE_SECONDS)
        step.builder.add(path, grace)
    elif current < needed:
        step.builder.replace(path, needed)
        written = grace_written if grace_written is not None else current != KUBERNETES_DEFAULT_GRACE_SECONDS
        if written:
            message = f"terminationGracePeriodSeconds {current}s is shorter than the worker needs: raised to {needed}s"
            step.warnings.append(Finding(reasons.GRACE_PERIOD_RAISED, message))
        else:
            message = f"Kubernetes' default terminationGracePeriodSeconds {current}s raised to {needed}s"
            step.notes.append(Finding(reasons.GRACE_PERIOD_DEFAULT_RAISED, message))
        grace = needed
    else:
        return int(current)
    step.record(path, "terminationGracePeriodSeconds")
    if sidecars_wait:
        step.record(path, "grace for the sidecars")
    return grace


def _hold_sidecars(
    pod: PodView, settings: Settings, volume: str, grace: int, choice: sidecars.SidecarChoice, step: Injection
) -> None:
    """Each waiting container mounts the heartbeat volume read-only and gets the wait as its preStop."""
    mount = {"name": volume, "mountPath": probes.heartbeat_directory(settings.heartbeat_path), "readOnly": True}
    bound = sidecars.wait_bound(grace)
    for waiter in choice.waiters:
        container = pod.spec["containers"][waiter.index]
        base = f"{pod.pointer}/spec/containers/{waiter.index}"
        step.record(
            step.builder.append(f"{base}/volumeMounts", container.get("volumeMounts"), dict(mount)), "sidecar volumeMount"
        )
        hook = sidecars.prestop(settings, bound, waiter.own_prestop)
        if waiter.own_prestop is None:
            paths = step.builder.set_keys(f"{base}/lifecycle", container.get("lifecycle"), {"preStop": hook})
        else:
            paths = [step.builder.replace(f"{base}/lifecycle/preStop", hook)]
        step.record(paths[0], "sidecar preStop")


def _say_about_sidecars(pod: PodView, index: int, settings: Settings, choice: sidecars.SidecarChoice, step: Injection) -> None:
    covered = {waiter.index for waiter in choice.waiters}
    deadline = settings.prestop_sleep + settings.shutdown_timeout
    warnings, notes = sidecars.known_sidecar_findings(pod.spec, index, covered, pod.annotations, deadline)
    step.warnings.extend([*choice.warnings, *warnings])
    step.notes.extend([*choice.notes, *notes])


def adds_safe_to_evict(pod: PodView, settings: Settings) -> bool:
    """Whether the injection writes safe-to-evict "false" (the pod has none of its own): the status
    annotation records it, so a later re-injection knows the annotation was workerguard's."""
    return not settings.safe_to_evict and SAFE_TO_EVICT not in (pod.metadata.get("annotations") or {})


def _set_annotations(pod: PodView, settings: Settings, volume: str, extra: Mapping[str, str], step: Injection) -> None:
    current = pod.metadata.get("annotations")
    wanted: dict[str, str] = {}
    if not settings.safe_to_evict:
        existing = (current or {}).get(SAFE_TO_EVICT)
        if adds_safe_to_evict(pod, settings):
            wanted[SAFE_TO_EVICT] = "false"
        elif existing != "false":
            step.warnings.append(Finding(reasons.SAFE_TO_EVICT_KEPT, f'kept the pod\'s own {SAFE_TO_EVICT}: "{existing}"'))
    else:
        listed = [name.strip() for name in str((current or {}).get(SAFE_TO_EVICT_LOCAL_VOLUMES, "")).split(",") if name.strip()]
        if volume not in listed:
            wanted[SAFE_TO_EVICT_LOCAL_VOLUMES] = ",".join([*listed, volume])
    paths = step.builder.set_keys(f"{pod.pointer}/metadata/annotations", current, {**wanted, **extra})
    for path in paths[: len(wanted)]:
        step.record(path, "autoscaler annotation")


def shell_script_of(container: JSONObject) -> str | None:
    """The script of a `sh -c SCRIPT` entrypoint (command and args together), else None."""
    argv: list[Any] = [*(container.get("command") or []), *(container.get("args") or [])]
    if len(argv) < 3 or not isinstance(argv[0], str) or posixpath.basename(argv[0]) not in _SHELLS:
        return None
    if argv[1] != "-c" or not isinstance(argv[2], str):
        return None
    return argv[2]


def shell_wrapped_warning(container: JSONObject) -> Finding | None:
    """The warning for a worker started through `sh -c` whose shell neither execs it nor traps TERM."""
    script = shell_script_of(container)
    if script is None or _EXEC_AT_COMMAND_START.search(script.strip()) or _TERM_TRAP.search(script):
        return None
    message = f"'{container['name']}' runs via sh -c without exec: SIGTERM stops the shell, not the worker"
    return Finding(reasons.SHELL_WRAPPED_COMMAND, message)
