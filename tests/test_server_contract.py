"""The real server over real TLS: the AdmissionReview contract, bad input, limits, TLS versions, metrics."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonpatch
import pytest
import yaml

from tests.conftest import make_pod, validate, workload_of, WORKLOADS
from tests.serverproc import no_server_error, review, Server, wait_until, workload_review

GOLDEN = Path(__file__).parent / "golden"
LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # A bug in answering is a 500 that the server counts and logs with its traceback: checked around the
    # whole module, so it covers every test whatever order they ran in.
    with (
        Server(tmp_path_factory.mktemp("contract"), "--max-body-bytes", str(LIMIT), "--body-timeout", "1") as running,
        no_server_error(running),
    ):
        yield running


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def mutate(client: httpx.Client, body: object) -> httpx.Response:
    return client.post("/mutate", content=json.dumps(body), headers={"content-type": "application/json"})


def test_an_opted_in_pod_gets_a_patch_that_applies_and_validates(client: httpx.Client) -> None:
    pod = make_pod({"workerguard.io/profile": "sidekiq"}, namespace=None)
    answer = mutate(client, review(pod, uid="e2e-1"))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["apiVersion"], body["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    response = body["response"]
    assert response["uid"] == "e2e-1" and response["allowed"] is True and response["patchType"] == "JSONPatch"
    assert set(response) == {"uid", "allowed", "patchType", "patch"}
    patched = jsonpatch.apply_patch(pod, json.loads(base64.b64decode(response["patch"])))
    validate(patched)
    again = mutate(client, review(patched, uid="e2e-2")).json()["response"]
    assert again == {"uid": "e2e-2", "allowed": True}


@pytest.fixture(scope="module")
def golden_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server with the rules every golden case was planned with, as the ConfigMap would give them."""
    with Server(tmp_path_factory.mktemp("golden"), "--rules", str(GOLDEN / "rules.yaml")) as running, running.client() as client:
        yield client


GOLDEN_CASES = sorted(path.stem for path in GOLDEN.glob("*.yaml") if path.name != "rules.yaml")


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_objects_through_the_server_match_the_golden_files(golden_client: httpx.Client, case: str) -> None:
    """Pods through /mutate give the golden object itself; workloads through /validate give its warnings
    and its denial. Either way with every warning the golden file lists, in its order."""
    obj = yaml.safe_load((GOLDEN / f"{case}.yaml").read_text())
    golden_text = (GOLDEN / f"{case}.yaml.injected").read_text()
    expected = yaml.safe_load(golden_text)
    warnings = [
        f"workerguard {code}: {message}" for code, message in re.findall(r"^# warning \((\w+)\): (.*)$", golden_text, re.M)
    ]
    if obj["kind"] == "Pod":
        response = mutate(golden_client, review(obj, namespace=obj["metadata"]["namespace"])).json()["response"]
        patch = json.loads(base64.b64decode(response["patch"])) if "patch" in response else []
        assert jsonpatch.apply_patch(obj, patch) == expected
    else:
        body = workload_review(obj, namespace=obj["metadata"]["namespace"])
        response = golden_client.post("/validate", json=body).json()["response"]
    assert response["allowed"] is ("# error:" not in golden_text)
    assert response.get("warnings", []) == [text if len(text) <= 120 else text[:117] + "..." for text in warnings]


def test_warnings_and_denials_have_their_fields(client: httpx.Client) -> None:
    warned = mutate(client, review(make_pod({"workerguard.io/probe-period": "3s"}, namespace=None))).json()["response"]
    assert warned["warnings"] == [
        "workerguard probe_runs_costly: 21 exec probe runs a minute, 25-46ms of node CPU each; raise probe-period or use http"
    ]
    denied = mutate(client, review(make_pod({"workerguard.io/readiness-max-age": "abc"}, namespace=None))).json()["response"]
    assert denied["allowed"] is False and "patch" not in denied
    assert denied["status"] == {
        "code": 400,
        "message": "workerguard: metadata.annotations[workerguard.io/readiness-max-age]: 'abc' is not a duration like 60s or 2m",
    }


