"""probe-transport: http, probed the way kubelet probes, against real example workers and the real server.

Workers run as tests/workers/harness.py runs them: a PID namespace of their own, the env plan()
injects, the heartbeat path mapped to their scratch directory. Beside each runs workerguard-probe,
built from probe-server/, with the argv plan() gives the `workerguard-probe` native sidecar, changed
in two places only: the binary is build/workerguard-probe, and it listens on a free loopback port
instead of 9478 (four sessions share this machine), so `--listen` and the port of the worker's
httpGet probes are both rewritten to that port.

Kubelet is one loop per probe, as its probe workers are: a run every periodSeconds from a random
phase, a new connection per HTTP run, a failure for any status outside 200-399, a refused connection
or no answer within timeoutSeconds, and a verdict at failureThreshold failures in a row (NotReady for
readiness, a restart for liveness). The exec probes of the same pod run on the same schedule in the
worker's namespaces, so both transports judge one worker side by side.

The server failing is judged with the default timings, on a simulated clock. A fault (the sidecar
killed, crash-looping, or hung) sets the server's state over time: "up", "refused" (no process
listening) or "hung" (a process that accepts and never answers). What the
server answers in each state is sampled once from the real server beside a real healthy worker:
the worker's GET /live and the sidecar's GET /healthz, each with its probe's timeout, and how long
the real binary takes from exec to answering /live again. When each state begins and ends follows
kubelet's rules, in seconds:

- a container's exit is seen at the next relist, at most PLEG_RELIST_S later;
- a restartable init container is restarted at once the first time, then after the crash back-off,
  10 s doubling each time up to 300 s, from when it exited (kubelet's flowcontrol back-off);
- a liveness failure kills the container with the probe's terminationGracePeriodSeconds, else the
  pod's: SIGTERM, then SIGKILL at the end of the grace period (a stopped process keeps SIGTERM
  pending, which the sample checks);
- until kubernetes/kubernetes#133066, kubelet looked at a pod in back-off again only on its
  error retry, every 10 s with jitter (kubernetes/kubernetes#123602), so a crash-loop restart could
  come up to REQUEUE_S late: the figures with that delay are recorded beside the nominal ones.

The worker's liveness then runs every periodSeconds from every phase on a grid of PHASE_STEP_S
(and the sidecar's own liveness from every phase of its period), and counts failures in a row the
way kubelet does. Simulating the schedule instead of waiting it out covers every phase of both
schedules, which a real-time run could not.
"""

from __future__ import annotations

import http.client
import math
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests import probeserver
from tests.brokers import start_redis
from tests.serverproc import free_port
from tests.workers.harness import mutated_pod, PROFILE, record, scratch, seconds, wait_for, Worker, worker_on

HTTP_EXAMPLES = ["python", "go", "sidekiq"]  # one of each writer: Python, Go, Ruby
SIDECAR = "workerguard-probe"
INJECTED_PORT = 9478
SLACK = 5.0
# Starting nsenter and sh to run the preStop hook, before its marker exists.
SPAWN_SLACK = 0.5

Check = Callable[[], bool]


# What plan() injects, read as kubelet reads it.


