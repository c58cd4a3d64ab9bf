"""The Celery writer's broker check through kombu, against real brokers: Redis (plain, TLS, ACL user
with an encoded password) and RabbitMQ. A healthy broker passes; a failure names the host and never
the password."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from workerguard_heartbeat.celery import broker_check

from tests import writer_redis
from tests.workers.harness import free_port, scratch

PASSWORD = "s3cr:et/@%"
ENCODED = "s3cr%3Aet%2F%40%25"
ACL = f"user app on >{PASSWORD} ~* &* +@all"
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


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
    server = writer_redis.start(workdir, acl=ACL)
    try:
        broker_check(celery_app(f"redis://app:{ENCODED}@127.0.0.1:{server.port}/0"))()
        with pytest.raises(ConnectionError) as failed:
            broker_check(celery_app(f"redis://app:nope@127.0.0.1:{server.port}/0"))()
        assert f"127.0.0.1:{server.port}" in str(failed.value) and "nope" not in str(failed.value)
    finally:
        server.stop()


def test_rediss_with_broker_use_ssl(workdir: Path) -> None:
    server = writer_redis.start(workdir, tls=True, acl=ACL)
    try:
        tls = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(server.ca_file)}
        broker_check(celery_app(f"rediss://app:{ENCODED}@localhost:{server.port}/0", broker_use_ssl=tls))()
    finally:
        server.stop()


def test_a_frozen_redis_hangs_the_check_and_it_answers_once_redis_resumes(workdir: Path) -> None:
    """A hang is the writer's to judge (not-ready after three beats without an answer), so the check
    must not fail fast for it, nor stay hung once Redis is back."""
    server = writer_redis.start(workdir)
    check = broker_check(celery_app(f"redis://127.0.0.1:{server.port}/0"))
    outcome: list[object] = []
    try:
        check()
        os.kill(server.process.pid, signal.SIGSTOP)
        thread = threading.Thread(target=lambda: outcome.append(check() or "answered"), daemon=True)
        thread.start()
        thread.join(3)
        assert thread.is_alive() and outcome == []
        os.kill(server.process.pid, signal.SIGCONT)
        thread.join(20)
        assert outcome == ["answered"]
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
def rabbitmq(workdir: Path) -> Iterator[int]:
    # The server itself, not Debian's wrapper in /usr/sbin, which switches to the rabbitmq user and its env.
    server, control = RABBITMQ_BIN / "rabbitmq-server", RABBITMQ_BIN / "rabbitmqctl"
    if not server.exists():
        raise RuntimeError("rabbitmq-server is missing: make test-workers installs it (Debian's rabbitmq-server)")
    port, dist = free_port(), free_port()
    env = {
        **os.environ,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_NODENAME": f"wg{port}@localhost",
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
        "HOME": str(workdir),
    }
    (workdir / "enabled_plugins").write_text("[].\n")
    process = subprocess.Popen([str(server)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    app = celery_app(f"amqp://guest:guest@127.0.0.1:{port}//")
    deadline = time.monotonic() + 90
    while True:
        try:
            broker_check(app)()
            break
        except ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise
            time.sleep(0.5)
    yield port
    subprocess.run([str(control), "-n", f"wg{port}@localhost", "stop"], env=env, capture_output=True, timeout=60)
    if process.poll() is None:
        process.kill()
    process.wait(30)


def test_rabbitmq_passes_and_a_wrong_password_fails_without_naming_it(rabbitmq: int) -> None:
    broker_check(celery_app(f"amqp://guest:guest@127.0.0.1:{rabbitmq}//"))()
    with pytest.raises(ConnectionError) as failed:
        broker_check(celery_app(f"amqp://guest:wrongsecret@127.0.0.1:{rabbitmq}//"))()
    assert f"127.0.0.1:{rabbitmq}" in str(failed.value) and "wrongsecret" not in str(failed.value)
