"""make soak: faults under load on loopback, each reported as figures. Bounded; stops by itself.

1. certificate rotation: 10 atomic swaps plus one corrupt pair during load
2. rolling restart: SIGTERM during load from keep-alive clients
3. rules file replaced by garbage, then by a good version, during load
4. 20 concurrent 10 MiB bodies, declared and chunked: all 413, resident memory growth
5. a body sent one byte a second: cut off by the body timeout
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from tests.pods import admission_review
from tests.serverproc import SecretVolume, Server, wait_until
from webhook.adapters.certs import DEV_SANS, make_bundle

BODY = json.dumps(admission_review()).encode()
HEADERS = {"content-type": "application/json"}


class Load:
    """Client threads posting AdmissionReviews until stopped; each outcome kept with its send time."""

    def __init__(self, server: Server, threads: int = 4, fresh_connections: bool = False) -> None:
        self.server, self.stop = server, threading.Event()
        self.outcomes: list[tuple[float, bool, str]] = []
        self.lock = threading.Lock()
        headers = {**HEADERS, **({"connection": "close"} if fresh_connections else {})}
        self.threads = [threading.Thread(target=self._run, args=(headers,), daemon=True) for _ in range(threads)]

    def _run(self, headers: dict[str, str]) -> None:
        with self.server.client() as client:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    answer = client.post("/mutate", content=BODY, headers=headers)
                    ok, why = answer.status_code == 200 and "patch" in answer.json()["response"], str(answer.status_code)
                except httpx.HTTPError as error:
                    ok, why = False, type(error).__name__
                with self.lock:
                    self.outcomes.append((sent, ok, why))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(20)

    def failed(self, before: float = float("inf")) -> list[str]:
        return [why for sent, ok, why in self.outcomes if not ok and sent < before]


def serial(server: Server, ca: Path) -> int:
    import ssl

    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return int(x509.load_der_x509_certificate(der).serial_number)


def rotation(work: Path) -> dict[str, Any]:
    bundles = [make_bundle("localhost", DEV_SANS) for _ in range(11)]
    trust = work / "trust.pem"
    trust.write_bytes(b"".join(b.ca_cert for b in bundles))
    volume = SecretVolume(work / "secret")
    volume.publish(bundles[0].tls_cert, bundles[0].tls_key)
    (volume.root / "ca.crt").write_bytes(bundles[0].ca_cert)
    server = Server(work, cert_dir=volume.root)
    server.ca = trust
    with server, Load(server, threads=4, fresh_connections=True) as load:
        for bundle in bundles[1:]:
            volume.publish(bundle.tls_cert, bundle.tls_key)
            wanted = x509.load_pem_x509_certificate(bundle.tls_cert).serial_number
            wait_until(lambda wanted=wanted: serial(server, trust) == wanted, timeout=10)
        volume.publish(b"-----BEGIN CERTIFICATE-----\nbroken\n", bundles[0].tls_key)
        time.sleep(1)  # several reload intervals under load with a corrupt pair on disk
        kept = serial(server, trust) == x509.load_pem_x509_certificate(bundles[-1].tls_cert).serial_number
    return {"swaps": 10, "requests": len(load.outcomes), "failed": len(load.failed()), "corrupt_pair_kept_old": kept}


def restart(work: Path) -> dict[str, Any]:
    server = Server(work, "--drain-seconds", "2")
    with server, server.client() as probe, Load(server, threads=4) as load:
        time.sleep(1)
        signalled = time.monotonic()
        server.terminate()
        flipped = wait_until(lambda: probe.get("/readyz").status_code == 503, timeout=5)
        readiness_flipped_after = time.monotonic() - signalled
        code = server.wait(30)
        exited_after = time.monotonic() - signalled
        load.stop.set()
    before = [o for o in load.outcomes if o[0] < signalled]
    during = [o for o in load.outcomes if signalled <= o[0] < signalled + 2]
    return {
        "requests_before_sigterm": len(before),
        "failed_before_sigterm": len(load.failed(signalled)),
        "requests_while_draining": len(during),
        "failed_while_draining": sum(1 for o in during if not o[1]),
        "readiness_503_after_s": round(readiness_flipped_after, 2) if flipped else None,
        "exit_code": code,
        "exited_after_s": round(exited_after, 2),
    }


def rules_reload(work: Path) -> dict[str, Any]:
    rules = work / "rules.yaml"
    rules.write_text("rules:\n  - name: all-sidekiq\n    set: {profile: sidekiq}\n")
    with Server(work, "--rules", str(rules)) as server, server.client() as client, Load(server, threads=3) as load:
        time.sleep(0.5)
        rules.write_text("rules: [ {name: Broken\n")
        wait_until(lambda: client.get("/readyz").json()["rules"]["error"])
        garbage_ready = client.get("/readyz").status_code
        time.sleep(0.5)
        rules.write_text("rules:\n  - name: all-celery\n    set: {profile: celery}\n")
        wait_until(lambda: client.get("/readyz").json()["rules"]["error"] is None)
        metrics = client.get("/metrics").text
    failed_reloads = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith('workerguard_rules_reloads_total{outcome="failed"}')
    )
    return {
        "requests": len(load.outcomes),
        "failed": len(load.failed()),
        "ready_with_garbage_on_disk": garbage_ready == 200,
        "failed_reloads_counted": failed_reloads,
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def big_body(server: Server, chunked: bool) -> str:
    """Send a 10 MiB body until the server answers; return the status line."""
    context = server.ssl_context()
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=20) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: 10485760\r\n"
        tls.sendall(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" + framing + b"\r\n")
        block = b"x" * 65536
        try:
            for _ in range(160):
                tls.sendall(b"10000\r\n" + block + b"\r\n" if chunked else block)
        except OSError:
            pass  # the server answered and closed: it need not read the rest
        try:
            return tls.recv(4096).split(b"\r\n", 1)[0].decode()
        except OSError as error:
            return f"no answer: {error}"


def big_bodies(work: Path) -> dict[str, Any]:
    """Each framing against a fresh server, growth measured from that server's own warm baseline."""
    results: dict[str, Any] = {}
    for chunked in (False, True):
        kind = "chunked" if chunked else "declared"
        with Server(work / kind) as server, server.client() as client:
            assert server.process is not None
            for _ in range(50):  # warm up the allocator and TLS on ordinary requests first
                client.post("/mutate", content=BODY, headers=HEADERS)
            before = rss_mib(server.process.pid)
            statuses: list[str] = []

            def send(server: Server = server, chunked: bool = chunked, statuses: list[str] = statuses) -> None:
                statuses.append(big_body(server, chunked))

            run_all([send] * 20)
            results[f"{kind}_413"] = sum(status.startswith("HTTP/1.1 413") for status in statuses)
            results[f"{kind}_rss_growth_mib"] = round(rss_mib(server.process.pid) - before, 1)
    return results


