"""Every `workerguard` command the README shows that needs no cluster, run as written.

Lines that read from a cluster (`kubectl get ... |`) get one of the examples instead; lines that write
to one (`| kubectl apply -f -`) have their output checked as kubectl would read it: YAML documents of
valid objects. The files a command names (pod.yaml, rules.yaml, k8s/) are made from the README's own
rules block and the shipped examples.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import validate

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
WORKERGUARD = f"{sys.executable} -m webhook"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def _commands() -> list[str]:
    lines = [line.strip() for block in _blocks("sh") for line in block.splitlines()]
    return [re.sub(r"\s{2,}#.*$", "", line) for line in lines if ".venv/bin/workerguard" in line]


COMMANDS = _commands()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    [rules] = [block for block in _blocks("yaml") if block.startswith("profiles:")]
    (tmp_path / "rules.yaml").write_text(rules)
    shutil.copy(ROOT / "tests" / "golden" / "celery-pod.yaml", tmp_path / "pod.yaml")
    shutil.copy(ROOT / "examples" / "sh-worker.yaml", tmp_path / "extra.yaml")
    (tmp_path / "k8s").mkdir()
    shutil.copy(ROOT / "examples" / "deployment.yaml", tmp_path / "k8s" / "deployment.yaml")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "manifests", tmp_path / "manifests", ignore=shutil.ignore_patterns("generated"))
    return tmp_path


def test_the_readme_shows_the_commands_this_test_runs() -> None:
    assert len(COMMANDS) >= 8, COMMANDS


def test_the_readme_names_the_rules_check_it_describes(workdir: Path) -> None:
    assert "`workerguard rules check rules.yaml`" in README
    done = subprocess.run(f"{WORKERGUARD} rules check rules.yaml", shell=True, cwd=workdir, capture_output=True, text=True)
    assert done.returncode == 0 and "ok: 1 profile(s), 1 rule(s)" in done.stdout, done.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_command_runs_as_written(command: str, workdir: Path) -> None:
    # The certificate commands depend on each other: make the pair first, as the README's order does.
    if "--certs certs/cluster/" in command or "--check certs/cluster/" in command:
        subprocess.run(f"{WORKERGUARD} certs --service workerguard --namespace workerguard", shell=True, cwd=workdir, check=True)
    applies = command.endswith("| kubectl apply -f -")
    command = command.removesuffix("| kubectl apply -f -").strip()
    command = re.sub(r"^kubectl get deploy my-worker -o yaml \|", "cat examples/deployment.yaml |", command)
    command = command.replace(".venv/bin/workerguard", WORKERGUARD)
    done = subprocess.run(command, shell=True, cwd=workdir, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (command, done.stdout[-500:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    if applies:
        for obj in yaml.safe_load_all(done.stdout):
            if obj:
                validate(obj)
