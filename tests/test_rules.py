"""The rules file: validation with every problem listed, profiles built on built-ins, matching."""

from __future__ import annotations

import pytest

from webhook.adapters.rulesfile import parse_rules_text
from webhook.core.errors import RulesError
from webhook.core.rules import parse_rules, Target

GOOD = """
profiles:
  long-sidekiq:
    base: sidekiq
    description: billing jobs run up to ten minutes
    set: {shutdown-timeout: 10m, prestop-sleep: 5}
rules:
  - name: billing
    match:
      namespaces: [billing, "billing-*"]
      labels: {app: sidekiq}
      images: ["*/billing:*"]
    set: {profile: long-sidekiq}
  - name: slow-nodes
    match: {annotations: {example.com/tier: batch}}
    set: {readiness-max-age: 120, liveness-max-age: "off"}
"""


def target(
    namespace: str = "billing",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    images: tuple[str, ...] = ("registry.example/billing:3",),
) -> Target:
    return Target(namespace, labels if labels is not None else {"app": "sidekiq"}, annotations or {}, images)


def test_a_good_file_gives_profiles_on_top_of_built_ins_and_rules_in_order() -> None:
    rules = parse_rules_text(GOOD)
    profile = rules.profiles["long-sidekiq"]
    assert profile.values["shutdown-timeout"] == 600
    assert profile.values["prestop-sleep"] == 5
    assert profile.values["safe-to-evict"] is False  # inherited from sidekiq
    assert [rule.name for rule in rules.rules] == ["billing", "slow-nodes"]
    assert rules.rules[0].profile == "long-sidekiq"
    assert dict(rules.rules[1].values) == {"readiness-max-age": 120, "liveness-max-age": None}


@pytest.mark.parametrize(
    ("change", "matches"),
    [
        ({}, True),
        ({"namespace": "billing-eu"}, True),
        ({"namespace": "payments"}, False),
        ({"labels": {"app": "celery"}}, False),
        ({"labels": {}}, False),
        ({"images": ("registry.example/api:3",)}, False),
        ({"images": ("registry.example/api:3", "registry.example/billing:4")}, True),
    ],
)
def test_a_rule_needs_every_criterion_and_any_value_of_each(change: dict[str, object], matches: bool) -> None:
    rule = parse_rules_text(GOOD).rules[0]
    assert rule.matches(target(**change)) is matches  # type: ignore[arg-type]


def test_a_rule_without_match_applies_to_every_opted_in_pod() -> None:
    rules = parse_rules({"rules": [{"name": "all", "set": {"probe-period": "15s"}}]})
    assert rules.matching(target(namespace="x", labels={}, images=())) == list(rules.rules)


def test_every_problem_in_a_bad_file_is_listed_with_where_it_is() -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules_text(
            """
profiles:
  sidekiq: {set: {}}
  Bad_Name: {}
  slow: {base: resque, set: {}}
  tight: {set: {readiness-max-age: 10s}}
rules:
  - name: a
    match: {namespaces: prod, colour: [blue]}
    set: {readiness-max-age: abc, profile: nope, bogus: 1}
  - match: {}
  - name: a
    set: {}
extra: true
"""
        )
    found = [(p.field, p.message) for p in caught.value.problems]
    assert ("extra", "unknown top-level key; expected profiles and rules") in found
    assert ("profiles.sidekiq", "'sidekiq' is a built-in profile; pick another name and use base: sidekiq") in found
    assert any(field == "profiles.Bad_Name" for field, _ in found)
    assert ("profiles.slow.base", "'resque' is not a built-in profile: generic, sidekiq, celery, pubsub") in found
    assert (
        "profiles.tight.set.readiness-max-age",
        "readiness max age 10s must be at least twice the probe period (10s)",
    ) in found
    assert ("rules[0] (a).set.readiness-max-age", "'abc' is not a duration like 60s or 2m") in found
    assert ("rules[0] (a).set.profile", "unknown profile 'nope'") in found
    assert any(field == "rules[0] (a).set.bogus" and message.startswith("unknown setting") for field, message in found)
    assert ("rules[0] (a).match.colour", "unknown key; expected namespaces, labels, annotations, images") in found
    assert ("rules[0] (a).match.namespaces", "must be a list of globs") in found
    assert ("rules[1].name", "every rule needs a name that is a DNS label") in found
    assert ("rules[2] (a).name", "duplicate rule name 'a'") in found


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- just\n- a list\n", "the rules file must be a mapping with profiles and rules"),
        ("a: &x [1]\nb: *x\n", "YAML aliases (*x) are not accepted"),
        ("rules: []\n---\nrules: []\n", "the rules file must be a single YAML document"),
        ("rules: [\n", "not valid YAML"),
        ("!!python/object:os.system {}\n", "not valid YAML"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules_text(text)
    assert message in str(caught.value)


def test_an_empty_file_means_built_in_profiles_only() -> None:
    rules = parse_rules_text("")
    assert set(rules.profiles) == {"generic", "sidekiq", "celery", "pubsub"}
    assert rules.rules == ()