@dataclass(frozen=True)
class Schedule:
    period: int
    timeout: int
    threshold: int

    @classmethod
    def of(cls, probe: Mapping[str, Any]) -> Schedule:
        return cls(probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"])


@dataclass(frozen=True)
class HttpProbe:
    path: str
    port: int
    schedule: Schedule

    @classmethod
    def of(cls, probe: Mapping[str, Any]) -> HttpProbe:
        return cls(probe["httpGet"]["path"], probe["httpGet"]["port"], Schedule.of(probe))


@dataclass(frozen=True)
class HttpPod:
    """The worker's httpGet probes, the sidecar's argv and own liveness, and what kubelet kills with."""

    argv: list[str]
    probes: dict[str, HttpProbe]
    sidecar_liveness: HttpProbe
    grace: int  # what a liveness kill of the server allows: its probe's own, else the pod's
    env: dict[str, str]
    pre_stop: str | None

    @classmethod
    def of(cls, mutated: Mapping[str, Any]) -> HttpPod:
        spec = mutated["spec"]
        [sidecar] = [c for c in spec["initContainers"] if c["name"] == SIDECAR]
        worker = spec["containers"][0]
        pre_stop = worker.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
        assert sidecar["restartPolicy"] == "Always"  # a native sidecar: kubelet restarts it on its own
        return cls(
            sidecar["command"],
            {name: HttpProbe.of(worker[f"{name}Probe"]) for name in ("readiness", "liveness")},
            HttpProbe.of(sidecar["livenessProbe"]),
            sidecar["livenessProbe"].get("terminationGracePeriodSeconds", spec["terminationGracePeriodSeconds"]),
            {item["name"]: item["value"] for item in worker["env"]},
            pre_stop[2] if pre_stop else None,
        )

    def server_argv(self, binary: Path, port: int) -> list[str]:
        listen = [arg for arg in self.argv if arg.startswith("--listen=")]
        assert listen == [f"--listen=:{INJECTED_PORT}"], self.argv
        return [str(binary), *(f"--listen=127.0.0.1:{port}" if arg in listen else arg for arg in self.argv[1:])]

    def worker_probe(self, name: str, port: int) -> HttpProbe:
        probe = self.probes[name]
        assert probe.port == INJECTED_PORT == self.sidecar_liveness.port
        return HttpProbe(probe.path, port, probe.schedule)


def report(worker: Worker, figures_of: str, **figures: object) -> None:
    """Into the workers report beside the contract's scenarios, under a name of its own: these are the
    transport's figures, not a scenario the writers' contract asks of them."""
    record(worker, f"http transport: {figures_of}", **figures)


def http_pod_of(worker: Worker) -> HttpPod:
    return HttpPod.of(mutated_pod(worker.heartbeat_dir, PROFILE[worker.example], worker.timing, "http"))


def exec_schedules(worker: Worker) -> dict[str, Schedule]:
    container = mutated_pod(worker.heartbeat_dir, PROFILE[worker.example], worker.timing, "exec")["spec"]["containers"][0]
    return {name: Schedule.of(container[f"{name}Probe"]) for name in ("readiness", "liveness")}


# The probes' transports.


def http_check(port: int, path: str, timeout: float) -> bool:
    """One kubelet httpGet: a connection of its own, closed after; 200-399 passes, anything else fails."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "kube-probe/1.33", "Accept": "*/*", "Connection": "close"})
        response = connection.getresponse()
        response.read(10 * 1024)
        return 200 <= response.status < 400
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def exec_check(pid: int, script: str, timeout: float) -> bool:
    """One kubelet exec, in the worker's namespaces; a run past timeoutSeconds fails (kubelet 1.20+)."""
    command = ["nsenter", "--target", str(pid), "--pid", "--mount", "sh", "-c", script]
    try:
        return subprocess.run(command, capture_output=True, timeout=timeout).returncode == 0
    except subprocess.TimeoutExpired:
        return False


class Sidecar:
    """workerguard-probe as the sidecar's process: no environment, its log beside the worker's."""

    def __init__(self, argv: list[str], port: int, log_path: Path) -> None:
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, answering: str = "/healthz") -> float:
        """Seconds from exec until `answering` passes, polled as fast as a refused connect returns."""
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=log, env={})
        wait_for(lambda: self.alive() and http_check(self.port, answering, 1), 10, 0.002)
        return time.monotonic() - began

    def alive(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{SIDECAR} exited {self.process.returncode}:\n{self.log_path.read_text()}")
        return True

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def freeze(self) -> None:
        """SIGSTOP, returning once every thread is stopped: the signal alone only asks for it."""
        self.signal(signal.SIGSTOP)
        assert self.process is not None
        tasks = Path(f"/proc/{self.process.pid}/task")
        wait_for(lambda: all(stat.read_text().rsplit(")", 1)[1].split()[0] == "T" for stat in tasks.glob("*/stat")), 10, 0.005)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)


@contextmanager
def sidecar_for(worker: Worker, pod: HttpPod) -> Iterator[Sidecar]:
    port = free_port()
    sidecar = Sidecar(pod.server_argv(probeserver.BINARY, port), port, worker.workdir / f"{SIDECAR}.log")
    try:
        yield sidecar
    finally:
        sidecar.stop()


@pytest.fixture(scope="module", autouse=True)
def probe_binary() -> None:
    """Built from probe-server/ into probeserver.BINARY, which every sidecar here runs."""
    probeserver.build()


# Kubelet's probe workers, in real time.


