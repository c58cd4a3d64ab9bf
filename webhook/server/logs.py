"""Logging: one JSON object per line for machines, or plain text for people."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import orjson

from webhook.core.settings import format_bool

# Both JSON outputs stamp lines the same way: UTC to the second here, then ".mmmZ".
UTC_SECOND = "%Y-%m-%dT%H:%M:%S"
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body = {
            "time": time.strftime(UTC_SECOND, time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        body.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(body, default=str).decode()


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD)
        text = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.levelname:<7} {record.getMessage()}"
        text = f"{text}  {extras}" if extras else text
        return f"{text}\n{self.formatException(record.exc_info)}" if record.exc_info else text


def configure(log_format: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else HumanFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


class AdmissionLog:
    """The one line per admission, in the same formats as the rest, buffered and written in batches.

    Not through logging, and not a write per line: both showed in the profile of the path every pod
    creation waits for (docs/server.md has the figures). Lines are written when `BATCH_BYTES` have
    gathered or when the ledger settles (server/ledger.py says when). The level of the
    "workerguard.admission" logger decides.
    """

    BATCH_BYTES = 16 * 1024

    def __init__(self, log_format: str, stream: TextIO | None = None, clock: Callable[[], float] = time.time) -> None:
        self.json = log_format == "json"
        self.stream = stream or sys.stderr
        self.clock = clock
        self.logger = logging.getLogger("workerguard.admission")
        self.lines: list[str] = []
        self.size = 0
        self._second = -1
        self._stamp = ""

    def write(self, fields: dict[str, Any], at: float | None = None) -> None:
        """One line; `at` is when it happened (the clock's now unless given)."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        now = self.clock() if at is None else at
        if self.json:
            stamp = f"{self._stamp_of(int(now))}.{int(now % 1 * 1000):03d}Z"
            line = orjson.dumps(
                {"time": stamp, "level": "info", "logger": self.logger.name, "message": "admission", **fields}
            ).decode()
        else:
            extras = " ".join(f"{key}={_human(value)}" for key, value in fields.items())
            line = f"{time.strftime('%H:%M:%S', time.localtime(now))} INFO    admission  {extras}"
        self.lines.append(line)
        self.size += len(line) + 1
        if self.size >= self.BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self.lines:
            return
        text = "\n".join(self.lines) + "\n"
        self.lines.clear()
        self.size = 0
        self.stream.write(text)
        self.stream.flush()

    def _stamp_of(self, second: int) -> str:
        """The UTC time to the second, formatted once a second rather than once a line."""
        if second != self._second:
            self._second, self._stamp = second, time.strftime(UTC_SECOND, time.gmtime(second))
        return self._stamp


def _human(value: Any) -> str:
    """A field as a person reads it, in the words the JSON lines use: true, not True; a,b, not ['a', 'b']."""
    if isinstance(value, bool):
        return format_bool(value)
    if isinstance(value, list):
        return ",".join(_human(item) for item in value) or "-"
    return str(value)
