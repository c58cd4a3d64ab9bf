"""Every documented error case of the `workerguard` command, run as a user runs it: the real CLI in a
process of its own, in a directory of its own, with relative paths as a person types them.

One table. Each case gives the exit code, what stderr must say (each message exactly once) and, where
it matters, what stdout must hold. Every case also holds the rules every command keeps: no Python
"[Errno N]" and no traceback anywhere, every stderr line is workerguard's ("workerguard: ..." or, beside
a diff, "# ..."), and a failed command writes nothing but its output format to stdout. A last test holds
the table to the --help pages: every exit code a subcommand documents has a case here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from webhook.adapters.certs import make_bundle
from webhook.adapters.documents import load_objects
from webhook.adapters.preview import render
from webhook.cli.certs import write_bundle
from webhook.core.plan import plan

ROOT = Path(__file__).parent.parent
GOLDEN = ROOT / "tests" / "golden"
OK, JUDGED, UNUSABLE = 0, 1, 2

BAD_RULES = """profiles:
  slow:
    base: resque
    set: {probe-period: x, colour: red}
rules:
  - name: Bad
    set: {readiness-max-age: soon}
"""
# Every problem of BAD_RULES, each with its line and column: the bad base hides nothing.
KNOWN_SETTINGS = (
    "container, heartbeat-format, heartbeat-path, liveness-max-age, override-probes, prestop-sleep, probe-period, "
    "probe-shell, probe-transport, readiness-max-age, safe-to-evict, shutdown-timeout, sidecar-wait, startup-timeout, stuck-after"
)
BAD_RULES_PROBLEMS = (
    "bad-rules.yaml: line 3, column 5: profiles.slow.base: 'resque' is not a built-in profile: generic, sidekiq, celery, pubsub",
    "bad-rules.yaml: line 4, column 11: profiles.slow.set.probe-period: 'x' is not a duration like 60s or 2m",
    f"bad-rules.yaml: line 4, column 28: profiles.slow.set.colour: unknown setting; known: {KNOWN_SETTINGS}",
    "bad-rules.yaml: line 6, column 5: rules[0] (Bad).name: every rule needs a name that is a DNS label",
    "bad-rules.yaml: line 7, column 11: rules[0] (Bad).set.readiness-max-age: 'soon' is not a duration like 60s or 2m",
    "bad-rules.yaml: invalid rules file: 5 problems",
)
# A Sidekiq worker nobody has opted in yet.
NOT_OPTED_IN_WORKER = """apiVersion: apps/v1
kind: Deployment
metadata: {name: orders-sidekiq, namespace: orders}
spec:
  selector: {matchLabels: {app: orders-sidekiq}}
  template:
    metadata: {labels: {app: orders-sidekiq}}
    spec:
      containers:
        - {name: sidekiq, image: registry.example/orders:1, command: [bundle, exec, sidekiq]}