@dataclass
class ProbeLoop:
    """One probe worker: a run every period from `phase`, missed ticks dropped (a Go ticker); it stops at
    the verdict (`tripped_at`), since a restart ends the container and NotReady is what is measured."""

    name: str
    check: Check
    schedule: Schedule
    phase: float
    failures: list[float] = field(default_factory=list)
    tripped_at: float | None = None

    def run(self, origin: float, stop: threading.Event) -> None:
        tick, in_a_row = self.phase, 0
        while not stop.wait(max(0.0, origin + tick - time.monotonic())):
            at = time.monotonic() - origin
            if self.check():
                in_a_row = 0
            else:
                self.failures.append(at)
                in_a_row += 1
                if in_a_row >= self.schedule.threshold:
                    self.tripped_at = at
                    return
            tick += self.schedule.period * max(1, math.ceil((time.monotonic() - origin - tick) / self.schedule.period))


class Kubelet:
    """The loops of one pod, each in a thread of its own, all timed from one origin."""

    def __init__(self, loops: list[ProbeLoop]) -> None:
        self.loops = {loop.name: loop for loop in loops}
        self.stop = threading.Event()
        self.origin = time.monotonic()
        self.threads = [threading.Thread(target=loop.run, args=(self.origin, self.stop), daemon=True) for loop in loops]

    def __enter__(self) -> Kubelet:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def now(self) -> float:
        return time.monotonic() - self.origin

    def wait_tripped(self, names: tuple[str, ...], timeout: float) -> None:
        try:
            wait_for(lambda: all(self.loops[name].tripped_at is not None for name in names), timeout, 0.05)
        except TimeoutError:
            pass  # the assertions say which never came

    def tripped(self, name: str) -> float | None:
        return self.loops[name].tripped_at


def both_transports(worker: Worker, pod: HttpPod, port: int) -> list[ProbeLoop]:
    """Readiness and liveness over exec and over HTTP; one random phase per probe, shared by both
    transports, so that they differ only in how they ask."""
    pid = worker.pid()
    execs = exec_schedules(worker)
    loops: list[ProbeLoop] = []
    for name in ("readiness", "liveness"):
        probe = pod.worker_probe(name, port)
        assert probe.schedule == execs[name]  # same period, timeout and threshold for both transports
        phase = random.uniform(0, probe.schedule.period)
        by_exec = partial(exec_check, pid, worker.injected.commands[name], execs[name].timeout)
        by_http = partial(http_check, probe.port, probe.path, probe.schedule.timeout)
        loops += [
            ProbeLoop(f"exec {name}", by_exec, execs[name], phase),
            ProbeLoop(f"http {name}", by_http, probe.schedule, phase),
        ]
    return loops


@pytest.fixture(params=HTTP_EXAMPLES)
def worker(request: pytest.FixtureRequest) -> Iterator[Worker]:
    with worker_on(request.param, start_redis) as worker:
        yield worker


def started_with_sidecar(worker: Worker, pod: HttpPod, sidecar: Sidecar) -> None:
    """The sidecar first, as kubelet starts a native sidecar before the worker; startup stays exec."""
    assert pod.env == worker.injected.env  # the worker is the same under either transport
    sidecar.start()
    worker.start()
    worker.wait_started()


def test_a_stuck_worker_goes_notready_then_restarted_at_the_same_seconds_over_http_as_over_exec(worker: Worker) -> None:
    pod = http_pod_of(worker)
    with sidecar_for(worker, pod) as sidecar:
        started_with_sidecar(worker, pod, sidecar)
        for _ in range(worker.slots):
            worker.enqueue("hang")
        limit = seconds("stuck-after") + seconds("liveness-max-age") + SLACK
        with Kubelet(both_transports(worker, pod, sidecar.port)) as kubelet:
            kubelet.wait_tripped(("exec readiness", "exec liveness", "http readiness", "http liveness"), limit + 1)
    ready = {transport: kubelet.tripped(f"{transport} readiness") for transport in ("exec", "http")}
    restart = {transport: kubelet.tripped(f"{transport} liveness") for transport in ("exec", "http")}
    assert ready["http"] is not None and restart["http"] is not None, (ready, restart, worker.log()[-2000:])
    assert ready["exec"] is not None and restart["exec"] is not None, (ready, restart, worker.log()[-2000:])
    assert seconds("stuck-after") <= ready["http"] <= restart["http"] <= limit
    assert abs(ready["http"] - ready["exec"]) <= pod.probes["readiness"].schedule.period
    assert abs(restart["http"] - restart["exec"]) <= pod.probes["liveness"].schedule.period
    report(
        worker,
        "http_b_stuck",
        readiness_fails_at_s=round(ready["http"], 1),
        restart_at_s=round(restart["http"], 1),
        exec_readiness_fails_at_s=round(ready["exec"], 1),
        exec_restart_at_s=round(restart["exec"], 1),
        bound_s=limit,
    )


