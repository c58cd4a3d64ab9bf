"""The heartbeat contract, against the real frameworks: Sidekiq, Celery (every pool), RQ, Python, Go.

Each scenario starts an example from examples/ the way a container would and judges it only through
the probes plan() injects. Bounds are generous (the machine is shared); the measured figures are
written to build/workers-report.json and printed at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.brokers import RedisServer, start_redis
from tests.workers.harness import (
    failures_over,
    first_failure,
    QUEUES,
    record,
    restart_after,
    seconds,
    wait_for,
    Worker,
    worker_on,
)

EXAMPLE_NAMES = ["sidekiq", "celery", "celery-threads", "celery-solo", "celery-gevent", "celery-eventlet", "rq", "python", "go"]
CELERY_POOLS = ["celery", "celery-threads", "celery-solo", "celery-gevent", "celery-eventlet"]
SLACK = 5.0


@pytest.fixture(params=EXAMPLE_NAMES)
def worker(request: pytest.FixtureRequest) -> Iterator[Worker]:
    yield from _worker(request.param)


@pytest.fixture(params=CELERY_POOLS)
def celery_worker(request: pytest.FixtureRequest) -> Iterator[Worker]:
    yield from _worker(request.param)


def _worker(name: str) -> Iterator[Worker]:
    with worker_on(name, start_redis) as worker:
        yield worker


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


@pytest.mark.parametrize("name", ["celery-gevent", "celery-eventlet"])
def test_a_15s_cpu_bound_task_under_stuck_after_20s_never_fails_a_probe(name: str) -> None:
    """The figures the green pools were first measured with: before the beat was a real thread, this
    task failed readiness after about 6 s and reached a restart after about 12 s."""
    with worker_on(name, start_redis, stuck_after="20s") as worker:
        worker.start()
        worker.wait_started()
        worker.enqueue("spin", "15")
        wait_for(lambda: "tasks.spin" in worker.log(), 10)
        failures = failures_over(worker, 15 + 3)
        assert failures == [], failures
        assert "succeeded in" in worker.log(), worker.log()[-2000:]
        record(worker, "c3_cpu_bound_15s_stuck_after_20s", job_s=15, failures=failures)


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
    worker.broker.hang()
    hung = time.monotonic()
    unready = first_failure(worker, "readiness", 3 * seconds("readiness-max-age") + SLACK, 0.25)
    assert unready is not None, worker.log()[-2000:]
    hold = 2 * seconds("liveness-max-age")
    liveness_failures = failures_over(worker, hold, ("liveness",))
    assert liveness_failures == [], liveness_failures
    worker.broker.resume()
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
    redis = worker.broker
    assert isinstance(redis, RedisServer)
    worker.start()
    worker.wait_started()
    job = 4
    worker.enqueue("sleep", str(job))
    wait_for(lambda: redis.queued(QUEUES) == 0, 10)  # taken: the job is running
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


def test_the_exited_marker_comes_after_the_last_job_and_a_new_start_removes_it(worker: Worker) -> None:
    """What the sidecars' preStop waits for: the marker only once the drained worker is done, and never a
    previous container's."""
    redis = worker.broker
    assert isinstance(redis, RedisServer)
    marker = worker.heartbeat_dir / "exited"
    worker.start()
    worker.wait_started()
    worker.enqueue("sleep", "4")
    wait_for(lambda: redis.queued(QUEUES) == 0, 10)  # taken: the job is running
    time.sleep(1)
    prestop = subprocess.run(
        ["nsenter", "--target", str(worker.pid()), "--pid", "--mount", "sh", "-c", worker.injected.commands["preStop"]],
        timeout=30,
    )
    assert prestop.returncode == 0
    assert not worker.finished_a_job(), worker.log()[-3000:]
    sigterm_at, sigterm_wall = time.monotonic(), time.time()
    worker.signal(signal.SIGTERM)
    checks_while_running = 0
    while worker.process.poll() is None and time.monotonic() - sigterm_at < worker.injected.grace:
        present = marker.exists()
        finished = worker.finished_a_job()  # read after the marker: a job that ends in between is no false alarm
        assert finished or not present, "the exited marker appeared while the job still ran"
        if not finished:
            checks_while_running += 1
        time.sleep(0.02)
    code = worker.process.wait(worker.injected.grace)
    exited_wall = time.time()
    assert code == 0, worker.log()[-3000:]
    assert checks_while_running > 0  # the job was seen running after SIGTERM, with no marker
    assert marker.exists(), worker.log()[-3000:]
    assert int(sigterm_wall) <= int(marker.read_text()) <= exited_wall
    written = marker.stat()
    assert worker.heartbeat.stat().st_mtime_ns <= written.st_mtime_ns  # after the last beat

    last_beat = worker.heartbeat.stat()
    worker.start()
    removed_after: float | None = None
    first_beat_after: float | None = None
    while first_beat_after is None and time.time() - worker.started < 30:
        beat = worker.heartbeat.stat()
        present = marker.exists()  # read after the beat: a new beat means the marker must be gone
        at = time.time() - worker.started
        if removed_after is None and not present:
            removed_after = at
        if (beat.st_ino, beat.st_mtime_ns) != (last_beat.st_ino, last_beat.st_mtime_ns):
            assert not present, "the new container beat beside the previous one's exited marker"
            first_beat_after = at
        time.sleep(0.01)
    assert removed_after is not None and first_beat_after is not None, worker.log()[-3000:]
    worker.wait_started()
    record(
        worker,
        "j_exited_marker",
        marker_written_after_sigterm_s=round(written.st_mtime - sigterm_wall, 2),
        exit_code=code,
        exited_after_sigterm_s=round(exited_wall - sigterm_wall, 2),
        marker_removed_after_start_s=round(removed_after, 2),
        first_beat_after_start_s=round(first_beat_after, 2),
    )
