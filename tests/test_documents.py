"""Reading objects from text: JSON, multi-document YAML, kind: List, and what is refused."""

from __future__ import annotations

import pytest

from webhook.documents import DocumentError, load_objects


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
    ],
)
def test_unreadable_input_is_refused_with_a_reason(text: str | bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        load_objects(text)
