"""The settings workerguard resolves for one pod: their parsers, defaults, layering and cross-checks.

`Settings` holds one typed field per setting, its default beside it. One table (SPECS) parses a
setting's text the same way whether it comes from a pod annotation or a rules file, so both report
the same message for the same mistake; tests/test_settings.py holds the table and the fields equal.
`Resolved` pairs the values with where each one came from.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from webhook.core import reasons
from webhook.core.errors import Problem, SettingError
from webhook.core.types import Finding

DURATION_MAX_SECONDS = 86_400
OFF = None
LIVENESS_DEFAULT_FACTOR = 5
DEFAULT_HEARTBEAT_PATH = "/var/run/workerguard/heartbeat"
DRAINING_MARKER_NAME = "draining"
NOT_READY_MARKER_NAME = "not-ready"
# With probe-shell: bundled, the init container copies a static busybox here, next to the heartbeat.
BUNDLED_SHELL_NAME = "busybox"
# A writer leaves this on its final exit: the sidecars' preStop waits for it (docs/shutdown.md).
EXITED_MARKER_NAME = "exited"
MARKER_NAMES = (DRAINING_MARKER_NAME, NOT_READY_MARKER_NAME, BUNDLED_SHELL_NAME, EXITED_MARKER_NAME)

_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# An emptyDir mounted on one of these hides what the image keeps there: the shell the probes need, its
# libraries, its configuration. The heartbeat needs a directory of its own.
SYSTEM_DIRECTORIES = frozenset(
    {
        "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc",
        "/root", "/run", "/sbin", "/srv", "/sys", "/usr", "/usr/bin", "/usr/lib", "/usr/lib64",
        "/usr/libexec", "/usr/local", "/usr/local/bin", "/usr/local/lib", "/usr/local/sbin", "/usr/sbin",
        "/usr/share", "/var", "/var/lib", "/var/run",
    }
)  # fmt: skip
# Characters that are inert inside a double-quoted POSIX sh word; anything else is refused.
_SAFE_PATH = re.compile(r"[A-Za-z0-9._/-]+")


def parse_duration(text: str) -> int:
    """'90', '90s', '2m', '1h30m' -> seconds."""
    if text.isdigit():
        seconds = int(text)
    else:
        match = _DURATION.fullmatch(text)
        if not text or match is None:
            if re.match(r"^\d*\.\d+|^\d+ms$", text):
                raise SettingError(f"'{text}' is not a whole number of seconds")
            raise SettingError(f"'{text}' is not a duration like 60s or 2m")
        hours, minutes, secs = (int(group or 0) for group in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds > DURATION_MAX_SECONDS:
        raise SettingError(f"'{text}' is longer than the maximum of 24h")
    return seconds


def parse_optional_duration(text: str) -> int | None:
    return OFF if text == "off" else parse_duration(text)


def parse_bool(text: str) -> bool:
    if text in ("true", "false"):
        return text == "true"
    raise SettingError(f'\'{text}\' is not "true" or "false"')


HeartbeatFormat = Literal["unix", "mtime"]
ProbeShell = Literal["image", "bundled"]
ProbeTransport = Literal["exec", "http"]
# Which other containers wait for the worker on shutdown: every one, none (off), or those named.
SidecarWait = Literal["all"] | tuple[str, ...] | None


def parse_heartbeat_format(text: str) -> HeartbeatFormat:
    if text == "unix":
        return "unix"
    if text == "mtime":
        return "mtime"
    raise SettingError(f"'{text}' is not a heartbeat format: use unix or mtime")


def parse_probe_shell(text: str) -> ProbeShell:
    if text == "image":
        return "image"
    if text == "bundled":
        return "bundled"
    raise SettingError(f"'{text}' is not a probe shell: use image (the image's sh) or bundled (a busybox workerguard adds)")


def parse_sidecar_wait(text: str) -> SidecarWait:
    if text == "all":
        return "all"
    if text == "off":
        return None
    names = [name.strip() for name in text.split(",")]
    for name in names:
        if not _DNS_LABEL.fullmatch(name):
            raise SettingError(f"'{text}' is not all, off or a comma-separated list of container names")
    return tuple(dict.fromkeys(names))


def format_sidecar_wait(value: SidecarWait) -> str:
    if value is None:
        return "off"
    return value if isinstance(value, str) else ",".join(value)


def parse_probe_transport(text: str) -> ProbeTransport:
    if text == "exec":
        return "exec"
    if text == "http":
        return "http"
    raise SettingError(f"'{text}' is not a probe transport: use exec (a command in the container) or http (workerguard-probe)")


def parse_container_name(text: str) -> str:
    if _DNS_LABEL.fullmatch(text):
        return text
    raise SettingError(f"'{text}' is not a container name (a DNS label)")


def parse_heartbeat_path(text: str) -> str:
    """An absolute file path below some directory, safe to place in a shell command."""
    if not text.startswith("/"):
        raise SettingError(f"'{text}' is not an absolute path")
    if not _SAFE_PATH.fullmatch(text):
        raise SettingError(f"'{text}' may only contain letters, digits and . _ - /")
    if posixpath.normpath(text) != text or "/../" in f"{text}/" or "/./" in f"{text}/":
        raise SettingError(f"'{text}' is not a normalized path (no //, . or .. parts, no trailing /)")
    directory, name = posixpath.split(text)
    if directory == "/":
        raise SettingError(f"'{text}' must be inside a directory, for example /var/run/workerguard/heartbeat")
    if directory in SYSTEM_DIRECTORIES:
        raise SettingError(
            f"'{text}' would mount an empty volume over {directory} and hide the image's files there; "
            f"use a directory of its own, like {directory}/workerguard/{name}"
        )
    if name in MARKER_NAMES:
        raise SettingError(f"'{text}' clashes with the marker named '{name}' that sits next to the heartbeat")
    return text


def format_duration(seconds: int | None) -> str:
    return "off" if seconds is None else f"{seconds}s"


def format_container(name: str | None) -> str:
    return "(auto)" if name is None else name


def format_bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of one pod, typed, with its built-in default. A field is named as its key in SPECS
    with `_` for `-` (`probe-period` is `probe_period`)."""

    container: str | None = None  # None: the first container, or kubectl's default-container
    heartbeat_path: str = DEFAULT_HEARTBEAT_PATH
    heartbeat_format: HeartbeatFormat = "unix"
    readiness_max_age: int = 60
    # None until resolve() derives it from readiness, so it stays lenient when readiness moves.
    liveness_max_age: int | None = None
    startup_timeout: int | None = 300
    # A job running longer than this means the worker is wedged: its writer stops beating.
    stuck_after: int | None = 1800
    probe_period: int = 10
    shutdown_timeout: int = 25
    prestop_sleep: int = 0
    safe_to_evict: bool = True
    override_probes: bool = False
    probe_shell: ProbeShell = "image"
    sidecar_wait: SidecarWait = "all"
    probe_transport: ProbeTransport = "exec"


