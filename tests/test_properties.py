"""Properties of plan() over generated pods and workloads (hypothesis)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonpatch
import yaml
from hypothesis import given, note
from hypothesis import strategies as st

from tests.conftest import validate
from tests.serverproc import review
from tests.strategies import BAD, objects, pods
from webhook.core.annotations import PREFIX, STATUS
from webhook.core.plan import plan, PlanOptions
from webhook.core.review import mutation_question, mutation_verdict, read_request
from webhook.core.rules import BUILTIN_RULES, parse_rules
from webhook.core.workload import locate_pod
from webhook.server.memo import VerdictMemo


@given(objects())
def test_plan_never_raises_and_an_allowed_patch_is_valid_applied_and_final(obj: dict[str, Any]) -> None:
    result = plan(obj)
    note(repr(result.errors))
    if not result.allowed:
        assert result.patch == [] and result.errors
        return
    mutated = jsonpatch.apply_patch(obj, result.patch, in_place=False)
    validate(mutated)
    assert plan(mutated).patch == []
    replaced = {op["path"] for op in result.patch if op["op"] == "replace"}
    assert {op["op"] for op in result.patch} <= {"add", "replace"}
    assert _kept(obj, mutated, "", replaced) == [], "the patch dropped or changed something the user had"


def _kept(original: Any, mutated: Any, pointer: str, replaced: set[str]) -> list[str]:
    """Pointers of what `original` had that `mutated` lost or changed, apart from the replaced paths. A
    list may grow only at its end, or at its start for initContainers (the probe shell goes first)."""
    if pointer in replaced:
        return []
    if isinstance(original, dict) and isinstance(mutated, dict):
        lost = [f"{pointer}/{key}" for key in original if key not in mutated]
        return lost + [
            path
            for key in original
            if key in mutated
            for path in _kept(original[key], mutated[key], f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}", replaced)
        ]
    if isinstance(original, list) and isinstance(mutated, list):
        offset = len(mutated) - len(original) if pointer.endswith("/initContainers") else 0
        if offset < 0 or len(mutated) < len(original):
            return [pointer]
        return [
            path
            for i, item in enumerate(original)
            for path in _kept(item, mutated[i + offset], f"{pointer}/{i + offset}", replaced)
        ]
    return [] if original == mutated else [pointer]


@given(objects())
def test_an_injected_object_stripped_of_its_status_plans_to_itself(obj: dict[str, Any]) -> None:
    result = plan(obj)
    if not result.patch:
        return
    stripped = result.mutated()
    view = locate_pod(stripped)
    assert view is not None
    del view.metadata["annotations"][STATUS]
    again = plan(stripped)
    note(repr((again.skip, again.errors)))
    assert (again.allowed, again.patch, again.errors) == (True, [], [])
    assert again.mutated() == stripped


@given(objects())
def test_with_on_invalid_allow_nothing_is_ever_denied(obj: dict[str, Any]) -> None:
    result = plan(obj, options=PlanOptions(on_invalid="allow"))
    assert result.allowed
    assert bool(result.errors) <= (result.patch == [])  # errors mean untouched


@given(pods())
def test_pods_not_opted_in_are_never_patched(pod: dict[str, Any]) -> None:
    if pod["metadata"]["labels"].get("workerguard.io/inject") == "true":
        pod["metadata"]["labels"]["workerguard.io/inject"] = "false"
    assert plan(pod).patch == []


SKIPPED_BEFORE_SETTINGS = {"not_opted_in", "excluded_namespace", "windows_pod"}


@given(objects())
def test_every_bad_annotation_value_is_an_error_naming_it(obj: dict[str, Any]) -> None:
    view = locate_pod(obj)
    assert view is not None
    bad = [
        key
        for key, value in view.annotations.items()
        if key.startswith(PREFIX) and value in BAD.get(key.removeprefix(PREFIX), [])
    ]
    result = plan(obj)
    if not bad or (result.skip is not None and result.skip.code in SKIPPED_BEFORE_SETTINGS):
        return
    assert not result.allowed and result.patch == []
    fields = {problem.field for problem in result.errors}
    for key in bad:
        if key == PREFIX + "container" and len(bad) > 1:
            continue  # the target container is looked up only once every setting parsed
        assert f"{view.field_prefix}metadata.annotations[{key}]" in fields, (key, fields)


SHARED_MEMO = VerdictMemo(PlanOptions(), size=100_000)


def _pod_create(obj: dict[str, Any]) -> Any:
    """A Pod CREATE with no request namespace, so the pod's own metadata.namespace decides."""
    return read_request(review(obj, namespace=""))


