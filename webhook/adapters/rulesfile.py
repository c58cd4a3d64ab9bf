"""Loading the rules file: text -> one YAML document -> validated RuleSet, and each problem's line and column.

Two ways in. The command line tells a file it cannot read (DocumentError: read_rules_text,
parse_rules_document) from a file it read and found wrong (RulesError, every problem), and places each
problem in the file (locate_problems). The server and the page take one channel, RulesError, for both
(load_rules_file, parse_rules_text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import yaml

from webhook.adapters.documents import compose_yaml, parse_yaml_all, read_text_file
from webhook.core.errors import DocumentError, Problem, RulesError
from webhook.core.rules import parse_rules, RuleSet

MAX_RULES_BYTES = 1024 * 1024

_INDEX = re.compile(r"\[(\d+)\]")


def read_rules_text(path: str | Path) -> str:
    """The file's text; DocumentError ('rules.yaml: no such file') when it cannot be read."""
    return read_text_file(path, MAX_RULES_BYTES)


def parse_rules_document(text: str) -> RuleSet:
    """DocumentError when the text is not YAML (with its line and column); RulesError listing every
    problem of a file that is."""
    documents = parse_yaml_all(text)
    if len(documents) > 1:
        raise RulesError([Problem("(file)", "the rules file must be a single YAML document")])
    return parse_rules(documents[0] if documents else None)


def parse_rules_text(text: str) -> RuleSet:
    """Every way the text can be wrong as a RulesError: the page's and the server's one channel."""
    try:
        return parse_rules_document(text)
    except DocumentError as error:
        raise RulesError([Problem("(file)", str(error))]) from None


def load_rules_file(path: str | Path) -> RuleSet:
    try:
        text = read_rules_text(path)
    except DocumentError as error:
        raise RulesError([Problem(error.field or str(path), f"cannot read the rules file: {error.message}")]) from None
    return parse_rules_text(text)


def locate_problems(text: str, problems: Sequence[Problem]) -> list[str]:
    """Each problem as 'line L, column C: field: message', at the key or item its field names (or the
    nearest enclosing one that is in the file); without a place for those about the whole file."""
    try:
        root = compose_yaml(text)
    except yaml.YAMLError:
        root = None
    lines = []
    for problem in problems:
        mark = _locate(root, problem.field) if root is not None else None
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        field = "" if problem.field.startswith("(") else f"{problem.field}: "
        lines.append(f"{where}{field}{problem.message}")
    return lines


def _locate(node: yaml.Node, field: str) -> yaml.Mark | None:
    """Follow a field path as core.rules writes them (profiles.NAME.set.KEY, rules[0] (name).match.labels.KEY,
    keys that hold dots included) as far as the file has it; the mark of the last key or item reached."""
    found: yaml.Mark | None = None
    rest = field
    while rest:
        if isinstance(node, yaml.MappingNode):
            entry = _longest_key(node, rest)
            if entry is None:
                break
            key, node = entry
            found, rest = key.start_mark, rest[len(key.value) :]
        elif isinstance(node, yaml.SequenceNode):
            index = _INDEX.match(rest)
            if index is None or int(index.group(1)) >= len(node.value):
                break
            node, rest = node.value[int(index.group(1))], rest[index.end() :]
            found = node.start_mark
            name = _name_of(node)
            if name is not None and rest.startswith(f" ({name})"):
                rest = rest[len(name) + 3 :]
        else:
            break
        rest = rest.removeprefix(".")
    return found


def _longest_key(node: yaml.MappingNode, rest: str) -> tuple[yaml.ScalarNode, yaml.Node] | None:
    """The entry whose key the path goes through: the key is all of the rest, or is followed by '.' or '['."""
    best: tuple[yaml.ScalarNode, yaml.Node] | None = None
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode) or not isinstance(key.value, str):
            continue
        text = key.value
        if rest == text or rest.startswith((f"{text}.", f"{text}[")):
            if best is None or len(text) > len(best[0].value):
                best = (key, value)
    return best


def _name_of(node: yaml.Node) -> str | None:
    """A rule's name, as core.rules writes it after the index: rules[0] (billing)."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "name" and isinstance(value, yaml.ScalarNode):
                return str(value.value)
    return None
