"""What `preview` and `audit` read: manifests from files, directories and stdin, and a rules file.

A file or stdin named with -f must be readable, or the command stops before any output: the path is
probably mistyped. A file found in a directory that cannot be read is named on stderr and left out,
and the rest are read, as kubectl does; the command then ends with exit code 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from webhook.adapters.documents import DEFAULT_MAX_DOCUMENTS, load_objects, object_name, read_text_file
from webhook.adapters.rulesfile import locate_problems, parse_rules_document, read_rules_text
from webhook.cli.common import EXIT_UNUSABLE, plural, report
from webhook.core.errors import DocumentError, RulesError
from webhook.core.rules import BUILTIN_RULES, RuleSet
from webhook.core.types import JSONObject

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

FILENAME_HELP = "a file, a directory (its .yaml, .yml and .json files) or - for stdin; repeatable, like kubectl"
NAMESPACE_HELP = "the namespace of objects that name none (default: metadata.namespace); one that names another is refused"
LIMIT_HELP = f"""inputs: at most {DEFAULT_MAX_DOCUMENTS} objects from one file or stdin (a List's items count one by one);
  --max-objects raises that for a bigger dump. A file in a directory that cannot
  be read is named on stderr and left out; the others are read, and the command exits 2."""


@dataclass
class Inputs:
    """Every object read, with the file it came from, and the files of directories left out."""

    objects: list[tuple[str, JSONObject]] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # 'k8s/bad.yaml: not valid YAML: line 4, column 1: ...'

    def exit_code(self, judged: int) -> int:
        """The command's exit code once its output is written: what it judged, or 2 when files were left
        out, said last on stderr so the reason stands beside the code."""
        if not self.left_out:
            return judged
        report(f"{plural(len(self.left_out), 'file')} in a directory could not be read; the output covers the rest")
        return EXIT_UNUSABLE


def read_manifests(
    names: Sequence[str], recursive: bool, stdin: TextIO, namespace: str | None, max_objects: int = DEFAULT_MAX_DOCUMENTS
) -> Inputs | None:
    """What -f names, for preview and audit; None once stderr says why nothing can be judged: -n
    contradicts an object's own namespace, or no file could be read."""
    inputs = read_objects(names, recursive, stdin, max_objects)
    conflicts = namespace_conflicts(inputs.objects, namespace)
    if conflicts:
        report(*conflicts)
        return None
    return inputs if inputs.objects or not inputs.left_out else None


def read_objects(names: Sequence[str], recursive: bool, stdin: TextIO, max_objects: int = DEFAULT_MAX_DOCUMENTS) -> Inputs:
    """The objects of every input, in order; each file of a directory that cannot be read or parsed is
    named on stderr as it is met, and left out."""
    inputs = Inputs()
    for name in names:
        if name == "-":
            inputs.objects += _objects_of("<stdin>", stdin.read(), max_objects)
            continue
        path = Path(name)
        if not path.is_dir():
            inputs.objects += _objects_of(str(path), read_text_file(path), max_objects)
            continue
        files = _manifest_files(path, recursive)
        if not files:
            raise DocumentError("no .yaml, .yml or .json files in this directory", name)
        for file in files:
            try:
                inputs.objects += _objects_of(str(file), read_text_file(file), max_objects)
            except DocumentError as error:
                inputs.left_out.append(str(error))
                report(str(error))
    return inputs


def _objects_of(source: str, text: str, max_objects: int) -> list[tuple[str, JSONObject]]:
    try:
        return [(source, obj) for obj in load_objects(text, max_objects)]
    except DocumentError as error:
        raise DocumentError(error.message, source) from None


def _manifest_files(directory: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(path for path in directory.glob(pattern) if path.is_file() and path.suffix in MANIFEST_SUFFIXES)


def namespace_conflicts(objects: Sequence[tuple[str, JSONObject]], namespace: str | None) -> list[str]:
    """Each object whose own metadata.namespace is not the -n given, as kubectl refuses it: -n says
    where the object goes, and an object that says otherwise was meant for elsewhere."""
    if namespace is None:
        return []
    conflicts = []
    for number, (source, obj) in enumerate(objects, start=1):
        metadata = obj.get("metadata")
        own = metadata.get("namespace") if isinstance(metadata, dict) else None
        if isinstance(own, str) and own and own != namespace:
            conflicts.append(
                f'{source}: {object_name(obj, number)}: the namespace from the provided object "{own}" does not match '
                f'the namespace "{namespace}"; pass -n {own}, or leave -n out'
            )
    return conflicts


def load_rules(path: str) -> RuleSet | None:
    """The rules in the file; None once every problem in it is on stderr, each with its line and column.
    A file that cannot be read, or is not YAML, raises DocumentError naming it."""
    text = read_rules_text(path)
    try:
        return parse_rules_document(text)
    except DocumentError as error:
        raise DocumentError(error.message, path) from None
    except RulesError as error:
        report(*(f"{path}: {line}" for line in locate_problems(text, error.problems)))
        report(f"{path}: invalid rules file: {plural(len(error.problems), 'problem')}")
        return None


def rules_and_manifests(args: argparse.Namespace, stdin: TextIO) -> tuple[RuleSet, Inputs] | None:
    """What preview and audit both start from: --rules (or the built-in profiles) and the -f inputs;
    None once stderr says why either cannot be used."""
    rules = BUILTIN_RULES if args.rules is None else load_rules(args.rules)
    if rules is None:
        return None
    inputs = read_manifests(args.filename, args.recursive, stdin, args.namespace, args.max_objects)
    return None if inputs is None else (rules, inputs)


def add_max_objects_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-objects",
        type=_positive,
        default=DEFAULT_MAX_DOCUMENTS,
        metavar="N",
        help=f"read at most N objects from one file or stdin (default {DEFAULT_MAX_DOCUMENTS})",
    )


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of objects, at least 1")
    return int(text)
