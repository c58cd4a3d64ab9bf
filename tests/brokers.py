"""Real brokers, started by the tests: redis-server (plain, TLS with generated certificates, ACL users)
and RabbitMQ (Debian's rabbitmq-server). Each runs in a process group of its own, so that freezing it
(SIGSTOP, a hung broker) freezes every process it has."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.serverproc import free_port
from webhook.adapters.certs import dev_bundle

PASSWORD = "s3cr:et/@%"  # an ACL user's password with characters that must be URL-encoded
ENCODED = urllib.parse.quote(PASSWORD, safe="")
ACL_USER = f"user app on >{PASSWORD} ~* &* +@all"
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


@dataclass
class Broker:
    """A running broker: the URL a worker is given, and the env its image would carry (a CA bundle)."""

    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)

    def hang(self) -> None:
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        try:
            self.resume()
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(30)


@dataclass
class RedisServer(Broker):
    port: int = 0
    ca_file: Path | None = None

    def queued(self, queues: tuple[str, ...]) -> int:
        """Jobs waiting in these lists (a plain server's only: it speaks RESP without TLS or AUTH)."""
        total = 0
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
            for queue in queues:
                connection.sendall(f"LLEN {queue}\r\n".encode())
                total += int(connection.recv(64).strip()[1:])
        return total


def start_redis(workdir: Path, *, tls: bool = False, acl: str | None = None) -> RedisServer:
    """acl: lines of a Redis ACL file (`user app on >s3cret ~* +@all`); the default user is then off.
    The URL names user `app` with PASSWORD when acl is ACL_USER; over TLS its host is `localhost`, a
    name the generated certificate carries."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("redis-server is missing: make test installs it (Debian's redis-server)")
    port = free_port()
    args = ["redis-server", "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--dir", str(workdir)]
    ca_file = None
    if tls:
        bundle = dev_bundle()
        ca_file, cert, key = workdir / "ca.crt", workdir / "tls.crt", workdir / "tls.key"
        ca_file.write_bytes(bundle.ca_cert)
        cert.write_bytes(bundle.tls_cert)
        key.write_bytes(bundle.tls_key)
        args += ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
        args += ["--tls-ca-cert-file", str(ca_file), "--tls-auth-clients", "no"]
    else:
        args += ["--port", str(port)]
    if acl is not None:
        aclfile = workdir / "users.acl"
        aclfile.write_text(acl + "\nuser default off\n")
        args += ["--aclfile", str(aclfile)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    credentials = f"app:{ENCODED}@" if acl == ACL_USER else ""
    host = "localhost" if tls else "127.0.0.1"
    url = f"{'rediss' if tls else 'redis'}://{credentials}{host}:{port}/0"
    server = RedisServer(url, process, {"SSL_CERT_FILE": str(ca_file)} if ca_file else {}, port, ca_file)
    _wait(server, lambda: _listens(port), 20, "redis-server did not listen")
    return server


def start_rabbitmq(workdir: Path) -> Broker:
    """The server itself, not Debian's wrapper in /usr/sbin, which switches to the rabbitmq user and its env."""
    server = RABBITMQ_BIN / "rabbitmq-server"
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
    process = subprocess.Popen(
        [str(server)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    broker = Broker(f"amqp://guest:guest@127.0.0.1:{port}//", process)
    _wait(broker, lambda: _amqp_answers(port), 90, "rabbitmq-server did not answer AMQP")
    return broker


def _wait(broker: Broker, ready: Callable[[], bool], seconds: float, failure: str) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if broker.process.poll() is not None or time.monotonic() > deadline:
            broker.stop()
            raise RuntimeError(f"{failure} within {seconds} s (exit status {broker.process.returncode})")
        time.sleep(0.05)


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _amqp_answers(port: int) -> bool:
    """The broker answers an AMQP 0-9-1 protocol header with its Connection.Start frame (type 1)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
            connection.sendall(b"AMQP\x00\x00\x09\x01")
            return connection.recv(1) == b"\x01"
    except OSError:
        return False
