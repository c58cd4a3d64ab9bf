"""AdmissionReview (admission.k8s.io/v1) request -> response, as plain dicts.

Two error channels: a request we cannot read raises BadRequest (HTTP 400 at the edge); a readable
request about a bad pod is answered allowed=false with the reasons.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from webhook.core.plan import Plan, plan, PlanOptions
from webhook.core.rules import RuleSet
from webhook.core.types import JSONObject, Skip

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
DENIED_STATUS_CODE = 400


class BadRequest(ValueError):
    """The body is not an AdmissionReview we can answer."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the apiserver is told about a pod, apart from the request's identity: what replicas share.

    `fields` are the response fields after uid (allowed, and patchType, patch, warnings, status as
    they apply), the patch already base64-encoded so a remembered verdict costs nothing to send again.
    """

    fields: JSONObject
    decision: str
    reasons: tuple[str, ...]
    profile: str | None = None
    rules: tuple[str, ...] = ()
    invalid: bool = False


@dataclass(frozen=True, slots=True)
class Review:
    """The answer plus what logs and metrics say about it."""

    response: JSONObject
    uid: str
    operation: str
    namespace: str
    name: str
    verdict: Verdict

    @property
    def decision(self) -> str:
        return self.verdict.decision

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.verdict.reasons


def _request_of(body: object) -> JSONObject:
    if not isinstance(body, dict):
        raise BadRequest("the body is not a JSON object")
    if body.get("apiVersion") != API_VERSION or body.get("kind") != KIND:
        raise BadRequest(f"expected apiVersion {API_VERSION} and kind {KIND}")
    request = body.get("request")
    if not isinstance(request, dict):
        raise BadRequest("request is missing or not an object")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadRequest("request.uid is missing or not a string")
    if not isinstance(request.get("operation"), str):
        raise BadRequest("request.operation is missing or not a string")
    for key in ("namespace", "name", "subResource"):
        if request.get(key) is not None and not isinstance(request[key], str):
            raise BadRequest(f"request.{key} is not a string")
    return request


def _is_pod(request: JSONObject) -> bool:
    kind = request.get("kind")
    return isinstance(kind, dict) and kind.get("kind") == "Pod" and kind.get("group", "") == "" and not request.get("subResource")


def _pod_name(request: JSONObject, obj: JSONObject | None) -> str:
    metadata = (obj or {}).get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name = request.get("name") or metadata.get("name") or metadata.get("generateName") or ""
    return name if isinstance(name, str) else ""


Decider = Callable[[JSONObject, RuleSet, PlanOptions], Verdict]


def decide(obj: JSONObject, rules: RuleSet, options: PlanOptions) -> Verdict:
    return verdict_of(plan(obj, rules, options))


def answer(body: object, rules: RuleSet, options: PlanOptions, decider: Decider = decide) -> Review:
    request = _request_of(body)
    uid, operation = request["uid"], request["operation"]
    namespace = request.get("namespace") or ""
    obj = request.get("object")
    if operation != "CREATE" or not _is_pod(request):
        skip = Skip("operation_ignored" if operation != "CREATE" else "not_a_pod", "only pod CREATE is mutated")
        verdict = Verdict({"allowed": True}, "allowed", (skip.code,))
        return _review(verdict, uid, operation, namespace, _pod_name(request, None))
    if not isinstance(obj, dict):
        raise BadRequest("request.object is not an object")
    kind = obj.get("kind", "Pod")
    if kind != "Pod":
        raise BadRequest(f"request.object is a {kind!r}, not a Pod")
    if "kind" not in obj:
        obj = {**obj, "kind": "Pod"}
    verdict = decider(obj, rules, _in_namespace(options, namespace or None))
    return _review(verdict, uid, operation, namespace, _pod_name(request, obj))


# What /validate is registered for: workloads whose pod template workerguard would inject.
WORKLOAD_KINDS = frozenset(
    {("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"), ("apps", "ReplicaSet"), ("batch", "Job"), ("batch", "CronJob")}
)


def answer_validation(body: object, rules: RuleSet, options: PlanOptions) -> Review:
    """A workload's CREATE or UPDATE, judged by what its pods would get: the same warnings, and a denial
    for what the pods would be denied for, so `kubectl apply` shows them. It never patches (a validating
    webhook cannot), and never refuses a subresource (/scale, /status) or any other operation."""
    request = _request_of(body)
    uid, operation = request["uid"], request["operation"]
    namespace = request.get("namespace") or ""
    kind = request.get("kind")
    group_kind = (kind.get("group", ""), kind.get("kind")) if isinstance(kind, dict) else None
    if operation not in ("CREATE", "UPDATE") or request.get("subResource") or group_kind not in WORKLOAD_KINDS:
        skip = Skip("operation_ignored" if operation not in ("CREATE", "UPDATE") else "not_a_workload", "only workload CREATE and UPDATE are validated")
        return _review(Verdict({"allowed": True}, "allowed", (skip.code,)), uid, operation, namespace, _pod_name(request, None))
    obj = request.get("object")
    if not isinstance(obj, dict):
        raise BadRequest("request.object is not an object")
    outcome = plan(obj, rules, replace(options, namespace=namespace or None))
    verdict = verdict_of(outcome, with_patch=False)
    return _review(verdict, uid, operation, namespace, _pod_name(request, obj))


def verdict_of(outcome: Plan, with_patch: bool = True) -> Verdict:
    fields: dict[str, Any] = {"allowed": outcome.allowed}
    if outcome.patch and with_patch:
        fields["patchType"] = "JSONPatch"
        fields["patch"] = base64.b64encode(orjson.dumps(outcome.patch)).decode()
    if outcome.warnings:
        fields["warnings"] = [warning.admission_text() for warning in outcome.warnings]
    if not outcome.allowed:
        message = "workerguard: " + "; ".join(str(problem) for problem in outcome.errors)
        fields["status"] = {"code": DENIED_STATUS_CODE, "message": message}
        decision = "denied"
    else:
        decision = "patched" if outcome.patch and with_patch else "allowed"
    reasons = tuple(warning.code for warning in outcome.warnings)
    if outcome.skip is not None:
        reasons = (outcome.skip.code, *reasons)
    return Verdict(fields, decision, reasons, outcome.profile, outcome.rules, bool(outcome.errors))


@functools.lru_cache(maxsize=1024)
def _in_namespace(options: PlanOptions, namespace: str | None) -> PlanOptions:
    """The options for one request; cached, since a dataclass copy per request showed in the profile."""
    return replace(options, namespace=namespace)


def _review(verdict: Verdict, uid: str, operation: str, namespace: str, name: str) -> Review:
    response = {"apiVersion": API_VERSION, "kind": KIND, "response": {"uid": uid, **verdict.fields}}
    return Review(response, uid, operation, namespace, name, verdict)