@pytest.mark.parametrize("operation", ["UPDATE", "DELETE", "CONNECT"])
def test_only_create_mutates(client: httpx.Client, operation: str) -> None:
    response = mutate(client, review(make_pod(), uid="op", operation=operation)).json()["response"]
    assert response == {"uid": "op", "allowed": True}


def test_dry_run_requests_are_answered_like_real_ones(client: httpx.Client) -> None:
    body = review(make_pod(namespace=None), uid="dry")
    real = mutate(client, body).json()
    body["request"]["dryRun"] = True
    assert mutate(client, body).json() == real


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "the body is not a JSON object"),
        (json.dumps({"apiVersion": "v1", "kind": "Pod"}).encode(), "expected apiVersion admission.k8s.io/v1"),
        (json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(), "request is missing"),
        (
            json.dumps(
                {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"operation": "CREATE"}}
            ).encode(),
            "request.uid is missing",
        ),
        (json.dumps(review("a pod")).encode(), "request.object is not an object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
def test_malformed_requests_get_400_with_a_reason(client: httpx.Client, content: bytes, fragment: str) -> None:
    answer = client.post("/mutate", content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]


def test_a_declared_oversized_body_gets_413_before_it_is_sent(server: Server) -> None:
    """Headers promise 10 MiB, then nothing is sent: the answer must come without waiting for the body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        with server.ssl_context().wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(
                b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n"
            )
            started = time.monotonic()
            head = tls.recv(4096)
            assert head.startswith(b"HTTP/1.1 413 "), head
            assert b"connection: close" in head.lower()
            assert time.monotonic() - started < 2


def test_a_chunked_body_over_the_limit_gets_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(LIMIT // 4096 + 2):
            yield b" " * 4096

    answer = client.post("/mutate", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert answer.json() == {"error": f"the body is larger than {LIMIT} bytes"}


def test_a_body_that_trickles_in_is_cut_off(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        with server.ssl_context().wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{")
            started = time.monotonic()
            tls.settimeout(5)
            head = tls.recv(4096)
            assert head.startswith(b"HTTP/1.1 408 "), head
            assert 0.8 < time.monotonic() - started < 4


def _client_context(ca: Path, version: ssl.TLSVersion) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client really offer the old protocol
    context.minimum_version = context.maximum_version = version
    return context


def _handshake(port: int, context: ssl.SSLContext) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return str(tls.version())


def _permissive_tls_server(cert_dir: Path) -> int:
    """A stdlib TLS server that still speaks TLS 1.0/1.1: the control that shows our client can."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
    listener = socket.create_server(("127.0.0.1", 0))

    def accept_one() -> None:
        connection, _ = listener.accept()
        with contextlib.suppress(OSError), context.wrap_socket(connection, server_side=True) as tls:
            tls.recv(1)
        listener.close()

    threading.Thread(target=accept_one, daemon=True).start()
    return int(listener.getsockname()[1])


def test_tls_1_2_and_1_3_are_served(server: Server) -> None:
    assert _handshake(server.port, _client_context(server.ca, ssl.TLSVersion.TLSv1_3)) == "TLSv1.3"
    assert _handshake(server.port, _client_context(server.ca, ssl.TLSVersion.TLSv1_2)) == "TLSv1.2"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1], ids=["TLSv1.1", "TLSv1.0"])
def test_tls_below_1_2_is_refused_by_the_server(server: Server, version: ssl.TLSVersion) -> None:
    control_port = _permissive_tls_server(server.ca.parent)
    assert _handshake(control_port, _client_context(server.ca, version)) == version.name.replace("_", ".").replace(
        "TLSv1.0", "TLSv1"
    )
    with pytest.raises(ssl.SSLError):
        _handshake(server.port, _client_context(server.ca, version))


