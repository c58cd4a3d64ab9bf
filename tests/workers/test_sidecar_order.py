"""Issue 23 end to end: when a pod is deleted, the sidecar outlives the worker's running job. Real processes.

The pod is what plan() makes of a worker and a distroless "db-proxy" beside it. Each container's first
process is PID 1 of a PID namespace of its own, as tests/workers/harness.py runs a worker, with the
environment plan() gives it. A preStop runs inside its container's namespaces, as kubelet's exec does;
the sidecar's argv runs as injected, with only busybox's applets on PATH (tests/test_sidecar_wait_shell.py).

Kubelet's order on deletion, for every container at once: its preStop to completion, then SIGTERM, then
SIGKILL if it still runs when the grace period ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import make_pod, pid1_of
from tests.workers.harness import REPORT, ROOT, wait_for
from webhook.core.plan import plan

HERE = Path(__file__).parent
PYTHON = ROOT / ".venv" / "bin" / "python"
WORKER_SCRIPT = HERE / "sidecar_order_worker.py"
SIDECAR_SCRIPT = HERE / "sidecar_order_sidecar.py"
WORKER = "worker"
SIDECAR = "db-proxy"
JOB_SECONDS = 8
DELETED_INTO_JOB = 2
TIMING = {"probe-period": "1s", "readiness-max-age": "3s", "shutdown-timeout": "15s", "prestop-sleep": "1s"}
# The worker's image has a shell and the usual tools; the sidecar's has none but the busybox we copy in.
WORKER_IMAGE_PATH = "/usr/local/bin:/usr/bin:/bin"


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed"
    return found


@dataclass(frozen=True)
class PlannedPod:
    """What plan() gives the two containers, and the pod's grace period."""

    worker_env: dict[str, str]
    worker_prestop: list[str] | None
    sidecar_prestop: list[str] | None
    grace: int


def prestop_argv(container: dict[str, Any]) -> list[str] | None:
    handler = container.get("lifecycle", {}).get("preStop")
    if handler is None:
        return None
    argv: list[str] = handler["exec"]["command"]
    return argv


def planned_pod(heartbeat_dir: Path, sidecar_wait: str | None) -> PlannedPod:
    annotations = {f"workerguard.io/{key}": value for key, value in TIMING.items()}
    annotations["workerguard.io/heartbeat-path"] = str(heartbeat_dir / "heartbeat")
    if sidecar_wait is not None:
        annotations["workerguard.io/sidecar-wait"] = sidecar_wait
    pod = make_pod(annotations)
    pod["spec"]["containers"].append({"name": SIDECAR, "image": "gcr.io/distroless/static-debian12:nonroot"})
    mutated = plan(pod).mutated()
    containers = {container["name"]: container for container in mutated["spec"]["containers"]}
    return PlannedPod(
        {item["name"]: item["value"] for item in containers[WORKER]["env"]},
        prestop_argv(containers[WORKER]),
        prestop_argv(containers[SIDECAR]),
        mutated["spec"]["terminationGracePeriodSeconds"],
    )


class Container:
    """A container's first process, PID 1 of a PID namespace of its own; its output goes to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.exited = threading.Event()
        self.exited_at = 0.0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [tool("unshare"), "--pid", "--fork", "--mount-proc", *argv],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        threading.Thread(target=self._watch, daemon=True).start()
        self.pid = int(wait_for(lambda: pid1_of(self.process.pid), 10, 0.02))

    def _watch(self) -> None:
        self.process.wait()
        self.exited_at = time.time()
        self.exited.set()

    def exec(self, argv: list[str], env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
        with output.open("ab") as out:
            return subprocess.Popen(
                [tool("nsenter"), "--target", str(self.pid), "--pid", "--mount", *argv],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def signal(self, sig: int) -> None:
        if not self.exited.is_set():
            with suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


def prestop_log(workdir: Path, container: str) -> Path:
    return workdir / f"{container} preStop.log"


@dataclass
class Deletion:
    """Kubelet deleting the pod. Events are wall-clock times, so the processes' own logs can join them."""

    grace: int
    workdir: Path
    started: float = field(default_factory=time.time)  # the moment the pod is deleted
    events: dict[str, float] = field(default_factory=dict)
    hooks: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def remaining(self) -> float:
        return max(0.0, self.started + self.grace - time.time())

    def stop(self, container: Container, prestop: list[str] | None, path: str) -> None:
        if prestop is not None:
            hook = container.exec(prestop, {"PATH": path}, prestop_log(self.workdir, container.name))
            self.hooks.append(hook)
            with suppress(subprocess.TimeoutExpired):
                hook.wait(self.remaining())
            self.events[f"{container.name} preStop returned"] = time.time()
        container.signal(signal.SIGTERM)
        self.events[f"{container.name} SIGTERM sent"] = time.time()
        if not container.exited.wait(self.remaining()):
            container.signal(signal.SIGKILL)
            self.events[f"{container.name} SIGKILL sent"] = time.time()
        container.exited.wait(10)

    def run(self, stops: list[tuple[Container, list[str] | None, str]]) -> None:
        threads = [threading.Thread(target=self.stop, args=stop) for stop in stops]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def kill_hooks(self) -> None:
        for hook in self.hooks:
            with suppress(ProcessLookupError):
                os.killpg(hook.pid, signal.SIGKILL)
            hook.wait(10)


def logged_at(log: str, phrase: str) -> float | None:
    """The unix time a log line containing `phrase` starts with."""
    for line in log.splitlines():
        stamp, _, rest = line.partition(" ")
        if phrase in rest:
            return float(stamp)
    return None


def sidecar_port(log: str) -> int | None:
    first, newline, _ = log.partition("\n")
    return int(first.removeprefix("port ")) if newline and first.startswith("port ") else None


