"""Loading the rules file from disk: text -> one YAML document -> validated RuleSet."""

from __future__ import annotations

from pathlib import Path

from webhook.adapters.documents import parse_yaml_all
from webhook.core.errors import DocumentError, Problem, RulesError
from webhook.core.rules import parse_rules, RuleSet

MAX_RULES_BYTES = 1024 * 1024


def parse_rules_text(text: str) -> RuleSet:
    try:
        documents = parse_yaml_all(text)
    except DocumentError as error:
        raise RulesError([Problem("(file)", str(error))]) from None
    if len(documents) > 1:
        raise RulesError([Problem("(file)", "the rules file must be a single YAML document")])
    return parse_rules(documents[0] if documents else None)


def load_rules_file(path: str | Path) -> RuleSet:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise RulesError([Problem(str(path), f"cannot read the rules file: {error.strerror}")]) from None
    if len(data) > MAX_RULES_BYTES:
        raise RulesError([Problem(str(path), f"the rules file is larger than {MAX_RULES_BYTES} bytes")])
    try:
        return parse_rules_text(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise RulesError([Problem(str(path), "the rules file is not UTF-8 text")]) from None