DEFAULTS = Settings()


def field_name(key: str) -> str:
    """The Settings field of a setting's key."""
    return key.replace("-", "_")


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """How a setting's text becomes its value, and its value text again."""

    parse: Callable[[str], Any]
    render: Callable[[Any], str]


SPECS: dict[str, SettingSpec] = {
    "container": SettingSpec(parse_container_name, format_container),
    "heartbeat-path": SettingSpec(parse_heartbeat_path, str),
    "heartbeat-format": SettingSpec(parse_heartbeat_format, str),
    "readiness-max-age": SettingSpec(parse_duration, format_duration),
    "liveness-max-age": SettingSpec(parse_optional_duration, format_duration),
    "startup-timeout": SettingSpec(parse_optional_duration, format_duration),
    "stuck-after": SettingSpec(parse_optional_duration, format_duration),
    "probe-period": SettingSpec(parse_duration, format_duration),
    "shutdown-timeout": SettingSpec(parse_duration, format_duration),
    "prestop-sleep": SettingSpec(parse_duration, format_duration),
    "safe-to-evict": SettingSpec(parse_bool, format_bool),
    "override-probes": SettingSpec(parse_bool, format_bool),
    "probe-shell": SettingSpec(parse_probe_shell, str),
    "sidecar-wait": SettingSpec(parse_sidecar_wait, format_sidecar_wait),
    "probe-transport": SettingSpec(parse_probe_transport, str),
}

DEFAULT_SOURCE = "default"
_SORTED_KEYS = sorted(SPECS)
_SOURCE_RANK = {"default": 0, "profile": 1, "rule": 2, "annotation": 3}


