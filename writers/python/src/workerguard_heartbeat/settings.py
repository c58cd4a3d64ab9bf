"""What workerguard injects, read by the contract's rules (writers/contract.json): a bad value refuses to start."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

HEARTBEAT_FILE_ENV = "WORKERGUARD_HEARTBEAT_FILE"
BEAT_INTERVAL_ENV = "WORKERGUARD_BEAT_INTERVAL"
STUCK_AFTER_ENV = "WORKERGUARD_STUCK_AFTER"

DEFAULT_PATH = "/var/run/workerguard/heartbeat"
DEFAULT_INTERVAL = 10.0
DEFAULT_STUCK_AFTER = 1800.0
MAX_SECONDS = 31_536_000.0
NOT_READY = "not-ready"
DRAINING = "draining"
EXITED = "exited"
# A dependency check that has not finished for this many beats counts as failed: a hung broker hangs it.
CHECK_STALE_BEATS = 3

_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")


class SettingError(ValueError):
    """An env value the writer will not start with; the message names the variable and the value."""


@dataclass(frozen=True)
class Settings:
    path: str
    interval: float
    stuck_after: float | None  # None: stuck detection is off


def seconds(name: str, text: str | None, default: float, *, allow_off: bool) -> float | None:
    """Unset or blank gives the default; `off` (where allowed) gives None; else decimal seconds in (0, a year]."""
    if text is None or text.strip() == "":
        return default
    word = text.strip()
    if allow_off and word == "off":
        return None
    if _NUMBER.fullmatch(word):
        value = float(word)
        if 0 < value <= MAX_SECONDS and math.isfinite(value):
            return value
    expected = "'off' or " if allow_off else ""
    raise SettingError(f"{name}={text!r}: expected {expected}a number of seconds above 0 and at most {MAX_SECONDS:g}")


def heartbeat_path(text: str | None) -> str:
    if text is None or text == "":
        return DEFAULT_PATH
    if not text.startswith("/") or text.rstrip("/") == "":
        raise SettingError(f"{HEARTBEAT_FILE_ENV}={text!r}: expected an absolute path of a file inside a directory")
    return text


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    interval = seconds(BEAT_INTERVAL_ENV, env.get(BEAT_INTERVAL_ENV), DEFAULT_INTERVAL, allow_off=False)
    assert interval is not None  # allow_off=False never gives None; narrows the type for mypy
    return Settings(
        path=heartbeat_path(env.get(HEARTBEAT_FILE_ENV)),
        interval=interval,
        stuck_after=seconds(STUCK_AFTER_ENV, env.get(STUCK_AFTER_ENV), DEFAULT_STUCK_AFTER, allow_off=True),
    )
