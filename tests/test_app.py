"""The HTTP pipeline in process, through httpx.ASGITransport: no TLS and no sockets, so each test can
look inside the runtime it answered with. The real server over TLS is tested in test_server_*.py."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest

from tests.conftest import make_pod
from tests.serverproc import review
from webhook.core.review import Verdict
from webhook.core.rules import RuleSet
from webhook.core.wire import AdmissionRequest
from webhook.server.app import ANSWER_SLICE_BYTES
from webhook.server.bootstrap import build_app, build_runtime
from webhook.server.config import ServeConfig
from webhook.server.runtime import Runtime

T = TypeVar("T")


def run(runtime: Runtime, talk: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    async def main() -> T:
        transport = httpx.ASGITransport(app=build_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://workerguard") as client:
            return await talk(client)

    return asyncio.run(main())


def sample(runtime: Runtime, name: str, **labels: str) -> float:
    """A metric as the next scrape would show it: the ledger settled first, as /metrics does."""
    runtime.ledger.settle()
    value = runtime.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
def runtime() -> Runtime:
    return build_runtime(ServeConfig(preview="off"), None)


def test_mutate_answers_patches_and_counts_one_admission(runtime: Runtime) -> None:
    answer = run(runtime, lambda client: client.post("/mutate", json=review(make_pod(), uid="in-process")))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    response = answer.json()["response"]
    assert response["uid"] == "in-process" and response["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(response["patch"]))
    labels = {"webhook": "mutate", "operation": "CREATE", "decision": "patched"}
    assert sample(runtime, "workerguard_admission_requests_total", **labels) == 1
    assert sample(runtime, "workerguard_request_duration_seconds_count", endpoint="mutate") == 1


def test_a_scrape_counts_every_answer_already_given(runtime: Runtime) -> None:
    """No tick runs here (ASGITransport starts no lifespan): only the scrape's own settling can count them."""

    async def three_then_scrape(client: httpx.AsyncClient) -> str:
        for uid in ("a", "b", "c"):
            await client.post("/mutate", json=review(make_pod(), uid=uid))
        return (await client.get("/metrics")).text

    scraped = run(runtime, three_then_scrape)
    assert 'workerguard_admission_requests_total{decision="patched",operation="CREATE",webhook="mutate"} 3.0' in scraped
    assert 'workerguard_injections_total{profile="generic"} 3.0' in scraped


def test_the_second_replica_is_answered_from_the_memo(runtime: Runtime) -> None:
    async def twice(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [await client.post("/mutate", json=review(make_pod(), uid=uid)) for uid in ("a", "b")]

    first, second = run(runtime, twice)
    assert (runtime.memo.hits, runtime.memo.misses) == (1, 1)
    assert first.json()["response"] | {"uid": "b"} == second.json()["response"]


def test_a_body_that_is_not_a_review_is_refused_with_its_code(runtime: Runtime) -> None:
    answer = run(runtime, lambda client: client.post("/mutate", content=b"{"))
    assert answer.status_code == 400 and answer.json()["error"].startswith("not valid JSON")
    assert sample(runtime, "workerguard_rejected_requests_total", reason="bad_request") == 1
    assert sample(runtime, "workerguard_admission_requests_total", webhook="mutate", operation="CREATE", decision="patched") == 0


def test_a_bug_is_a_counted_logged_500_that_closes_the_connection(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: AdmissionRequest, rules: RuleSet) -> Verdict:
        raise RuntimeError("a bug in planning")

    runtime.memo.mutation_verdict = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="workerguard.server"):
        answer = run(runtime, lambda client: client.post("/mutate", json=review(make_pod())))
    assert (answer.status_code, answer.json(), answer.headers["connection"]) == (500, {"error": "internal error"}, "close")
    assert sample(runtime, "workerguard_rejected_requests_total", reason="internal_error") == 1
    assert "a bug in planning" in caplog.text  # the traceback is in the log


def test_while_draining_every_answer_closes_the_connection(runtime: Runtime) -> None:
    runtime.begin_drain()

    async def each(client: httpx.AsyncClient) -> list[httpx.Response]:
        return [
            await client.post("/mutate", json=review(make_pod())),
            await client.post("/mutate", content=b"{"),
            await client.get("/healthz"),
            await client.get("/readyz"),
            await client.get("/no-such-page"),
        ]

    answers = run(runtime, each)
    assert [answer.status_code for answer in answers] == [200, 400, 200, 503, 404]
    assert [answer.headers.get("connection") for answer in answers] == ["close"] * len(answers)


def test_without_draining_connections_stay_open(runtime: Runtime) -> None:
    answer = run(runtime, lambda client: client.post("/mutate", json=review(make_pod())))
    assert "connection" not in answer.headers


def test_validate_never_patches(runtime: Runtime) -> None:
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "w", "namespace": "jobs"},
        "spec": {"template": make_pod({"workerguard.io/probe-period": "3s"})},
    }
    body = review(deployment)
    body["request"]["kind"] = {"group": "apps", "version": "v1", "kind": "Deployment"}
    response = run(runtime, lambda client: client.post("/validate", json=body)).json()["response"]
    assert response["allowed"] is True and "patch" not in response
    assert any(text.startswith("workerguard probe_runs_costly") for text in response["warnings"])
    assert (
        sample(runtime, "workerguard_admission_requests_total", webhook="validate", operation="CREATE", decision="allowed") == 1
    )


def test_with_previews_off_the_page_and_preview_are_not_found(runtime: Runtime) -> None:
    async def each(client: httpx.AsyncClient) -> list[int]:
        return [(await client.get("/")).status_code, (await client.post("/preview", content=b"kind: Pod")).status_code]

    assert run(runtime, each) == [404, 404]


def test_the_page_is_served_with_its_security_policy() -> None:
    runtime = build_runtime(ServeConfig(preview="on"), None)
    answer = run(runtime, lambda client: client.get("/"))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert run(runtime, lambda client: client.get("/static/no-such-file.js")).status_code == 404


def test_a_large_answer_arrives_whole_in_slices(runtime: Runtime) -> None:
    """/metrics after enough rule names to pass one slice: the body is sent in parts and arrives whole."""
    for n in range(3000):
        runtime.metrics.rule_matches.labels(f"rule-{n:04d}").inc()
    answer = run(runtime, lambda client: client.get("/metrics"))
    assert len(answer.content) > 2 * ANSWER_SLICE_BYTES
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert 'workerguard_rule_matches_total{rule="rule-2999"} 1.0' in answer.text