def text_of(value: object) -> str:
    """A rules-file scalar as the text an annotation would hold (YAML may give ints and bools)."""
    if isinstance(value, bool):
        return format_bool(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    raise SettingError(f"{value!r} is not a scalar value")


def parse_setting(key: str, raw: object) -> Any:
    return SPECS[key].parse(text_of(raw))


@dataclass(frozen=True, slots=True)
class Layer:
    """Settings from one source, already parsed. `origin` maps each key to the field path that set it.

    `source` may contain "{key}" for sources named per setting (annotation:workerguard.io/{key}).
    """

    source: str
    values: Mapping[str, Any]
    origin: Mapping[str, str] = field(default_factory=dict)

    def source_of(self, key: str) -> str:
        return self.source.replace("{key}", key)


@dataclass(frozen=True, slots=True)
class Resolved:
    """One pod's settings, and beside them where each value came from: its source (`rule:slow`) and,
    when a user wrote it, the field path that holds it."""

    settings: Settings
    sources: Mapping[str, str]
    origins: Mapping[str, str]

    def value(self, key: str) -> object:
        return getattr(self.settings, field_name(key))

    def render(self, key: str) -> str:
        return SPECS[key].render(self.value(key))

    def with_value(self, key: str, value: Any, source: str, origin: str) -> Resolved:
        """The same settings with one value decided later, by something other than a layer."""
        return Resolved(
            replace(self.settings, **{field_name(key): value}),
            {**self.sources, key: source},
            {**self.origins, key: origin},
        )

    def digest(self) -> str:
        canonical = ";".join(f"{key}={self.render(key)}" for key in _SORTED_KEYS if self.value(key) is not None)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def resolve(layers: Iterable[Layer]) -> Resolved:
    """Apply layers lowest precedence first; a later layer wins key by key."""
    values: dict[str, Any] = {}
    sources = dict.fromkeys(SPECS, DEFAULT_SOURCE)
    origins: dict[str, str] = {}
    for layer in layers:
        for key, value in layer.values.items():
            values[field_name(key)] = value
            sources[key] = layer.source_of(key)
            if key in layer.origin:
                origins[key] = layer.origin[key]
    settings = Settings(**values)
    if sources["liveness-max-age"] == DEFAULT_SOURCE:
        # Derived, and like every duration at most 24h.
        liveness = min(DURATION_MAX_SECONDS, settings.readiness_max_age * LIVENESS_DEFAULT_FACTOR)
        settings = replace(settings, liveness_max_age=liveness)
    return Resolved(settings, sources, origins)


def check_relations(resolved: Resolved) -> tuple[list[Problem], list[Finding]]:
    """Cross-setting rules; a problem names the field that set the offending value."""
    problems: list[Problem] = []
    warnings: list[Finding] = []

    def where(*keys: str) -> str:
        """The field of whichever key the user set most specifically: that is the one to fix."""
        key = max(keys, key=lambda k: _SOURCE_RANK.get(resolved.sources[k].split(":")[0], 0))
        return resolved.origins.get(key, f"{resolved.sources[key]} ({key})")

    period = resolved.settings.probe_period
    readiness = resolved.settings.readiness_max_age
    liveness = resolved.settings.liveness_max_age
    startup = resolved.settings.startup_timeout
    if period < 1:
        problems.append(Problem(where("probe-period"), "probe period must be at least 1s"))
    if readiness < 2 * period:
        problems.append(
            Problem(
                where("readiness-max-age", "probe-period"),
                f"readiness max age {readiness}s must be at least twice the probe period ({period}s)",
            )
        )
    if liveness is not None:
        if liveness < readiness:
            problems.append(
                Problem(
                    where("liveness-max-age", "readiness-max-age"),
                    f"liveness max age {liveness}s must be at least the readiness max age ({readiness}s)",
                )
            )
        elif liveness == readiness:
            warnings.append(
                Finding(
                    reasons.LIVENESS_EQUALS_READINESS, "liveness max age equals readiness: a slow node will restart the worker"
                )
            )
    if startup is not None and startup < period:
        problems.append(
            Problem(
                where("startup-timeout", "probe-period"),
                f"startup timeout {startup}s must be at least the probe period ({period}s)",
            )
        )
    return problems, warnings