def run_all(tasks: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=task) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)


def slow_body(work: Path) -> dict[str, Any]:
    with Server(work, "--body-timeout", "3") as server:
        context = server.ssl_context()
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=20) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n")
            started, answer = time.monotonic(), b""
            tls.settimeout(1.1)
            for _ in range(20):
                try:
                    tls.sendall(b"{")
                    answer = tls.recv(4096)
                    if answer:
                        break
                except TimeoutError:
                    continue
                except OSError:
                    break
    return {"status": answer.split(b"\r\n", 1)[0].decode(), "cut_off_after_s": round(time.monotonic() - started, 1)}


def main() -> int:
    figures: dict[str, dict[str, Any]] = {}
    for name, scenario in [
        ("rotation", rotation),
        ("restart", restart),
        ("rules", rules_reload),
        ("big_bodies", big_bodies),
        ("slow_body", slow_body),
    ]:
        with tempfile.TemporaryDirectory(prefix=f"wg-soak-{name}-") as work:
            figures[name] = scenario(Path(work))
        print(f"soak {name}: " + " ".join(f"{k}={v}" for k, v in figures[name].items()), flush=True)
    healthy = (
        figures["rotation"]["failed"] == 0
        and figures["rotation"]["corrupt_pair_kept_old"]
        and figures["restart"]["failed_before_sigterm"] == 0
        and figures["restart"]["failed_while_draining"] == 0
        and figures["restart"]["exit_code"] == 0
        and figures["rules"]["failed"] == 0
        and figures["big_bodies"]["declared_413"] == 20
        and figures["big_bodies"]["chunked_413"] == 20
        and figures["slow_body"]["status"].startswith("HTTP/1.1 408")
    )
    return 0 if healthy else 1


if __name__ == "__main__":
    raise SystemExit(main())