"""
# What -n billing says of tests/golden/celery-pod.yaml, which names its namespace, reports.
NAMESPACE_CONFLICT = (
    'workerguard: pod.yaml: Pod/reports-celery-7d9f8c6b5-: the namespace from the provided object "reports" does not match '
    'the namespace "billing"; pass -n reports, or leave -n out\n'
)
# The files of mixed/ that cannot be read, each named once, and the closing line.
MIXED_LEFT_OUT = (
    "workerguard: mixed/latin1.yaml: not UTF-8 text\n",
    "workerguard: mixed/not-yaml.yaml: not valid YAML: line 4, column 1: ",
    "workerguard: 2 files in a directory could not be read; the output covers the rest\n",
)
# The errors of tests/golden/invalid-annotations.yaml, each said once in the denial.
DENIAL = "workerguard: denied.yaml: Pod/bad-worker: denied: "
DENIED_ERRORS = (
    "metadata.annotations[workerguard.io/readiness-max-age]: 'abc' is not a duration like 60s or 2m",
    "metadata.annotations[workerguard.io/heartbeat-path]: '/tmp/beat; rm -rf /' may only contain",
    "metadata.annotations[workerguard.io/readines-max-age]: unknown workerguard annotation",
    "metadata.annotations[workerguard.io/liveness-max-age]: liveness max age 10s must be at least",
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """What the cases name: inputs good and bad, rules files, certificate pairs usable and not."""
    shutil.copy(GOLDEN / "celery-pod.yaml", tmp_path / "pod.yaml")
    shutil.copy(GOLDEN / "sidekiq-deployment.yaml", tmp_path / "deployment.yaml")
    shutil.copy(GOLDEN / "invalid-annotations.yaml", tmp_path / "denied.yaml")
    shutil.copy(GOLDEN / "rules.yaml", tmp_path / "rules.yaml")
    shutil.copy(GOLDEN / "native-sidecar.yaml", tmp_path / "mailer.yaml")
    (tmp_path / "worker.yaml").write_text(NOT_OPTED_IN_WORKER)
    (tmp_path / "bad-rules.yaml").write_text(BAD_RULES)
    (tmp_path / "two-documents.yaml").write_text("rules: []\n---\nrules: []\n")
    (tmp_path / "not-yaml.yaml").write_text("kind: Pod\nmetadata:\n  name: [x\n")
    (tmp_path / "latin1.yaml").write_bytes(b"kind: Pod\nmetadata: {name: caf\xe9}\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "mixed").mkdir()
    shutil.copy(GOLDEN / "celery-pod.yaml", tmp_path / "mixed" / "pod.yaml")
    shutil.copy(tmp_path / "not-yaml.yaml", tmp_path / "mixed" / "not-yaml.yaml")
    shutil.copy(tmp_path / "latin1.yaml", tmp_path / "mixed" / "latin1.yaml")
    shutil.copytree(tmp_path / "mixed", tmp_path / "broken", ignore=shutil.ignore_patterns("pod.yaml"))
    (tmp_path / "afile").write_text("a file where a directory is expected\n")
    write_bundle(tmp_path / "good", make_bundle("localhost", ["localhost"], 400))
    write_bundle(tmp_path / "expiring", make_bundle("localhost", ["localhost"], 10))
    first, second = make_bundle("a", ["a"]), make_bundle("b", ["b"])
    write_bundle(tmp_path / "mismatched", first)
    (tmp_path / "mismatched" / "tls.key").write_bytes(second.tls_key)
    (tmp_path / "junk").mkdir()
    for name in ("ca.crt", "tls.crt", "tls.key"):
        (tmp_path / "junk" / name).write_text("junk\n")
    return tmp_path


def workerguard(
    args: list[str], cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("WORKERGUARD_")}
    return subprocess.run(
        [sys.executable, "-m", "webhook", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**environment, "PYTHONPATH": str(ROOT), **(env or {})},
    )


# --- what stdout must hold ------------------------------------------------------------------------

StdoutCheck = Callable[[str, Path, list[str]], None]


def empty(stdout: str, workdir: Path, args: list[str]) -> None:
    assert stdout == ""


def exactly(text: str) -> StdoutCheck:
    def check(stdout: str, workdir: Path, args: list[str]) -> None:
        assert stdout == text

    return check


def starts_with(text: str) -> StdoutCheck:
    def check(stdout: str, workdir: Path, args: list[str]) -> None:
        assert stdout.startswith(text) and stdout.count("\n") == 1, stdout

    return check


def yaml_with_its_comments(stdout: str, workdir: Path, args: list[str]) -> None:
    """-o yaml keeps its format when denied: the object as it came, its errors as # comments."""
    [obj] = [doc for doc in yaml.safe_load_all(stdout) if doc]
    assert obj == yaml.safe_load((workdir / "denied.yaml").read_text())
    assert stdout.count("\n# error: ") == len(DENIED_ERRORS)


def denied_json(stdout: str, workdir: Path, args: list[str]) -> None:
    result = json.loads(stdout)
    assert result["allowed"] is False and len(result["errors"]) == len(DENIED_ERRORS)


def valid_yaml(stdout: str, workdir: Path, args: list[str]) -> None:
    assert [doc["kind"] for doc in yaml.safe_load_all(stdout) if doc] == ["Pod"]


_HUNK = re.compile(r"@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")


