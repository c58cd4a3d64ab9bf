"""The server's one cache: the verdicts of recent Pod CREATEs, because replicas ask the same question.

plan() on a Pod reads only the request's namespace and the pod's namespace, labels, annotations and
spec (never its name, generateName, uid, ownerReferences or managedFields), plus the rules and options.
Replicas of one ReplicaSet agree on all of those (the pod-template-hash label included), so after the
first replica the answer is a lookup of the finished verdict, its patch already encoded.

The one invalidation rule: a verdict is kept only for the rules object it was planned under. The
options never change in a running server; a rules reload makes a new RuleSet, and the memo then
forgets everything. Least recently used verdicts go first past `size`.
"""

from __future__ import annotations

from collections import OrderedDict

import orjson

from webhook.core.plan import PlanOptions
from webhook.core.review import mutation_verdict, Verdict
from webhook.core.rules import RuleSet
from webhook.core.wire import AdmissionRequest

DEFAULT_SIZE = 512


class VerdictMemo:
    def __init__(self, options: PlanOptions, size: int = DEFAULT_SIZE) -> None:
        self.options, self.size = options, size
        self.rules: RuleSet | None = None
        self.verdicts: OrderedDict[bytes, Verdict] = OrderedDict()
        self.hits = self.misses = 0

    def mutation_verdict(self, request: AdmissionRequest, rules: RuleSet) -> Verdict:
        """What core.review.mutation_verdict answers, remembered for pods."""
        key = _key(request)
        if key is None:
            return mutation_verdict(request, rules, self.options)
        if rules is not self.rules:
            self.verdicts.clear()
            self.rules = rules
        remembered = self.verdicts.get(key)
        if remembered is not None:
            self.hits += 1
            self.verdicts.move_to_end(key)
            return remembered
        self.misses += 1
        verdict = self.verdicts[key] = mutation_verdict(request, rules, self.options)
        if len(self.verdicts) > self.size:
            self.verdicts.popitem(last=False)
        return verdict


def _key(request: AdmissionRequest) -> bytes | None:
    """Everything the verdict of a Pod CREATE depends on, or None for requests not worth remembering."""
    obj = request.get("object")
    if request["operation"] != "CREATE" or not isinstance(obj, dict):
        return None
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    question = [
        request.get("kind"),
        request.get("subResource"),
        request.get("namespace"),
        obj.get("kind"),
        metadata.get("namespace"),
        metadata.get("labels"),
        metadata.get("annotations"),
        obj.get("spec"),
    ]
    return orjson.dumps(question)  # JSON from parse_json: always serializable again