def test_a_draining_worker_goes_notready_at_the_next_readiness_period_and_stays_alive(worker: Worker) -> None:
    pod = http_pod_of(worker)
    assert pod.pre_stop == worker.injected.commands["preStop"]
    period = pod.probes["readiness"].schedule.period
    with sidecar_for(worker, pod) as sidecar:
        started_with_sidecar(worker, pod, sidecar)
        with Kubelet(both_transports(worker, pod, sidecar.port)) as kubelet:
            time.sleep(2 * period)
            prestop_at = kubelet.now()
            hook = ["nsenter", "--target", str(worker.pid()), "--pid", "--mount", "sh", "-c", pod.pre_stop or ""]
            assert subprocess.run(hook, timeout=30).returncode == 0
            kubelet.wait_tripped(("exec readiness", "http readiness"), period + SPAWN_SLACK)
            # Long enough for liveness to reach its verdict, were the marker to fail it.
            time.sleep(pod.probes["liveness"].schedule.threshold * pod.probes["liveness"].schedule.period)
    failed_before = [at for loop in kubelet.loops.values() for at in loop.failures if at < prestop_at]
    assert failed_before == [], failed_before
    notready = {transport: kubelet.tripped(f"{transport} readiness") for transport in ("exec", "http")}
    assert notready["http"] is not None and notready["exec"] is not None, notready
    assert notready["http"] - prestop_at <= period + SPAWN_SLACK
    liveness_failures = kubelet.loops["http liveness"].failures + kubelet.loops["exec liveness"].failures
    assert liveness_failures == []
    report(
        worker,
        "http_f_draining",
        notready_after_prestop_s=round(notready["http"] - prestop_at, 2),
        exec_notready_after_prestop_s=round(notready["exec"] - prestop_at, 2),
        readiness_period_s=period,
        liveness_failures=liveness_failures,
    )


# The server failing, with the default timings: the method is in the module's docstring.

PLEG_RELIST_S = 1.0
BACK_OFF_S = 10.0
BACK_OFF_CAP_S = 300.0
REQUEUE_S = 15.0
PHASE_STEP_S = 0.25
UP, REFUSED, HUNG = "up", "refused", "hung"


@dataclass(frozen=True)
class Span:
    """The server is `state` from `start` to `end`, seconds after the fault; up outside every span."""

    start: float
    end: float
    state: str


@dataclass(frozen=True)
class Sampled:
    """What the real server answered: (state, path) -> passed; start_s is the slowest real restart."""

    answers: dict[tuple[str, str], bool]
    start_s: float
    stopped_keeps_sigterm: bool


def state_at(timeline: tuple[Span, ...], t: float) -> str:
    return next((span.state for span in timeline if span.start <= t < span.end), UP)


def phases(period: float) -> list[float]:
    return [i * PHASE_STEP_S for i in range(int(period / PHASE_STEP_S))]


def verdict_at(
    timeline: tuple[Span, ...], probe: HttpProbe, answers: Mapping[tuple[str, str], bool], phase: float
) -> float | None:
    """When kubelet reaches the probe's verdict (threshold failures in a row), or None: runs from
    `phase` after the fault until the server is back and a whole threshold of runs has passed."""
    schedule = probe.schedule
    end = max((span.end for span in timeline), default=0.0) + schedule.threshold * schedule.period
    in_a_row, t = 0, phase
    while t <= end:
        in_a_row = 0 if answers[(state_at(timeline, t), probe.path)] else in_a_row + 1
        if in_a_row >= schedule.threshold:
            return t
        t += schedule.period
    return None


def restarting_phases(timeline: tuple[Span, ...], probe: HttpProbe, sampled: Sampled) -> list[float]:
    return [phase for phase in phases(probe.schedule.period) if verdict_at(timeline, probe, sampled.answers, phase) is not None]


