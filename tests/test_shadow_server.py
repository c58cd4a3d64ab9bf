"""Shadow mode through the real server over TLS: /mutate-shadow and /validate-shadow, the admission log
line and the metric, and a rules file whose mode: shadow is turned on and off by reload."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_pod, workload_of
from tests.serverproc import no_server_error, review, Server, wait_until, workload_review

BAD_VALUE = {"workerguard.io/readiness-max-age": "abc"}
COSTLY = {"workerguard.io/probe-period": "3s"}  # allowed, with the probe_runs_costly warning
UIDS = (f"shadow-{n}" for n in itertools.count())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("shadow")) as running, no_server_error(running):
        yield running


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def admit(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    response: dict[str, Any] = answer.json()["response"]
    assert response["uid"] == body["request"]["uid"]
    return response


def pod_review(pod: dict[str, Any]) -> dict[str, Any]:
    return review(pod, uid=next(UIDS))


def patch_ops(response: dict[str, Any]) -> int:
    return len(json.loads(base64.b64decode(response["patch"])))


def log_line(server: Server, uid: str) -> dict[str, Any]:
    """The admission log line of that answer, once the ledger has written it."""

    def written() -> dict[str, Any] | None:
        for line in server.log().splitlines():
            if f'"uid":"{uid}"' in line:
                found: dict[str, Any] = json.loads(line)
                return found
        return None

    return wait_until(written)


def shadow_admissions(client: httpx.Client, webhook: str, outcome: str, reason: str = "") -> float:
    wanted = {"webhook": webhook, "outcome": outcome, "reason": reason}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "workerguard_shadow_admissions_total" and sample.labels == wanted:
                return float(sample.value)
    raise AssertionError(f"no series {wanted}")


def test_mutate_shadow_patches_nothing_and_logs_and_counts_what_mutate_would_patch(server: Server, client: httpx.Client) -> None:
    pod = make_pod(COSTLY)
    enforced = admit(client, "/mutate", pod_review(pod))
    before = shadow_admissions(client, "mutate", "would_inject")
    body = pod_review(pod)
    shadowed = admit(client, "/mutate-shadow", body)
    assert shadowed == {"uid": body["request"]["uid"], "allowed": True, "warnings": enforced["warnings"]}
    line = log_line(server, body["request"]["uid"])
    assert (line["webhook"], line["decision"], line["reasons"]) == ("mutate", "allowed", ["probe_runs_costly"])
    assert (line["shadow"], line["would_patch"], line["would_deny"]) == (True, patch_ops(enforced), False)
    assert shadow_admissions(client, "mutate", "would_inject") == before + 1
    assert "shadow" not in log_line(server, enforced["uid"])


def test_a_pod_mutate_would_refuse_is_admitted_at_mutate_shadow_with_a_warning_saying_so(
    server: Server, client: httpx.Client
) -> None:
    pod = make_pod(BAD_VALUE)
    assert admit(client, "/mutate", pod_review(pod))["allowed"] is False
    before = shadow_admissions(client, "mutate", "would_deny", "invalid")
    body = pod_review(pod)
    shadowed = admit(client, "/mutate-shadow", body)
    assert shadowed == {
        "uid": body["request"]["uid"],
        "allowed": True,
        "warnings": [
            "workerguard shadow_would_deny: metadata.annotations[workerguard.io/readiness-max-age]: "
            "'abc' is not a duration like 6..."
        ],
    }
    line = log_line(server, body["request"]["uid"])
    assert (line["reasons"], line["would_patch"], line["would_deny"]) == (["invalid", "shadow_would_deny"], 0, True)
    assert shadow_admissions(client, "mutate", "would_deny", "invalid") == before + 1


def test_validate_shadow_warns_as_validate_does_and_says_its_refusal_as_a_warning(server: Server, client: httpx.Client) -> None:
    warned = workload_of("Deployment", make_pod(COSTLY))
    enforced = admit(client, "/validate", workload_review(warned, next(UIDS)))
    shadowed = admit(client, "/validate-shadow", workload_review(warned, next(UIDS)))
    assert enforced["allowed"] is shadowed["allowed"] is True
    assert (
        shadowed["warnings"]
        == enforced["warnings"]
        == [
            "workerguard probe_runs_costly: 21 exec probe runs a minute, 25-46ms of node CPU each; raise probe-period or use http"
        ]
    )
    refused = workload_of("Deployment", make_pod({**BAD_VALUE, **COSTLY}))
    denial = admit(client, "/validate", workload_review(refused, next(UIDS)))
    assert denial["allowed"] is False and "warnings" in denial
    body = workload_review(refused, next(UIDS))
    admitted = admit(client, "/validate-shadow", body)
    problem = denial["status"]["message"].removeprefix("workerguard: ")
    assert admitted["allowed"] is True and "status" not in admitted and "patch" not in admitted
    assert admitted["warnings"] == [f"workerguard shadow_would_deny: {problem}"[:117] + "...", *denial["warnings"]]
    assert log_line(server, body["request"]["uid"])["would_deny"] is True
    assert shadow_admissions(client, "validate", "would_deny", "invalid") >= 1


ENFORCE = "rules:\n  - name: jobs\n    match: {namespaces: [jobs]}\n    set: {profile: sidekiq}\n"
SHADOW = ENFORCE + "    mode: shadow\n"


def once_patched_is(client: httpx.Client, pod: dict[str, Any], patched: bool) -> dict[str, Any]:
    """/mutate's first answer, asked until the reload shows, that has a patch or has none."""

    def answered() -> dict[str, Any] | None:
        answer = admit(client, "/mutate", pod_review(pod))
        return answer if ("patch" in answer) is patched else None

    return wait_until(answered)


def test_a_rules_file_turns_shadow_on_and_off_by_reload(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(ENFORCE)
    with Server(tmp_path, "--rules", str(rules)) as server, no_server_error(server), server.client() as client:
        pod = make_pod()
        assert "patch" in admit(client, "/mutate", pod_review(pod))
        rules.write_text(SHADOW)
        shadowed = once_patched_is(client, pod, patched=False)
        assert shadowed == {"uid": shadowed["uid"], "allowed": True}
        assert log_line(server, shadowed["uid"])["shadow"] is True
        assert shadow_admissions(client, "mutate", "would_inject") >= 1
        elsewhere = make_pod(namespace=None)
        assert "patch" in admit(client, "/mutate", review(elsewhere, uid=next(UIDS), namespace="billing"))
        previewed = client.post("/preview", json=pod).json()
        assert previewed["notes"][-1]["code"] == "shadow_mode" and previewed["patch"]
        rules.write_text(ENFORCE)
        enforced = once_patched_is(client, pod, patched=True)
        assert "shadow" not in log_line(server, enforced["uid"])