def parse_unified_diff(text: str) -> list[str]:
    """The files a unified diff changes; fails on any line that is not a file header, a hunk header or
    a hunk line, and on hunks whose lines do not add up to their header's counts."""
    lines, files, at = text.splitlines(), [], 0
    while at < len(lines):
        assert lines[at].startswith("--- a/") and lines[at + 1].startswith("+++ b/"), lines[at : at + 2]
        files.append(lines[at].removeprefix("--- a/"))
        at += 2
        assert at < len(lines) and _HUNK.fullmatch(lines[at]), "a file header without a hunk"
        while at < len(lines) and (hunk := _HUNK.fullmatch(lines[at])):
            old, new = int(hunk[1] or 1), int(hunk[2] or 1)
            at += 1
            while old or new:
                tag = lines[at][:1]
                assert tag in (" ", "-", "+"), f"line {at + 1} is not part of the diff: {lines[at]!r}"
                old -= tag in " -"
                new -= tag in " +"
                at += 1
            assert old == new == 0
    return files


def _objects(yaml_output: str) -> dict[str, str]:
    """-o yaml output as 'Kind/name' -> the object's YAML, without the # comments after it."""
    objects = {}
    for chunk in re.split(r"(?m)^---\n", yaml_output):
        text = "".join(line for line in chunk.splitlines(keepends=True) if not line.startswith("#"))
        obj = yaml.safe_load(text)
        metadata = obj["metadata"]
        objects[f"{obj['kind']}/{metadata.get('name') or metadata['generateName']}"] = text
    return objects


def clean_diff(*changed: str) -> StdoutCheck:
    """stdout is a unified diff and nothing else, of exactly these objects; and `patch -p1` turns each
    object as it came (previewed in the webhook's own namespace, which is never mutated) into the
    object -o yaml shows."""

    def check(stdout: str, workdir: Path, args: list[str]) -> None:
        assert parse_unified_diff(stdout) == list(changed)
        as_yaml = [arg if arg != "diff" else "yaml" for arg in args]
        after = _objects(workerguard(as_yaml, workdir).stdout)
        before = _objects(_untouched([args[i + 1] for i, arg in enumerate(args) if arg == "-f"], workdir))
        patch = shutil.which("patch")
        if patch is None:
            pytest.skip("GNU patch is not installed: the diff was parsed but not applied")
        tree = workdir / "applied"
        for name, text in before.items():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            (tree / name).write_text(text)
        applied = subprocess.run([patch, "-p1", "--batch", "--forward"], cwd=tree, input=stdout, capture_output=True, text=True)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert {name: (tree / name).read_text() for name in before} == after

    return check


def _untouched(files: list[str], workdir: Path) -> str:
    """The objects of the files as -o yaml writes them when it changes nothing: planned in the
    webhook's own namespace, which is never mutated."""
    objects = [obj for name in files for obj in load_objects((workdir / name).read_text())]
    return "---\n".join(render([plan(obj, namespace="workerguard")], "yaml") for obj in objects)


def audit_table(*workloads: str) -> StdoutCheck:
    """The audit's table: a row for each of these workloads, in order, and the summary line last."""

    def check(stdout: str, workdir: Path, args: list[str]) -> None:
        rows = stdout.split("\n\n", 1)[0].splitlines()
        assert rows[0].split()[:2] == ["NAMESPACE", "WORKLOAD"]
        assert [row.split()[1] for row in rows[1:]] == list(workloads)
        assert re.fullmatch(r"[0-9]+ workloads?: [0-9]+ workers?, .*", stdout.splitlines()[-1])

    return check


def audit_json(stdout: str, workdir: Path, args: list[str]) -> None:
    report = json.loads(stdout)
    assert list(report) == ["workloads", "summary"] and report["summary"]["workers"] == len(report["workloads"])


# --- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    args: str
    code: int
    says: tuple[str, ...] = ()  # each exactly once on stderr
    stderr: str | None = None  # all of stderr, when it is known to the letter
    stdout: StdoutCheck | None = None
    stdin: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    usage: bool = False  # argparse's own usage error: its "usage:" lines, then "workerguard ...: error: ..."
    partial: bool = False  # exit 2 for files left out of a directory, with the output for the others

    @property
    def command(self) -> str:
        words = shlex.split(self.args) or [""]
        return " ".join(words[:2]) if words[0] == "rules" else words[0]