def back_off(restart: int) -> float:
    """Kubelet's delay before the restart-th restart in a row (0: the first, at once)."""
    return 0.0 if restart == 0 else min(BACK_OFF_S * 2 ** (restart - 1), BACK_OFF_CAP_S)


def crash_loop(crashes: int, start_s: float, requeue_s: float = 0.0) -> tuple[Span, ...]:
    """Killed at 0, and each new start dying before it answers, `crashes` times in all; the last
    restart stays up."""
    down = sum(PLEG_RELIST_S + back_off(n) + (requeue_s if n else 0.0) + start_s for n in range(crashes))
    return (Span(0.0, down, REFUSED),)


def hung(sidecar: HttpProbe, phase: float, grace: float, sampled: Sampled) -> tuple[Span, ...] | None:
    """Stopped at 0; the sidecar's liveness, running from `phase`, kills it at its verdict; kubelet
    restarts it at once. None when its liveness never fails on a hung server."""
    # From any phase the verdict comes within threshold + 1 periods, if it comes at all.
    stopped = Span(0.0, float(sidecar.schedule.period * (sidecar.schedule.threshold + 1)), HUNG)
    decided = verdict_at((stopped,), sidecar, sampled.answers, phase)
    if decided is None:
        return None
    # Known when the last run times out; kubelet never kills with less than 2 s of grace.
    killed = decided + sidecar.schedule.timeout + (max(grace, 2.0) if sampled.stopped_keeps_sigterm else 0.0)
    return (Span(0.0, killed, HUNG), Span(killed, killed + PLEG_RELIST_S + sampled.start_s, REFUSED))


def tolerance(probe: HttpProbe) -> float:
    """The shortest outage that can restart the worker: threshold runs in a row span threshold-1 periods."""
    return float((probe.schedule.threshold - 1) * probe.schedule.period)


def outage(timeline: tuple[Span, ...]) -> float:
    return max(span.end for span in timeline)


@pytest.fixture(scope="module")
def healthy() -> Iterator[Worker]:
    """The Python example with the default timings. The harness runs the exec preStop hook it reads,
    which the defaults leave out (prestop-sleep 0s), so the worker alone is given one second of it:
    that changes no probe and no variable, and the pods simulated below carry no annotation at all."""
    workdir = scratch()
    broker = start_redis(workdir)
    worker = Worker("python", broker, workdir, {"prestop-sleep": "1s"})
    try:
        worker.start()
        worker.wait_started()
        yield worker
    finally:
        worker.stop()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def default_pod_of(worker: Worker, profile: str) -> HttpPod:
    """The pod with only its profile and heartbeat path annotated: every timing is the default."""
    return HttpPod.of(mutated_pod(worker.heartbeat_dir, profile, {}, "http"))


@pytest.fixture(scope="module")
def default_pod(healthy: Worker) -> HttpPod:
    pod = default_pod_of(healthy, "generic")
    liveness = pod.probes["liveness"].schedule
    assert (liveness.period, liveness.threshold) == (60, 3)
    assert "--liveness-max-age=300" in pod.argv
    assert pod.env == healthy.injected.env
    return pod


@pytest.fixture(scope="module")
def sampled(healthy: Worker, default_pod: HttpPod) -> Iterator[Sampled]:
    live, health = default_pod.probes["liveness"], default_pod.sidecar_liveness
    with sidecar_for(healthy, default_pod) as sidecar:

        def answers(state: str) -> dict[tuple[str, str], bool]:
            return {(state, probe.path): http_check(sidecar.port, probe.path, probe.schedule.timeout) for probe in (live, health)}

        starts = [sidecar.start("/live")]
        up = answers(UP)
        refused: dict[tuple[str, str], bool] = {}
        for _ in range(5):
            sidecar.signal(signal.SIGKILL)
            assert sidecar.process is not None
            sidecar.process.wait(10)
            refused = answers(REFUSED)
            starts.append(sidecar.start("/live"))
        sidecar.freeze()
        stopped = answers(HUNG)
        sidecar.signal(signal.SIGTERM)
        time.sleep(0.5)
        assert sidecar.process is not None
        keeps_sigterm = sidecar.process.poll() is None and not http_check(sidecar.port, health.path, 1)
        sidecar.signal(signal.SIGCONT)
        assert sidecar.process.wait(10) == 0  # the pending SIGTERM, taken once it runs again
    yield Sampled({**up, **refused, **stopped}, max(starts), keeps_sigterm)


