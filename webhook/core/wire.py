"""The admission.k8s.io/v1 AdmissionReview shapes as they cross the wire, and the enums they carry."""

from __future__ import annotations

from typing import Any, get_args, Literal, Required, TypedDict

Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
OPERATIONS: frozenset[str] = frozenset(get_args(Operation))
# What was decided about one admission: the `decision` of logs and metrics, a Verdict's decision.
Decision = Literal["patched", "allowed", "denied"]
DECISIONS: tuple[Decision, ...] = get_args(Decision)


class GroupVersionKind(TypedDict, total=False):
    group: str
    version: str
    kind: str


class AdmissionRequest(TypedDict, total=False):
    """request of an incoming review; read_request checks the fields typed here before anything uses them."""

    uid: Required[str]
    # The apiserver sends one of OPERATIONS; any other string is read and ignored, never trusted as one.
    operation: Required[str]
    kind: GroupVersionKind
    subResource: str
    namespace: str
    name: str
    object: dict[str, Any]
    oldObject: dict[str, Any]
    dryRun: bool


class Status(TypedDict):
    code: int
    message: str


class AdmissionResponse(TypedDict, total=False):
    uid: Required[str]
    allowed: Required[bool]
    patchType: Literal["JSONPatch"]
    patch: str  # base64 of the RFC 6902 patch
    warnings: list[str]
    status: Status


class AdmissionReview(TypedDict):
    """The answer: apiVersion and kind echo the request's, response.uid its uid."""

    apiVersion: str
    kind: str
    response: AdmissionResponse
