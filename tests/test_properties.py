"""Properties of plan() over generated pods and workloads (hypothesis)."""

from __future__ import annotations

from typing import Any

import jsonpatch
from hypothesis import given, note

from tests.conftest import validate
from tests.strategies import BAD, objects, pods
from webhook.core.annotations import PREFIX, STATUS
from webhook.core.plan import plan, PlanOptions
from webhook.core.rules import BUILTIN_RULES, RuleSet
from webhook.core.workload import locate_pod


@given(objects())
def test_plan_never_raises_and_an_allowed_patch_is_valid_applied_and_final(obj: dict[str, Any]) -> None:
    result = plan(obj)
    note(repr(result.errors))
    if not result.allowed:
        assert result.patch == [] and result.errors
        return
    mutated = jsonpatch.apply_patch(obj, result.patch, in_place=False)
    assert mutated == result.mutated()
    validate(mutated)
    assert plan(mutated).patch == []


@given(objects())
def test_an_injected_object_stripped_of_its_status_plans_to_itself(obj: dict[str, Any]) -> None:
    result = plan(obj)
    if not result.patch:
        return
    stripped = result.mutated()
    view = locate_pod(stripped)
    assert view is not None
    del view.metadata["annotations"][STATUS]
    again = plan(stripped)
    note(repr((again.skip, again.errors)))
    assert (again.allowed, again.patch, again.errors) == (True, [], [])
    assert again.mutated() == stripped


@given(objects())
def test_with_on_invalid_allow_nothing_is_ever_denied(obj: dict[str, Any]) -> None:
    result = plan(obj, options=PlanOptions(on_invalid="allow"))
    assert result.allowed
    assert bool(result.errors) <= (result.patch == [])  # errors mean untouched


@given(pods())
def test_pods_not_opted_in_are_never_patched(pod: dict[str, Any]) -> None:
    if pod["metadata"]["labels"].get("workerguard.io/inject") == "true":
        pod["metadata"]["labels"]["workerguard.io/inject"] = "false"
    assert plan(pod).patch == []


SKIPPED_BEFORE_SETTINGS = {"not_opted_in", "excluded_namespace", "windows_pod"}


@given(objects())
def test_every_bad_annotation_value_is_an_error_naming_it(obj: dict[str, Any]) -> None:
    view = locate_pod(obj)
    assert view is not None
    bad = [
        key
        for key, value in view.annotations.items()
        if key.startswith(PREFIX) and value in BAD.get(key.removeprefix(PREFIX), [])
    ]
    result = plan(obj)
    if not bad or (result.skip is not None and result.skip.code in SKIPPED_BEFORE_SETTINGS):
        return
    assert not result.allowed and result.patch == []
    fields = {problem.field for problem in result.errors}
    for key in bad:
        if key == PREFIX + "container" and len(bad) > 1:
            continue  # the target container is looked up only once every setting parsed
        assert f"{view.field_prefix}metadata.annotations[{key}]" in fields, (key, fields)


def _fresh(rules: RuleSet) -> RuleSet:
    """The same rules with nothing decided yet."""
    return RuleSet(rules.profiles, rules.rules)


@given(objects())
def test_a_remembered_decision_plans_exactly_what_a_fresh_one_does(obj: dict[str, Any]) -> None:
    warm = plan(obj)  # BUILTIN_RULES has seen every earlier example: its decisions are warm
    cold = plan(obj, _fresh(BUILTIN_RULES))
    assert (warm.allowed, warm.patch, warm.warnings, warm.errors, warm.skip, warm.explanations) == (
        cold.allowed,
        cold.patch,
        cold.warnings,
        cold.errors,
        cold.skip,
        cold.explanations,
    )
