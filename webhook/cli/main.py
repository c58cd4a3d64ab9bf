"""The `workerguard` command: serve | preview | audit | rules check | certs | manifests."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import get_args, TextIO

from webhook import __version__
from webhook.adapters.preview import describe, preview_plan, PreviewOutput, render, render_diff
from webhook.cli.audit import add_audit_arguments, AUDIT_EPILOG
from webhook.cli.common import add_command, exit_codes, EXIT_JUDGED, EXIT_OK, EXIT_UNUSABLE, report
from webhook.cli.inputs import (
    add_max_objects_argument,
    FILENAME_HELP,
    LIMIT_HELP,
    load_rules,
    NAMESPACE_HELP,
    rules_and_manifests,
)
from webhook.core.errors import InputError
from webhook.core.plan import OnInvalid, Plan, PlanOptions
from webhook.core.rules import BUILTIN_RULES

DESCRIPTION = """Heartbeat probes and safe shutdown for worker pods.

stdout carries the output a command is asked for, and only it; stderr says what went wrong, once,
naming the file (and the line and column where there is one)."""

EPILOG = exit_codes(
    (EXIT_OK, "ok"),
    (
        EXIT_JUDGED,
        "workerguard judged and said no: an object would be denied, a rules file has problems, a certificate fails its check",
    ),
    (EXIT_UNUSABLE, "workerguard could not judge: an input could not be read or used, or the command line is wrong"),
)

PREVIEW_EPILOG = (
    """outputs (-o), on stdout:
  yaml   the objects as they would be stored, '---' between them, and why as # comments:
         valid YAML, so `workerguard preview -f deploy.yaml | kubectl apply -f -` applies them;
         multi-line strings (a ConfigMap's scripts) are written as | blocks, as people write them
  json   {name, allowed, patch, object, explanations, warnings, errors}; a list of those when the
         input holds several objects
  patch  the RFC 6902 JSON patch (a list of patches for several objects)
  diff   a unified diff of each object's YAML and nothing else: it applies with `patch -p1` and any
         diff viewer reads it. Why (skip reasons, warnings, where each setting came from) goes to
         stderr as # lines, each object's after its diff: `-o diff > changes.diff` keeps the diff alone,
         and on a terminal both read in order as before

stderr: one line per denied object, naming its file and the object and listing its errors, whatever
the output; with -o diff, why as well; and what could not be read.

"""
    + LIMIT_HELP
    + "\n\n"
    + exit_codes(
        (EXIT_OK, "every object is allowed (patched, or left alone with the reason)"),
        (EXIT_JUDGED, "at least one object would be denied (stderr names each, with its errors)"),
        (
            EXIT_UNUSABLE,
            "the input, the rules file or the command line could not be used (stderr says the file, line and column), "
            "-n contradicts an object's namespace, or a file in a directory could not be read (the others are previewed)",
        ),
    )
)

RULES_CHECK_EPILOG = exit_codes(
    (EXIT_OK, "the file is valid: stdout counts its profiles and rules"),
    (EXIT_JUDGED, "the file has problems: stderr lists every one, with its line and column, in one run"),
    (EXIT_UNUSABLE, "the file could not be read or is not YAML (stderr says why, with line and column), or a usage error"),
)

SERVE_EPILOG = """Before it starts, serve checks its rules file and TLS pair as `rules check` and `certs --check`
do, and says what is wrong on stderr the same way; from then on it speaks through its log.

""" + exit_codes(
    (EXIT_OK, "stopped by SIGTERM or SIGINT, after draining"),
    (
        EXIT_JUDGED,
        "the rules file has problems (stderr lists every one, with its line and column), tls.key is not tls.crt's key, "
        "or the server stopped on its own: it could not listen, or a worker process failed (the log says why)",
    ),
    (
        EXIT_UNUSABLE,
        "a bad flag or WORKERGUARD_* variable, or a rules file or TLS file that cannot be read (or is not YAML, or not PEM)",
    ),
)


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # a usage error exits 2 here, with argparse's usage line on stderr
    try:
        return int(args.run(args, stdin or sys.stdin, stdout or sys.stdout))
    except InputError as error:  # what a person gave cannot be used: said once, on stderr
        report(str(error))
        return EXIT_UNUSABLE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workerguard", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"workerguard {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND", required=True)

    preview = add_command(commands, "preview", "show what workerguard would inject, without a cluster", PREVIEW_EPILOG)
    preview.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        help=FILENAME_HELP,
    )
    preview.add_argument("-R", "--recursive", action="store_true", help="with a directory, also read its subdirectories")
    preview.add_argument("--rules", help="a rules file (default: built-in profiles only)")
    preview.add_argument("-o", "--output", choices=get_args(PreviewOutput), default="yaml")
    preview.add_argument("-n", "--namespace", help=NAMESPACE_HELP)
    add_max_objects_argument(preview)
    preview.add_argument("--own-namespace", default="workerguard", help="the webhook's own namespace, never mutated")
    preview.add_argument("--on-invalid", choices=get_args(OnInvalid), default="deny")
    preview.set_defaults(run=run_preview)

    add_audit_arguments(
        add_command(commands, "audit", "find the workers among workloads and what puts them at risk", AUDIT_EPILOG)
    )

    rules = add_command(
        commands, "rules", "work with rules files", "ACTION is check; `workerguard rules check --help`.\n\n" + EPILOG
    )
    rules_commands = rules.add_subparsers(metavar="ACTION", required=True)
    check = add_command(rules_commands, "check", "validate a rules file and list every problem", RULES_CHECK_EPILOG)
    check.add_argument("file")
    check.set_defaults(run=run_rules_check)

    from webhook.cli.certs import add_certs_arguments, CERTS_EPILOG
    from webhook.cli.manifests import add_manifests_arguments, MANIFESTS_EPILOG
    from webhook.server.config import add_serve_arguments  # the server stack loads only when serving

    serve = add_command(commands, "serve", "run the admission webhook over TLS", SERVE_EPILOG)
    add_serve_arguments(serve)
    serve.set_defaults(run=run_serve)
    add_certs_arguments(add_command(commands, "certs", "make or check a CA and serving certificate", CERTS_EPILOG))
    add_manifests_arguments(
        add_command(commands, "manifests", "fill the self-signed overlay from certificates", MANIFESTS_EPILOG)
    )
    return parser


def run_preview(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    given = rules_and_manifests(args, stdin)
    if given is None:
        return EXIT_UNUSABLE
    rules, inputs = given
    options = PlanOptions(own_namespace=args.own_namespace, on_invalid=args.on_invalid)
    plans = [preview_plan(obj, rules, options, args.namespace) for _, obj in inputs.objects]
    sources = [name for name, _ in inputs.objects]
    if args.output == "diff":
        # Each object's diff on stdout, then its why and its denial on stderr: read in order on a
        # terminal, kept apart when redirected.
        for number, (source, planned, (diff, why)) in enumerate(zip(sources, plans, render_diff(plans), strict=True), start=1):
            stdout.write(diff)
            stdout.flush()
            sys.stderr.write(why)
            sys.stderr.flush()
            _say_denial(source, planned, number)
    else:
        stdout.write(render(plans, args.output))
        stdout.flush()
        for number, (source, planned) in enumerate(zip(sources, plans, strict=True), start=1):
            _say_denial(source, planned, number)
    return inputs.exit_code(EXIT_OK if all(p.allowed for p in plans) else EXIT_JUDGED)


def _say_denial(source: str, planned: Plan, number: int) -> None:
    """One line on stderr for a denied object: its file, its name, every error."""
    if planned.allowed:
        return
    errors = [str(problem) for problem in planned.errors] or [planned.skip.message if planned.skip else "denied"]
    report(f"{source}: {describe(planned, number)['name']}: denied: {'; '.join(errors)}")


def run_serve(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    from webhook.cli.certs import read_pair
    from webhook.server.config import config_from_args
    from webhook.server.run import serve

    config = config_from_args(args)  # ConfigError: a bad flag or variable, exit 2 like any usage error
    # What the server would refuse to start with, said as every command says it rather than as a
    # startup failure in the log: unreadable is 2 (raised), found wrong is 1, as in rules check.
    if config.rules is not None and load_rules(config.rules) is None:
        return EXIT_JUDGED
    if not config.generate_dev_certs:
        _, _, info = read_pair(Path(config.tls_cert), Path(config.tls_key))  # CertificateError: 'certs/tls.crt: no such file'
        if not info.key_matches:
            report(f"{config.tls_key}: does not belong to {config.tls_cert}")
            return EXIT_JUDGED
    try:
        return serve(config)
    except SystemExit as stopped:  # uvicorn exits 3 when it cannot listen: the server failed on its own
        return EXIT_OK if stopped.code in (None, 0) else EXIT_JUDGED


def run_rules_check(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    rules = load_rules(args.file)
    if rules is None:
        return EXIT_JUDGED
    custom = [name for name in rules.profiles if name not in BUILTIN_RULES.profiles]
    print(f"{args.file}: ok: {len(custom)} profile(s), {len(rules.rules)} rule(s)", file=stdout)
    return EXIT_OK
