"""The `workerguard` command as a user runs it: a real process, real files, exit codes and output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonpatch
import yaml

from tests.conftest import make_pod

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).parent.parent


def workerguard(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "webhook", *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_preview_json_has_exactly_the_documented_keys_and_a_patch_that_applies(tmp_path: Path) -> None:
    pod = make_pod({"workerguard.io/profile": "sidekiq"})
    (tmp_path / "pod.json").write_text(json.dumps(pod))
    done = workerguard("preview", "-f", str(tmp_path / "pod.json"), "-o", "json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    readme_keys = re.search(r"-o json --rules rules.yaml  # \{(.*)\}", (ROOT / "README.md").read_text())
    assert readme_keys is not None and list(result) == readme_keys.group(1).split(", ")
    assert result["allowed"] is True and result["errors"] == [] and result["warnings"] == []
    # "object" is the pod with "patch" applied, and that is not the pod as it came.
    assert jsonpatch.apply_patch(pod, result["patch"]) == result["object"] != pod
    injected = result["object"]["spec"]["containers"][0]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(injected)
    assert {
        "setting": "safe-to-evict",
        "value": "false",
        "source": "profile:sidekiq",
        "paths": ["/metadata/annotations/cluster-autoscaler.kubernetes.io~1safe-to-evict"],
    } in result["explanations"]


def test_preview_reads_stdin_and_gives_an_array_for_several_documents() -> None:
    text = yaml.safe_dump_all([make_pod(), make_pod(labels={"workerguard.io/inject": "false"})])
    done = workerguard("preview", "-f", "-", "-o", "json", stdin=text)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [bool(r["patch"]) for r in results] == [True, False]
    assert results[1]["skip"] == {"code": "not_opted_in", "message": 'the pod is not labelled workerguard.io/inject: "true"'}
    assert results[1]["warnings"] == [] and results[0]["skip"] is None


def test_preview_exits_1_when_denied_and_says_why() -> None:
    done = workerguard("preview", "-f", str(GOLDEN / "invalid-annotations.yaml"), "-o", "json")
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["allowed"] is False and result["patch"] == []
    assert {
        "field": "metadata.annotations[workerguard.io/readiness-max-age]",
        "message": "'abc' is not a duration like 60s or 2m",
    } in result["errors"]


def test_preview_patch_and_diff_outputs() -> None:
    path = str(GOLDEN / "sidekiq-deployment.yaml")
    patch = json.loads(workerguard("preview", "-f", path, "-o", "patch").stdout)
    assert all(op["path"].startswith("/spec/template/") for op in patch)
    done = workerguard("preview", "-f", path, "-o", "diff")
    assert done.stdout.startswith("--- a/Deployment/billing-sidekiq\n+++ b/Deployment/billing-sidekiq\n")
    assert "+        readinessProbe:\n" in done.stdout
    # Why is beside the diff, on stderr, headed by the object's name: the diff itself stays a diff.
    assert "#" not in "".join(line[:1] for line in done.stdout.splitlines())
    assert done.stderr.startswith("# Deployment/billing-sidekiq\n# warning (shell_wrapped_command)")
    assert "# shutdown-timeout = 600s  <- command\n" in done.stderr


def test_the_namespace_flag_stands_for_the_request_namespace() -> None:
    done = workerguard("preview", "-f", "-", "-n", "kube-system", "-o", "json", stdin=json.dumps(make_pod(namespace=None)))
    assert json.loads(done.stdout)["skip"]["code"] == "excluded_namespace"


def test_unreadable_input_exits_2_with_one_line_on_stderr(tmp_path: Path) -> None:
    for args, stdin in [(["-f", str(tmp_path / "missing.yaml")], None), (["-f", "-"], "a: [\n"), (["-f", "-"], "")]:
        done = workerguard("preview", *args, stdin=stdin)
        assert done.returncode == 2
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("workerguard: ")


def test_usage_errors_exit_2() -> None:
    assert workerguard("preview").returncode == 2
    assert workerguard("preview", "-f", "x", "-o", "xml").returncode == 2
    assert workerguard().returncode == 2


def test_a_bad_rules_file_stops_preview_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("rules: [{name: Bad}]\n")
    done = workerguard("preview", "-f", str(GOLDEN / "celery-pod.yaml"), "--rules", str(tmp_path / "rules.yaml"))
    assert done.returncode == 2 and "invalid rules file" in done.stderr


def test_rules_check_lists_every_problem_with_its_line_and_column_on_stderr_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("rules:\n  - name: a\n    set: {probe-period: x, colour: red}\n")
    done = workerguard("rules", "check", str(tmp_path / "rules.yaml"))
    assert (done.returncode, done.stdout) == (1, "")
    lines = done.stderr.splitlines()
    path = tmp_path / "rules.yaml"
    duration = "'x' is not a duration like 60s or 2m"
    assert lines[0] == f"workerguard: {path}: line 3, column 11: rules[0] (a).set.probe-period: {duration}"
    assert lines[1].startswith(f"workerguard: {path}: line 3, column 28: rules[0] (a).set.colour: unknown setting")
    assert lines[2:] == [f"workerguard: {path}: invalid rules file: 2 problems"]


def test_rules_check_accepts_a_good_file() -> None:
    done = workerguard("rules", "check", str(GOLDEN / "rules.yaml"))
    assert (done.returncode, done.stdout.strip()) == (0, f"{GOLDEN / 'rules.yaml'}: ok: 1 profile(s), 2 rule(s)")


def _names(output: str) -> list[str]:
    return [doc["metadata"]["name"] for doc in yaml.safe_load_all(output) if doc]


def _pod_named(name: str) -> str:
    pod = make_pod()
    pod["metadata"]["name"] = name
    return yaml.safe_dump(pod)


def test_several_files_directories_and_stdin_are_all_previewed_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(_pod_named("a"))
    manifests = tmp_path / "manifests"
    (manifests / "nested").mkdir(parents=True)
    (manifests / "b.yml").write_text(_pod_named("b"))
    (manifests / "c.json").write_text(json.dumps(yaml.safe_load(_pod_named("c"))))
    (manifests / "notes.txt").write_text("not a manifest")
    (manifests / "nested" / "d.yaml").write_text(_pod_named("d"))
    done = workerguard("preview", "-f", str(tmp_path / "a.yaml"), "-f", str(manifests), "-f", "-", stdin=_pod_named("e"))
    assert done.returncode == 0, done.stderr
    assert _names(done.stdout) == ["a", "b", "c", "e"]
    recursive = workerguard("preview", "-R", "-f", str(manifests))
    assert _names(recursive.stdout) == ["b", "c", "d"]


def test_an_unreadable_input_names_the_file_line_and_column_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(_pod_named("good"))
    (tmp_path / "bad.yaml").write_text("kind: Pod\nmetadata:\n  name: [x\n")
    done = workerguard("preview", "-f", str(tmp_path / "good.yaml"), "-f", str(tmp_path / "bad.yaml"))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"workerguard: {tmp_path / 'bad.yaml'}: not valid YAML: line 4, column 1: ")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no .yaml, .yml or .json files" in workerguard("preview", "-f", str(empty)).stderr


def test_preview_help_documents_the_outputs_and_the_exit_codes() -> None:
    text = workerguard("preview", "--help").stdout
    for needle in ("kubectl apply -f -", "0  every object is allowed", "1  at least one object would be denied", "2  the input"):
        assert needle in text, needle


def test_a_note_is_said_in_the_explanation_and_never_as_a_warning() -> None:
    pod = make_pod({"workerguard.io/profile": "celery"})
    pod["spec"]["terminationGracePeriodSeconds"] = 30  # the apiserver's default
    done = workerguard("preview", "-f", "-", "-o", "yaml", stdin=json.dumps(pod))
    assert done.returncode == 0, done.stderr
    assert (
        "# note (grace_period_default_raised): Kubernetes' default terminationGracePeriodSeconds 30s raised to 605s"
        in done.stdout
    )
    assert "# warning" not in done.stdout
    described = json.loads(workerguard("preview", "-f", "-", "-o", "json", stdin=json.dumps(pod)).stdout)
    assert [note["code"] for note in described["notes"]] == ["grace_period_default_raised"] and described["warnings"] == []
