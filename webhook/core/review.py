"""AdmissionReview in and out: read the request, judge it into a Verdict, build the response.

Two error channels: a request we cannot read raises BadRequest (HTTP 400 at the edge); a readable
request about a bad pod gets a Verdict with allowed=false and every reason, unless it is in shadow
mode (core.mode), where every verdict allows and none patches.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson

from webhook.core import reasons
from webhook.core.errors import BadRequest
from webhook.core.inputs import planning_input, PlanningInput
from webhook.core.mode import admission_mode, ShadowOutcome
from webhook.core.plan import Plan, plan_input, PlanOptions
from webhook.core.rules import Mode, RuleSet
from webhook.core.types import capped, Finding, JSONObject
from webhook.core.wire import AdmissionRequest, AdmissionResponse, AdmissionReview, Decision

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
DENIED_STATUS_CODE = 400


@dataclass(frozen=True, slots=True)
class Shadow:
    """What enforcing would have done with an admission that shadow mode allowed untouched. `reason` is
    the plan's skip code (the refusal's, for would_deny), empty for would_inject."""

    outcome: ShadowOutcome
    patch_ops: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What was decided about one admission, as the apiserver is told it, apart from the request's
    identity: what replicas share. `decision` says it in one word, for logs and metrics.

    `patch` is already base64-encoded, so a verdict the server remembers costs nothing to send again.
    `reasons` are codes from webhook.core.reasons (the skip's first), for metrics and logs.
    `shadow` is set when the admission was answered in shadow mode.
    """

    decision: Decision
    allowed: bool
    patch: str | None = None
    warnings: tuple[str, ...] = ()
    denial: str | None = None
    reasons: tuple[str, ...] = ()
    profile: str | None = None
    rules: tuple[str, ...] = ()
    invalid: bool = False
    shadow: Shadow | None = None


def read_request(body: object) -> AdmissionRequest:
    """The request of an AdmissionReview, its typed fields checked; BadRequest says what is wrong."""
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
    if request.get("kind") is not None and not isinstance(request["kind"], dict):
        raise BadRequest("request.kind is not an object")
    return request  # type: ignore[return-value]  # checked above, field by field


def object_name(request: AdmissionRequest) -> str:
    """The name logs give the object: the request's, else its metadata's name or generateName."""
    obj = request.get("object")
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    metadata = metadata if isinstance(metadata, dict) else {}
    name = request.get("name") or metadata.get("name") or metadata.get("generateName") or ""
    return name if isinstance(name, str) else ""


def mutation_verdict(
    request: AdmissionRequest, rules: RuleSet, options: PlanOptions, namespace_mode: Mode = "enforce"
) -> Verdict:
    """/mutate: a Pod's CREATE is planned and patched; anything else is allowed untouched.
    `namespace_mode` is the namespace's, as the path the request came to says it."""
    question = mutation_question(request, rules)
    return question if isinstance(question, Verdict) else input_verdict(question, rules, options, namespace_mode)


def input_verdict(given: PlanningInput, rules: RuleSet, options: PlanOptions, namespace_mode: Mode = "enforce") -> Verdict:
    """The verdict on a Pod CREATE's planning input, in the mode its namespace and matching rules give."""
    return verdict_of(plan_input(given, rules, options), mode=admission_mode(namespace_mode, given, rules))


def mutation_question(request: AdmissionRequest, rules: RuleSet) -> PlanningInput | Verdict:
    """What /mutate plans from: a Pod CREATE's planning input. Anything else is answered already, skipped
    without planning. The uid, the pod's name and ownership, and the fields planning never reads are not
    in the input, so the server may remember verdicts by its key()."""
    operation = request["operation"]
    kind = request.get("kind") or {}
    if operation != "CREATE":
        return skipped(Finding(reasons.OPERATION_IGNORED, "only pod CREATE is mutated"))
    if kind.get("kind") != "Pod" or kind.get("group", "") != "" or request.get("subResource"):
        return skipped(Finding(reasons.NOT_A_POD, "only pod CREATE is mutated"))
    obj = _object_of(request)
    object_kind = obj.get("kind", "Pod")
    if object_kind != "Pod":
        raise BadRequest(f"request.object is a {object_kind!r}, not a Pod")
    return planning_input(_as_pod(obj), rules, request.get("namespace") or None)


def _as_pod(obj: JSONObject) -> JSONObject:
    """A Pod's object as planned: the apiserver may leave out kind, which /mutate's registration implies."""
    return obj if "kind" in obj else {**obj, "kind": "Pod"}


