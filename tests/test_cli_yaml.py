"""preview's YAML as people read it: a multi-line string (a script, a config file in a ConfigMap) stays a
| block, and whatever the style, the data read back is the data that went in, by both YAML readers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, note
from hypothesis import strategies as st

from webhook.adapters.documents import load_objects, parse_yaml_all
from webhook.adapters.preview import render
from webhook.core.plan import plan
from webhook.core.rules import BUILTIN_RULES

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "deployment.yaml"


def config_map(data: dict[str, str]) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "scripts"}, "data": data}


def previewed(obj: dict[str, object], output: str = "yaml") -> str:
    return render([plan(obj, BUILTIN_RULES)], output)  # type: ignore[arg-type]


def test_the_examples_configmap_keeps_its_scripts_as_blocks() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "webhook", "preview", "-f", str(EXAMPLE)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert '  worker.py: |\n    """A small job loop: each job takes a few seconds;' in done.stdout
    assert "\\n" not in done.stdout.split("---\n")[1], "no script is left as one quoted line"
    given_objects = load_objects(EXAMPLE.read_text())
    assert [doc for doc in yaml.safe_load_all(done.stdout) if doc][:2] == given_objects[:2]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("a\nb\n", "  s: |\n    a\n    b\n"),
        ("a\nb", "  s: |-\n    a\n    b\n"),
        ("  indented\nx\n", "  s: |2\n      indented\n    x\n"),
        ("tab\tinside\n\tand leading a later line\n", "  s: |\n    tab\tinside\n    \tand leading a later line\n"),
        # What a block cannot carry exactly stays quoted: trailing spaces, a leading tab, \r and the
        # line breaks YAML would read back as \n.
        ("trailing \nspace", '  s: "trailing \\nspace"\n'),
        ("\tfirst\nx", '  s: "\\tfirst\\nx"\n'),
        ("crlf\r\n", '  s: "crlf\\r\\n"\n'),
        ("next\x85line\n", '  s: "next\\Nline\\n"\n'),
        ("one line", "  s: one line\n"),
    ],
)
def test_what_is_a_block_and_what_stays_quoted(value: str, written: str) -> None:
    text = previewed(config_map({"s": value}))
    assert f"data:\n{written}" in text
    for fast in (True, False):
        assert parse_yaml_all(text, fast=fast)[0]["data"]["s"] == value


LINE = st.text(st.characters(codec="utf-8"), max_size=12)  # every character but lone surrogates


@given(st.dictionaries(st.text("abcdefghij.-_", min_size=1, max_size=6), st.lists(LINE, max_size=5).map("\n".join), max_size=4))
def test_any_text_reads_back_as_it_was(data: dict[str, str]) -> None:
    obj = config_map(data)
    text = previewed(obj)
    note(text)
    for fast in (True, False):
        assert parse_yaml_all(text, fast=fast)[0] == obj