@given(pods(), pods())
def test_a_verdict_the_server_remembers_is_the_verdict_planning_gives(pod: dict[str, Any], other: dict[str, Any]) -> None:
    """One memo across all examples, asked about a pod and about the same pod with another's spec, twice
    each: a key that missed something plan() reads would answer one with the other's verdict, and every
    second answer is a real lookup."""
    grafted = {**pod, "spec": other["spec"]}
    for obj in (pod, grafted, pod, grafted):
        request = _pod_create(obj)
        hits = SHARED_MEMO.hits
        assert SHARED_MEMO.mutation_verdict(request, BUILTIN_RULES) == mutation_verdict(request, BUILTIN_RULES, PlanOptions())
    assert SHARED_MEMO.hits > hits


GOLDEN_RULES = parse_rules(yaml.safe_load((Path(__file__).parent / "golden" / "rules.yaml").read_text()))
# Keys planning reads (a setting, the inject label, the default container, the autoscaler's, those the
# golden rules match on, spec fields it reads), each with values that change a plan, mixed with keys it
# never reads (a StatefulSet's and a DaemonSet's per-pod fields among them): were planning to read
# something left out of its input, two pods with equal inputs would get different verdicts.
TOUCHED = {
    ("labels", "workerguard.io/inject"): ["true", "false"],
    ("annotations", "workerguard.io/probe-period"): ["20s"],
    ("annotations", "kubectl.kubernetes.io/default-container"): ["statsd"],
    ("annotations", "cluster-autoscaler.kubernetes.io/safe-to-evict"): ["true", "false"],
    ("annotations", "cluster-autoscaler.kubernetes.io/safe-to-evict-local-volumes"): ["data"],
    ("labels", "app.kubernetes.io/name"): ["sidekiq"],
    ("annotations", "example.com/node-pool"): ["batch"],
    ("annotations", "example.com/nonce"): ["1", "2"],
    ("labels", "statefulset.kubernetes.io/pod-name"): ["w-0"],
    ("spec", "terminationGracePeriodSeconds"): [3600],
    ("spec", "hostname"): ["w-0", "w-1"],
    ("spec", "subdomain"): ["workers"],
    ("spec", "nodeName"): ["node-a"],
    ("spec", "affinity"): [{"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}],
}
# One key set or removed (None) per example.
TOUCH = st.sampled_from(sorted(TOUCHED.items())).flatmap(
    lambda item: st.tuples(st.just(item[0]), st.sampled_from([None, *item[1]]))
)


@given(pods(), TOUCH, st.sampled_from([None, "sidekiq", "celery"]), st.booleans())
def test_pods_with_equal_planning_inputs_get_equal_verdicts(
    pod: dict[str, Any], touch: tuple[tuple[str, str], str | None], profile: str | None, golden_rules: bool
) -> None:
    """The memo's key is the planning input; what it leaves out must not change a verdict. Touching what
    planning reads mostly changes the inputs; then there is nothing to compare."""
    rules = GOLDEN_RULES if golden_rules else BUILTIN_RULES
    # Most generated pods are skipped or denied before their labels and annotations matter; these are not.
    pod["metadata"]["labels"]["workerguard.io/inject"] = "true"
    pod["metadata"]["namespace"] = "billing"
    pod["metadata"]["annotations"] = {k: v for k, v in pod["metadata"]["annotations"].items() if not k.startswith(PREFIX)}
    if profile is not None:
        pod["metadata"]["annotations"][PREFIX + "profile"] = profile
    pod["spec"].pop("os", None)
    pod["spec"]["containers"].append({"name": "statsd", "image": "prom/statsd-exporter:v0.26.0"})
    touched = copy.deepcopy(pod)
    (where, key), value = touch
    mapping = touched["spec"] if where == "spec" else touched["metadata"].setdefault(where, {})
    if value is None:
        mapping.pop(key, None)
    else:
        mapping[key] = value
    one, two = _pod_create(pod), _pod_create(touched)
    if mutation_question(one, rules) == mutation_question(two, rules):
        assert mutation_verdict(one, rules, PlanOptions()) == mutation_verdict(two, rules, PlanOptions())
