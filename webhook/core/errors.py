"""Every error workerguard raises, one family. Each carries a message written for the person who will act
on it and, where one applies, the field path of what to fix.

    WorkerguardError
    ├── InputError          what a person wrote is wrong; they fix it (CLI exit 2, a denial, a warning)
    │   ├── SettingError     a setting's text does not parse
    │   ├── ShapeError       an object is not shaped like its kind
    │   ├── RulesError       a rules file is invalid; `problems` holds every problem in it
    │   ├── DocumentError    text that is not the YAML or JSON documents expected
    │   ├── CertificateError a certificate pair that does not load or does not match
    │   └── ConfigError      a server flag or WORKERGUARD_* variable is invalid
    ├── RequestRefused      an HTTP request answered with an error before any planning
    │   └── BadRequest       the body is not an AdmissionReview workerguard can answer
    └── InternalError       a condition the code relies on did not hold: a bug

The mapping to HTTP is one rule, applied by the server's pipeline: a RequestRefused answers with its
reason's status (core.reasons, where every refusal has one); anything else is a bug, answered 500 and
counted as internal_error. A readable request about a bad object raises nothing: it gets a denial
that lists every Problem, the same field and message as a value.
"""

from __future__ import annotations

from dataclasses import dataclass

from webhook.core.reasons import BAD_REQUEST, Reason


@dataclass(frozen=True, slots=True)
class Problem:
    """An error as a value: what is wrong with the input, at a field path a user can find. Planning
    collects every one (a denial lists them all) where an exception would stop at the first."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class WorkerguardError(Exception):
    """The base of the family: `message` for a person, `field` the path of what to fix (or None)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message, self.field = message, field


class InputError(WorkerguardError, ValueError):
    """What a person wrote is wrong, and they can fix it."""


class SettingError(InputError):
    """A setting's text could not be parsed; the caller knows the field that holds it."""


class ShapeError(InputError):
    """The object is not shaped like its kind (a field that must be a mapping is not)."""

    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)


class RulesError(InputError):
    """A rules file is invalid: every problem found, each with its field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


class DocumentError(InputError):
    """The text is not a readable object; the message says what and where."""


class CertificateError(InputError):
    """A certificate pair that cannot be used: unreadable, or a key that does not belong to the certificate."""


class ConfigError(InputError):
    """A server setting from a flag or the environment that is invalid."""


class RequestRefused(WorkerguardError):
    """A request answered with an HTTP error before any planning; its reason is a refusal code, whose
    status the answer carries."""

    def __init__(self, reason: Reason, message: str, body_unread: bool = False) -> None:
        if reason.status is None:
            raise InternalError(f"{reason.code} is not a refusal: it has no HTTP status")
        super().__init__(message)
        self.reason, self.status = reason, reason.status
        self.body_unread = body_unread

    @property
    def closes_connection(self) -> bool:
        """A body refused unread, or for its size or slowness, was not read to its end: the connection is
        not reusable."""
        return self.body_unread or self.status in (408, 413)


class BadRequest(RequestRefused):
    """The body is not an AdmissionReview we can answer."""

    def __init__(self, message: str) -> None:
        super().__init__(BAD_REQUEST, message)


class InternalError(WorkerguardError):
    """A condition the code relies on did not hold: a bug, never the user's doing."""
