"""Which rule recognises a container as a background worker, by its command line or, failing that, its image.

Each rule has a stable name (audit reports it) and the built-in profile that fits the worker it finds.
Command rules read the words the container runs: its command and args, or the script of a `sh -c`
split as the shell would, one simple command at a time. Image rules read only the last part of the
image's repository name. The first container whose command a rule recognises is the worker; only
when no command is recognised do images count, since one application image often runs both the web
server and the workers.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from webhook.core.inject import shell_script_of
from webhook.core.types import JSONObject

Words = Sequence[str]

# Operators that end one simple command and start the next in a shell script (`);` is one token).
_SEPARATOR_CHARS = frozenset("();&|")
_SCRIPT_SUFFIXES = (".py", ".rb", ".js", ".mjs", ".ts", ".sh", ".php", ".pl")
_WORKER_TOKENS = frozenset({"worker", "workers", "consumer", "consumers"})
# Images of tools that sit beside workers and watch them: never the worker itself.
_BESIDE_WORKERS = frozenset({"exporter", "flower", "dashboard", "web", "ui", "metrics"})
# Job runners whose program or task names no worker-like word.
_JOB_RUNNERS = frozenset({"dramatiq", "huey_consumer", "arq", "good_job", "delayed_job", "que"})
_JOB_TASKS = frozenset({"queue:work", "queue:listen", "jobs:work", "messenger:consume"})
# Options of `celery` and `rq` that take a value before the subcommand.
_VALUE_OPTIONS = frozenset(
    {"-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config", "--workdir", "-u", "--url"}
)


@dataclass(frozen=True, slots=True)
class WorkerRule:
    """A stable name, how it matches (docs/audit.md), the built-in profile that fits, and its two tests:
    the words of one simple command (returning the words that show it) and the image's name tokens."""

    name: str
    matches: str
    profile: str
    command: Callable[[Words], str | None]
    image: Callable[[frozenset[str]], bool]


@dataclass(frozen=True, slots=True)
class WorkerMatch:
    """The rule that recognised a worker, the container it runs in, and what it saw there."""

    rule: WorkerRule
    container: str
    index: int
    by: Literal["command", "image"]
    evidence: str


def program(word: str) -> str:
    """The program a word names: /usr/local/bin/celery and celery are both celery."""
    return posixpath.basename(word)


