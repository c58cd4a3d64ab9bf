"""The server's verdict memo answers exactly what planning would, and forgets when the question or the rules change."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import make_pod
from tests.pods import realistic_pod
from tests.serverproc import review
from webhook.core.errors import BadRequest
from webhook.core.plan import PlanOptions
from webhook.core.review import mutation_verdict, read_request
from webhook.core.rules import BUILTIN_RULES, parse_rules, RuleSet
from webhook.core.wire import AdmissionRequest
from webhook.server.memo import VerdictMemo

GOLDEN = Path(__file__).parent / "golden"


def request(obj: dict[str, Any], namespace: str = "billing", operation: str = "CREATE") -> AdmissionRequest:
    return read_request(review(obj, operation=operation, namespace=namespace))


def planned(obj: dict[str, Any], rules: RuleSet = BUILTIN_RULES) -> Any:
    return mutation_verdict(request(obj), rules, PlanOptions())


def test_a_replica_is_answered_from_the_memo() -> None:
    memo = VerdictMemo(PlanOptions())
    first, second = realistic_pod(), realistic_pod()
    second["metadata"]["generateName"] = "billing-sidekiq-6f7c9d8b54-x"  # what differs between replicas
    second["metadata"]["uid"] = "another"
    one, two = memo.mutation_verdict(request(first), BUILTIN_RULES), memo.mutation_verdict(request(second), BUILTIN_RULES)
    assert (memo.hits, memo.misses) == (1, 1)
    assert two is one and two == planned(second)
    assert two.decision == "patched" and two.profile == "sidekiq"


def _variants() -> list[tuple[str, Any]]:
    return [
        ("annotation", lambda p: p["metadata"]["annotations"].update({"workerguard.io/probe-period": "20s"})),
        ("label", lambda p: p["metadata"]["labels"].update({"workerguard.io/inject": "false"})),
        ("spec", lambda p: p["spec"]["containers"][0].update({"readinessProbe": {"exec": {"command": ["true"]}}})),
        ("kind", lambda p: p.update({"kind": "Deployment"})),
    ]


@pytest.mark.parametrize(("name", "change"), _variants())
def test_any_change_plan_reads_is_a_different_question(name: str, change: Any) -> None:
    memo = VerdictMemo(PlanOptions())
    pod = realistic_pod()
    memo.mutation_verdict(request(pod), BUILTIN_RULES)
    changed = copy.deepcopy(pod)
    change(changed)
    try:
        expected = planned(changed)
    except BadRequest:  # a Deployment sent as a Pod: the memo must not answer it from the pod's verdict
        with pytest.raises(BadRequest):
            memo.mutation_verdict(request(changed), BUILTIN_RULES)
        return
    result = memo.mutation_verdict(request(changed), BUILTIN_RULES)
    assert memo.misses == 2
    assert result == expected


def test_the_pods_own_namespace_counts_only_where_the_request_names_none() -> None:
    memo = VerdictMemo(PlanOptions())
    pod, moved = realistic_pod(), realistic_pod()
    moved["metadata"]["namespace"] = "kube-system"
    assert memo.mutation_verdict(request(pod, namespace=""), BUILTIN_RULES).decision == "patched"
    excluded = memo.mutation_verdict(request(moved, namespace=""), BUILTIN_RULES)
    assert (excluded.decision, excluded.reasons, memo.misses) == ("allowed", ("excluded_namespace",), 2)
    # Where the request names the namespace, the pod's own is never read: both ask the first question.
    assert memo.mutation_verdict(request(moved, namespace="billing"), BUILTIN_RULES).decision == "patched"
    assert memo.mutation_verdict(request(pod, namespace="billing"), BUILTIN_RULES).decision == "patched"
    assert (memo.hits, memo.misses) == (2, 2)


def test_the_request_namespace_is_part_of_the_question() -> None:
    memo = VerdictMemo(PlanOptions())
    pod = realistic_pod()
    del pod["metadata"]["namespace"]
    patched = memo.mutation_verdict(request(pod, namespace="billing"), BUILTIN_RULES)
    excluded = memo.mutation_verdict(request(pod, namespace="kube-system"), BUILTIN_RULES)
    assert (patched.decision, excluded.decision, excluded.reasons) == ("patched", "allowed", ("excluded_namespace",))


def test_new_rules_are_never_answered_from_old_memories() -> None:
    memo = VerdictMemo(PlanOptions())
    pod = make_pod()
    assert memo.mutation_verdict(request(pod), BUILTIN_RULES).profile == "generic"
    rules = parse_rules({"rules": [{"name": "all", "set": {"profile": "celery"}}]})
    assert memo.mutation_verdict(request(pod), rules).profile == "celery"
    assert (memo.hits, memo.misses, len(memo.verdicts)) == (0, 2, 1)


def test_the_memo_answers_with_its_own_options() -> None:
    invalid = make_pod({"workerguard.io/probe-period": "x"})
    denied = VerdictMemo(PlanOptions(on_invalid="deny")).mutation_verdict(request(invalid), BUILTIN_RULES)
    allowed = VerdictMemo(PlanOptions(on_invalid="allow")).mutation_verdict(request(invalid), BUILTIN_RULES)
    assert (denied.allowed, allowed.allowed) == (False, True)


@pytest.mark.parametrize("case", ["celery-pod", "native-sidecar", "invalid-annotations", "not-opted-in"])
def test_memo_and_plan_agree_on_the_golden_pods(case: str) -> None:
    pod = yaml.safe_load((GOLDEN / f"{case}.yaml").read_text())
    memo = VerdictMemo(PlanOptions())
    for _ in range(2):
        assert memo.mutation_verdict(request(copy.deepcopy(pod)), BUILTIN_RULES) == planned(pod)
    assert memo.hits == 1


def test_other_operations_are_not_memoized_and_the_memo_is_bounded() -> None:
    memo = VerdictMemo(PlanOptions(), size=3)
    memo.mutation_verdict(request(make_pod(), operation="UPDATE"), BUILTIN_RULES)
    assert (memo.hits, memo.misses, len(memo.verdicts)) == (0, 0, 0)
    for i in range(5):
        memo.mutation_verdict(request(make_pod(image=f"registry.example/worker:{i}")), BUILTIN_RULES)
    assert (memo.misses, len(memo.verdicts)) == (5, 3)


def test_labels_and_annotations_planning_never_reads_share_one_verdict() -> None:
    memo = VerdictMemo(PlanOptions())
    first, second = realistic_pod(), realistic_pod()
    second["metadata"]["annotations"]["example.com/nonce"] = "2"
    second["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = "billing-sidekiq-2"
    one, two = memo.mutation_verdict(request(first), BUILTIN_RULES), memo.mutation_verdict(request(second), BUILTIN_RULES)
    assert (memo.hits, memo.misses) == (1, 1)
    assert two is one and two == planned(second)


def statefulset_pod(ordinal: int) -> dict[str, Any]:
    pod = realistic_pod()
    name = f"billing-sidekiq-{ordinal}"
    pod["metadata"]["name"] = name
    pod["metadata"]["labels"].update({"statefulset.kubernetes.io/pod-name": name, "apps.kubernetes.io/pod-index": str(ordinal)})
    pod["spec"].update({"hostname": name, "subdomain": "billing-sidekiq"})
    return pod


def daemonset_pod(node: str) -> dict[str, Any]:
    pod = realistic_pod()
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
    pod["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}
    return pod


@pytest.mark.parametrize("make", [statefulset_pod, lambda n: daemonset_pod(f"node-{n}")], ids=["statefulset", "daemonset"])
def test_pods_that_differ_only_in_fields_planning_never_reads_share_one_verdict(make: Any) -> None:
    """A StatefulSet's pods differ in name, hostname and their pod-name and pod-index labels; a
    DaemonSet's in the node their affinity names. Planning reads none of those."""
    memo = VerdictMemo(PlanOptions())
    verdicts = [memo.mutation_verdict(request(make(n)), BUILTIN_RULES) for n in range(4)]
    assert (memo.hits, memo.misses) == (3, 1)
    assert all(verdict is verdicts[0] for verdict in verdicts)
    assert verdicts[3] == planned(make(3)) and verdicts[3].decision == "patched"


