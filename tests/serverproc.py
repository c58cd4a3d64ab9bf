"""Start the real webhook (a subprocess, real TLS, an ephemeral loopback port) and talk to it over HTTPS."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

from webhook.adapters.certs import DEV_SANS, make_bundle
from webhook.core import reasons

T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll until check() returns something truthy; the tests never sleep where they can poll."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, httpx.HTTPError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


def settle_in_a_second() -> None:
    """Wait until well inside the first half of a wall-clock second. Heartbeat ages are whole seconds, so
    a test that writes a beat and reads its age wants no tick in between; and in the first milliseconds
    of a second busybox's date, on the kernel's coarse clock, still says the second before."""
    wait_until(lambda: 0.05 <= time.time() % 1 < 0.5, interval=0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_pair(directory: Path, name: str = "tls") -> tuple[Path, Path, Path]:
    bundle = make_bundle("localhost", DEV_SANS)
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "ca.crt", directory / f"{name}.crt", directory / f"{name}.key"
    for path, data in zip(paths, (bundle.ca_cert, bundle.tls_cert, bundle.tls_key), strict=True):
        path.write_bytes(data)
    return paths


def serve_argv(port: int, cert: Path, key: Path, *args: str) -> list[str]:
    """`workerguard serve` on loopback with the given pair, as the tests and benchmarks start it."""
    return [
        sys.executable,
        "-m",
        "webhook",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        *args,
    ]


class Server:
    def __init__(self, workdir: Path, *args: str, cert_dir: Path | None = None, write_certs: bool = True) -> None:
        self.workdir = workdir
        self.port = free_port()
        cert_dir = cert_dir or workdir / "certs"
        if write_certs and not (cert_dir / "tls.crt").exists():
            write_pair(cert_dir)
        self.ca = cert_dir / "ca.crt"
        self.log_path = workdir / f"server-{self.port}.log"
        self.argv = serve_argv(
            self.port,
            cert_dir / "tls.crt",
            cert_dir / "tls.key",
            "--reload-interval",
            "0.2",
            "--drain-seconds",
            "1",
            "--log-format",
            "json",
            *args,
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ssl_context(), timeout=10, **kwargs)

    def start(self) -> Server:
        log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir)

        def healthy() -> bool:
            self._alive()
            with self.client() as client:  # built each time: the server may be generating its CA
                return client.get("/healthz").status_code == 200

        wait_until(healthy, timeout=20)
        return self

    def _alive(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"server exited {self.process.returncode}:\n{self.log()}")
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 20) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# The refusals answered with a 5xx; a bug in answering is one of them (internal_error, a 500).
SERVER_ERRORS = frozenset(reason.code for reason in reasons.ALL if reason.kind == "refusal" and (reason.status or 0) >= 500)
_REFUSALS = re.compile(r'workerguard_rejected_requests_total\{reason="(\w+)"\} (\S+)')


def answered_with_a_5xx(server: Server) -> dict[str, float]:
    """The 5xx answers the server has counted so far, by refusal code."""
    with server.client() as client:
        text = client.get("/metrics").text
    counted = {match[1]: float(match[2]) for line in text.splitlines() if (match := _REFUSALS.fullmatch(line))}
    # Every code's series exists from the start: a renamed metric or label fails here instead of passing unseen.
    assert SERVER_ERRORS <= set(counted), sorted(counted)
    return {code: counted[code] for code in SERVER_ERRORS if counted[code]}


@contextlib.contextmanager
def no_server_error(server: Server) -> Iterator[None]:
    """No 5xx counted and no traceback logged while the block ran: uvicorn's own 500, for an error outside
    our handlers, is only logged. A difference, so that what ran before cannot pass or fail the block."""
    counted, tracebacks = answered_with_a_5xx(server), server.log().count("Traceback")
    yield
    now = answered_with_a_5xx(server)
    assert now == counted, f"5xx answers by refusal code: {now}, before the block: {counted}\n{server.log()}"
    now_tracebacks = server.log().count("Traceback")
    assert now_tracebacks == tracebacks, f"tracebacks logged: {now_tracebacks}, before the block: {tracebacks}\n{server.log()}"


class SecretVolume:
    """A directory laid out like a mounted Secret: files are links through ..data, swapped atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generation = 0
        root.mkdir(parents=True, exist_ok=True)

    def publish(self, cert: bytes, key: bytes) -> None:
        self.generation += 1
        version = self.root / f"..{self.generation}"
        version.mkdir()
        (version / "tls.crt").write_bytes(cert)
        (version / "tls.key").write_bytes(key)
        link = self.root / "..data_tmp"
        link.symlink_to(version.name)
        os.replace(link, self.root / "..data")
        for name in ("tls.crt", "tls.key"):
            if not (self.root / name).is_symlink():
                (self.root / name).symlink_to(f"..data/{name}")


def review(obj: dict[str, Any], uid: str = "uid-1", operation: str = "CREATE", namespace: str = "jobs") -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "operation": operation,
            "namespace": namespace,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "object": obj,
        },
    }


def workload_review(
    obj: dict[str, Any], uid: str = "uid-1", operation: str = "CREATE", sub_resource: str | None = None, namespace: str = "jobs"
) -> dict[str, Any]:
    """review() for a workload (a Deployment, a CronJob...): its group and version from its apiVersion."""
    kind = obj["kind"]
    group, _, version = obj["apiVersion"].rpartition("/")
    request: dict[str, Any] = {
        "uid": uid,
        "operation": operation,
        "namespace": namespace,
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": kind.lower() + "s"},
        "object": obj,
    }
    if sub_resource:
        request["subResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
