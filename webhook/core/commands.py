"""What a worker's own command line says about shutdown: how long it waits for running jobs on SIGTERM.

Sidekiq waits `-t N` (`--timeout N`) seconds, then pushes the unfinished jobs back to Redis. Celery
has no shutdown timeout of its own, but `--time-limit N` bounds every task, so warm shutdown never
waits longer. RQ and plain workers say nothing on the command line; the profile or annotation decides.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from webhook.core.inject import shell_script_of
from webhook.core.types import JSONObject

_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class CommandTimeout:
    seconds: int
    said: str  # how the command said it, for messages: "sidekiq -t 600"
    field: str  # the container field that holds it: "command" or "args"


def _option(words: Sequence[str], short: str | None, long: str) -> str | None:
    """The value of `-t N`, `-tN`, `--timeout N` or `--timeout=N` among words; the last one wins."""
    value = None
    for i, word in enumerate(words):
        if word in (short, long) and i + 1 < len(words):
            value = words[i + 1]
        elif word.startswith(long + "="):
            value = word.split("=", 1)[1]
        elif short is not None and word.startswith(short) and len(word) > len(short) and not word.startswith("--"):
            value = word[len(short) :]
    return value


def _sidekiq(words: Sequence[str]) -> tuple[str, str] | None:
    value = _option(words, "-t", "--timeout")
    return None if value is None else (value, f"sidekiq -t {value}")


def _celery(words: Sequence[str]) -> tuple[str, str] | None:
    if "worker" not in words:
        return None
    value = _option(words, None, "--time-limit")
    return None if value is None else (value, f"celery worker --time-limit {value}")


_PROGRAMS: dict[str, Callable[[Sequence[str]], tuple[str, str] | None]] = {
    "sidekiq": _sidekiq,
    "sidekiqswarm": _sidekiq,
    "celery": _celery,
}


def _words(container: JSONObject, argv: list[str]) -> list[str]:
    """The words the container runs: its argv, or a `sh -c` script split as the shell would."""
    script = shell_script_of(container)
    if script is None:
        return argv
    try:
        return shlex.split(script)
    except ValueError:  # unbalanced quotes: the shell would refuse it too
        return []


def command_timeout(container: JSONObject) -> CommandTimeout | None:
    """The shutdown timeout the worker's own command line sets, if it names a known worker and one."""
    command = [word for word in container.get("command") or [] if isinstance(word, str)]
    argv = [*command, *(word for word in container.get("args") or [] if isinstance(word, str))]
    if not any(program in word for word in argv for program in _PROGRAMS):  # most commands name none: skip the parsing
        return None
    field = "command" if command else "args"
    words = _words(container, argv)
    for i, word in enumerate(words):
        read = _PROGRAMS.get(posixpath.basename(word))
        if read is None:
            continue
        found = read(words[i + 1 :])
        if found is not None and _SECONDS.fullmatch(found[0]):
            return CommandTimeout(int(float(found[0]) + 0.999), found[1], field)
        return None
    return None