# What /validate is registered for: workloads whose pod template workerguard would inject.
WORKLOAD_KINDS = frozenset(
    {
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("batch", "Job"),
        ("batch", "CronJob"),
    }
)


def validation_verdict(
    request: AdmissionRequest, rules: RuleSet, options: PlanOptions, namespace_mode: Mode = "enforce"
) -> Verdict:
    """/validate: a workload's CREATE or UPDATE, judged by what its pods would get: the same warnings, and
    a denial for what the pods would be denied for, so `kubectl apply` shows them; in shadow mode, where
    the pods would be admitted, that denial is said as warnings instead. It never patches (a validating
    webhook cannot), and never refuses a subresource (/scale, /status) or any other operation."""
    operation = request["operation"]
    kind = request.get("kind") or {}
    if operation not in ("CREATE", "UPDATE"):
        return skipped(Finding(reasons.OPERATION_IGNORED, "only workload CREATE and UPDATE are validated"))
    if request.get("subResource") or (kind.get("group", ""), kind.get("kind")) not in WORKLOAD_KINDS:
        return skipped(Finding(reasons.NOT_A_WORKLOAD, "only workload CREATE and UPDATE are validated"))
    given = planning_input(_object_of(request), rules, request.get("namespace") or None)
    mode = admission_mode(namespace_mode, given, rules)
    return verdict_of(plan_input(given, rules, options), with_patch=False, mode=mode)


def _object_of(request: AdmissionRequest) -> JSONObject:
    obj = request.get("object")
    if not isinstance(obj, dict):
        raise BadRequest("request.object is not an object")
    return obj


def skipped(finding: Finding) -> Verdict:
    return Verdict("allowed", True, reasons=(finding.code,))


def verdict_of(planned: Plan, with_patch: bool = True, mode: Mode = "enforce") -> Verdict:
    if mode == "shadow":
        return shadow_verdict(planned)
    patch = base64.b64encode(orjson.dumps(planned.patch)).decode() if planned.patch and with_patch else None
    sent = capped(planned.warnings)
    warnings = tuple(warning.admission_text() for warning in sent)
    denial = None if planned.allowed else "workerguard: " + "; ".join(str(problem) for problem in planned.errors)
    codes = tuple(warning.code for warning in sent)
    if planned.skip is not None:
        codes = (planned.skip.code, *codes)
    decision: Decision = "denied" if not planned.allowed else "patched" if patch is not None else "allowed"
    return Verdict(
        decision, planned.allowed, patch, warnings, denial, codes, planned.profile, planned.rules, bool(planned.errors)
    )


def shadow_verdict(planned: Plan) -> Verdict:
    """Allowed and untouched whatever the plan says. The plan's warnings are sent as they would be; a
    refusal becomes one shadow_would_deny warning per problem, first, so kubectl shows what enforcing
    would refuse. What enforcing would do is kept for the log line and the metric."""
    would_deny = not planned.allowed
    refusals = [Finding(reasons.SHADOW_WOULD_DENY, str(problem)) for problem in planned.errors] if would_deny else []
    warnings = capped([*refusals, *planned.warnings])
    skip = planned.skip.code if planned.skip is not None else ""
    codes = (skip, *(warning.code for warning in warnings)) if skip else tuple(warning.code for warning in warnings)
    outcome: ShadowOutcome = "would_deny" if would_deny else "would_inject" if planned.patch else "would_skip"
    return Verdict(
        "allowed",
        True,
        warnings=tuple(warning.admission_text() for warning in warnings),
        reasons=codes,
        profile=planned.profile,
        rules=planned.rules,
        invalid=bool(planned.errors),
        shadow=Shadow(outcome, len(planned.patch), "" if outcome == "would_inject" else skip),
    )


def build_response(request: AdmissionRequest, verdict: Verdict) -> AdmissionReview:
    """The AdmissionReview answering `request`: the verdict's fields under the request's uid."""
    response: AdmissionResponse = {"uid": request["uid"], "allowed": verdict.allowed}
    if verdict.patch is not None:
        response["patchType"] = "JSONPatch"
        response["patch"] = verdict.patch
    if verdict.warnings:
        response["warnings"] = list(verdict.warnings)
    if verdict.denial is not None:
        response["status"] = {"code": DENIED_STATUS_CODE, "message": verdict.denial}
    return {"apiVersion": API_VERSION, "kind": KIND, "response": response}
