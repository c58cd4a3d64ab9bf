"""The real server's life: certificate rotation under load, rules reload, and SIGTERM draining."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from pathlib import Path

import httpx
from cryptography import x509

from tests.conftest import make_pod
from tests.serverproc import review, SecretVolume, Server, wait_until
from webhook.adapters.certs import CertBundle, DEV_SANS, make_bundle


def serial_seen(server: Server, context: ssl.SSLContext) -> int:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return int(x509.load_der_x509_certificate(der).serial_number)


def serial_of(bundle: CertBundle) -> int:
    return int(x509.load_pem_x509_certificate(bundle.tls_cert).serial_number)


def metric(client: httpx.Client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_certificate_rotation_under_load_fails_no_request(tmp_path: Path) -> None:
    bundles = [make_bundle("localhost", DEV_SANS) for _ in range(11)]
    trust = tmp_path / "trust.pem"
    trust.write_bytes(b"".join(bundle.ca_cert for bundle in bundles))  # a caBundle carrying old and new CAs
    volume = SecretVolume(tmp_path / "secret")
    volume.publish(bundles[0].tls_cert, bundles[0].tls_key)
    (volume.root / "ca.crt").write_bytes(bundles[0].ca_cert)
    server = Server(tmp_path, cert_dir=volume.root)
    server.ca = trust
    body = json.dumps(review(make_pod(namespace=None)))
    stop = threading.Event()
    sent, failures = [0], []

    def load(new_connection_each_time: bool) -> None:
        headers = {"content-type": "application/json", **({"connection": "close"} if new_connection_each_time else {})}
        with server.client() as client:
            while not stop.is_set():
                try:
                    answer = client.post("/mutate", content=body, headers=headers)
                    if answer.status_code != 200 or "patch" not in answer.json()["response"]:
                        failures.append(f"status {answer.status_code}")
                except httpx.HTTPError as error:
                    failures.append(repr(error))
                sent[0] += 1

    with server:
        context = server.ssl_context()
        assert serial_seen(server, context) == serial_of(bundles[0])
        threads = [threading.Thread(target=load, args=(fresh,)) for fresh in (True, True, False)]
        for thread in threads:
            thread.start()
        try:
            for bundle in bundles[1:]:
                volume.publish(bundle.tls_cert, bundle.tls_key)
                wait_until(lambda bundle=bundle: serial_seen(server, context) == serial_of(bundle), timeout=10)
        finally:
            stop.set()
            for thread in threads:
                thread.join(20)
        with server.client() as client:
            assert metric(client, 'workerguard_certificate_reloads_total{outcome="reloaded"}') == 10
    assert sent[0] > 50, sent
    assert failures == []


def test_a_broken_or_mismatched_new_pair_keeps_the_old_one(tmp_path: Path) -> None:
    good, other = make_bundle("localhost", DEV_SANS), make_bundle("localhost", DEV_SANS)
    volume = SecretVolume(tmp_path / "secret")
    volume.publish(good.tls_cert, good.tls_key)
    (volume.root / "ca.crt").write_bytes(good.ca_cert)
    with Server(tmp_path, cert_dir=volume.root) as server, server.client() as client:
        context = server.ssl_context()
        for cert, key in [(b"-----BEGIN CERTIFICATE-----\ngarbage\n", good.tls_key), (good.tls_cert, other.tls_key)]:
            before = metric(client, 'workerguard_certificate_reloads_total{outcome="failed"}')
            volume.publish(cert, key)
            wait_until(lambda before=before: metric(client, 'workerguard_certificate_reloads_total{outcome="failed"}') > before)
            assert serial_seen(server, context) == serial_of(good)
            assert client.get("/readyz").json()["certificate"]["error"].startswith("kept the previous certificate")
        volume.publish(other.tls_cert, other.tls_key)
        wait_until(lambda: client.get("/readyz").json()["certificate"]["error"] is None)
    assert "cert_reload_failed" in server.log()


RULES_SIDEKIQ = "rules:\n  - name: jobs-are-sidekiq\n    match: {namespaces: [jobs]}\n    set: {profile: sidekiq}\n"
RULES_CELERY = "rules:\n  - name: jobs-are-celery\n    match: {namespaces: [jobs]}\n    set: {profile: celery}\n"


def profile_used(client: httpx.Client) -> str:
    response = client.post("/preview", content=json.dumps(make_pod()), headers={"content-type": "application/json"}).json()
    status = json.loads(response["object"]["metadata"]["annotations"]["workerguard.io/status"])
    return str(status["profile"])


def test_rules_reload_keeps_the_last_good_rules_through_a_bad_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_SIDEKIQ)
    with Server(tmp_path, "--rules", str(rules)) as server, server.client() as client:
        assert profile_used(client) == "sidekiq"
        rules.write_text("rules: [{name: Not A Name}]\n")
        wait_until(lambda: client.get("/readyz").json()["rules"]["error"])
        ready = client.get("/readyz")
        assert ready.status_code == 200  # still serving the last good rules
        assert "every rule needs a name" in ready.json()["rules"]["error"]
        assert metric(client, 'workerguard_rules_reloads_total{outcome="failed"}') >= 1
        assert profile_used(client) == "sidekiq"
        rules.write_text(RULES_CELERY)
        wait_until(lambda: profile_used(client) == "celery")
        assert client.get("/readyz").json()["rules"]["error"] is None
    assert "rules_reload_failed" in server.log()


def test_a_bad_rules_file_at_startup_stops_the_server(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: 7\n")
    server = Server(tmp_path, "--rules", str(rules))
    server.process = __import__("subprocess").Popen(server.argv, stdout=open(server.log_path, "wb"), stderr=-2)
    assert server.wait(20) == 1
    assert "rules: must be a list of rules" in server.log()


def read_until_closed(tls: ssl.SSLSocket) -> str:
    chunks = []
    while chunk := tls.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def read_head(tls: ssl.SSLSocket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = tls.recv(1)
        assert chunk, head
        head += chunk
    return head


def test_sigterm_drains_finishes_in_flight_requests_and_exits_0(tmp_path: Path) -> None:
    body = json.dumps(review(make_pod(namespace=None), uid="in-flight")).encode()
    with Server(tmp_path, "--drain-seconds", "2") as server, server.client() as client:
        assert client.get("/readyz").status_code == 200
        idle = server.ssl_context().wrap_socket(socket.create_connection(("127.0.0.1", server.port)), server_hostname="localhost")
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert idle.recv(4096).startswith(b"HTTP/1.1 200")  # now an idle keep-alive TLS connection
        slow = server.ssl_context().wrap_socket(socket.create_connection(("127.0.0.1", server.port)), server_hostname="localhost")
        slow.settimeout(10)
        slow.sendall(
            b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        # uvicorn sends 100 Continue when the handler first asks for the body: from here on the request is
        # in flight, whichever process the scheduler runs next. Without this the signal could overtake the
        # request, which then came in during the drain rather than before it.
        assert read_head(slow) == b"HTTP/1.1 100 Continue\r\n\r\n"
        slow.sendall(body[:100])
        signalled = time.monotonic()
        server.terminate()
        draining = wait_until(lambda: (r := client.get("/readyz")).status_code == 503 and r)
        assert draining.json()["draining"] is True
        assert draining.headers["connection"] == "close"
        assert client.get("/healthz").status_code == 200  # still answering while draining
        slow.sendall(body[100:])
        reply = read_until_closed(slow)
        assert reply.startswith("HTTP/1.1 200") and '"uid":"in-flight"' in reply and '"patch"' in reply, (reply, server.log())
        # Answered while draining: it too must tell the client not to reuse the connection, although the
        # request came in before the drain began.
        assert "\r\nconnection: close\r\n" in reply.lower(), reply
        assert server.wait(20) == 0, server.log()
        elapsed = time.monotonic() - signalled
        idle.close()
        slow.close()
    assert 2 <= elapsed < 2 + 8, (elapsed, server.log())
    assert "drain_started" in server.log() and "Traceback" not in server.log()


def test_two_worker_processes_serve_and_stop_together(tmp_path: Path) -> None:
    with Server(tmp_path, "--workers", "2", "--drain-seconds", "0.5") as server, server.client() as client:
        answers = [
            client.post("/mutate", json=review(make_pod(namespace=None)), headers={"connection": "close"}) for _ in range(10)
        ]
        assert {answer.status_code for answer in answers} == {200}
        server.terminate()
        assert server.wait(20) == 0
