"""Admission is isolated from previews, and what a client sends cannot grow the metrics (real server, TLS)."""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_pod
from tests.loadgen import big_preview_yaml, PreviewFlood, sample
from tests.pods import admission_review
from tests.serverproc import review, Server
from webhook.core.profiles import BUILTIN_PROFILES
from webhook.core.reasons import REFUSAL_CODES, SKIP_CODES
from webhook.core.wire import OPERATIONS
from webhook.server.metrics import OTHER

MUTATE_BODY = json.dumps(admission_review()).encode()
YAML = {"content-type": "application/yaml"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("isolation")) as running:
        yield running


def test_mutate_and_readyz_stay_fast_while_big_previews_flood_the_server(server: Server) -> None:
    """A bound on the regression, not a benchmark (make bench-isolation reports the ratio): on one event
    loop each 2 MB preview held every admission for seconds."""
    with server.client() as mutate, server.client() as readyz:
        sample(mutate, "POST", "/mutate", MUTATE_BODY, 0.5)  # warm
        alone = sample(mutate, "POST", "/mutate", MUTATE_BODY, 2)
        with PreviewFlood(server.url, server.ca, clients=4, size=2_000_000, seconds=6) as flood:
            flooded = sample(mutate, "POST", "/mutate", MUTATE_BODY, 3)
            ready = sample(readyz, "GET", "/readyz", None, 1)
    assert flooded.statuses == {200: len(flooded.seconds)} and ready.statuses == {200: len(ready.seconds)}
    assert flooded.p99 < max(10 * alone.p99, 0.05), (alone.p99, flooded.p99)
    assert max(ready.seconds) < 0.5  # the webhook's own readiness probe allows 2s
    assert flood.report.get("200", 0) >= 1, flood.report  # previews were answered, not just refused


def test_previews_beyond_the_places_are_refused_before_their_body_is_read(server: Server) -> None:
    # Each preview small enough that one waiting for a place is answered within the client's timeout on a
    # busy machine too (previews run at a lower priority); eight clients still outnumber the places.
    with PreviewFlood(server.url, server.ca, clients=8, size=500_000, seconds=3) as flood:
        pass
    assert flood.report.get("503", 0) >= 1 and flood.report.get("200", 0) >= 1, flood.report
    assert set(flood.report) <= {"200", "503"}, flood.report


def test_a_preview_that_overruns_is_stopped_and_the_next_one_is_answered(tmp_path: Path) -> None:
    # The large preview takes many seconds even on an idle machine; a one-pod preview well under a second
    # on a busy one, where previews run at a lower priority than everything else.
    with Server(tmp_path, "--preview-timeout", "1.5") as slow, slow.client() as client:
        late = client.post("/preview", content=big_preview_yaml(2_800_000), headers=YAML)
        assert late.status_code == 503 and "took longer than 1.5s" in late.json()["error"]
        small = client.post("/preview", content=json.dumps(make_pod()), headers={"content-type": "application/json"})
        assert small.status_code == 200 and small.json()["patch"]


def test_preview_off_serves_neither_the_endpoint_nor_the_page(tmp_path: Path) -> None:
    with Server(tmp_path, "--preview", "off") as server, server.client() as client:
        assert client.post("/preview", content=json.dumps(make_pod()), headers=YAML).status_code == 404
        assert client.get("/").status_code == 404
        assert client.get("/static/app.js").status_code == 404
        assert client.post("/mutate", content=MUTATE_BODY).json()["response"]["patch"]


def _series(client: httpx.Client) -> set[str]:
    return {line.rsplit(" ", 1)[0] for line in client.get("/metrics").text.splitlines() if line and not line.startswith("#")}


def _crafted(rng: random.Random, n: int) -> dict[str, object]:
    def word() -> str:
        return "".join(rng.choices(string.ascii_letters + string.digits + '-_."{}=', k=rng.randint(1, 24)))

    pod = make_pod({"workerguard.io/profile": rng.choice(["sidekiq", word()])}, namespace=word())
    body = review(pod, uid=f"crafted-{n}", operation=rng.choice(["CREATE", "UPDATE", word()]), namespace=word())
    request = body["request"]
    assert isinstance(request, dict)
    request["kind"] = {"group": rng.choice(["", word()]), "version": "v1", "kind": rng.choice(["Pod", word()])}
    if rng.random() < 0.3:
        request["subResource"] = word()
    return body


def test_crafted_reviews_do_not_grow_the_metric_series(server: Server) -> None:
    with server.client() as client:
        for body in (review(make_pod()), review(make_pod(labels={"workerguard.io/inject": "no"}))):
            client.post("/mutate", json=body)
        before = _series(client)
        rng = random.Random(13)
        answers = [client.post("/mutate", json=_crafted(rng, n)).status_code for n in range(300)]
        after = _series(client)
    assert set(answers) == {200}
    allowed = {
        "operation": OPERATIONS | {OTHER},
        "decision": {"allowed", "patched", "denied"},
        "webhook": {"mutate", "validate"},
        "reason": SKIP_CODES | REFUSAL_CODES | {OTHER, ""},  # "": a shadow admission enforcing would inject
        "profile": set(BUILTIN_PROFILES),
    }
    for series in after:
        for name, value in re.findall(r'(\w+)="([^"]*)"', series):
            assert value in allowed.get(name, {value}), series
    # At most every (operation, decision) pair and every skip reason, each a _total and a _created series.
    assert len(after - before) <= 2 * (len(allowed["operation"]) * 3 + len(allowed["reason"])), sorted(after - before)
    assert any('operation="other"' in series for series in after)
