"""The Python writer's built-in Redis check against real redis-server: TLS, ACL users, encoded passwords.

And what the writer must survive: concurrent beats, and a beat that is a real thread under gevent."""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.brokers import ACL_USER, ENCODED, PASSWORD, RedisServer, start_redis

ROOT = Path(__file__).parent.parent
SRC = ROOT / "writers" / "python" / "src"
sys.path.insert(0, str(SRC))

from workerguard_heartbeat import Heartbeat, redis_ping  # noqa: E402


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def acl(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path, acl=ACL_USER)
    yield server
    server.stop()


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path, tls=True, acl=ACL_USER)
    yield server
    server.stop()


def test_a_plain_redis_passes_and_a_database_number_is_selected(plain: RedisServer) -> None:
    redis_ping(f"redis://127.0.0.1:{plain.port}/3")()


def test_an_acl_user_with_an_encoded_password_passes(acl: RedisServer) -> None:
    redis_ping(f"redis://app:{ENCODED}@127.0.0.1:{acl.port}/0")()


def test_a_wrong_password_fails_naming_the_host_and_never_the_password(acl: RedisServer) -> None:
    with pytest.raises(ConnectionError) as failed:
        redis_ping(f"redis://app:wrong{ENCODED}@127.0.0.1:{acl.port}/0")()
    message = str(failed.value)
    assert f"127.0.0.1:{acl.port}" in message and "WRONGPASS" in message
    assert "wrong" not in message.replace("WRONGPASS", "") and PASSWORD not in message and ENCODED not in message


def test_no_credentials_against_an_acl_only_server_fails_as_noauth(acl: RedisServer) -> None:
    with pytest.raises(ConnectionError, match="NOAUTH"):
        redis_ping(f"redis://127.0.0.1:{acl.port}")()


def test_rediss_with_the_servers_ca_and_an_acl_user_passes(tls: RedisServer) -> None:
    assert tls.ca_file is not None
    context = ssl.create_default_context(cafile=str(tls.ca_file))
    redis_ping(f"rediss://app:{ENCODED}@localhost:{tls.port}/0", tls_context=context)()


def test_rediss_with_an_unknown_ca_fails_on_the_certificate(tls: RedisServer) -> None:
    with pytest.raises(ConnectionError, match="CERTIFICATE_VERIFY_FAILED") as failed:
        redis_ping(f"rediss://app:{ENCODED}@localhost:{tls.port}/0")()
    assert f"localhost:{tls.port}" in str(failed.value) and "TLS" in str(failed.value)


def test_plain_redis_against_a_tls_port_fails_instead_of_hanging(tls: RedisServer) -> None:
    with pytest.raises(ConnectionError):
        redis_ping(f"redis://app:{ENCODED}@127.0.0.1:{tls.port}/0", timeout=2)()


def test_a_frozen_redis_times_out_and_then_answers_again(plain: RedisServer) -> None:
    check = redis_ping(f"redis://127.0.0.1:{plain.port}", timeout=0.5)
    plain.hang()
    try:
        with pytest.raises(ConnectionError, match="timed out"):
            check()
    finally:
        plain.resume()
    check()


def test_not_a_redis_url_is_refused_when_the_check_is_built() -> None:
    with pytest.raises(ValueError, match="amqp:// is not a Redis URL"):
        redis_ping("amqp://guest:guest@localhost//")


def test_concurrent_beats_all_land_with_no_temporary_file_left(tmp_path: Path) -> None:
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=1)
    errors: list[BaseException] = []

    def beat_often() -> None:
        try:
            for _ in range(500):
                heartbeat._write(heartbeat.path, "1")  # the write every beat makes; raises on a shared name
        except BaseException as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=beat_often) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["heartbeat"]


GEVENT_PROGRAM = """
from gevent import monkey
monkey.patch_all()
import sys, time
sys.path.insert(0, sys.argv[1])
from workerguard_heartbeat import Heartbeat
from workerguard_heartbeat.native import patched_by
path = sys.argv[2]
heartbeat = Heartbeat(path, interval=0.2, stuck_after=None)
heartbeat.start()
first = open(path).read()
deadline = time.monotonic() + 3
while time.monotonic() < deadline:  # computes without yielding: every greenlet starves
    pass
print(patched_by(), first, open(path).read())
"""


@pytest.mark.parametrize("library", ["gevent", "eventlet"])
def test_under_gevent_or_eventlet_a_task_that_never_yields_does_not_stop_the_beat(tmp_path: Path, library: str) -> None:
    program = GEVENT_PROGRAM
    if library == "eventlet":
        program = program.replace("from gevent import monkey\nmonkey.patch_all()", "import eventlet\neventlet.monkey_patch()")
    result = subprocess.run(
        [sys.executable, "-c", program, str(SRC), str(tmp_path / "heartbeat")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    patched, first, last = result.stdout.split()
    assert patched == library
    assert int(last) >= int(first) + 2, "the beat stopped while the loop computed"
