"""RQ: track jobs in the worker process, where each work horse is forked and watched.

`perform_job` runs in the forked horse, so a job marked there is invisible to the beat; the parent's
`execute_job` spans the horse's whole life, so that is where a job starts and ends for the writer.
A horse hung past stuck-after stops the beat and liveness restarts the pod; RQ's warm shutdown
(SIGTERM) lets the running job finish while the beat goes on. The worker's teardown, which `work()`
runs once its loop has ended (after the last horse is reaped, on a warm or a cold shutdown), is the
final stop: it writes the exited marker.
"""

from __future__ import annotations

from typing import Any

from ._heartbeat import Check, Heartbeat


def redis_check(connection: Any) -> Check:
    """PINGs through the worker's own Redis connection (its TLS, ACL user and pool as configured)."""

    def check() -> None:
        try:
            connection.ping()
        except Exception as error:  # noqa: BLE001 - any failure means "not usable"
            kwargs = connection.connection_pool.connection_kwargs
            raise ConnectionError(
                f"redis at {kwargs.get('host')}:{kwargs.get('port')}: {type(error).__name__}: {error}"
            ) from None

    return check


def install_rq(worker: Any, check: Check | None = None, *, check_redis: bool = True) -> Heartbeat:
    """Wraps this worker's execute_job so every job counts from fork to reaping, and its teardown so
    the heartbeat stops for good when work() ends; starts beating. Call before worker.work()."""
    if check is None and check_redis:
        check = redis_check(worker.connection)
    heartbeat = Heartbeat.from_env(check=check)
    execute_job = worker.execute_job

    def tracked(job: Any, queue: Any) -> Any:
        with heartbeat.job():
            return execute_job(job, queue)

    teardown = worker.teardown

    def torn_down() -> None:
        try:
            teardown()
        finally:  # Redis down at teardown: the process still finishes, and the sidecars must learn it
            heartbeat.stop()

    worker.execute_job = tracked
    worker.teardown = torn_down
    heartbeat.start()
    return heartbeat
