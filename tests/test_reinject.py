"""Re-injection: an object carrying an earlier injection is brought to the current rules (core.reinject
through plan()). Pairs: the earlier injection made with one set of settings, planned again with
another, must equal a fresh injection of the original object with the new settings; with the same
settings, nothing changes. The whole-object pair is tests/golden/reinjected-deployment.yaml.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from tests.conftest import injected_with, make_pod, validate, without_status, workload_of
from webhook.core.annotations import STATUS
from webhook.core.plan import plan
from webhook.core.rules import parse_rules
from webhook.core.workload import locate_pod

PGBOUNCER = {
    "name": "pgbouncer",
    "image": "bitnami/pgbouncer:1.22.1",
    "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "kill -INT 1; sleep 5"]}}},
}


def status_of(obj: dict[str, Any]) -> dict[str, Any]:
    pod = locate_pod(obj)
    assert pod is not None
    status: dict[str, Any] = orjson.loads(pod.annotations[STATUS])
    return status


EARLIER_SETTINGS = [
    {"workerguard.io/readiness-max-age": "30s"},
    {"workerguard.io/prestop-sleep": "10s", "workerguard.io/shutdown-timeout": "2m"},
    {"workerguard.io/probe-shell": "bundled"},
    {"workerguard.io/probe-transport": "http"},
    {"workerguard.io/sidecar-wait": "off"},
    {"workerguard.io/safe-to-evict": "false"},
    {"workerguard.io/heartbeat-path": "/var/run/beat/heartbeat", "workerguard.io/heartbeat-format": "mtime"},
    {"workerguard.io/liveness-max-age": "off", "workerguard.io/startup-timeout": "off"},
]


@pytest.mark.parametrize("earlier", EARLIER_SETTINGS, ids=lambda settings: ",".join(f"{k[15:]}={v}" for k, v in settings.items()))
@pytest.mark.parametrize("kind", ["Pod", "Deployment", "CronJob"])
def test_an_earlier_injection_plus_new_settings_gives_the_new_injection(earlier: dict[str, str], kind: str) -> None:
    original = make_pod(command=["bundle", "exec", "sidekiq"])
    original["spec"]["containers"].append(copy.deepcopy(PGBOUNCER))
    if kind != "Pod":
        original = workload_of(kind, original)
    old = injected_with(original, earlier)
    result = plan(old)
    assert result.allowed, result.errors
    assert result.patch, "the new settings differ, so something must change"
    assert [note.code for note in result.notes][:1] == ["reinjected"]
    again = result.mutated()
    validate(again)
    assert without_status(again) == without_status(plan(original).mutated())
    assert plan(again).patch == []


@pytest.mark.parametrize("earlier", EARLIER_SETTINGS)
def test_the_same_settings_give_an_empty_patch(earlier: dict[str, str]) -> None:
    pod = make_pod(earlier, command=["bundle", "exec", "sidekiq"])
    pod["spec"]["containers"].append(copy.deepcopy(PGBOUNCER))
    mutated = plan(pod).mutated()
    for again in (mutated, without_status(mutated)):
        result = plan(again)
        assert (result.allowed, result.patch) == (True, [])
        assert result.skip is not None and (result.skip.code, result.skip.message) == (
            "already_injected",
            "already injected as the current rules say",
        )


def test_what_the_user_wrote_is_never_touched() -> None:
    own_liveness = {"exec": {"command": ["sh", "-c", "test -f /tmp/alive"]}, "periodSeconds": 30}
    own_env = {"name": "WORKERGUARD_HEARTBEAT_FILE", "value": "/var/run/workerguard/heartbeat"}
    pod = make_pod(command=["bundle", "exec", "sidekiq"], livenessProbe=own_liveness, env=[own_env, {"name": "A", "value": "1"}])
    pod["spec"]["containers"].append(copy.deepcopy(PGBOUNCER))
    pod["spec"]["volumes"] = [{"name": "workerguard-heartbeat", "configMap": {"name": "mine"}}]
    old = injected_with(pod, {"workerguard.io/readiness-max-age": "30s"})
    again = plan(old).mutated()
    worker, sidecar = again["spec"]["containers"]
    assert worker["livenessProbe"] == own_liveness
    assert worker["env"][:2] == [own_env, {"name": "A", "value": "1"}]  # the user's entry stays where it was
    assert again["spec"]["volumes"][0] == {"name": "workerguard-heartbeat", "configMap": {"name": "mine"}}
    assert sidecar["lifecycle"]["preStop"]["exec"]["command"][-3:] == ["/bin/sh", "-c", "kill -INT 1; sleep 5"]
    assert '"$a" -gt 60 ]' in worker["readinessProbe"]["exec"]["command"][2]


def test_the_status_records_what_content_cannot_tell_and_it_is_restored() -> None:
    pod = make_pod({"workerguard.io/safe-to-evict": "false", "workerguard.io/shutdown-timeout": "10m"})
    old = plan(pod).mutated()
    assert (status_of(old)["grace"], status_of(old)["evict"]) == (None, True)
    assert old["spec"]["terminationGracePeriodSeconds"] == 605
    pod_now = copy.deepcopy(old)
    annotations = pod_now["metadata"]["annotations"]
    annotations["workerguard.io/safe-to-evict"] = "true"
    annotations["workerguard.io/shutdown-timeout"] = "20s"
    again = plan(pod_now).mutated()
    assert again["spec"]["terminationGracePeriodSeconds"] == 30  # unset before: back to the default, not kept at 605
    assert "cluster-autoscaler.kubernetes.io/safe-to-evict" not in again["metadata"]["annotations"]
    assert (
        again["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"]
        == "workerguard-heartbeat"
    )


def test_the_users_own_grace_and_safe_to_evict_survive_re_injection() -> None:
    pod = make_pod({"cluster-autoscaler.kubernetes.io/safe-to-evict": "false", "workerguard.io/shutdown-timeout": "2m"})
    pod["spec"]["terminationGracePeriodSeconds"] = 45
    old = plan(pod).mutated()
    assert (status_of(old)["grace"], status_of(old)["evict"]) == (45, False)
    old["metadata"]["annotations"]["workerguard.io/shutdown-timeout"] = "10s"
    again = plan(old).mutated()
    assert again["spec"]["terminationGracePeriodSeconds"] == 45
    assert again["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"


def test_a_status_from_an_older_workerguard_keeps_the_grace_it_cannot_account_for() -> None:
    old = plan(make_pod({"workerguard.io/shutdown-timeout": "2m"})).mutated()
    status = status_of(old)
    del status["grace"], status["evict"]
    status["version"] = "0.0.9"
    old["metadata"]["annotations"][STATUS] = orjson.dumps(status).decode()
    old["metadata"]["annotations"]["workerguard.io/readiness-max-age"] = "30s"
    result = plan(old)
    assert result.mutated()["spec"]["terminationGracePeriodSeconds"] == 125
    assert [(n.code, n.message) for n in result.notes][:1] == [
        (
            "reinjected",
            f"replaced the injection of workerguard 0.0.9, settings {status['settings']} with what the current rules say",
        )
    ]


def test_the_issues_case_a_rules_change_reaches_an_applied_preview() -> None:
    """The issue's case: preview output applied, then a rules file setting readiness-max-age 300s."""
    applied = plan(make_pod(labels={"app": "mailer"})).mutated()
    slower = parse_rules(
        {"rules": [{"name": "slower", "match": {"labels": {"app": "mailer"}}, "set": {"readiness-max-age": "300s"}}]}
    )
    result = plan(applied, slower)
    assert result.patch
    assert {e.setting: (e.value, e.source) for e in result.explanations}["readiness-max-age"] == ("300s", "rule:slower")
    assert '"$a" -gt 300 ]' in result.mutated()["spec"]["containers"][0]["readinessProbe"]["exec"]["command"][2]


def test_a_mesh_proxy_added_after_workerguard_gets_the_wait_when_workerguard_is_called_again() -> None:
    """reinvocationPolicy: IfNeeded calls /mutate again once a later webhook (a mesh's injector) changed the pod."""
    first = plan(make_pod()).mutated()
    first["spec"]["containers"].append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.0"})
    again = plan(first)
    assert again.allowed and again.patch
    proxy = again.mutated()["spec"]["containers"][1]
    assert proxy["lifecycle"]["preStop"]["exec"]["command"][:3] == ["/var/run/workerguard/busybox", "sh", "-c"]
    assert again.mutated()["spec"]["terminationGracePeriodSeconds"] == 35  # the sidecars' 5s, on the default 30s
    assert plan(again.mutated()).patch == []