def test_plaintext_http_on_the_tls_port_gets_no_http_answer(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            reply = raw.recv(4096)
        except ConnectionResetError:
            reply = b""
    assert not reply.startswith(b"HTTP/")


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    detail = ready.json()
    assert detail["ready"] is True and detail["draining"] is False
    assert detail["rules"] == {"loaded": True, "path": None, "error": None}
    assert detail["certificate"]["error"] is None


def test_preview_endpoint_takes_yaml_or_json_and_answers_like_the_cli(client: httpx.Client) -> None:
    text = (GOLDEN / "sidekiq-deployment.yaml").read_text()
    answer = client.post("/preview", content=text, headers={"content-type": "application/yaml"})
    assert answer.status_code == 200
    result = answer.json()
    assert list(result) == ["name", "allowed", "patch", "object", "explanations", "skip", "warnings", "notes", "errors"]
    assert all(op["path"].startswith("/spec/template/") for op in result["patch"])
    both = client.post("/preview", content=json.dumps([make_pod(), make_pod()]), headers={"content-type": "application/json"})
    assert isinstance(both.json(), list) and len(both.json()) == 2
    bad = client.post("/preview", content="a: &x 1\nb: *x\n", headers={"content-type": "application/yaml"})
    assert bad.status_code == 400 and "aliases" in bad.json()["error"]


def test_preview_is_bounded_like_mutate(client: httpx.Client) -> None:
    answer = client.post("/preview", content=b"#" * (LIMIT + 1), headers={"content-type": "application/yaml"})
    assert answer.status_code == 413


def metric_samples(client: httpx.Client) -> dict[str, float]:
    text = client.get("/metrics").text
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line and not line.startswith("#")
    }


def test_metrics_count_what_happened(client: httpx.Client) -> None:
    # The server is the module's: what this test sends is told apart from what the others sent by difference.
    before = metric_samples(client)
    mutate(client, review(make_pod({"workerguard.io/profile": "celery"}, namespace=None)))
    mutate(client, review(make_pod(labels={"workerguard.io/inject": "false"})))
    mutate(client, review(make_pod({"workerguard.io/readiness-max-age": "abc"}, namespace=None)))
    client.post("/mutate", content=b"{", headers={"content-type": "application/json"})
    samples = metric_samples(client)
    counted = {name: value - before.get(name, 0.0) for name, value in samples.items()}
    assert counted['workerguard_injections_total{profile="celery"}'] == 1
    assert counted['workerguard_skips_total{reason="not_opted_in"}'] == 1
    assert counted['workerguard_rejected_requests_total{reason="bad_request"}'] == 1
    assert counted['workerguard_admission_requests_total{decision="patched",operation="CREATE",webhook="mutate"}'] == 1
    assert counted['workerguard_admission_requests_total{decision="denied",operation="CREATE",webhook="mutate"}'] == 1
    assert counted['workerguard_validation_failures_total{action="denied"}'] == 1
    assert samples["workerguard_certificate_expiry_timestamp_seconds"] > time.time()
    for bucket in ("0.005", "0.025", "0.1"):
        assert f'workerguard_request_duration_seconds_bucket{{endpoint="mutate",le="{bucket}"}}' in samples
    assert samples['workerguard_rules_reloads_total{outcome="unchanged"}'] >= 1


def test_one_json_log_line_per_admission_written_within_a_second(server: Server, client: httpx.Client) -> None:
    mutate(client, review(make_pod(namespace=None), uid="log-me"))
    answered = time.monotonic()

    def logged() -> list[dict[str, object]]:
        return [json.loads(line) for line in server.log().splitlines() if '"log-me"' in line]

    lines = wait_until(logged, timeout=5)
    assert time.monotonic() - answered < 1.0  # lines are batched, flushed every quarter second
    time.sleep(0.3)
    assert len(logged()) == 1
    line = lines[0]
    assert {k: line[k] for k in ("uid", "namespace", "pod", "operation", "decision")} == {
        "uid": "log-me",
        "namespace": "jobs",
        "pod": "worker-1",
        "operation": "CREATE",
        "decision": "patched",
    }
    assert isinstance(line["duration_ms"], float) and line["reasons"] == []


