"""One error family: every exception workerguard defines descends from WorkerguardError, lives in
webhook.core.errors and is drawn in its docstring; refusals carry their HTTP status from the reason."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from webhook.core import errors, reasons

PACKAGE = Path(errors.__file__).parent.parent


def exception_classes() -> list[type[BaseException]]:
    return [value for value in vars(errors).values() if inspect.isclass(value) and issubclass(value, BaseException)]


def test_no_module_but_errors_defines_an_exception() -> None:
    defined_elsewhere = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and (base.id.endswith(("Error", "Exception")) or base.id == "RequestRefused")
                for base in node.bases
            ):
                defined_elsewhere.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert defined_elsewhere == []


def test_every_error_descends_from_the_base_and_is_drawn_in_the_tree() -> None:
    ours = [cls for cls in exception_classes() if cls.__module__ == errors.__name__]
    assert len(ours) >= 10
    tree = errors.__doc__ or ""
    for cls in ours:
        assert issubclass(cls, errors.WorkerguardError), cls
        assert re.search(rf"^\s*(?:[│ ]*[├└]── )?{cls.__name__}(?: |$)", tree, re.MULTILINE), cls
        assert cls.__doc__ and cls.__doc__.strip(), cls


def test_a_bad_request_is_a_refusal_with_its_status() -> None:
    refused = errors.BadRequest("the body is not JSON")
    assert isinstance(refused, errors.RequestRefused)
    assert (refused.reason, refused.status, refused.message) == (reasons.BAD_REQUEST, 400, "the body is not JSON")


def test_a_refusal_needs_a_reason_that_carries_a_status() -> None:
    with pytest.raises(errors.InternalError, match="not_opted_in is not a refusal"):
        errors.RequestRefused(reasons.NOT_OPTED_IN, "no")


def test_an_error_with_a_field_says_where() -> None:
    error = errors.ShapeError("spec.template", "must be a mapping")
    assert (str(error), error.field, error.message) == ("spec.template: must be a mapping", "spec.template", "must be a mapping")
    assert isinstance(error, ValueError)  # what a person wrote: callers may still catch it as a bad value
