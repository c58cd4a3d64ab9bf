"""AdmissionReview contract, at the pure layer: every field of the response and every malformed request."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import jsonpatch
import pytest

from tests.conftest import make_pod, validate
from webhook.core.errors import BadRequest
from webhook.core.plan import PlanOptions
from webhook.core.review import build_response, mutation_verdict, object_name, read_request, Verdict
from webhook.core.rules import BUILTIN_RULES, RuleSet
from webhook.core.wire import AdmissionReview

OPTIONS = PlanOptions()


@dataclass(frozen=True)
class Answered:
    response: AdmissionReview
    verdict: Verdict
    namespace: str
    name: str

    @property
    def decision(self) -> str:
        return self.verdict.decision

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.verdict.reasons


def answer(body: object, rules: RuleSet, options: PlanOptions) -> Answered:
    """What /mutate does with a body, without the server's memo: read, judge, build."""
    request = read_request(body)
    verdict = mutation_verdict(request, rules, options)
    return Answered(build_response(request, verdict), verdict, request.get("namespace") or "", object_name(request))


def review_body(obj: Any = None, operation: str = "CREATE", **request: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "operation": operation,
            "namespace": "jobs",
            "object": obj if obj is not None else make_pod(namespace=None),
            "dryRun": False,
            **request,
        },
    }
    return body


def test_an_opted_in_create_gets_a_base64_json_patch_that_applies() -> None:
    pod = make_pod(namespace=None)
    review = answer(review_body(pod), BUILTIN_RULES, OPTIONS)
    response = review.response
    assert response["apiVersion"] == "admission.k8s.io/v1" and response["kind"] == "AdmissionReview"
    assert response["response"]["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002"
    assert response["response"]["allowed"] is True
    assert response["response"]["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(response["response"]["patch"]))
    validate(jsonpatch.apply_patch(pod, patch))
    assert "warnings" not in response["response"] and "status" not in response["response"]
    assert (review.decision, review.namespace, review.name) == ("patched", "jobs", "worker-1")


def test_the_request_namespace_is_used_for_pods_without_one() -> None:
    review = answer(review_body(make_pod(namespace=None), namespace="kube-system"), BUILTIN_RULES, OPTIONS)
    assert review.response["response"] == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}
    assert review.reasons == ("excluded_namespace",)


@pytest.mark.parametrize("operation", ["UPDATE", "DELETE", "CONNECT"])
def test_other_operations_are_allowed_untouched(operation: str) -> None:
    review = answer(review_body(operation=operation), BUILTIN_RULES, OPTIONS)
    assert review.response["response"] == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}
    assert review.reasons == ("operation_ignored",)


def test_a_delete_without_an_object_is_allowed() -> None:
    body = review_body(operation="DELETE")
    body["request"]["object"] = None
    assert answer(body, BUILTIN_RULES, OPTIONS).response["response"]["allowed"] is True


@pytest.mark.parametrize(
    "request_change", [{"kind": {"group": "apps", "version": "v1", "kind": "Deployment"}}, {"subResource": "ephemeralcontainers"}]
)
def test_requests_for_anything_but_pods_are_allowed_untouched(request_change: dict[str, Any]) -> None:
    review = answer(review_body(**request_change), BUILTIN_RULES, OPTIONS)
    assert review.response["response"] == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


def test_dry_run_is_answered_exactly_like_a_real_request() -> None:
    real = answer(review_body(dryRun=False), BUILTIN_RULES, OPTIONS).response
    dry = answer(review_body(dryRun=True), BUILTIN_RULES, OPTIONS).response
    assert dry == real


def test_warnings_are_strings_the_apiserver_accepts() -> None:
    pod = make_pod({"workerguard.io/probe-period": "3s"}, namespace=None, command=["sh", "-c", "sidekiq"])
    pod["spec"]["containers"][0]["name"] = "sidekiq-default-queue-worker"
    warnings = answer(review_body(pod), BUILTIN_RULES, OPTIONS).response["response"]["warnings"]
    assert (
        warnings[0]
        == "workerguard probe_runs_costly: 21 exec probe runs a minute, 25-46ms of node CPU each; raise probe-period or use http"
    )
    long_one = "workerguard shell_wrapped_command: 'sidekiq-default-queue-worker' runs via sh -c without exec: SIGTERM stops the shell, not the worker"
    assert len(long_one) > 120
    assert warnings[1] == long_one[:117] + "..."
    assert all(len(text) <= 120 for text in warnings)


def test_a_bad_pod_is_denied_with_a_status_listing_every_error() -> None:
    pod = make_pod({"workerguard.io/readiness-max-age": "abc", "workerguard.io/profile": "resque"}, namespace=None)
    review = answer(review_body(pod), BUILTIN_RULES, OPTIONS)
    response = review.response["response"]
    assert response["allowed"] is False
    assert "patch" not in response and "patchType" not in response
    assert response["status"]["code"] == 400
    assert (
        "metadata.annotations[workerguard.io/readiness-max-age]: 'abc' is not a duration like 60s or 2m"
        in response["status"]["message"]
    )
    assert "unknown profile 'resque'" in response["status"]["message"]
    assert review.decision == "denied"


def test_on_invalid_allow_admits_with_warnings_and_no_patch() -> None:
    pod = make_pod({"workerguard.io/readiness-max-age": "abc"}, namespace=None)
    response = answer(review_body(pod), BUILTIN_RULES, PlanOptions(on_invalid="allow")).response["response"]
    assert response["allowed"] is True and "patch" not in response and "status" not in response
    assert response["warnings"][0].startswith(
        "workerguard invalid_setting: metadata.annotations[workerguard.io/readiness-max-age]"
    )


def _without(path: str) -> dict[str, Any]:
    body = review_body()
    node: Any = body
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    del node[keys[-1]]
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the body is not a JSON object"),
        ("text", "the body is not a JSON object"),
        ({"apiVersion": "v1", "kind": "Pod"}, "expected apiVersion admission.k8s.io/v1 and kind AdmissionReview"),
        ({**review_body(), "apiVersion": "admission.k8s.io/v1beta1"}, "expected apiVersion admission.k8s.io/v1"),
        (_without("request"), "request is missing or not an object"),
        (_without("request.uid"), "request.uid is missing or not a string"),
        (review_body(uid=""), "request.uid is missing or not a string"),
        (review_body(uid=7), "request.uid is missing or not a string"),
        (_without("request.operation"), "request.operation is missing or not a string"),
        (review_body(namespace=["jobs"]), "request.namespace is not a string"),
        (review_body(obj="pod"), "request.object is not an object"),
        (review_body(obj=[1]), "request.object is not an object"),
        (_without("request.object"), "request.object is not an object"),
        (review_body(obj={"kind": "Service", "metadata": {}}), "request.object is a 'Service', not a Pod"),
    ],
)
def test_malformed_requests_are_bad_requests_with_a_reason(body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        answer(body, BUILTIN_RULES, OPTIONS)


def test_a_pod_of_the_wrong_inner_shape_is_denied_not_a_crash() -> None:
    pod = make_pod(namespace=None)
    pod["spec"]["containers"] = {"name": "worker"}
    response = answer(review_body(pod), BUILTIN_RULES, OPTIONS).response["response"]
    assert response["allowed"] is False and "spec.containers" in response["status"]["message"]