# --- /validate: workloads --------------------------------------------------------------------------


def _workload(kind: str, annotations: dict[str, str], **container: object) -> dict[str, object]:
    return workload_of(kind, make_pod(annotations, **container))


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
@pytest.mark.parametrize("kind", list(WORKLOADS))
def test_validate_answers_a_workload_with_its_pods_warnings(client: httpx.Client, kind: str, operation: str) -> None:
    obj = _workload(kind, {"workerguard.io/profile": "sidekiq"}, command=["sh", "-c", "bundle exec sidekiq -t 25"])
    answer = client.post("/validate", json=workload_review(obj, f"validate-{kind}-{operation}", operation))
    assert answer.status_code == 200
    response = answer.json()["response"]
    preview = client.post("/preview", json=obj).json()
    assert response["uid"] == f"validate-{kind}-{operation}"
    assert response["allowed"] is True and "patch" not in response and "patchType" not in response
    assert response["warnings"] == [f"workerguard {w['code']}: {w['message']}" for w in preview["warnings"]]
    assert any("shell_wrapped_command" in warning for warning in response["warnings"])


@pytest.mark.parametrize("operation", ["CREATE", "UPDATE"])
@pytest.mark.parametrize("kind", list(WORKLOADS))
def test_validate_denies_what_the_pods_would_be_denied_for_naming_the_annotation(
    client: httpx.Client, kind: str, operation: str
) -> None:
    obj = _workload(kind, {"workerguard.io/shutdown-timout": "10m"})
    response = client.post("/validate", json=workload_review(obj, operation=operation)).json()["response"]
    assert response["allowed"] is False and response["status"]["code"] == 400
    assert "annotations[workerguard.io/shutdown-timout]" in response["status"]["message"]
    assert "did you mean workerguard.io/shutdown-timeout?" in response["status"]["message"]


@pytest.mark.parametrize(
    ("operation", "sub_resource"), [("UPDATE", "scale"), ("UPDATE", "status"), ("DELETE", None), ("CONNECT", None)]
)
def test_validate_never_refuses_scaling_status_or_other_operations(
    client: httpx.Client, operation: str, sub_resource: str | None
) -> None:
    obj = _workload("Deployment", {"workerguard.io/shutdown-timout": "10m"})
    response = client.post(
        "/validate", json=workload_review(obj, f"validate-Deployment-{operation}", operation, sub_resource)
    ).json()["response"]
    assert response == {"uid": f"validate-Deployment-{operation}", "allowed": True}


def test_validate_answers_a_server_dry_run_like_a_real_apply(client: httpx.Client) -> None:
    obj = _workload("Deployment", {"workerguard.io/readiness-max-age": "abc"})
    real = client.post("/validate", json=workload_review(obj)).json()["response"]
    body = workload_review(obj)
    request = body["request"]
    assert isinstance(request, dict)
    request["dryRun"] = True
    dry = client.post("/validate", json=body).json()["response"]
    assert dry == real and real["allowed"] is False


def test_validate_leaves_pods_to_mutate(client: httpx.Client) -> None:
    body = review(make_pod({"workerguard.io/shutdown-timout": "10m"}))
    assert client.post("/validate", json=body).json()["response"] == {"uid": "uid-1", "allowed": True}


def test_refusals_are_4xx_and_no_request_produced_a_5xx_or_a_traceback(server: Server, client: httpx.Client) -> None:
    """Refusals of its own, so that it means something alone or in any order; the server fixture checks the
    same around the whole module."""
    with no_server_error(server):
        refused = [
            mutate(client, "not a review"),
            client.post("/mutate", content=b"{", headers={"content-type": "application/json"}),
            client.post("/mutate", content=b" " * (LIMIT + 1), headers={"content-type": "application/json"}),
            client.post("/preview", content=b"a: &x 1\nb: *x\n", headers={"content-type": "application/yaml"}),
        ]
    assert [answer.status_code for answer in refused] == [400, 400, 413, 400]