def segments_of(argv: Sequence[object]) -> list[list[str]]:
    """The simple commands an argv runs: itself, or the commands of its `sh -c` script."""
    words = [word for word in argv if isinstance(word, str)]
    script = shell_script_of({"command": words})
    if script is None:
        return [words] if words else []
    # A line ends a command too; the separator goes after the newline, where a comment has ended.
    lexer = shlex.shlex(script.replace("\n", "\n; "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True  # split only where the shell does: blanks and operators
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: the shell would refuse it too; its words still say something
        tokens = script.split()
    segments: list[list[str]] = [[]]
    for token in tokens:
        if set(token) <= _SEPARATOR_CHARS:
            segments.append([])
        else:
            segments[-1].append(token)
    return [segment for segment in segments if segment]


def container_segments(container: JSONObject) -> list[list[str]]:
    """The simple commands a container runs, from its command and args together."""
    command, args = container.get("command"), container.get("args")
    argv = [*(command if isinstance(command, list) else []), *(args if isinstance(args, list) else [])]
    return segments_of(argv)


def subcommand(words: Words, start: int) -> tuple[int, str] | None:
    """The first word after words[start] that is neither an option nor an option's value."""
    i = start + 1
    while i < len(words):
        word = words[i]
        if word in _VALUE_OPTIONS:
            i += 2
            continue
        if not word.startswith("-"):
            return i, word
        i += 1
    return None


def _after_program(words: Words, names: frozenset[str], wanted: frozenset[str]) -> str | None:
    """'celery -A app worker' when a word runs one of names and its subcommand is one of wanted."""
    for i, word in enumerate(words):
        if program(word) in names:
            found = subcommand(words, i)
            if found is not None and found[1] in wanted:
                return " ".join([program(word), *words[i + 1 : found[0] + 1]])
            return None
    return None


def _sidekiq(words: Words) -> str | None:
    return next((program(word) for word in words if program(word) in ("sidekiq", "sidekiqswarm")), None)


def _celery_worker(words: Words) -> str | None:
    return _after_program(words, frozenset({"celery"}), frozenset({"worker"}))


def _celery_beat(words: Words) -> str | None:
    return _after_program(words, frozenset({"celery"}), frozenset({"beat"}))


def _rq(words: Words) -> str | None:
    found = _after_program(words, frozenset({"rq"}), frozenset({"worker", "worker-pool"}))
    # django-rq's management commands: python manage.py rqworker
    return found or next((word for word in words if word in ("rqworker", "rqworker-pool")), None)


def _resque(words: Words) -> str | None:
    return next((word for word in words if word.startswith("resque:work") or program(word) == "resque-pool"), None)


def _pubsub(words: Words) -> str | None:
    for word in words:
        option = word.split("=", 1)[0]
        if option in ("--subscription", "--subscription-id", "--subscription-name"):
            return word
    return None


def _stem_tokens(word: str) -> set[str]:
    stem = program(word).lower()
    for suffix in _SCRIPT_SUFFIXES:
        stem = stem.removesuffix(suffix)
    return set(re.split(r"[-_]", stem))


def _queue_consumer(words: Words) -> str | None:
    for i, word in enumerate(words):
        if word.startswith("-") or "=" in word:
            continue
        if word in _JOB_TASKS or program(word) in _JOB_RUNNERS or _stem_tokens(word) & _WORKER_TOKENS:
            return word
        # python -m app.worker: a module path, whose last part names it
        if i > 0 and words[i - 1] == "-m" and _stem_tokens(word.rsplit(".", 1)[-1]) & _WORKER_TOKENS:
            return word
    return None


def image_tokens(image: str) -> frozenset[str]:
    """The words of an image's repository name, without registry, path, tag or digest:
    registry.example:5000/team/billing-sidekiq:1.2 gives {billing, sidekiq}."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return frozenset(token for token in re.split(r"[-_.]", last.split(":", 1)[0].lower()) if token)


RULES: tuple[WorkerRule, ...] = (
    WorkerRule(
        "sidekiq",
        "runs `sidekiq` or `sidekiqswarm` (`bundle exec sidekiq -t 600`); image named `*sidekiq*`",
        "sidekiq",
        _sidekiq,
        lambda tokens: "sidekiq" in tokens,
    ),
    WorkerRule(
        "celery-beat",
        "runs `celery ... beat`; image named `*celery*beat*`",
        "generic",
        _celery_beat,
        lambda tokens: {"celery", "beat"} <= tokens,
    ),
    WorkerRule(
        "celery-worker",
        "runs `celery ... worker` (`celery -A app worker -l info`); image named `*celery*`",
        "celery",
        _celery_worker,
        lambda tokens: "celery" in tokens,
    ),
    WorkerRule(
        "rq",
        "runs `rq worker`, `rq worker-pool` or django-rq's `manage.py rqworker`; image named `*rq*`",
        "generic",
        _rq,
        lambda tokens: "rq" in tokens,
    ),
    WorkerRule(
        "resque",
        "runs a `resque:work` or `resque:workers` rake task, or `resque-pool`; image named `*resque*`",
        "generic",
        _resque,
        lambda tokens: "resque" in tokens,
    ),
    WorkerRule(
        "pubsub-subscriber",
        "passes `--subscription`, `--subscription-id` or `--subscription-name`; image named `*pubsub*` or `*subscriber*`",
        "pubsub",
        _pubsub,
        lambda tokens: bool({"pubsub", "subscriber"} & tokens),
    ),
    WorkerRule(
        "queue-consumer",
        "runs a program or script named `worker` or `consumer` (`python worker.py`, `python -m app.worker`, "
        "`bin/billing-consumer`), or a job runner: `dramatiq`, `huey_consumer`, `arq`, `good_job`, `delayed_job`, "
        "`que`, `queue:work`, `queue:listen`, `jobs:work`, `messenger:consume`; image named `*worker*` or `*consumer*`",
        "generic",
        _queue_consumer,
        lambda tokens: bool(_WORKER_TOKENS & tokens),
    ),
)


def _by_command(container: JSONObject) -> tuple[WorkerRule, str] | None:
    """The first rule, in the table's order, that one of the container's simple commands satisfies: a
    script that prepares with `python setup_worker.py` and then runs celery is a Celery worker."""
    segments = container_segments(container)
    for rule in RULES:
        for segment in segments:
            evidence = rule.command(segment)
            if evidence is not None:
                return rule, evidence
    return None


def _by_image(container: JSONObject) -> WorkerRule | None:
    image = container.get("image")
    tokens = image_tokens(image) if isinstance(image, str) else frozenset()
    if not tokens or tokens & _BESIDE_WORKERS:
        return None
    return next((rule for rule in RULES if rule.image(tokens)), None)


def recognise(containers: Sequence[object]) -> WorkerMatch | None:
    """The first container a rule recognises by its command; else the first one by its image."""
    named = [
        (index, container)
        for index, container in enumerate(containers)
        if isinstance(container, dict) and isinstance(container.get("name"), str)
    ]
    for index, container in named:
        found = _by_command(container)
        if found is not None:
            return WorkerMatch(found[0], container["name"], index, "command", found[1])
    for index, container in named:
        rule = _by_image(container)
        if rule is not None:
            return WorkerMatch(rule, container["name"], index, "image", container["image"])
    return None
