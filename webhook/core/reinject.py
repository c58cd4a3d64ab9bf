"""An earlier injection taken back out, so the current rules can be applied in its place.

A pod template can carry what workerguard injected before: preview output that was applied or
committed, or a template from an older workerguard. strip() removes exactly what workerguard adds and
nothing the user wrote. It recognises our parts by their content (the names, env, scripts and ports
only workerguard writes), and takes from the status annotation what content cannot tell: the grace
period the pod had before, and whether the safe-to-evict annotation was ours. plan() then plans the
stripped object afresh; with the same rules the result is the object as it is, and the patch empty.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import orjson

from webhook.core import probes, sidecars
from webhook.core.annotations import SAFE_TO_EVICT, SAFE_TO_EVICT_LOCAL_VOLUMES, STATUS
from webhook.core.inject import (
    BUNDLED_VOLUME_SIZE_LIMIT,
    HEARTBEAT_ENV,
    OUR_VOLUME,
    PROBE_SHELL_INIT_NAME,
    VOLUME_SIZE_LIMIT,
    writer_env,
)
from webhook.core.risks import PROBE_FIELDS
from webhook.core.settings import DEFAULTS
from webhook.core.transport import LIVE_PATH, PROBE_PORT, PROBE_SERVER_NAME, READY_PATH
from webhook.core.types import JSONObject
from webhook.core.workload import locate_pod, PodView

# Keys of the status annotation: what content alone cannot tell.
STATUS_GRACE = "grace"  # the pod's terminationGracePeriodSeconds before the injection (null: unset)
STATUS_EVICT = "evict"  # true when the safe-to-evict annotation was workerguard's
# The names inject.writer_env() appends, in its order: the same for every settings.
ENV_ORDER = tuple(writer_env(DEFAULTS))
_OUR_ENV = frozenset(ENV_ORDER)
_OUR_INITS = frozenset({PROBE_SHELL_INIT_NAME, PROBE_SERVER_NAME})


@dataclass(frozen=True, slots=True)
class Earlier:
    """What the earlier injection's status annotation says (all None for one without it)."""

    version: str | None
    settings: str | None


def carries_earlier_injection(pod: PodView) -> bool:
    """What an injection leaves even where a tool stripped the status annotation: a volume of ours,
    mounted where a container's heartbeat env points."""
    return bool(_injected_volumes(pod.spec))


def without_status(obj: JSONObject) -> JSONObject:
    """obj as compared for re-injection: without the status annotation, which only records."""
    pod = locate_pod(obj)
    annotations = pod.metadata.get("annotations") if pod is not None else None
    if not isinstance(annotations, dict) or STATUS not in annotations:
        return obj
    copied = copy.deepcopy(obj)
    located = locate_pod(copied)
    assert located is not None
    del located.metadata["annotations"][STATUS]
    return copied


def earlier_status(annotations: dict[str, Any]) -> dict[str, Any] | None:
    raw = annotations.get(STATUS)
    if not isinstance(raw, str):
        return None
    try:
        status = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return status if isinstance(status, dict) else None


def strip(obj: JSONObject) -> tuple[JSONObject, Earlier]:
    """A copy of obj without what workerguard injected, and what its status said of it."""
    stripped = copy.deepcopy(obj)
    pod = locate_pod(stripped)
    if pod is None:
        return stripped, Earlier(None, None)
    annotations = pod.metadata.get("annotations")
    status = earlier_status(annotations) if isinstance(annotations, dict) else None
    spec = pod.spec
    volumes = _take_volumes(spec)
    _take_inits(spec)
    for container in spec.get("containers") or []:
        if isinstance(container, dict):
            _take_from_container(container, volumes)
    if status is not None and STATUS_GRACE in status:
        if status[STATUS_GRACE] is None:
            spec.pop("terminationGracePeriodSeconds", None)
        else:
            spec["terminationGracePeriodSeconds"] = status[STATUS_GRACE]
    if isinstance(annotations, dict):
        _take_annotations(pod.metadata, annotations, volumes, status)
    version = status.get("version") if status else None
    settings = status.get("settings") if status else None
    return stripped, Earlier(version if isinstance(version, str) else None, settings if isinstance(settings, str) else None)


def _take_volumes(spec: JSONObject) -> dict[str, str]:
    """Remove our volumes; their names and where they are mounted, to find their mounts. A volume is ours when it has our name and
    exactly our shape, and a container mounts it where its heartbeat env points: a user's volume that
    merely shares the name is left alone."""
    volumes = spec.get("volumes")
    if not isinstance(volumes, list):
        return {}
    ours = _injected_volumes(spec)
    _keep_only(spec, "volumes", [v for v in volumes if not (isinstance(v, dict) and v.get("name") in ours)])
    return ours


def _injected_volumes(spec: JSONObject) -> dict[str, str]:
    """Our volumes by name, each with the directory a container mounts it at, where its heartbeat env
    points."""
    volumes = spec.get("volumes")
    if not isinstance(volumes, list) or not any(_our_volume(v) for v in volumes):
        return {}  # the common case: nothing of ours, nothing more to look at
    mounted = _heartbeat_mounts(spec)
    return {v["name"]: mounted[v["name"]] for v in volumes if _our_volume(v) and v["name"] in mounted}


def _our_volume(volume: object) -> bool:
    return (
        isinstance(volume, dict)
        and set(volume) == {"name", "emptyDir"}
        and isinstance(volume["name"], str)
        and OUR_VOLUME.fullmatch(volume["name"]) is not None
        and volume["emptyDir"] in ({"sizeLimit": VOLUME_SIZE_LIMIT}, {"sizeLimit": BUNDLED_VOLUME_SIZE_LIMIT})
    )


