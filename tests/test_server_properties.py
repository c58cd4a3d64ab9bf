"""Generated requests through the real server: always a well-formed AdmissionReview or a 400, never a 5xx."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonpatch
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import make_pod
from tests.serverproc import no_server_error, review, Server
from tests.strategies import pods

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Checked around the whole module, so it covers every test whatever order they ran in.
    with Server(tmp_path_factory.mktemp("props")) as running, no_server_error(running):
        yield running


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def check(answer: httpx.Response, sent: dict[str, Any] | None) -> None:
    assert answer.status_code in (200, 400), answer.text
    body = answer.json()
    if answer.status_code == 400:
        assert isinstance(body["error"], str) and body["error"]
        return
    assert sent is not None
    assert (body["apiVersion"], body["kind"]) == ("admission.k8s.io/v1", "AdmissionReview")
    response = body["response"]
    assert response["uid"] == sent["request"]["uid"]
    assert isinstance(response["allowed"], bool)
    if "patch" in response:
        assert response["patchType"] == "JSONPatch" and response["allowed"]
        jsonpatch.apply_patch(sent["request"]["object"], json.loads(base64.b64decode(response["patch"])))
    if not response["allowed"]:
        assert response["status"]["code"] == 400 and response["status"]["message"]
    assert all(isinstance(w, str) and len(w) <= 120 for w in response.get("warnings", []))


@given(pods(), st.sampled_from(["CREATE", "CREATE", "UPDATE", "DELETE"]), st.sampled_from(["jobs", "kube-system", ""]))
def test_generated_reviews_get_well_formed_answers(
    client: httpx.Client, pod: dict[str, Any], operation: str, namespace: str
) -> None:
    sent = review(pod, uid="prop", operation=operation, namespace=namespace)
    check(client.post("/mutate", content=json.dumps(sent), headers={"content-type": "application/json"}), sent)


@given(
    st.one_of(
        st.binary(max_size=64),
        json_values.map(lambda v: json.dumps(v).encode()),
        json_values.map(
            lambda v: json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": v}).encode()
        ),
        json_values.map(lambda v: json.dumps(review(v)).encode()),  # type: ignore[arg-type]
    )
)
def test_garbage_gets_a_400_or_a_valid_answer_never_a_5xx(client: httpx.Client, body: bytes) -> None:
    answer = client.post("/mutate", content=body, headers={"content-type": "application/json"})
    try:
        sent = json.loads(body)
    except ValueError:
        sent = None
    check(answer, sent if isinstance(sent, dict) else None)


@given(st.one_of(st.binary(max_size=64), st.text(max_size=64).map(str.encode), pods().map(lambda p: json.dumps(p).encode())))
def test_preview_answers_every_body_with_200_or_400(client: httpx.Client, body: bytes) -> None:
    answer = client.post("/preview", content=body, headers={"content-type": "application/yaml"})
    assert answer.status_code in (200, 400), answer.text


def test_no_request_was_answered_with_a_5xx(server: Server, client: httpx.Client) -> None:
    """One request of each kind of its own, so that it means something alone or in any order; the server
    fixture checks the same around the whole module."""
    json_type = {"content-type": "application/json"}
    with no_server_error(server):
        client.post("/mutate", content=json.dumps(review(make_pod())), headers=json_type)
        client.post("/mutate", content=json.dumps(review(make_pod(), operation="DELETE")), headers=json_type)
        client.post("/mutate", content=b"{not json", headers=json_type)
        client.post("/validate", content=json.dumps(review(make_pod())), headers=json_type)
        client.post("/preview", content=json.dumps(make_pod()), headers={"content-type": "application/yaml"})
        client.get("/no-such-page")
