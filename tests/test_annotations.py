"""Reading workerguard.io/* annotations: every value parsed, every problem collected with its field."""

from __future__ import annotations

from webhook.adapters.documents import load_objects
from webhook.core.annotations import read_pod_annotations


def test_valid_annotations_become_one_layer_with_origins() -> None:
    read = read_pod_annotations(
        {
            "workerguard.io/profile": "sidekiq",
            "workerguard.io/readiness-max-age": "2m",
            "workerguard.io/safe-to-evict": "false",
            "app.kubernetes.io/name": "ignored",
        }
    )
    assert read.problems == []
    assert read.profile == "sidekiq"
    assert dict(read.layer.values) == {"readiness-max-age": 120, "safe-to-evict": False}
    assert read.layer.origin["readiness-max-age"] == "metadata.annotations[workerguard.io/readiness-max-age]"
    assert read.layer.source_of("readiness-max-age") == "annotation:workerguard.io/readiness-max-age"


def test_every_bad_annotation_is_reported_not_just_the_first() -> None:
    read = read_pod_annotations(
        {
            "workerguard.io/readiness-max-age": "abc",
            "workerguard.io/probe-period": "1.5s",
            "workerguard.io/heartbeat-path": "/tmp/$(id)",
            "workerguard.io/override-probes": "yes",
        },
        field_prefix="spec.template.",
    )
    assert [(p.field, p.message) for p in read.problems] == [
        ("spec.template.metadata.annotations[workerguard.io/readiness-max-age]", "'abc' is not a duration like 60s or 2m"),
        ("spec.template.metadata.annotations[workerguard.io/probe-period]", "'1.5s' is not a whole number of seconds"),
        (
            "spec.template.metadata.annotations[workerguard.io/heartbeat-path]",
            "'/tmp/$(id)' may only contain letters, digits and . _ - /",
        ),
        ("spec.template.metadata.annotations[workerguard.io/override-probes]", '\'yes\' is not "true" or "false"'),
    ]
    assert read.layer.values == {}


def test_a_misspelt_key_is_an_error_with_a_suggestion() -> None:
    read = read_pod_annotations({"workerguard.io/readines-max-age": "60s"})
    assert len(read.problems) == 1
    assert read.problems[0].message == "unknown workerguard annotation; did you mean workerguard.io/readiness-max-age?"


def test_a_non_string_value_is_an_error() -> None:
    read = read_pod_annotations({"workerguard.io/probe-period": 10})
    assert read.problems[0].message == 'YAML read 10 as a number: quote it, as in "10"'


def test_the_status_annotation_is_ours_and_not_an_unknown_key() -> None:
    assert read_pod_annotations({"workerguard.io/status": "{}"}).problems == []


def test_unquoted_yaml_values_get_a_hint_to_quote_them() -> None:
    [objects] = [
        load_objects(
            "kind: Pod\nmetadata:\n  annotations:\n    workerguard.io/liveness-max-age: off\n    workerguard.io/probe-period: 90\n"
        )
    ]
    read = read_pod_annotations(objects[0]["metadata"]["annotations"])
    assert [problem.message for problem in read.problems] == [
        'YAML read an unquoted value as the boolean false: quote it, as in "off" or "false"',
        'YAML read 90 as a number: quote it, as in "90"',
    ]
