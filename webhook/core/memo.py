"""A bounded memo of verdicts for pods: the replicas of one ReplicaSet ask the same question again and again.

plan() on a Pod reads only its namespace, labels, annotations and spec (never its name, generateName,
uid, ownerReferences or managedFields), plus the rules and options. Replicas agree on all of those
(the pod-template-hash label included), so after the first replica the answer is a lookup of the
finished verdict, its patch already encoded: a lookup instead of planning and encoding (the README's
performance section has the figures).
"""

from __future__ import annotations

from collections import OrderedDict

import orjson

from webhook.core.plan import PlanOptions
from webhook.core.review import decide, Verdict
from webhook.core.rules import RuleSet
from webhook.core.types import JSONObject

DEFAULT_SIZE = 512


class VerdictMemo:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self.rules: RuleSet | None = None
        self.verdicts: OrderedDict[tuple[PlanOptions, bytes], Verdict] = OrderedDict()
        self.hits = self.misses = 0

    def decide(self, obj: JSONObject, rules: RuleSet, options: PlanOptions) -> Verdict:
        key = _key(obj, options)
        if key is None:
            return decide(obj, rules, options)
        if rules is not self.rules:  # reloaded rules: every remembered answer may be wrong now
            self.verdicts.clear()
            self.rules = rules
        remembered = self.verdicts.get(key)
        if remembered is not None:
            self.hits += 1
            self.verdicts.move_to_end(key)
            return remembered
        self.misses += 1
        verdict = self.verdicts[key] = decide(obj, rules, options)
        if len(self.verdicts) > self.size:
            self.verdicts.popitem(last=False)
        return verdict


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
