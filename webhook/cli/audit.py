"""`workerguard audit`: which workloads are workers, which are opted in, and what puts each at risk today."""

from __future__ import annotations

import argparse
from typing import get_args, Literal, TextIO

from webhook.adapters.audit import AuditOutput, render_audit
from webhook.cli.common import exit_codes, EXIT_JUDGED, EXIT_OK, EXIT_UNUSABLE
from webhook.cli.inputs import add_max_objects_argument, FILENAME_HELP, LIMIT_HELP, NAMESPACE_HELP, rules_and_manifests
from webhook.core.audit import Audit, audit

FailOn = Literal["risk", "unprotected", "never"]

AUDIT_EPILOG = (
    """reads what `kubectl get deploy,sts,ds,cronjob -A -o yaml` (or -o json) prints: Lists, several
documents, directories, stdin; no cluster is needed. Pods, ReplicaSets and Jobs are audited too;
objects without a pod template are counted and left out.

A workload is a worker when a rule recognises its command or image (sidekiq, celery-worker,
celery-beat, rq, resque, pubsub-subscriber, queue-consumer) or when it is opted in. Each worker's
risks are judged on its pods as they run today, injection included. docs/audit.md lists the rules
and every risk code with its fix.

outputs (-o), on stdout:
  table  one row per workload (its rule, opted in, what injection does or would do, its risks),
         then each risk in full under its workload, then the summary line
  json   {workloads: [{source, kind, name, namespace, worker, opted_in, injected, risks,
         restart_storm, injection: {allowed, patch, explanations, skip, warnings, notes, errors}}],
         summary}; `injection` is what `workerguard preview` says of the workload opted in

--fail-on decides what exit code 1 means: risk (a worker has a risk), unprotected (a worker is not
opted in, or opted in and its pods would be denied or left untouched), never (the default).

"""
    + LIMIT_HELP
    + "\n\n"
    + exit_codes(
        (EXIT_OK, "the audit is complete, and found nothing --fail-on names"),
        (EXIT_JUDGED, "the audit found what --fail-on names: a worker with a risk, or an unprotected worker"),
        (
            EXIT_UNUSABLE,
            "an input, the rules file or the command line could not be used (stderr says why; nothing on stdout), or "
            "-n contradicts an object's namespace, or a file in a directory could not be read (the others are audited)",
        ),
    )
)


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", action="append", required=True, help=FILENAME_HELP)
    parser.add_argument("-R", "--recursive", action="store_true", help="with a directory, also read its subdirectories")
    parser.add_argument("-o", "--output", choices=get_args(AuditOutput), default="table")
    parser.add_argument("--rules", help="the rules file opting in is planned with (default: built-in profiles only)")
    parser.add_argument("-n", "--namespace", help=NAMESPACE_HELP)
    add_max_objects_argument(parser)
    parser.add_argument("--fail-on", choices=get_args(FailOn), default="never", help="what makes the exit code 1")
    parser.set_defaults(run=run_audit)


def run_audit(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    given = rules_and_manifests(args, stdin)
    if given is None:
        return EXIT_UNUSABLE
    rules, inputs = given
    report = audit([obj for _, obj in inputs.objects], rules, namespace=args.namespace)
    stdout.write(render_audit(report, [source for source, _ in inputs.objects], args.output))
    stdout.flush()
    return inputs.exit_code(EXIT_JUDGED if fails(report, args.fail_on) else EXIT_OK)


def fails(report: Audit, fail_on: FailOn) -> bool:
    """The counts the summary line says decide, so the exit code never disagrees with it."""
    summary = report.summary
    if fail_on == "risk":
        return summary.with_risks > 0
    if fail_on == "unprotected":
        return summary.not_opted_in + summary.not_injected > 0
    return False