@dataclass(frozen=True)
class Outcome:
    pod: PlannedPod
    exit_codes: dict[str, int | None]
    # Seconds from the deletion: what kubelet did, each container's exit, and what the logs say happened.
    timeline: dict[str, float]
    logs: dict[str, str]
    exited_marker: bool


def delete_during_a_job(sidecar_wait: str | None, applets: str) -> Outcome:
    """Start the sidecar and the worker, delete the pod DELETED_INTO_JOB seconds into the worker's job;
    the sidecar's preStop runs with only the busybox applets in `applets` on PATH."""
    workdir = Path(tempfile.mkdtemp(prefix="wg-sidecar-order-"))
    heartbeat_dir = workdir / "heartbeat"
    heartbeat_dir.mkdir()
    shutil.copy(tool("busybox"), heartbeat_dir / "busybox")  # as the init container copies it
    pod = planned_pod(heartbeat_dir, sidecar_wait)
    containers: list[Container] = []
    deletion: Deletion | None = None
    try:
        sidecar = Container(SIDECAR, [str(PYTHON), str(SIDECAR_SCRIPT)], {}, workdir)
        containers.append(sidecar)
        port = wait_for(lambda: sidecar_port(sidecar.log()), 10)
        worker_argv = [str(PYTHON), str(WORKER_SCRIPT), str(port), str(JOB_SECONDS)]
        worker = Container(WORKER, worker_argv, pod.worker_env, workdir)
        containers.append(worker)
        wait_for(lambda: "job started" in worker.log(), 10)
        time.sleep(DELETED_INTO_JOB)
        deletion = Deletion(pod.grace, workdir)
        deletion.run([(worker, pod.worker_prestop, WORKER_IMAGE_PATH), (sidecar, pod.sidecar_prestop, applets)])
        logs = {container.name: container.log() for container in containers}
        hook_log = prestop_log(workdir, SIDECAR)
        logs[f"{SIDECAR} preStop"] = hook_log.read_text() if hook_log.exists() else ""
        events = {
            **deletion.events,
            **{f"{container.name} exited": container.exited_at for container in containers},
            **logged_events(logs[WORKER], logs[SIDECAR]),
        }
        return Outcome(
            pod,
            {container.name: container.process.returncode for container in containers},
            {event: at - deletion.started for event, at in events.items()},
            logs,
            (heartbeat_dir / "exited").exists(),
        )
    finally:
        if deletion is not None:
            deletion.kill_hooks()
        for container in containers:
            container.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def logged_events(worker_log: str, sidecar_log: str) -> dict[str, float]:
    phrases = {
        "job finished": (worker_log, "job finished"),
        "job failed": (worker_log, "job failed"),
        "worker final stop": (worker_log, "final stop"),
        f"{SIDECAR} got SIGTERM": (sidecar_log, "SIGTERM"),
    }
    found = {event: logged_at(log, phrase) for event, (log, phrase) in phrases.items()}
    return {event: at for event, at in found.items() if at is not None}


def report(case: str, outcome: Outcome, *events: str) -> None:
    """Into the figures tests/workers/conftest.py writes out. harness.record() files them under a
    harness.Worker's name; this pod is no example worker, so its figures go under the pod's own name."""
    figures: dict[str, object] = {event: round(outcome.timeline[event], 1) for event in events}
    figures.update(grace_s=outcome.pod.grace, exit_codes=outcome.exit_codes, exited_marker=outcome.exited_marker)
    REPORT.setdefault("sidecar-order", {})[case] = figures


def test_with_the_wait_the_sidecar_outlives_the_worker_and_the_job_finishes(busybox_path: str) -> None:
    outcome = delete_during_a_job(sidecar_wait=None, applets=busybox_path)
    hook, timeline = outcome.pod.sidecar_prestop, outcome.timeline
    assert hook is not None and Path(hook[0]).name == "busybox", hook
    assert outcome.exit_codes == {SIDECAR: 0, WORKER: 0}, outcome.logs
    assert "job finished" in timeline, outcome.logs[WORKER]
    assert "stopped waiting" not in outcome.logs[f"{SIDECAR} preStop"], "the wait ended at its bound, not with the worker"
    assert [event for event in timeline if "SIGKILL" in event] == []
    # The ordering the injection exists for: the sidecar hears of the deletion only once the worker has
    # finished. Finished means its final stop, not its exit: the writer leaves the exited marker there,
    # and the process may still be on its way out when the wait sees it.
    assert timeline["job finished"] <= timeline["worker final stop"] < timeline[f"{SIDECAR} got SIGTERM"], timeline
    report(
        "with the wait",
        outcome,
        "worker SIGTERM sent",
        "job finished",
        "worker final stop",
        "worker exited",
        f"{SIDECAR} preStop returned",
        f"{SIDECAR} got SIGTERM",
        f"{SIDECAR} exited",
    )


def test_without_the_wait_the_sidecar_goes_at_once_and_the_job_fails(busybox_path: str) -> None:
    outcome = delete_during_a_job(sidecar_wait="off", applets=busybox_path)
    timeline = outcome.timeline
    assert outcome.pod.sidecar_prestop is None
    assert outcome.exit_codes[WORKER] == 1, outcome.logs[WORKER]
    assert "job failed: its database query failed" in outcome.logs[WORKER]
    assert timeline[f"{SIDECAR} exited"] < timeline["job failed"], timeline
    report(
        "sidecar-wait off",
        outcome,
        f"{SIDECAR} got SIGTERM",
        f"{SIDECAR} exited",
        "worker SIGTERM sent",
        "job failed",
        "worker exited",
    )