CASES = [
    # preview
    Case("preview: allowed", "preview -f pod.yaml", OK, stderr="", stdout=valid_yaml),
    Case(
        "preview: a missing file",
        "preview -f nonexist.yaml",
        UNUSABLE,
        stderr="workerguard: nonexist.yaml: no such file\n",
        stdout=empty,
    ),
    Case(
        "preview: not YAML, with line and column",
        "preview -f pod.yaml -f not-yaml.yaml",
        UNUSABLE,
        says=("workerguard: not-yaml.yaml: not valid YAML: line 4, column 1: ",),
        stdout=empty,
    ),
    Case(
        "preview: not UTF-8",
        "preview -f latin1.yaml",
        UNUSABLE,
        stderr="workerguard: latin1.yaml: not UTF-8 text\n",
        stdout=empty,
    ),
    Case(
        "preview: a directory without manifests",
        "preview -f empty",
        UNUSABLE,
        stderr="workerguard: empty: no .yaml, .yml or .json files in this directory\n",
        stdout=empty,
    ),
    Case(
        "preview: nothing on stdin",
        "preview -f -",
        UNUSABLE,
        stdin="",
        stderr="workerguard: <stdin>: the input holds no object\n",
        stdout=empty,
    ),
    Case(
        "preview: a missing rules file",
        "preview -f pod.yaml --rules nonexist.yaml",
        UNUSABLE,
        stderr="workerguard: nonexist.yaml: no such file\n",
        stdout=empty,
    ),
    Case(
        "preview: an invalid rules file, every problem",
        "preview -f pod.yaml --rules bad-rules.yaml",
        UNUSABLE,
        says=BAD_RULES_PROBLEMS,
        stdout=empty,
    ),
    Case(
        "preview: denied, -o yaml keeps its format",
        "preview -f denied.yaml",
        JUDGED,
        says=(DENIAL, *DENIED_ERRORS),
        stdout=yaml_with_its_comments,
    ),
    Case("preview: denied, -o json", "preview -f denied.yaml -o json", JUDGED, says=(DENIAL, *DENIED_ERRORS), stdout=denied_json),
    Case("preview: denied, -o patch", "preview -f denied.yaml -o patch", JUDGED, says=(DENIAL,), stdout=exactly("[]\n")),
    Case(
        "preview: -o diff is a clean diff, why on stderr",
        "preview -f deployment.yaml -f pod.yaml --rules rules.yaml -o diff",
        OK,
        says=("# Deployment/billing-sidekiq\n# warning (shell_wrapped_command): ", "# Pod/reports-celery-7d9f8c6b5-\n"),
        stdout=clean_diff("Deployment/billing-sidekiq", "Pod/reports-celery-7d9f8c6b5-"),
    ),
    Case(
        "preview: -o diff with a denial",
        "preview -f denied.yaml -f deployment.yaml -o diff",
        JUDGED,
        says=(DENIAL, *DENIED_ERRORS, "# Deployment/billing-sidekiq\n"),
        stdout=clean_diff("Deployment/billing-sidekiq"),
    ),
    Case(
        "preview: no -f",
        "preview",
        UNUSABLE,
        says=("the following arguments are required: -f/--filename",),
        stdout=empty,
        usage=True,
    ),
    Case("preview: an unknown output", "preview -f pod.yaml -o xml", UNUSABLE, says=("invalid choice: 'xml'",), usage=True),
    Case(
        "preview: files of a directory that cannot be read are named, the others previewed",
        "preview -f mixed",
        UNUSABLE,
        says=MIXED_LEFT_OUT,
        stdout=valid_yaml,
        partial=True,
    ),
    Case(
        "preview: -n contradicts the object's own namespace",
        "preview -f pod.yaml -n billing",
        UNUSABLE,
        stderr=NAMESPACE_CONFLICT,
        stdout=empty,
    ),
    Case(
        "preview: -n agrees with the object's own namespace", "preview -f pod.yaml -n reports", OK, stderr="", stdout=valid_yaml
    ),
    # audit
    Case(
        "audit: a table, exit 0 whatever it finds by default",
        "audit -f deployment.yaml -f worker.yaml",
        OK,
        stderr="",
        stdout=audit_table("Deployment/billing-sidekiq", "Deployment/orders-sidekiq"),
    ),
    Case("audit: -o json", "audit -f worker.yaml -f pod.yaml -o json", OK, stderr="", stdout=audit_json),
    Case(
        "audit: --fail-on risk, and a worker has one",
        "audit -f deployment.yaml -f mailer.yaml --fail-on risk",
        JUDGED,
        stderr="",
        stdout=audit_table("Deployment/billing-sidekiq", "Pod/mailer-0"),
    ),
    Case(
        "audit: --fail-on risk, and no worker has one",
        "audit -f mailer.yaml --fail-on risk",
        OK,
        stderr="",
        stdout=audit_table("Pod/mailer-0"),
    ),
    Case(
        "audit: --fail-on unprotected, and a worker is not opted in",
        "audit -f pod.yaml -f worker.yaml --fail-on unprotected",
        JUDGED,
        stderr="",
        stdout=audit_table("Pod/reports-celery-7d9f8c6b5-", "Deployment/orders-sidekiq"),
    ),
    Case(
        "audit: --fail-on unprotected, and an opted-in worker would be denied",
        "audit -f denied.yaml --fail-on unprotected",
        JUDGED,
        stderr="",
        stdout=audit_table("Pod/bad-worker"),
    ),
    Case(
        "audit: --fail-on unprotected, every worker injected",
        "audit -f pod.yaml -f mailer.yaml --fail-on unprotected",
        OK,
        stderr="",
        stdout=audit_table("Pod/reports-celery-7d9f8c6b5-", "Pod/mailer-0"),
    ),
    Case(
        "audit: a missing file",
        "audit -f nonexist.yaml",
        UNUSABLE,
        stderr="workerguard: nonexist.yaml: no such file\n",
        stdout=empty,
    ),
    Case(
        "audit: files of a directory that cannot be read are named, the others audited",
        "audit -f mixed --fail-on risk",
        UNUSABLE,
        says=MIXED_LEFT_OUT,
        stdout=audit_table("Pod/reports-celery-7d9f8c6b5-"),
        partial=True,
    ),
    Case(
        "audit: a directory whose every file cannot be read",
        "audit -f broken",
        UNUSABLE,
        says=("workerguard: broken/latin1.yaml: not UTF-8 text\n", "workerguard: broken/not-yaml.yaml: not valid YAML: "),
        stdout=empty,
    ),
    Case(
        "audit: -n contradicts the object's own namespace",
        "audit -f pod.yaml -n billing",
        UNUSABLE,
        stderr=NAMESPACE_CONFLICT,
        stdout=empty,
    ),
    Case(
        "audit: an invalid rules file",
        "audit -f pod.yaml --rules bad-rules.yaml",
        UNUSABLE,
        says=BAD_RULES_PROBLEMS,
        stdout=empty,
    ),
    Case(
        "audit: an unknown --fail-on",
        "audit -f pod.yaml --fail-on sometimes",
        UNUSABLE,
        says=("invalid choice: 'sometimes'",),
        usage=True,
    ),
    # rules check
    Case(
        "rules check: valid", "rules check rules.yaml", OK, stderr="", stdout=exactly("rules.yaml: ok: 1 profile(s), 2 rule(s)\n")
    ),
    Case(
        "rules check: a missing file, named once",
        "rules check nonexist.yaml",
        UNUSABLE,
        stderr="workerguard: nonexist.yaml: no such file\n",
        stdout=empty,
    ),
    Case(
        "rules check: every problem in one run",
        "rules check bad-rules.yaml",
        JUDGED,
        stderr="".join(f"workerguard: {line}\n" for line in BAD_RULES_PROBLEMS),
        stdout=empty,
    ),
    Case(
        "rules check: two documents",
        "rules check two-documents.yaml",
        JUDGED,
        stderr="workerguard: two-documents.yaml: the rules file must be a single YAML document\n"
        "workerguard: two-documents.yaml: invalid rules file: 1 problem\n",
        stdout=empty,
    ),
    Case(
        "rules check: not YAML",
        "rules check not-yaml.yaml",
        UNUSABLE,
        says=("workerguard: not-yaml.yaml: not valid YAML: line 4, column 1: ",),
        stdout=empty,
    ),
    Case("rules check: no file", "rules check", UNUSABLE, says=("the following arguments are required: file",), usage=True),
    Case("rules: no action", "rules", UNUSABLE, says=("the following arguments are required: ACTION",), usage=True),
    # certs
    Case("certs: write a pair", "certs --out new", OK, stderr="", stdout=exactly("wrote new/ca.crt, new/tls.crt, new/tls.key\n")),
    Case(
        "certs: refuses to overwrite",
        "certs --out good",
        JUDGED,
        stderr="workerguard: good/ca.crt, good/tls.crt, good/tls.key already exist; pass --force to overwrite\n",
        stdout=empty,
    ),
    Case(
        "certs: a directory that cannot be made",
        "certs --out afile/sub",
        UNUSABLE,
        stderr="workerguard: afile/sub: cannot write: a part of the path is not a directory\n",
        stdout=empty,
    ),
    Case("certs: --days 0", "certs --days 0", UNUSABLE, stderr="workerguard: --days must be at least 1\n", stdout=empty),
    Case("certs: --check a good pair", "certs --check good", OK, stderr="", stdout=starts_with("good: ok; expires ")),
    Case(
        "certs: --check a missing pair",
        "certs --check nowhere",
        JUDGED,
        stderr="workerguard: nowhere: FAIL: cannot read the pair: nowhere/tls.crt: no such file\n",
        stdout=exactly("nowhere: FAIL: cannot read the pair: nowhere/tls.crt: no such file\n"),
    ),
    Case(
        "certs: --check a pair that is not PEM",
        "certs --check junk",
        JUDGED,
        says=("workerguard: junk: FAIL: cannot read the pair: junk/tls.crt and junk/tls.key: not a PEM certificate",),
        stdout=starts_with("junk: FAIL: cannot read the pair: "),
    ),
    Case(
        "certs: --check a key of another certificate",
        "certs --check mismatched",
        JUDGED,
        stderr="workerguard: mismatched: FAIL: tls.key does not belong to tls.crt\n",
        stdout=starts_with("mismatched: FAIL: tls.key does not belong to tls.crt; expires "),
    ),
    Case(
        "certs: --check a pair inside the threshold",
        "certs --check expiring --threshold-days 30",
        JUDGED,
        says=("sooner than the 30-day threshold",),
        stdout=starts_with("expiring: FAIL: expires in "),
    ),
    # manifests
    Case(
        "manifests: from a good pair",
        "manifests --certs good --out overlay",
        OK,
        stderr="",
        stdout=exactly("wrote overlay/generated/tls-secret.yaml, overlay/generated/cabundle-patch.yaml\n"),
    ),
    Case(
        "manifests: a missing directory",
        "manifests --certs certs/nonexist --out overlay",
        UNUSABLE,
        stderr="workerguard: certs/nonexist/ca.crt: no such file\n",
        stdout=empty,
    ),
    Case(
        "manifests: a pair that is not PEM",
        "manifests --certs junk --out overlay",
        UNUSABLE,
        stderr="workerguard: junk/tls.crt and junk/tls.key: not a PEM certificate and its unencrypted private key\n",
        stdout=empty,
    ),
    Case(
        "manifests: a key of another certificate",
        "manifests --certs mismatched --out overlay",
        JUDGED,
        stderr="workerguard: mismatched/tls.key: does not belong to mismatched/tls.crt\n",
        stdout=empty,
    ),
    Case(
        "manifests: an overlay that cannot be written",
        "manifests --certs good --out afile",
        UNUSABLE,
        stderr="workerguard: afile/generated: cannot write: a part of the path is not a directory\n",
        stdout=empty,
    ),
    # serve: everything it would refuse to start with, said before starting
    Case(
        "serve: a bad variable",
        "serve",
        UNUSABLE,
        env={"WORKERGUARD_LOG_FORMAT": "xml"},
        stderr="workerguard: WORKERGUARD_LOG_FORMAT='xml': choose from json, human\n",
        stdout=empty,
    ),
    Case("serve: a bad flag", "serve --workers many", UNUSABLE, says=("invalid int value: 'many'",), usage=True),
    Case(
        "serve: a missing rules file",
        "serve --rules nonexist.yaml --tls-cert good/tls.crt --tls-key good/tls.key",
        UNUSABLE,
        stderr="workerguard: nonexist.yaml: no such file\n",
        stdout=empty,
    ),
    Case(
        "serve: an invalid rules file",
        "serve --rules bad-rules.yaml --tls-cert good/tls.crt --tls-key good/tls.key",
        JUDGED,
        says=BAD_RULES_PROBLEMS,
        stdout=empty,
    ),
    Case(
        "serve: a rules file that is not YAML",
        "serve --rules not-yaml.yaml --tls-cert good/tls.crt --tls-key good/tls.key",
        UNUSABLE,
        says=("workerguard: not-yaml.yaml: not valid YAML: line 4, column 1: ",),
        stdout=empty,
    ),
    Case(
        "serve: a missing certificate",
        "serve --tls-cert nowhere/tls.crt --tls-key good/tls.key",
        UNUSABLE,
        stderr="workerguard: nowhere/tls.crt: no such file\n",
        stdout=empty,
    ),
    Case(
        "serve: a pair that is not PEM",
        "serve --tls-cert junk/tls.crt --tls-key junk/tls.key",
        UNUSABLE,
        says=("junk/tls.crt and junk/tls.key: not a PEM certificate",),
        stdout=empty,
    ),
    Case(
        "serve: a key of another certificate",
        "serve --tls-cert mismatched/tls.crt --tls-key mismatched/tls.key",
        JUDGED,
        stderr="workerguard: mismatched/tls.key: does not belong to mismatched/tls.crt\n",
        stdout=empty,
    ),
    # the command itself
    Case("no command", "", UNUSABLE, says=("the following arguments are required: COMMAND",), stdout=empty, usage=True),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_cli_error_case(case: Case, workdir: Path) -> None:
    args = shlex.split(case.args)
    done = workerguard(args, workdir, case.stdin, case.env)
    assert done.returncode == case.code, (done.stdout[-1000:], done.stderr[-2000:])
    assert "Errno" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    if case.stderr is not None:
        assert done.stderr == case.stderr
    for message in case.says:
        assert done.stderr.count(message) == 1, (message, done.stderr)
    if case.usage:
        assert done.stderr.startswith("usage: workerguard") and re.search(r"(?m)^workerguard.*: error: ", done.stderr)
    else:
        strangers = [line for line in done.stderr.splitlines() if not line.startswith(("workerguard: ", "# "))]
        assert strangers == [], "every stderr line is workerguard's"
    if case.code == UNUSABLE and not case.partial:
        assert done.stdout == ""  # nothing half-done on stdout
    if case.stdout is not None:
        case.stdout(done.stdout, workdir, args)


def test_the_serve_exit_code_for_a_server_that_stops_on_its_own(workdir: Path) -> None:
    """A port already taken: uvicorn gives up (its own exit 3), serve says 1. Its log line is the server's
    (uvicorn's words, JSON), so this is not in the table of the CLI's own messages."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = workerguard(
            ["serve", "--host", "127.0.0.1", "--port", port, "--tls-cert", "good/tls.crt", "--tls-key", "good/tls.key"], workdir
        )
    assert done.returncode == JUDGED, done.stderr[-2000:]
    assert "address already in use" in done.stderr
    assert "Traceback" not in done.stderr


# An exit code a --help documents that the table above cannot reach without running a server to its end.
COVERED_ELSEWHERE = {
    ("serve", OK): "tests/test_server_lifecycle.py::test_sigterm_drains_finishes_in_flight_requests_and_exits_0",
}
SUBCOMMANDS = sorted({case.command for case in CASES if case.command and case.command != "rules"})


def documented_exit_codes(command: str, cwd: Path) -> set[int]:
    done = workerguard([*command.split(), "--help"], cwd)
    assert done.returncode == 0, done.stderr
    section = done.stdout.split("\nexit codes (the same meaning in every workerguard command):\n", 1)[1]
    return {int(code) for code in re.findall(r"(?m)^  ([0-9])  ", section)}


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_exit_code_a_help_page_documents_has_a_case(command: str, tmp_path: Path) -> None:
    documented = documented_exit_codes(command, tmp_path)
    assert documented <= {OK, JUDGED, UNUSABLE} and {OK, UNUSABLE} <= documented
    tested = {case.code for case in CASES if case.command == command}
    tested |= {code for (name, code) in COVERED_ELSEWHERE if name == command}
    assert tested == documented
