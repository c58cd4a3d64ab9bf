"""Shadow or enforce: whether an admission may change anything (docs/rollout.md).

In shadow mode everything is planned as usual, and the object is admitted untouched: no patch, no
refusal. Two things put an object in shadow, either one enough:

- its namespace carries `workerguard.io/mode: shadow`. Admission never asks the API server about a
  namespace, so the webhook configurations send such namespaces to paths of their own
  (/mutate-shadow, /validate-shadow), and the path says it: `namespace_mode`;
- a rule that matches it says `mode: shadow`.
"""

from __future__ import annotations

from typing import get_args, Literal

from webhook.core.errors import ShapeError
from webhook.core.inputs import PlanningInput
from webhook.core.rules import Mode, pod_target, Rule, RuleSet, Target
from webhook.core.workload import locate_pod

# What enforcing would have done with an admission answered in shadow mode.
ShadowOutcome = Literal["would_inject", "would_skip", "would_deny"]
SHADOW_OUTCOMES: tuple[ShadowOutcome, ...] = get_args(ShadowOutcome)


def admission_mode(namespace_mode: Mode, given: PlanningInput, rules: RuleSet) -> Mode:
    """The mode the object planning reads is admitted in."""
    if namespace_mode == "shadow" or shadowing_rules(given, rules):
        return "shadow"
    return "enforce"


def shadowing_rules(given: PlanningInput, rules: RuleSet) -> tuple[Rule, ...]:
    """The matching rules that say mode: shadow. Matched here rather than read from Plan.rules, which
    a plan that refuses the pod leaves empty: a refusal is what shadow mode must not enforce."""
    if not rules.shadow_rules:
        return ()
    target = _target(given)
    return tuple(rule for rule in rules.shadow_rules if rule.matches(target))


def _target(given: PlanningInput) -> Target:
    """What a rule sees of the object. Of an object with no pod to be found, only its namespace: a rule
    that asks nothing else still puts it in shadow, so a malformed workload there is not refused."""
    namespace = given.namespace or ""
    try:
        pod = locate_pod(given.obj)
    except ShapeError:
        pod = None
    return Target(namespace, {}, {}, ()) if pod is None else pod_target(pod, namespace)