def _heartbeat_mounts(spec: JSONObject) -> dict[str, str]:
    """Volume name -> directory, for each volume a container mounts at the directory of its
    WORKERGUARD_HEARTBEAT_FILE."""
    names: dict[str, str] = {}
    for container in spec.get("containers") or []:
        if not isinstance(container, dict) or not isinstance(container.get("env"), list):
            continue
        files = [e["value"] for e in container["env"] if _our_env(e) and e["name"] == HEARTBEAT_ENV]
        directories = {probes.heartbeat_directory(file) for file in files if isinstance(file, str)}
        mounts = container.get("volumeMounts")
        for mount in mounts if isinstance(mounts, list) else []:
            if isinstance(mount, dict) and mount.get("mountPath") in directories and isinstance(mount.get("name"), str):
                names[mount["name"]] = mount["mountPath"]
    return names


def _take_inits(spec: JSONObject) -> None:
    inits = spec.get("initContainers")
    if isinstance(inits, list):
        _keep_only(spec, "initContainers", [c for c in inits if not (isinstance(c, dict) and c.get("name") in _OUR_INITS)])


def _our_mount(mount: object, volumes: dict[str, str]) -> bool:
    """Exactly the mount the injection adds: the worker's, or a waiting sidecar's read-only one."""
    if not isinstance(mount, dict) or mount.get("name") not in volumes or mount.get("mountPath") != volumes[mount["name"]]:
        return False
    return set(mount) == {"name", "mountPath"} or (set(mount) == {"name", "mountPath", "readOnly"} and mount["readOnly"] is True)


def _take_from_container(container: JSONObject, volumes: dict[str, str]) -> None:
    mounts = container.get("volumeMounts")
    # The worker's mount is writable; the sidecars' are read-only and they got no env.
    worker = isinstance(mounts, list) and any(_our_mount(m, volumes) and "readOnly" not in m for m in mounts)
    if isinstance(mounts, list):
        _keep_only(container, "volumeMounts", [m for m in mounts if not _our_mount(m, volumes)])
    env = container.get("env")
    if isinstance(env, list) and worker:
        _keep_only(container, "env", env[: _appended_env_start(env)])
    for field in PROBE_FIELDS:
        if _our_probe(container.get(field)):
            del container[field]
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict) and "preStop" in lifecycle:
        own = _own_prestop(lifecycle["preStop"])
        if own is not lifecycle["preStop"]:
            if own is None:
                del lifecycle["preStop"]
            else:
                lifecycle["preStop"] = own
            if not lifecycle:
                del container["lifecycle"]


def _appended_env_start(env: list[Any]) -> int:
    """Where the entries the injection appended begin. It appends, in ENV_ORDER, those the container did
    not set itself: the longest such run at the end whose names the entries before it lack. One the
    user set to the same value stays where it was."""
    start = len(env)
    for candidate in range(len(env) - 1, max(-1, len(env) - 1 - len(ENV_ORDER)), -1):
        block = env[candidate:]
        if not all(_our_env(entry) for entry in block):
            break
        names = [entry["name"] for entry in block]
        if names != [name for name in ENV_ORDER if name in names]:
            break  # out of order, or a name twice: not one append
        if not {e.get("name") for e in env[:candidate] if isinstance(e, dict)} & set(names):
            start = candidate
    return start


def _our_env(entry: object) -> bool:
    return isinstance(entry, dict) and entry.get("name") in _OUR_ENV and set(entry) == {"name", "value"}


def _our_probe(probe: object) -> bool:
    if not isinstance(probe, dict):
        return False
    command = probe.get("exec", {}).get("command") if isinstance(probe.get("exec"), dict) else None
    if isinstance(command, list) and command and isinstance(command[-1], str):
        return probes.is_probe_script(command[-1])
    get = probe.get("httpGet")
    return isinstance(get, dict) and get.get("port") == PROBE_PORT and get.get("path") in (READY_PATH, LIVE_PATH)


def _own_prestop(handler: object) -> Any:
    """The handler without workerguard's part: None when it was all ours, the same object when none of
    it was, else the sidecar's own hook that the wait had been composed with."""
    command = (
        handler.get("exec", {}).get("command") if isinstance(handler, dict) and isinstance(handler.get("exec"), dict) else None
    )
    if not isinstance(command, list) or len(command) < 3 or not all(isinstance(word, str) for word in command):
        return handler
    if sidecars.is_wait(command):
        return sidecars.own_prestop_of(command)
    if command[-2] == "-c" and probes.is_prestop_script(command[-1]):
        return None
    return handler


def _take_annotations(
    metadata: JSONObject, annotations: dict[str, Any], volumes: dict[str, str], status: dict[str, Any] | None
) -> None:
    annotations.pop(STATUS, None)
    if status is not None and status.get(STATUS_EVICT) is True:
        annotations.pop(SAFE_TO_EVICT, None)
    listed = annotations.get(SAFE_TO_EVICT_LOCAL_VOLUMES)
    if isinstance(listed, str):
        names = [name.strip() for name in listed.split(",") if name.strip()]
        kept = [name for name in names if name not in volumes]
        if len(kept) != len(names):
            if kept:
                annotations[SAFE_TO_EVICT_LOCAL_VOLUMES] = ",".join(kept)
            else:
                del annotations[SAFE_TO_EVICT_LOCAL_VOLUMES]
    if not annotations:  # only ours were there
        del metadata["annotations"]


def _keep_only(parent: JSONObject, key: str, items: list[Any]) -> None:
    """Set the list to the items kept, dropping it when nothing of the user's is left; untouched when
    nothing was ours."""
    if len(items) == len(parent[key]):
        return
    if items:
        parent[key] = items
    else:
        del parent[key]