def test_the_real_server_answers_up_and_fails_killed_or_stopped(sampled: Sampled, default_pod: HttpPod) -> None:
    """The answers the simulation below stands on."""
    for probe in (default_pod.probes["liveness"], default_pod.sidecar_liveness):
        assert sampled.answers[(UP, probe.path)] is True
        assert sampled.answers[(REFUSED, probe.path)] is False
        assert sampled.answers[(HUNG, probe.path)] is False
    assert sampled.stopped_keeps_sigterm
    assert sampled.start_s < 1.0


def test_the_simulated_kubelet_restarts_the_worker_after_two_liveness_periods_of_failures_in_a_row_not_before(
    sampled: Sampled, default_pod: HttpPod
) -> None:
    live = default_pod.probes["liveness"]
    period, needs = live.schedule.period, tolerance(live)
    assert needs == 120.0
    assert restarting_phases((Span(0.0, needs - PHASE_STEP_S, REFUSED),), live, sampled) == []
    assert restarting_phases((Span(0.0, needs + PHASE_STEP_S, REFUSED),), live, sampled) != []
    assert len(restarting_phases((Span(0.0, needs + period, REFUSED),), live, sampled)) == len(phases(period))
    # Four failing runs at some phases, never three in a row: an answered run between them resets the count.
    apart = (Span(0.0, 100.0, REFUSED), Span(170.0, 270.0, REFUSED))
    assert restarting_phases(apart, live, sampled) == []


@pytest.mark.parametrize("crashes", [1, 2, 3, 4, 5])
def test_a_killed_or_crash_looping_server_restarts_a_healthy_worker_only_from_its_fifth_crash_in_a_row(
    crashes: int, sampled: Sampled, default_pod: HttpPod, healthy: Worker
) -> None:
    """One crash is the server killed once (restarted at once); more are a crash loop under back-off."""
    live = default_pod.probes["liveness"]
    timeline = crash_loop(crashes, sampled.start_s)
    late = crash_loop(crashes, sampled.start_s, REQUEUE_S)
    restarting = restarting_phases(timeline, live, sampled)
    back, needs = outage(timeline), tolerance(live)
    if crashes < 5:
        assert restarting == [] and back < needs, (back, needs, restarting)
    else:
        assert restarting != [] and back > needs, (back, needs)
    report(
        healthy,
        f"http_server_crashed_{crashes}x",
        server_back_after_s=round(back, 1),
        back_after_with_requeue_s=round(outage(late), 1),
        worker_liveness_needs_s=needs,
        margin_s=round(needs - back, 1),
        restarting_phases=f"{len(restarting)}/{len(phases(live.schedule.period))}",
        restarting_phases_with_requeue=f"{len(restarting_phases(late, live, sampled))}/{len(phases(live.schedule.period))}",
        server_start_s=round(sampled.start_s, 3),
    )


@pytest.mark.parametrize(
    "profile",
    [
        "generic",
        "sidekiq",
        "pubsub",
        "celery",  # a pod grace of 605 s: the server's probe brings its own
    ],
)
def test_a_hung_server_is_restarted_by_its_own_liveness_before_the_healthy_worker_could_be(
    profile: str, sampled: Sampled, default_pod: HttpPod, healthy: Worker
) -> None:
    pod = default_pod_of(healthy, profile)
    live, sidecar = pod.probes["liveness"], pod.sidecar_liveness
    assert live.schedule == default_pod.probes["liveness"].schedule  # the default liveness timings
    assert sampled.answers[(HUNG, live.path)] is False  # else the worker could never be restarted here
    worst_back, restarting = 0.0, 0
    for phase in phases(sidecar.schedule.period):
        timeline = hung(sidecar, phase, pod.grace, sampled)
        assert timeline is not None, "the server's liveness never fails on a hung server"
        worst_back = max(worst_back, outage(timeline))
        restarting += len(restarting_phases(timeline, live, sampled))
    needs = tolerance(live)
    report(
        healthy,
        f"http_server_hung_{profile}",
        server_back_after_s=round(worst_back, 1),
        worker_liveness_needs_s=needs,
        margin_s=round(needs - worst_back, 1),
        grace_s=pod.grace,
        restarting_phase_pairs=restarting,
    )
    assert restarting == 0 and worst_back < needs, (worst_back, needs, restarting)
