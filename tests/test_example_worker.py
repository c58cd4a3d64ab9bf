"""examples/worker.py as a real process, judged by the very probe commands workerguard injects for it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_pod
from tests.serverproc import wait_until
from webhook.core.plan import plan

WORKER = Path(__file__).parent.parent / "examples" / "worker.py"


@pytest.fixture
def heartbeat_dir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="wg-example-"))
    yield directory
    shutil.rmtree(directory)


def injected_commands(heartbeat: Path) -> dict[str, str]:
    pod = make_pod(
        {
            "workerguard.io/heartbeat-path": str(heartbeat),
            "workerguard.io/probe-period": "1s",
            "workerguard.io/readiness-max-age": "2s",
            "workerguard.io/liveness-max-age": "4s",
            "workerguard.io/prestop-sleep": "1s",
        }
    )
    container = plan(pod).mutated()["spec"]["containers"][0]
    scripts = {name: container[f"{name}Probe"]["exec"]["command"][2] for name in ("startup", "readiness", "liveness")}
    scripts["preStop"] = container["lifecycle"]["preStop"]["exec"]["command"][2]
    return scripts


def probe(script: str) -> int:
    return subprocess.run(["dash", "-c", script], capture_output=True, timeout=10).returncode


def start_worker(heartbeat: Path, job_seconds: str = "0.3") -> subprocess.Popen[str]:
    env = {**os.environ, "WORKERGUARD_HEARTBEAT_FILE": str(heartbeat), "HEARTBEAT_INTERVAL": "0.2", "JOB_SECONDS": job_seconds}
    return subprocess.Popen([sys.executable, str(WORKER)], env=env, stdout=subprocess.PIPE, text=True)


def test_ready_while_beating_then_not_ready_and_not_live_when_hung(heartbeat_dir: Path) -> None:
    scripts = injected_commands(heartbeat_dir / "heartbeat")
    (heartbeat_dir / "draining").touch()  # left behind by an earlier container: the worker clears it
    worker = start_worker(heartbeat_dir / "heartbeat")
    try:
        wait_until(lambda: probe(scripts["startup"]) == 0, timeout=10)
        assert probe(scripts["readiness"]) == 0 and probe(scripts["liveness"]) == 0
        worker.send_signal(signal.SIGUSR1)  # the job loop deadlocks; the process keeps running
        wait_until(lambda: probe(scripts["readiness"]) == 1, timeout=15, interval=0.2)
        assert worker.poll() is None
        wait_until(lambda: probe(scripts["liveness"]) == 1, timeout=15, interval=0.2)
    finally:
        worker.kill()
        worker.wait(10)


def test_drain_marks_unready_and_sigterm_finishes_the_current_job(heartbeat_dir: Path) -> None:
    scripts = injected_commands(heartbeat_dir / "heartbeat")
    worker = start_worker(heartbeat_dir / "heartbeat", job_seconds="1.5")
    try:
        wait_until(lambda: probe(scripts["readiness"]) == 0, timeout=10)
        assert probe(scripts["preStop"]) == 0  # kubelet runs it before SIGTERM
        assert probe(scripts["readiness"]) == 1
        assert probe(scripts["liveness"]) == 0  # still beating: draining is not dead
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(10) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.stdout is not None
    lines = worker.stdout.read().splitlines()
    started = [line for line in lines if line.startswith("started job")]
    finished = [line for line in lines if line.startswith("finished job")]
    assert started and len(started) == len(finished), lines  # the job under way when SIGTERM came was finished
    assert lines[-1] == "stopped taking jobs; exiting"
