"""Parsing setting values and the cross-setting checks."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from webhook.core.errors import RulesError, SettingError
from webhook.core.rules import parse_rules
from webhook.core.settings import (
    check_relations,
    Layer,
    parse_bool,
    parse_container_name,
    parse_duration,
    parse_heartbeat_format,
    parse_heartbeat_path,
    parse_optional_duration,
    resolve,
    Settings,
    SPECS,
)


def test_settings_has_one_typed_field_per_row_of_the_table() -> None:
    """A field per key (`probe-period` is probe_period), of the type the key's parser returns; None as
    well only where a value may be unset (the container: chosen later)."""
    hints = typing.get_type_hints(Settings)
    assert [field.name for field in dataclasses.fields(Settings)] == [key.replace("-", "_") for key in SPECS]
    for key, spec in SPECS.items():
        parsed = typing.get_type_hints(spec.parse)["return"]
        assert hints[key.replace("-", "_")] in (parsed, parsed | None), key
        default = getattr(Settings(), key.replace("-", "_"))
        assert default is None or spec.parse(spec.render(default)) == default, key


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("2m", 120), ("1h30m", 5400), ("1h", 3600), ("1m5s", 65), ("0", 0), ("24h", 86400)],
)
def test_durations_parse_to_whole_seconds(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "'abc' is not a duration like 60s or 2m"),
        ("", "'' is not a duration like 60s or 2m"),
        ("1.5s", "'1.5s' is not a whole number of seconds"),
        ("500ms", "'500ms' is not a whole number of seconds"),
        ("-5s", "'-5s' is not a duration like 60s or 2m"),
        ("5 s", "'5 s' is not a duration like 60s or 2m"),
        ("2m1h", "'2m1h' is not a duration like 60s or 2m"),
        ("25h", "'25h' is longer than the maximum of 24h"),
        ("60s\n", "'60s\n' is not a duration like 60s or 2m"),  # a regex $ would let a final newline through
    ],
)
def test_bad_durations_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(SettingError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


def test_off_is_only_accepted_where_a_setting_can_be_switched_off() -> None:
    assert parse_optional_duration("off") is None
    assert parse_optional_duration("5m") == 300
    with pytest.raises(SettingError):
        parse_duration("off")


@pytest.mark.parametrize(("text", "value"), [("true", True), ("false", False)])
def test_booleans_are_the_two_strings(text: str, value: bool) -> None:
    assert parse_bool(text) is value


@pytest.mark.parametrize("text", ["True", "yes", "1", ""])
def test_other_boolean_spellings_are_refused(text: str) -> None:
    with pytest.raises(SettingError, match='is not "true" or "false"'):
        parse_bool(text)


def test_heartbeat_format_is_unix_or_mtime() -> None:
    assert parse_heartbeat_format("mtime") == "mtime"
    with pytest.raises(SettingError, match="use unix or mtime"):
        parse_heartbeat_format("json")


@pytest.mark.parametrize("path", ["/var/run/workerguard/heartbeat", "/tmp/hb", "/a/b.c/d_e-f"])
def test_safe_absolute_paths_are_accepted(path: str) -> None:
    assert parse_heartbeat_path(path) == path


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("relative/hb", "not an absolute path"),
        ("/tmp/a b", "may only contain"),
        ('/tmp/"hb', "may only contain"),
        ("/tmp/$(reboot)", "may only contain"),
        ("/tmp/a;rm", "may only contain"),
        ("/tmp/`id`", "may only contain"),
        ("/tmp/../etc/hb", "not a normalized path"),
        ("/tmp//hb", "not a normalized path"),
        ("/tmp/hb/", "not a normalized path"),
        ("/tmp/hb\n", "may only contain"),
        ("/hb", "must be inside a directory"),
        ("/var/run/wg/draining", "clashes with the marker named 'draining'"),
        ("/var/run/wg/not-ready", "clashes with the marker named 'not-ready'"),
        (
            "/usr/bin/hb",
            "would mount an empty volume over /usr/bin and hide the image's files there; use a directory of its own, like /usr/bin/workerguard/hb",
        ),
        ("/etc/hb", "would mount an empty volume over /etc"),
        ("/var/run/hb", "would mount an empty volume over /var/run"),
    ],
)
def test_unsafe_or_unusable_paths_are_refused(path: str, fragment: str) -> None:
    with pytest.raises(SettingError) as error:
        parse_heartbeat_path(path)
    assert fragment in str(error.value)


def test_later_layers_win_and_sources_are_kept() -> None:
    resolved = resolve(
        [
            Layer("profile:sidekiq", {"readiness-max-age": 60, "shutdown-timeout": 25}),
            Layer("rule:billing", {"shutdown-timeout": 600}),
            Layer("annotation:workerguard.io/{key}", {"readiness-max-age": 90}),
        ]
    )
    assert resolved.settings.readiness_max_age == 90
    assert resolved.sources["readiness-max-age"] == "annotation:workerguard.io/readiness-max-age"
    assert resolved.settings.shutdown_timeout == 600
    assert resolved.sources["shutdown-timeout"] == "rule:billing"
    assert resolved.sources["probe-period"] == "default"


def test_liveness_defaults_to_five_times_readiness_wherever_readiness_came_from() -> None:
    assert resolve([]).settings.liveness_max_age == 300
    assert resolve([Layer("rule:x", {"readiness-max-age": 120})]).settings.liveness_max_age == 600
    assert resolve([Layer("rule:x", {"liveness-max-age": None})]).settings.liveness_max_age is None


@pytest.mark.parametrize(
    ("values", "field", "fragment"),
    [
        ({"probe-period": 40}, "origin of probe-period", "at least twice the probe period"),
        ({"readiness-max-age": 15}, "origin of readiness-max-age", "at least twice the probe period"),
        ({"liveness-max-age": 30}, "origin of liveness-max-age", "at least the readiness max age"),
        ({"startup-timeout": 5}, "origin of startup-timeout", "at least the probe period"),
        ({"probe-period": 0, "readiness-max-age": 60}, "origin of probe-period", "at least 1s"),
    ],
)
def test_relations_blame_the_setting_the_user_changed(values: dict[str, int], field: str, fragment: str) -> None:
    origin = {key: f"origin of {key}" for key in values}
    problems, _ = check_relations(resolve([Layer("annotation:workerguard.io/{key}", values, origin)]))
    assert [(p.field, fragment in p.message) for p in problems][:1] == [(field, True)]


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"liveness-max-age": 60}, "liveness_equals_readiness"),
    ],
)
def test_legal_but_unwise_combinations_warn(values: dict[str, int], code: str) -> None:
    problems, warnings = check_relations(resolve([Layer("rule:x", values)]))
    assert problems == []
    assert [warning.code for warning in warnings] == [code]


def test_the_settings_digest_changes_with_any_value() -> None:
    base = resolve([]).digest()
    assert resolve([]).digest() == base
    assert resolve([Layer("rule:x", {"prestop-sleep": 1})]).digest() != base


@pytest.mark.parametrize("name", ["worker\n", "Worker", "-worker", "w" * 64, ""])
def test_container_names_must_be_whole_dns_labels(name: str) -> None:
    with pytest.raises(SettingError, match="is not a container name"):
        parse_container_name(name)
    assert parse_container_name("sidekiq-2") == "sidekiq-2"


def test_a_rule_name_with_a_final_newline_is_not_a_dns_label() -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules({"rules": [{"name": "billing\n", "set": {"probe-period": "20s"}}]})
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("rules[0] (billing\n).name", "every rule needs a name that is a DNS label")
    ]


@pytest.mark.parametrize(("readiness", "liveness"), [(60, 300), (3600, 18000), (86_400, 86_400), (20_000, 86_400)])
def test_the_derived_liveness_max_age_is_five_times_readiness_and_at_most_24h(readiness: int, liveness: int) -> None:
    resolved = resolve([Layer("annotation:{key}", {"readiness-max-age": readiness})])
    assert (resolved.settings.liveness_max_age, resolved.sources["liveness-max-age"]) == (liveness, "default")
