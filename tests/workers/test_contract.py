"""The heartbeat contract, against the real frameworks: Sidekiq, Celery (every pool), RQ, Python, Go.

Each scenario starts an example from examples/ the way a container would and judges it only through
the probes plan() injects. Bounds are generous (the machine is shared); the measured figures are
written to build/workers-report.json and printed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.workers.harness import (
    EXAMPLES,
    failures_over,
    first_failure,
    Redis,
    ROOT,
    scratch,
    seconds,
    wait_for,
    Worker,
)

EXAMPLE_NAMES = ["sidekiq", "celery", "celery-threads", "celery-solo", "celery-gevent", "celery-eventlet", "rq", "python", "go"]
CELERY_POOLS = ["celery", "celery-threads", "celery-solo", "celery-gevent", "celery-eventlet"]
SLACK = 5.0
REPORT: dict[str, dict[str, object]] = {}


@pytest.fixture(scope="session", autouse=True)
def go_binary() -> Iterator[None]:
    """The Go example, built once as its image would ship it."""
    subprocess.run(
        ["go", "build", "-o", "worker", "."],
        cwd=EXAMPLES / "go",
        check=True,
        env={**_go_env(), "GOFLAGS": "-mod=mod", "GOPROXY": "off"},
    )
    yield
    out = ROOT / "build" / "workers-report.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(REPORT, indent=2, sort_keys=True))
    print("\n" + json.dumps(REPORT, indent=1, sort_keys=True))


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOCACHE", str(ROOT / "build" / "go-cache"))
    return env


@pytest.fixture(params=EXAMPLE_NAMES)
def worker(request: pytest.FixtureRequest) -> Iterator[Worker]:
    yield from _worker(request.param)


@pytest.fixture(params=CELERY_POOLS)
def celery_worker(request: pytest.FixtureRequest) -> Iterator[Worker]:
    yield from _worker(request.param)


def _worker(name: str) -> Iterator[Worker]:
    workdir = scratch()
    redis = Redis(workdir)
    started = Worker(name, redis, workdir)
    try:
        yield started
    finally:
        started.stop()
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def restart_after(worker: Worker, first_failure_at: float) -> float:
    """When kubelet restarts: its third liveness failure in a row, one liveness period apart."""
    period = worker.injected.periods["liveness"]
    return first_failure_at + (worker.injected.thresholds["liveness"] - 1) * period


def record(worker: Worker, scenario: str, **figures: object) -> None:
    REPORT.setdefault(worker.name, {})[scenario] = figures


def test_a_healthy_worker_is_started_ready_and_alive(worker: Worker) -> None:
    worker.start()
    started_after = worker.wait_started()
    worker.enqueue("sleep", "1")
    failures = failures_over(worker, 4)
    assert failures == [], failures
    record(worker, "a_healthy", started_after_s=round(started_after, 2), failures=failures)


def test_all_slots_stuck_fail_liveness_after_stuck_after_and_readiness_no_later(worker: Worker) -> None:
    worker.start()
    worker.wait_started()
    for _ in range(worker.slots):
        worker.enqueue("hang")
    enqueued = time.monotonic()
    limit = seconds("stuck-after") + seconds("liveness-max-age") + SLACK
    readiness = first_failure(worker, "readiness", limit, 0.25)
    liveness = first_failure(worker, "liveness", limit - (time.monotonic() - enqueued), 0.25)
    assert readiness is not None and liveness is not None, worker.log()[-2000:]
    liveness_at = time.monotonic() - enqueued
    restart_at = restart_after(worker, liveness_at)
    assert seconds("stuck-after") <= readiness <= restart_at <= limit
    record(
        worker,
        "b_stuck",
        readiness_fails_at_s=round(readiness, 1),
        liveness_first_fails_at_s=round(liveness_at, 1),
        restart_at_s=round(restart_at, 1),
        bound_s=limit,
    )


def test_a_long_healthy_job_never_fails_a_probe(worker: Worker) -> None:
    worker.start()
    worker.wait_started()
    job = seconds("liveness-max-age") + 2  # longer than liveness allows a silence, shorter than stuck-after
    assert job < seconds("stuck-after")
    worker.enqueue("sleep", str(job))
    failures = failures_over(worker, job + 3)
    assert failures == [], failures
    assert worker.finished_a_job(), worker.log()[-2000:]
    record(worker, "c_long_job", job_s=job, failures=failures)


def test_a_cpu_bound_job_inside_stuck_after_never_fails_a_probe(celery_worker: Worker) -> None:
    """Under gevent and eventlet a task that never yields starves every greenlet: the beat must not be one."""
    worker = celery_worker
    worker.start()
    worker.wait_started()
    job = seconds("liveness-max-age") + 2
    assert job < seconds("stuck-after")
    worker.enqueue("spin", str(job))
    failures = failures_over(worker, job + 3)
    assert failures == [], failures
    assert "tasks.spin" in worker.log() and "succeeded in" in worker.log(), worker.log()[-2000:]
    record(worker, "c2_cpu_bound_job", job_s=job, failures=failures)


@pytest.mark.parametrize("how", ["frozen", "killed"])
def test_a_frozen_or_killed_worker_fails_its_probes(worker: Worker, how: str) -> None:
    worker.start()
    worker.wait_started()
    worker.signal(signal.SIGSTOP if how == "frozen" else signal.SIGKILL)
    if how == "killed":
        worker.process.wait(10)
    stopped = time.monotonic()
    readiness = first_failure(worker, "readiness", seconds("readiness-max-age") + SLACK, 0.25)
    liveness = first_failure(worker, "liveness", seconds("liveness-max-age") + SLACK, 0.25)
    assert readiness is not None and liveness is not None
    restart = restart_after(worker, time.monotonic() - stopped)
    assert restart <= seconds("liveness-max-age") + SLACK
    record(
        worker,
        f"d_{how}",
        readiness_fails_after_s=round(readiness, 1),
        liveness_first_fails_after_s=round(time.monotonic() - stopped, 1),
        restart_after_s=round(restart, 1),
    )


def test_a_redis_outage_makes_the_worker_unready_but_never_dead(worker: Worker) -> None:
    worker.start()
    worker.wait_started()
    worker.redis.hang()
    hung = time.monotonic()
    unready = first_failure(worker, "readiness", 3 * seconds("readiness-max-age") + SLACK, 0.25)
    assert unready is not None, worker.log()[-2000:]
    hold = 2 * seconds("liveness-max-age")
    liveness_failures = failures_over(worker, hold, ("liveness",))
    assert liveness_failures == [], liveness_failures
    worker.redis.resume()
    resumed = time.monotonic()
    wait_for(lambda: worker.probe("readiness") == 0, 3 * seconds("readiness-max-age") + SLACK, 0.25)
    record(
        worker,
        "e_redis_hung",
        unready_after_s=round(unready, 1),
        liveness_held_s=round(time.monotonic() - hung - (time.monotonic() - resumed), 1),
        ready_again_after_s=round(time.monotonic() - resumed, 1),
    )


def test_prestop_then_sigterm_lets_the_running_job_finish_and_exit_zero(worker: Worker) -> None:
    worker.start()
    worker.wait_started()
    job = 4
    worker.enqueue("sleep", str(job))
    wait_for(lambda: worker.redis.queued() == 0, 10)  # taken: the job is running
    time.sleep(1)
    began = time.monotonic()
    prestop = subprocess.run(
        ["nsenter", "--target", str(worker.pid()), "--pid", "--mount", "sh", "-c", worker.injected.commands["preStop"]],
        timeout=30,
    )
    assert prestop.returncode == 0
    assert worker.probe("readiness") != 0  # unready as soon as preStop marked draining
    worker.signal(signal.SIGTERM)
    code = worker.process.wait(worker.injected.grace)
    took = time.monotonic() - began
    assert code == 0, worker.log()[-3000:]
    assert worker.finished_a_job(), worker.log()[-3000:]
    assert took <= worker.injected.grace
    record(worker, "f_prestop_sigterm", exit_code=code, exited_after_s=round(took, 1), grace_s=worker.injected.grace)


def test_a_previous_containers_heartbeat_never_passes_startup(worker: Worker) -> None:
    worker.start()
    worker.signal(signal.SIGSTOP)  # held before it can beat (its children, if any, have not started)
    old = int(time.time()) - 2  # the previous container's last beat: fresh by age, older than this one
    worker.heartbeat.write_text(str(old))
    os.utime(worker.heartbeat, (old, old))
    assert worker.probe("startup") != 0
    assert worker.probe("liveness") == 0  # liveness judges age alone; startup gates it
    worker.signal(signal.SIGCONT)
    passed_after = worker.wait_started()
    text = worker.heartbeat.read_text().strip()
    assert text.isdigit() and int(text) >= int(worker.started), text
    record(worker, "g_restart", startup_refused_old_beat=True, startup_passed_after_s=round(passed_after, 2))
