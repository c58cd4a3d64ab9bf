"""The cluster examples: valid objects with pinned images, whose own worker command turns the injected
probes green and stops cleanly on SIGTERM. Run here the way kubelet would: the container's command with
the env plan() injects, the probes with `sh -c`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import validate
from tests.serverproc import wait_until
from webhook.adapters.documents import load_objects
from webhook.core.plan import plan

ROOT = Path(__file__).parent.parent
EXAMPLES = {"sh-worker": ROOT / "examples" / "sh-worker.yaml", "python-worker": ROOT / "examples" / "deployment.yaml"}
PROBES = ("startup", "readiness", "liveness")


def objects_of(name: str) -> list[dict[str, Any]]:
    return load_objects(EXAMPLES[name].read_text())


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_an_example_creates_what_it_needs_validates_and_pins_its_images(name: str) -> None:
    objects = objects_of(name)
    assert objects[0]["kind"] == "Namespace"
    namespace = objects[0]["metadata"]["name"]
    for obj in objects:
        result = plan(obj)
        assert result.allowed and result.warnings == [], (obj["kind"], result.warnings, result.errors)
        validate(result.mutated())
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace
        for container in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []:
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", container["image"]), container["image"]  # a version, never latest


def test_the_python_example_carries_the_writer_as_it_is_in_writers() -> None:
    [config_map] = [obj for obj in objects_of("python-worker") if obj["kind"] == "ConfigMap"]
    package = ROOT / "writers" / "python" / "src"
    for item in _config_map_items("python-worker"):
        if item["path"].startswith("workerguard_heartbeat/"):
            assert config_map["data"][item["key"]] == (package / item["path"]).read_text(), item["path"]
    shipped = {item["path"] for item in _config_map_items("python-worker")}
    assert {"workerguard_heartbeat/__init__.py", "workerguard_heartbeat/_heartbeat.py"} <= shipped


def _config_map_items(name: str) -> list[dict[str, str]]:
    [workload] = [obj for obj in objects_of(name) if obj["kind"] == "Deployment"]
    [volume] = [v for v in workload["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    items: list[dict[str, str]] = volume["configMap"]["items"]
    return items


class Running:
    """The example's container command, run with the env plan() gives it and a heartbeat in a temp dir."""

    def __init__(self, name: str, shell: str) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix=f"wg-{name}-"))
        [workload] = [obj for obj in objects_of(name) if obj["kind"] == "Deployment"]
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        annotations["workerguard.io/heartbeat-path"] = f"{self.directory}/heartbeat"
        annotations["workerguard.io/prestop-sleep"] = "1s"  # the preStop waits this long; the test need not
        container = plan(workload).mutated()["spec"]["template"]["spec"]["containers"][0]
        self.commands = {probe: container[f"{probe}Probe"]["exec"]["command"] for probe in PROBES}
        self.commands["preStop"] = container["lifecycle"]["preStop"]["exec"]["command"]
        env = {item["name"]: item["value"] for item in container["env"]}
        env["PATH"] = os.environ["PATH"]
        argv = list(container["command"])
        if name == "python-worker":
            self._unpack_config_map(name)
            env["PYTHONPATH"] = str(self.directory / "app")
            argv = [sys.executable, str(self.directory / "app" / "worker.py")]
        elif shell == "busybox":
            argv = ["busybox", *argv]
        else:
            argv[0] = shell
        self.process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def _unpack_config_map(self, name: str) -> None:
        [config_map] = [obj for obj in objects_of(name) if obj["kind"] == "ConfigMap"]
        for item in _config_map_items(name):  # as the kubelet projects the items into the volume
            target = self.directory / "app" / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(config_map["data"][item["key"]])

    def probe(self, name: str) -> int:
        return subprocess.run(self.commands[name], capture_output=True, timeout=10).returncode

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture(params=[("sh-worker", "dash"), ("sh-worker", "busybox"), ("python-worker", "python")], ids=lambda p: "-".join(p))
def running(request: pytest.FixtureRequest) -> Iterator[Running]:
    started = Running(*request.param)
    try:
        yield started
    finally:
        started.stop()


def test_the_examples_worker_becomes_ready_and_stops_cleanly(running: Running) -> None:
    started = time.monotonic()
    wait_until(lambda: all(running.probe(name) == 0 for name in PROBES), timeout=15, interval=0.2)
    ready_after = time.monotonic() - started
    assert ready_after < 10
    assert subprocess.run(running.commands["preStop"], timeout=30).returncode == 0
    assert running.probe("readiness") == 1 and running.probe("liveness") == 0
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(15) == 0
    out = running.process.stdout.read().decode() if running.process.stdout else ""
    assert "SIGTERM" in out, out


def test_the_readme_check_it_step_uses_a_shipped_example() -> None:
    readme = (ROOT / "README.md").read_text()
    check_it = readme.split("Check it:", 1)[1].split("```", 2)[1]
    assert "kubectl apply -f examples/sh-worker.yaml" in check_it
    assert "sleep 3600" not in check_it
    assert yaml.safe_load_all(EXAMPLES["sh-worker"].read_text())