# A pod with no annotations gets a whole annotations map added; one with only foreign ones gets keys added.
@pytest.mark.parametrize(
    ("name", "change"),
    [
        (
            "default container",
            lambda p: p["metadata"]["annotations"].update({"kubectl.kubernetes.io/default-container": "statsd-exporter"}),
        ),
        (
            "safe-to-evict",
            lambda p: p["metadata"]["annotations"].update({"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}),
        ),
        ("no annotations at all", lambda p: p["metadata"].pop("annotations")),
        ("annotations a rule matches", lambda p: p["metadata"]["annotations"].update({"example.com/node-pool": "batch"})),
        ("labels a rule matches", lambda p: p["metadata"]["labels"].update({"app.kubernetes.io/name": "celery"})),
    ],
)
def test_each_label_and_annotation_planning_reads_is_a_different_question(name: str, change: Any) -> None:
    rules = parse_rules(yaml.safe_load((GOLDEN / "rules.yaml").read_text()))
    memo = VerdictMemo(PlanOptions())
    pod = realistic_pod()
    if name == "no annotations at all":
        pod["metadata"]["annotations"] = {"example.com/owner": "billing"}  # only keys planning never reads
    memo.mutation_verdict(request(pod), rules)
    changed = copy.deepcopy(pod)
    change(changed)
    result = memo.mutation_verdict(request(changed), rules)
    assert memo.misses == 2
    assert result == planned(changed, rules) != planned(pod, rules)
