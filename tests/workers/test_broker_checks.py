"""The Celery writer's broker check through kombu, against real brokers: Redis (plain, TLS, ACL user
with an encoded password) and RabbitMQ. A healthy broker passes; a failure names the host and never
the password."""

from __future__ import annotations

import shutil
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from workerguard_heartbeat.celery import broker_check

from tests.brokers import ACL_USER, Broker, ENCODED, start_rabbitmq, start_redis
from tests.workers.harness import scratch


def celery_app(url: str, **conf: object) -> Celery:
    app = Celery("check", broker=url)
    app.conf.update(broker_connection_retry_on_startup=False, **conf)
    return app


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = scratch()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_redis_with_an_acl_user_and_an_encoded_password(workdir: Path) -> None:
    server = start_redis(workdir, acl=ACL_USER)
    try:
        broker_check(celery_app(f"redis://app:{ENCODED}@127.0.0.1:{server.port}/0"))()
        with pytest.raises(ConnectionError) as failed:
            broker_check(celery_app(f"redis://app:nope@127.0.0.1:{server.port}/0"))()
        assert f"127.0.0.1:{server.port}" in str(failed.value) and "nope" not in str(failed.value)
    finally:
        server.stop()


def test_rediss_with_broker_use_ssl(workdir: Path) -> None:
    server = start_redis(workdir, tls=True, acl=ACL_USER)
    try:
        tls = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(server.ca_file)}
        broker_check(celery_app(f"rediss://app:{ENCODED}@localhost:{server.port}/0", broker_use_ssl=tls))()
    finally:
        server.stop()


def test_a_frozen_redis_hangs_the_check_and_it_answers_once_redis_resumes(workdir: Path) -> None:
    """A hang is the writer's to judge (not-ready after three beats without an answer), so the check
    must not fail fast for it, nor stay hung once Redis is back."""
    server = start_redis(workdir)
    check = broker_check(celery_app(f"redis://127.0.0.1:{server.port}/0"))
    outcome: list[object] = []
    try:
        check()
        server.hang()
        thread = threading.Thread(target=lambda: outcome.append(check() or "answered"), daemon=True)
        thread.start()
        thread.join(3)
        assert thread.is_alive() and outcome == []
        server.resume()
        thread.join(20)
        assert outcome == ["answered"]
    finally:
        server.resume()
        server.stop()


@pytest.fixture
def rabbitmq(workdir: Path) -> Iterator[Broker]:
    broker = start_rabbitmq(workdir)
    yield broker
    broker.stop()


def test_rabbitmq_passes_and_a_wrong_password_fails_without_naming_it(rabbitmq: Broker) -> None:
    broker_check(celery_app(rabbitmq.url))()
    wrong = rabbitmq.url.replace("guest:guest@", "guest:wrongsecret@")
    with pytest.raises(ConnectionError) as failed:
        broker_check(celery_app(wrong))()
    host = wrong.split("@")[1].split("/")[0]
    assert host in str(failed.value) and "wrongsecret" not in str(failed.value)
