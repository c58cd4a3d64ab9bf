"""The examples under examples/ as real workers in a container-like sandbox, judged by the injected probes.

A worker runs as PID 1 of a PID namespace of its own (`unshare --pid --fork --mount-proc`), as a
container's first process does; its environment is REDIS_URL plus exactly the WORKERGUARD_* variables
plan() injects. Probes are the commands plan() injects, run with `sh -c` inside the worker's
namespaces (`nsenter`), as kubelet's exec does. Each worker gets a Redis of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.brokers import Broker
from tests.conftest import make_pod, pid1_of
from webhook.core.plan import plan

ROOT = Path(__file__).parent.parent.parent
EXAMPLES = ROOT / "examples"
PROBES = ("startup", "readiness", "liveness")
SLOTS = 2

# Short windows, so each scenario takes seconds: the same arithmetic as the defaults, scaled down.
TIMING = {
    "probe-period": "1s",
    "readiness-max-age": "3s",
    "liveness-max-age": "6s",
    "stuck-after": "10s",
    "startup-timeout": "30s",
    "shutdown-timeout": "10s",
    "prestop-sleep": "1s",
}
PROFILE = {"sidekiq": "sidekiq", "celery": "celery", "rq": "generic", "python": "generic", "go": "generic"}
# Celery once per pool: the example is the same, the pool is chosen when it starts.
VARIANTS = {f"celery-{pool}": ("celery", {"CELERY_POOL": pool}) for pool in ("threads", "solo", "gevent", "eventlet")}
QUEUES = ("queue:default", "celery", "workerguard:jobs", "rq:queue:default")
# A line each example logs when a sleep job has finished.
FINISHED = {
    "sidekiq": "elapsed=",
    "celery": "succeeded in",
    "rq": "Job OK",
    "python": "finished {'sleep'",
    "go": 'finished {"sleep"',
}


def path() -> str:
    """The venv first; WORKERS_PATH before it tries another build of a framework (a Sidekiq 7 checkout)."""
    extra = os.environ.get("WORKERS_PATH")
    return ":".join([*([extra] if extra else []), str(ROOT / ".venv" / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])


def ruby_env() -> dict[str, str]:
    """The gem `make examples` installed, first on GEM_PATH (the trailing ':' keeps Ruby's own, where
    Debian's Sidekiq is); RUBYLIB passed on, to try another Sidekiq from its source."""
    env = {"GEM_PATH": f"{ROOT / 'build' / 'gems'}:"}
    return {**env, "RUBYLIB": os.environ["RUBYLIB"]} if os.environ.get("RUBYLIB") else env


def wait_for(check: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"not within {timeout}s")


def mutated_pod(heartbeat_dir: Path, profile: str, timing: Mapping[str, str], transport: str | None = None) -> dict[str, Any]:
    """What plan() makes of an example's pod: timing and profile annotated, the heartbeat in
    heartbeat_dir, and the probe transport when one is given."""
    annotations = {f"workerguard.io/{key}": value for key, value in timing.items()}
    annotations["workerguard.io/profile"] = profile
    annotations["workerguard.io/heartbeat-path"] = f"{heartbeat_dir}/heartbeat"
    if transport is not None:
        annotations["workerguard.io/probe-transport"] = transport
    return plan(make_pod(annotations)).mutated()


@dataclass
class Injected:
    """What plan() gives the example's container: its env and its probe and preStop commands."""

    env: dict[str, str]
    commands: dict[str, str]
    periods: dict[str, int]
    thresholds: dict[str, int]
    grace: int

    @classmethod
    def for_example(cls, name: str, heartbeat_dir: Path, timing: dict[str, str]) -> Injected:
        mutated = mutated_pod(heartbeat_dir, PROFILE[name], timing)
        container = mutated["spec"]["containers"][0]
        env = {item["name"]: item["value"] for item in container["env"]}
        commands = {probe: container[f"{probe}Probe"]["exec"]["command"] for probe in PROBES}
        commands["preStop"] = container["lifecycle"]["preStop"]["exec"]["command"]
        for argv in commands.values():
            assert argv[:2] == ["sh", "-c"]
        return cls(
            env,
            {name: argv[2] for name, argv in commands.items()},
            {probe: container[f"{probe}Probe"]["periodSeconds"] for probe in PROBES},
            {probe: container[f"{probe}Probe"]["failureThreshold"] for probe in PROBES},
            mutated["spec"]["terminationGracePeriodSeconds"],
        )


@dataclass
class Worker:
    name: str
    broker: Broker
    workdir: Path
    timing: dict[str, str] = field(default_factory=lambda: dict(TIMING))
    # Where the writer comes from when not from `make examples`: PATH, GEM_PATH or WORKER_BINARY.
    installed: dict[str, str] = field(default_factory=dict)
    injected: Injected = field(init=False)
    process: subprocess.Popen[bytes] = field(init=False)
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.example, self.extra_env = VARIANTS.get(self.name, (self.name, {}))
        # RQ runs one job at a time per worker, as Celery's solo pool does.
        self.slots = 1 if self.extra_env.get("CELERY_POOL") == "solo" or self.example == "rq" else SLOTS
        self.heartbeat_dir = self.workdir / "heartbeat"
        self.heartbeat_dir.mkdir(exist_ok=True)
        self.injected = Injected.for_example(self.example, self.heartbeat_dir, self.timing)
        self.log_path = self.workdir / f"{self.name}.log"

    @property
    def heartbeat(self) -> Path:
        return self.heartbeat_dir / "heartbeat"

    def start(self) -> Worker:
        env = {
            **self.base_env(),
            "CONCURRENCY": str(self.slots),
            **self.extra_env,
            **{key: value for key, value in self.injected.env.items() if key.startswith("WORKERGUARD_")},
        }
        self.started = time.time()
        log = self.log_path.open("ab")
        run = EXAMPLES / self.example / "run"
        self.process = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", str(run)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def pid(self) -> int:
        """The worker's PID on the host: PID 1 of its namespace."""
        return int(wait_for(lambda: pid1_of(self.process.pid), 10, 0.02))

    def probe(self, name: str) -> int:
        """One run of an injected command inside the worker's namespaces, as kubelet runs it. Once the
        worker is gone, from outside: as in a container whose init (tini, say) outlived the worker."""
        command = ["sh", "-c", self.injected.commands[name]]
        if self.process.poll() is None:
            command = ["nsenter", "--target", str(self.pid()), "--pid", "--mount", *command]
        return subprocess.run(command, capture_output=True, timeout=15).returncode

    def probes(self) -> dict[str, int]:
        return {name: self.probe(name) for name in PROBES}

    def wait_started(self, timeout: float = 30) -> float:
        """Seconds from start until the startup probe first passes."""
        wait_for(lambda: self.probe("startup") == 0, timeout, 0.2)
        return time.time() - self.started

    def base_env(self) -> dict[str, str]:
        """Celery's example reads BROKER_URL (Redis or RabbitMQ), the others REDIS_URL; a TLS broker's CA
        comes as SSL_CERT_FILE, as an image with a private CA bundle carries it."""
        broker = {"REDIS_URL": self.broker.url, "BROKER_URL": self.broker.url, **self.broker.env}
        return {"PATH": path(), **ruby_env(), **broker, **self.installed}

    def enqueue(self, *job: str) -> None:
        env = self.base_env()
        subprocess.run([str(EXAMPLES / self.example / "enqueue"), *job], env=env, check=True, capture_output=True, timeout=30)

    def signal(self, sig: int) -> None:
        os.kill(self.pid(), sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def finished_a_job(self) -> bool:
        return FINISHED[self.example] in self.log()

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.signal(signal.SIGCONT)
                self.signal(signal.SIGKILL)  # PID 1 going takes the whole namespace with it
            except (ProcessLookupError, TimeoutError):
                pass
            self.process.kill()
            self.process.wait(10)


def first_failure(worker: Worker, name: str, within: float, interval: float = 0.5) -> float | None:
    """Seconds until the probe first fails, polled every `interval`; None if it never did."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if worker.probe(name) != 0:
            return time.monotonic() - started
        time.sleep(interval)
    return None


def failures_over(worker: Worker, seconds: float, names: tuple[str, ...] = PROBES, interval: float = 0.5) -> list[str]:
    """Every probe failure seen while polling for `seconds`."""
    failures: list[str] = []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        at = time.monotonic() - started
        failures += [f"{name} at {at:.1f}s" for name in names if worker.probe(name) != 0]
        time.sleep(interval)
    return failures


def restart_after(worker: Worker, first_failure_at: float) -> float:
    """When kubelet restarts: its third liveness failure in a row, one liveness period apart."""
    period = worker.injected.periods["liveness"]
    return first_failure_at + (worker.injected.thresholds["liveness"] - 1) * period


REPORT: dict[str, dict[str, object]] = {}


def record(worker: Worker, scenario: str, **figures: object) -> None:
    """A scenario's measured figures, under the worker's name; tests/workers/conftest.py writes them out."""
    REPORT.setdefault(worker.name, {})[scenario] = figures


def seconds(setting: str, timing: dict[str, str] = TIMING) -> int:
    text = timing[setting]
    assert text.endswith("s")
    return int(text[:-1])


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="wg-workers-"))


@contextmanager
def worker_on(
    name: str, start_broker: Callable[[Path], Broker], installed: dict[str, str] | None = None, **timing: str
) -> Iterator[Worker]:
    """An example (not started yet) with a broker of its own in a scratch directory; timing overrides
    TIMING by setting name (`stuck_after="20s"`). Both are gone afterwards."""
    workdir = scratch()
    broker = start_broker(workdir)
    overrides = {key.replace("_", "-"): value for key, value in timing.items()}
    worker = Worker(name, broker, workdir, {**TIMING, **overrides}, installed or {})
    try:
        yield worker
    finally:
        worker.stop()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
