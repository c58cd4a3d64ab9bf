"""A bounded memo of plans for pods: the replicas of one ReplicaSet ask the same question again and again.

plan() on a Pod reads only its namespace, labels, annotations and spec (never its name, generateName,
uid, ownerReferences or managedFields), plus the rules and options. Replicas agree on all of those
(the pod-template-hash label included), so after the first replica the answer is a lookup. Measured
on the benchmark pod: plan() about 150 us, the key and lookup about 10 us.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

import orjson

from webhook.core.plan import Plan, plan, PlanOptions
from webhook.core.rules import RuleSet
from webhook.core.types import JSONObject

DEFAULT_SIZE = 512


class PlanMemo:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self.rules: RuleSet | None = None
        self.plans: OrderedDict[tuple[PlanOptions, bytes], Plan] = OrderedDict()
        self.hits = self.misses = 0

    def plan(self, obj: JSONObject, rules: RuleSet, options: PlanOptions) -> Plan:
        key = _key(obj, options)
        if key is None:
            return plan(obj, rules, options)
        if rules is not self.rules:  # reloaded rules: every remembered answer may be wrong now
            self.plans.clear()
            self.rules = rules
        remembered = self.plans.get(key)
        if remembered is not None:
            self.hits += 1
            self.plans.move_to_end(key)
            return replace(remembered, source=obj)
        self.misses += 1
        result = plan(obj, rules, options)
        self.plans[key] = replace(result, source={})  # remember the answer, not the whole pod it was about
        if len(self.plans) > self.size:
            self.plans.popitem(last=False)
        return result


def _key(obj: JSONObject, options: PlanOptions) -> tuple[PlanOptions, bytes] | None:
    """Everything plan() reads of a Pod, or None for anything else (workloads are not memoized)."""
    metadata = obj.get("metadata")
    if obj.get("kind") != "Pod" or not isinstance(metadata, dict):
        return None
    namespace = options.namespace or metadata.get("namespace")
    try:
        fields = orjson.dumps([namespace, metadata.get("labels"), metadata.get("annotations"), obj.get("spec")])
    except TypeError:  # not plain JSON data: nothing to remember it by
        return None
    return options, fields
