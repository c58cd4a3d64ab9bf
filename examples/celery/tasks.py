"""A Celery app with two tasks, and workerguard's heartbeat writer installed."""

from __future__ import annotations

import os
import threading
import time

from celery import Celery
from workerguard_heartbeat import install_celery

# BROKER_URL: Redis (redis://, rediss://?ssl_cert_reqs=required) or RabbitMQ (amqp://); REDIS_URL as a fallback.
app = Celery("tasks", broker=os.environ.get("BROKER_URL") or os.environ["REDIS_URL"])
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=1,  # a free slot takes the next task; none waits behind a long one
)
install_celery(app)


@app.task(name="tasks.sleep")
def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@app.task(name="tasks.spin")
def spin(seconds: float) -> int:
    """Computes without yielding for `seconds`: under gevent or eventlet nothing else in the process runs."""
    deadline, rounds = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        rounds += sum(range(1000)) and 1
    return rounds


@app.task(name="tasks.hang")
def hang() -> None:
    threading.Event().wait()  # blocks forever, as a deadlocked task does
