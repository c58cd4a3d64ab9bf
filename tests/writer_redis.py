"""Real redis-server processes for the writers' checks: plain, TLS (generated certificates) and ACL users."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.workers.harness import free_port
from webhook.certs import dev_bundle


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    ca_file: Path | None = None

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(10)


def start(workdir: Path, *, tls: bool = False, acl: str | None = None) -> RedisServer:
    """acl: lines of a Redis ACL file (`user app on >s3cret ~* +@all`); the default user is then off."""
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
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return RedisServer(port, process, ca_file)
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited {process.returncode}: {' '.join(args)}") from None
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not listen within 20 s")
