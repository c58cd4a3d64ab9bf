"""The examples on the brokers production runs: RabbitMQ for Celery; managed Redis (TLS with an ACL user
whose password must be URL-encoded, the CA in SSL_CERT_FILE); an ACL user without TLS.

On each, a healthy worker becomes ready and runs a job; the broker frozen (SIGSTOP) makes it unready
and never restarted; resumed, it is ready again. Judged only through the probes plan() injects."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.brokers import ACL_USER, Broker, start_rabbitmq, start_redis
from tests.workers.harness import failures_over, first_failure, record, seconds, wait_for, worker_on

SLACK = 5.0


def redis_tls(workdir: Path) -> Broker:
    return start_redis(workdir, tls=True, acl=ACL_USER)


def redis_acl(workdir: Path) -> Broker:
    return start_redis(workdir, acl=ACL_USER)


BROKERS: dict[str, Callable[[Path], Broker]] = {"rabbitmq": start_rabbitmq, "redis-tls": redis_tls, "redis-acl": redis_acl}
CASES = [
    ("celery", "rabbitmq"),
    ("celery-threads", "rabbitmq"),
    ("celery-gevent", "rabbitmq"),
    ("celery-threads", "redis-tls"),
    ("celery-threads", "redis-acl"),
    ("rq", "redis-tls"),
    ("python", "redis-tls"),
    ("python", "redis-acl"),
    ("go", "redis-tls"),
    ("go", "redis-acl"),
    ("sidekiq", "redis-tls"),
    ("sidekiq", "redis-acl"),
]


@pytest.mark.parametrize(("name", "broker"), CASES, ids=[f"{name}-on-{broker}" for name, broker in CASES])
def test_ready_on_the_broker_and_a_frozen_broker_makes_it_unready_never_dead(name: str, broker: str) -> None:
    with worker_on(name, BROKERS[broker]) as worker:
        worker.start()
        started_after = worker.wait_started(60)
        wait_for(lambda: worker.probe("readiness") == 0, 3 * seconds("readiness-max-age") + SLACK, 0.25)
        worker.enqueue("sleep", "1")
        wait_for(worker.finished_a_job, 30, 0.25)
        worker.broker.hang()
        hung = time.monotonic()
        unready = first_failure(worker, "readiness", 3 * seconds("readiness-max-age") + SLACK, 0.25)
        assert unready is not None, worker.log()[-2000:]
        liveness_failures = failures_over(worker, 2 * seconds("liveness-max-age"), ("liveness",))
        assert liveness_failures == [], liveness_failures
        held = time.monotonic() - hung
        worker.broker.resume()
        resumed = time.monotonic()
        wait_for(lambda: worker.probe("readiness") == 0, 6 * seconds("readiness-max-age") + SLACK, 0.25)
        record(
            worker,
            f"h_broker_{broker}_hung",
            started_after_s=round(started_after, 2),
            unready_after_s=round(unready, 1),
            liveness_failures=liveness_failures,
            hung_for_s=round(held, 1),
            ready_again_after_s=round(time.monotonic() - resumed, 1),
        )
