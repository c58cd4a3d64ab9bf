"""The `workerguard` command: serve | preview | rules check | certs | manifests."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import get_args, TextIO

from webhook import __version__
from webhook.adapters.documents import load_objects
from webhook.adapters.preview import PreviewOutput, render
from webhook.adapters.rulesfile import load_rules_file
from webhook.core.errors import DocumentError, RulesError
from webhook.core.plan import OnInvalid, plan, PlanOptions
from webhook.core.rules import BUILTIN_RULES, RuleSet

EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

PREVIEW_EPILOG = """outputs (-o):
  yaml   the objects as they would be stored, '---' between them, and why as # comments:
         valid YAML, so `workerguard preview -f deploy.yaml | kubectl apply -f -` applies them
  json   {name, allowed, patch, object, explanations, warnings, errors}; a list of those when the
         input holds several objects
  patch  the RFC 6902 JSON patch (a list of patches for several objects)
  diff   a unified diff of each object, then why as # comments

exit codes:
  0  every object is allowed (patched, or left alone with the reason)
  1  at least one object would be denied (the errors say which annotation)
  2  the input or the rules file could not be read (the message says the file, line and column)
"""


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return int(args.run(args, stdin or sys.stdin, stdout or sys.stdout))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workerguard", description="Heartbeat probes and safe shutdown for worker pods.")
    parser.add_argument("--version", action="version", version=f"workerguard {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND")

    preview = commands.add_parser(
        "preview",
        help="show what workerguard would inject, without a cluster",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=PREVIEW_EPILOG,
    )
    preview.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        help="a file, a directory (its .yaml, .yml and .json files) or - for stdin; repeatable, like kubectl",
    )
    preview.add_argument("-R", "--recursive", action="store_true", help="with a directory, also read its subdirectories")
    preview.add_argument("--rules", help="a rules file (default: built-in profiles only)")
    preview.add_argument("-o", "--output", choices=get_args(PreviewOutput), default="yaml")
    preview.add_argument("-n", "--namespace", help="namespace the pod would be created in (default: metadata.namespace)")
    preview.add_argument("--own-namespace", default="workerguard", help="the webhook's own namespace, never mutated")
    preview.add_argument("--on-invalid", choices=get_args(OnInvalid), default="deny")
    preview.set_defaults(run=run_preview)

    rules = commands.add_parser("rules", help="work with rules files")
    rules_commands = rules.add_subparsers(metavar="ACTION")
    check = rules_commands.add_parser("check", help="validate a rules file and list every problem")
    check.add_argument("file")
    check.set_defaults(run=run_rules_check)

    from webhook.cli.certs import add_certs_arguments
    from webhook.cli.manifests import add_manifests_arguments
    from webhook.server.config import add_serve_arguments  # the server stack loads only when serving

    serve = commands.add_parser("serve", help="run the admission webhook over TLS")
    add_serve_arguments(serve)
    serve.set_defaults(run=run_serve)
    add_certs_arguments(commands.add_parser("certs", help="make or check a CA and serving certificate"))
    add_manifests_arguments(commands.add_parser("manifests", help="fill the self-signed overlay from certificates"))
    return parser


def _fail(message: str) -> int:
    print(f"workerguard: {message}", file=sys.stderr)
    return EXIT_USAGE


def _load_rules(path: str | None) -> RuleSet:
    return BUILTIN_RULES if path is None else load_rules_file(path)


def _manifest_files(directory: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(path for path in directory.glob(pattern) if path.is_file() and path.suffix in MANIFEST_SUFFIXES)


def read_inputs(names: Sequence[str], recursive: bool, stdin: TextIO) -> list[tuple[str, str]]:
    """(name, text) of every input, in order: files, the manifests of directories, stdin for -."""
    inputs: list[tuple[str, str]] = []
    for name in names:
        if name == "-":
            inputs.append(("<stdin>", stdin.read()))
            continue
        path = Path(name)
        directory = path.is_dir()
        files = _manifest_files(path, recursive) if directory else [path]
        if directory and not files:
            raise DocumentError(f"{name}: no .yaml, .yml or .json files in this directory")
        for file in files:
            try:
                inputs.append((str(file), file.read_text(encoding="utf-8")))
            except OSError as error:
                raise DocumentError(f"cannot read {file}: {error.strerror}") from None
            except UnicodeDecodeError:
                raise DocumentError(f"{file}: the input is not UTF-8 text") from None
    return inputs


def run_preview(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    try:
        rules = _load_rules(args.rules)
    except RulesError as error:
        return _fail(f"invalid rules file: {error}")
    objects = []
    try:
        for name, text in read_inputs(args.filename, args.recursive, stdin):
            try:
                objects += load_objects(text)
            except DocumentError as error:
                raise DocumentError(f"{name}: {error}") from None
    except DocumentError as error:
        return _fail(str(error))
    options = PlanOptions(own_namespace=args.own_namespace, on_invalid=args.on_invalid)
    plans = [plan(obj, rules, options, args.namespace) for obj in objects]
    stdout.write(render(plans, args.output))
    return EXIT_OK if all(p.allowed for p in plans) else EXIT_DENIED


def run_serve(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    from webhook.core.errors import ConfigError
    from webhook.server.config import config_from_args
    from webhook.server.run import serve

    try:
        config = config_from_args(args)
    except ConfigError as error:
        return _fail(f"serve: {error}")
    return serve(config)


def run_rules_check(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    try:
        rules = load_rules_file(args.file)
    except RulesError as error:
        for problem in error.problems:
            print(f"{args.file}: {problem}", file=stdout)
        print(f"{args.file}: {len(error.problems)} problem(s)", file=sys.stderr)
        return EXIT_DENIED
    custom = [name for name in rules.profiles if name not in BUILTIN_RULES.profiles]
    print(f"{args.file}: ok: {len(custom)} profile(s), {len(rules.rules)} rule(s)", file=stdout)
    return EXIT_OK
