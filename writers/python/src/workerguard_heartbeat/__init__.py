"""workerguard heartbeat writer for Python workers: the signal that workerguard's probes judge.

Standard library only. One beat every $WORKERGUARD_BEAT_INTERVAL seconds, from a real thread of its
own, so a long job keeps beating; but no beat while any job has run longer than
$WORKERGUARD_STUCK_AFTER, so a wedged worker stops beating and liveness restarts it. A dependency
check that fails (or hangs) writes the not-ready marker next to the heartbeat: readiness fails,
liveness does not.

    from workerguard_heartbeat import Heartbeat, redis_ping

    heartbeat = Heartbeat.from_env(check=redis_ping(os.environ["REDIS_URL"]))
    heartbeat.start()
    with heartbeat.job():
        do_the_work()

Celery: `workerguard_heartbeat.celery.install_celery(app)` (every pool). RQ:
`workerguard_heartbeat.rq.install_rq(worker)`.
"""

from ._heartbeat import Check, Heartbeat
from .celery import install_celery  # the 1.x import path; Celery itself is imported only when it is called
from .redis import redis_ping
from .settings import (
    CHECK_STALE_BEATS,
    DEFAULT_INTERVAL,
    DEFAULT_PATH,
    DEFAULT_STUCK_AFTER,
    DRAINING,
    EXITED,
    NOT_READY,
    SettingError,
)

__version__ = "2.0.0"


__all__ = [
    "CHECK_STALE_BEATS",
    "DEFAULT_INTERVAL",
    "DEFAULT_PATH",
    "DEFAULT_STUCK_AFTER",
    "DRAINING",
    "EXITED",
    "NOT_READY",
    "Check",
    "Heartbeat",
    "SettingError",
    "__version__",
    "install_celery",
    "redis_ping",
]
