"""workerguard-probe, built from probe-server/ and run on a loopback port, for the tests and the bench."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
from pathlib import Path

from tests.serverproc import free_port, wait_until

ROOT = Path(__file__).parent.parent
SOURCE = ROOT / "probe-server"
BINARY = ROOT / "build" / "workerguard-probe"


def go_env() -> dict[str, str]:
    """As make test-workers builds Go: the module alone, never the network, a cache under build/."""
    return {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOCACHE": os.environ.get("GOCACHE", str(ROOT / "build" / "go-cache")),
    }


def build() -> Path:
    """Build the static binary into build/. Through a temporary name and a rename, so a copy another
    session is running is never overwritten in place."""
    go = shutil.which("go")
    assert go, "go is not installed: apt-get install golang-go (make test installs it)"
    BINARY.parent.mkdir(exist_ok=True)
    partial = BINARY.with_name(f"{BINARY.name}.{os.getpid()}.partial")
    built = subprocess.run(
        [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."],
        cwd=SOURCE,
        env=go_env(),
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    os.replace(partial, BINARY)
    return BINARY


def probe_argv(
    binary: Path, port: int, heartbeat: Path, heartbeat_format: str, readiness: int, liveness: tuple[int, int] | None
) -> list[str]:
    """liveness: (the age at which one run fails, liveness-max-age), or None for liveness off."""
    argv = [
        str(binary),
        f"--listen=127.0.0.1:{port}",
        f"--heartbeat={heartbeat}",
        f"--format={heartbeat_format}",
        f"--readiness-max-age={readiness}",
    ]
    if liveness is not None:
        argv += [f"--liveness-limit={liveness[0]}", f"--liveness-max-age={liveness[1]}"]
    return argv


class ProbeServer:
    """One workerguard-probe process; its stderr goes to log_path."""

    def __init__(
        self,
        binary: Path,
        heartbeat: Path,
        log_path: Path,
        heartbeat_format: str = "unix",
        readiness: int = 60,
        liveness: tuple[int, int] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """env: the server's whole environment (none by default: it needs none)."""
        self.port = free_port()
        self.env = env or {}
        self.log_path = log_path
        self.argv = probe_argv(binary, self.port, heartbeat, heartbeat_format, readiness, liveness)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ProbeServer:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=log, env=self.env)
        wait_until(lambda: self._alive() and self.get("/healthz")[0] == 200)
        return self

    def _alive(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"workerguard-probe exited {self.process.returncode}:\n{self.log()}")
        return True

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def get(self, path: str, method: str = "GET") -> tuple[int, str]:
        """Status and body over a connection of its own, as kubelet probes."""
        connection = self.connection()
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, response.read().decode(errors="surrogateescape")
        finally:
            connection.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def __enter__(self) -> ProbeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
