"""Reading objects from text: JSON, multi-document YAML, kind: List, and what is refused."""

from __future__ import annotations

import pytest

from webhook.documents import DocumentError, load_objects


def test_unquoted_dates_stay_text_as_kubectl_reads_them() -> None:
    [obj] = load_objects("kind: Pod\nmetadata: {annotations: {deployed: 2026-11-22, at: 2026-11-22T10:00:00Z}}\n")
    assert obj["metadata"]["annotations"] == {"deployed": "2026-11-22", "at": "2026-11-22T10:00:00Z"}


def test_json_and_yaml_and_lists_all_give_objects() -> None:
    assert load_objects('{"kind": "Pod"}') == [{"kind": "Pod"}]
    assert load_objects("kind: Pod\n---\nkind: Deployment\n---\n") == [{"kind": "Pod"}, {"kind": "Deployment"}]
    assert load_objects("kind: List\nitems: [{kind: Pod}, {kind: Job}]\n") == [{"kind": "Pod"}, {"kind": "Job"}]
    assert load_objects(b'[{"kind": "Pod"}]') == [{"kind": "Pod"}]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the input holds no object"),
        ("---\n", "the input holds no object"),
        ("just a string", "document 1 is not an object"),
        ("{not json", "not valid JSON"),
        ("a: [\n", "not valid YAML"),
        ("a: &x {b: 1}\nc: *x\n", "YAML aliases (*x) are not accepted"),
        ("!!python/object/apply:os.system ['id']\n", "not valid YAML"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (b"\xff\xfe", "not UTF-8"),
        ("kind: Pod\n---\n" * 201, "at most 200"),
        ("?", "document 1: (top): the key None is not a string"),
        ("kind: Pod\nmetadata: {labels: {1: a}}\n", "document 1: metadata.labels: the key 1 is not a string"),
        ("kind: Pod\ndata: !!binary aGVsbG8=\n", "document 1: data: a bytes is not JSON data"),
        ("kind: Pod\nitems: !!set {a, b}\n", "document 1: items: a set is not JSON data"),
    ],
)
def test_unreadable_input_is_refused_with_a_reason(text: str | bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        load_objects(text)
