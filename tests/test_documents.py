"""Reading objects from text: JSON, multi-document YAML, kind: List, and what is refused."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import yaml

from webhook.adapters.documents import compose_yaml, load_objects, os_error_reason, parse_yaml_all, read_text_file
from webhook.core.errors import DocumentError


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
        (
            "kind: Pod\nspec: {x: [99999999999999999999999]}\n",
            "document 1: spec.x.0.: 99999999999999999999999 does not fit in 64 bits",
        ),
    ],
)
def test_unreadable_input_is_refused_with_a_reason(text: str | bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        load_objects(text)


@pytest.mark.parametrize("fast", [True, False], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [\n", "not valid YAML: line 2, column 1: "),
        ("a: b: c\n", "not valid YAML: line 1, column 5: mapping values are not allowed"),
        ("a: &x {b: 1}\nc: *x\n", "line 2: YAML aliases (*x) are not accepted"),
        ("a:\n" + "".join(" " * n + "- \n" for n in range(1, 120)), "nested too deeply"),
        ("[" * 101 + "]" * 101, "nested too deeply"),
        ("!!python/object/apply:os.system ['id']\n", "not valid YAML: line 1, column 1: could not determine a constructor"),
    ],
)
def test_both_yaml_readers_refuse_alike_and_name_line_and_column(fast: bool, text: str, message: str) -> None:
    with pytest.raises(DocumentError) as error:
        parse_yaml_all(text, fast=fast)
    assert message in str(error.value)
    assert "<unicode string>" not in str(error.value)


@pytest.mark.parametrize("fast", [True, False], ids=["libyaml", "pure-python"])
def test_both_yaml_readers_give_the_same_data(fast: bool) -> None:
    text = "kind: Pod\nmetadata: {annotations: {at: 2026-11-22, n: '7'}}\nspec: {x: [1, 2.5, true, null, ~]}\n---\nkind: Job\n"
    assert parse_yaml_all(text, fast=fast) == [
        {"kind": "Pod", "metadata": {"annotations": {"at": "2026-11-22", "n": "7"}}, "spec": {"x": [1, 2.5, True, None, None]}},
        {"kind": "Job"},
    ]


@pytest.mark.parametrize("fast", [True, False], ids=["libyaml", "pure-python"])
def test_100_levels_of_nesting_are_read(fast: bool) -> None:
    [document] = parse_yaml_all("[" * 100 + "]" * 100, fast=fast)
    for _ in range(99):
        document = document[0]
    assert document == []


def test_a_file_that_cannot_be_read_is_named_with_why_in_words(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (tmp_path / "big.yaml").write_text("x" * 21)
    (tmp_path / "ok.yaml").write_text("kind: Pod\r\n")
    for name, reason in [
        ("missing.yaml", "no such file"),
        (".", "is a directory, not a file"),
        ("ok.yaml/inside", "a part of the path is not a directory"),
        ("latin1.yaml", "not UTF-8 text"),
        ("big.yaml", "larger than 20 bytes"),
    ]:
        with pytest.raises(DocumentError) as error:
            read_text_file(tmp_path / name, max_bytes=20)
        assert (error.value.field, error.value.message) == (str(tmp_path / name), reason)
        assert str(error.value) == f"{tmp_path / name}: {reason}"
    assert read_text_file(tmp_path / "ok.yaml", max_bytes=20) == "kind: Pod\r\n"


def test_os_errors_read_as_words_never_as_errno() -> None:
    assert os_error_reason(FileNotFoundError(errno.ENOENT, "No such file or directory")) == "no such file"
    assert os_error_reason(PermissionError(errno.EACCES, "Permission denied")) == "permission denied"
    assert os_error_reason(OSError(errno.ENOSPC, "No space left on device")) == "no space left on device"
    assert os_error_reason(OSError("odd")) == "odd"


def test_the_node_tree_knows_where_each_node_is() -> None:
    root = compose_yaml("rules:\n  - name: a\n")
    assert isinstance(root, yaml.MappingNode)
    [(key, value)] = root.value
    assert (key.value, key.start_mark.line, key.start_mark.column) == ("rules", 0, 0)
    assert (value.value[0].start_mark.line, value.value[0].start_mark.column) == (1, 4)
    assert compose_yaml("") is None
