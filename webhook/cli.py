"""The `workerguard` command: serve | preview | rules check | certs | manifests."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from webhook import __version__
from webhook.core.plan import plan, PlanOptions
from webhook.core.rules import BUILTIN_RULES, RulesError, RuleSet
from webhook.documents import DocumentError, load_objects
from webhook.preview import render
from webhook.rulesfile import load_rules_file

EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2


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

    preview = commands.add_parser("preview", help="show what workerguard would inject, without a cluster")
    preview.add_argument("-f", "--filename", required=True, help="a Pod or workload as YAML or JSON; - reads stdin")
    preview.add_argument("--rules", help="a rules file (default: built-in profiles only)")
    preview.add_argument("-o", "--output", choices=("yaml", "json", "patch", "diff"), default="yaml")
    preview.add_argument("-n", "--namespace", help="namespace the pod would be created in (default: metadata.namespace)")
    preview.add_argument("--own-namespace", default="workerguard", help="the webhook's own namespace, never mutated")
    preview.add_argument("--on-invalid", choices=("deny", "allow"), default="deny")
    preview.set_defaults(run=run_preview)

    rules = commands.add_parser("rules", help="work with rules files")
    rules_commands = rules.add_subparsers(metavar="ACTION")
    check = rules_commands.add_parser("check", help="validate a rules file and list every problem")
    check.add_argument("file")
    check.set_defaults(run=run_rules_check)

    from webhook.certs_cli import add_certs_arguments
    from webhook.manifests_cli import add_manifests_arguments
    from webhook.server.config import add_serve_arguments  # the server stack loads only when serving

    add_serve_arguments(commands.add_parser("serve", help="run the admission webhook over TLS"))
    add_certs_arguments(commands.add_parser("certs", help="make or check a CA and serving certificate"))
    add_manifests_arguments(commands.add_parser("manifests", help="fill the self-signed overlay from certificates"))
    return parser


def _fail(message: str) -> int:
    print(f"workerguard: {message}", file=sys.stderr)
    return EXIT_USAGE


def _load_rules(path: str | None) -> RuleSet:
    return BUILTIN_RULES if path is None else load_rules_file(path)


def run_preview(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    try:
        rules = _load_rules(args.rules)
    except RulesError as error:
        return _fail(f"invalid rules file: {error}")
    try:
        if args.filename == "-":
            text = stdin.read()
        else:
            with open(args.filename, encoding="utf-8") as handle:
                text = handle.read()
        objects = load_objects(text)
    except OSError as error:
        return _fail(f"cannot read {args.filename}: {error.strerror}")
    except (DocumentError, UnicodeDecodeError) as error:
        return _fail(f"{args.filename}: {error}")
    options = PlanOptions(namespace=args.namespace, own_namespace=args.own_namespace, on_invalid=args.on_invalid)
    plans = [plan(obj, rules, options) for obj in objects]
    stdout.write(render(plans, args.output))
    return EXIT_OK if all(p.allowed for p in plans) else EXIT_DENIED


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
