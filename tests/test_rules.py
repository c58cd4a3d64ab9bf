"""The rules file: validation with every problem listed, profiles built on built-ins, matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from webhook.adapters.rulesfile import load_rules_file, locate_problems, parse_rules_document, parse_rules_text, read_rules_text
from webhook.core.errors import DocumentError, RulesError
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


def test_no_problem_hides_another_a_bad_base_or_name_included() -> None:
    """One run finds them all: a bad base, name or built-in name still has its set checked, and a rule
    naming a profile whose own problems are listed is not also told the profile is unknown."""
    with pytest.raises(RulesError) as caught:
        parse_rules(
            {
                "profiles": {
                    "slow": {"base": "resque", "set": {"probe-period": "x", "colour": "red"}},
                    "Bad_Name": {"set": {"readiness-max-age": "10s"}, "extra": 1},
                    "sidekiq": {"set": {"stuck-after": "never"}},
                },
                "rules": [
                    {"name": "Bad", "match": {"namespaces": "prod"}, "set": {"readiness-max-age": "soon", "profile": "slow"}}
                ],
            }
        )
    assert [(p.field, p.message.split(";")[0]) for p in caught.value.problems] == [
        ("profiles.slow.base", "'resque' is not a built-in profile: generic, sidekiq, celery, pubsub"),
        ("profiles.slow.set.probe-period", "'x' is not a duration like 60s or 2m"),
        ("profiles.slow.set.colour", "unknown setting"),
        ("profiles.Bad_Name", "a profile name must be a DNS label (lowercase letters, digits, -)"),
        ("profiles.Bad_Name.extra", "unknown key"),
        ("profiles.Bad_Name.set.readiness-max-age", "readiness max age 10s must be at least twice the probe period (10s)"),
        ("profiles.sidekiq", "'sidekiq' is a built-in profile"),
        ("profiles.sidekiq.set.stuck-after", "'never' is not a duration like 60s or 2m"),
        ("rules[0] (Bad).name", "every rule needs a name that is a DNS label"),
        ("rules[0] (Bad).set.readiness-max-age", "'soon' is not a duration like 60s or 2m"),
        ("rules[0] (Bad).match.namespaces", "must be a list of globs"),
    ]


def test_each_problem_is_placed_at_the_line_and_column_of_what_it_names() -> None:
    text = """profiles:
  slow: {base: resque}
  tight: {base: sidekiq, set: {probe-period: 40s}}
rules:
  - name: billing
    match:
      labels: {app.kubernetes.io/name: [x]}
    set: {probe-period: x}
  - name: Bad
    match: {images: [ok, 7, {}]}
"""
    with pytest.raises(RulesError) as caught:
        parse_rules_document(text)
    assert locate_problems(text, caught.value.problems) == [
        "line 2, column 10: profiles.slow.base: 'resque' is not a built-in profile: generic, sidekiq, celery, pubsub",
        # The setting the relation is about comes from the base, not the file: placed at the set it is in.
        "line 3, column 26: profiles.tight.set.readiness-max-age: readiness max age 60s must be at least twice the probe period (40s)",
        "line 8, column 11: rules[0] (billing).set.probe-period: 'x' is not a duration like 60s or 2m",
        # A key with dots in it is one key.
        "line 7, column 16: rules[0] (billing).match.labels.app.kubernetes.io/name: ['x'] is not a glob string",
        "line 9, column 5: rules[1] (Bad).name: every rule needs a name that is a DNS label",
        "line 10, column 29: rules[1] (Bad).match.images[2]: {} is not a glob string",
    ]
    two = "rules: []\n---\nrules: []\n"
    with pytest.raises(RulesError) as caught:
        parse_rules_document(two)
    assert locate_problems(two, caught.value.problems) == ["the rules file must be a single YAML document"]


def test_the_command_line_tells_an_unreadable_file_from_a_wrong_one_and_the_server_gets_one_channel(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"^not valid YAML: line 2, column 1: "):
        parse_rules_document("rules: [\n")
    with pytest.raises(DocumentError) as unreadable:
        read_rules_text(tmp_path / "missing.yaml")
    assert str(unreadable.value) == f"{tmp_path / 'missing.yaml'}: no such file"
    with pytest.raises(RulesError) as caught:
        load_rules_file(tmp_path / "missing.yaml")
    assert str(caught.value) == f"{tmp_path / 'missing.yaml'}: cannot read the rules file: no such file"
