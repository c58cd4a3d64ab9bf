"""The server's one cache: recent verdicts of Pod CREATEs, remembered by what they were decided from.

core.review.mutation_inputs names everything a mutation verdict reads of a request: the request's kind,
subresource and namespace, the pod's metadata.namespace and spec, and of its labels and annotations only
the keys planning looks at. Replicas of one ReplicaSet agree on all of those, and so do pods that
differ only in labels or annotations no rule and no setting reads. After the first, the answer is a
lookup of the finished verdict, its patch already encoded.

The one invalidation rule: a verdict is kept only for the rules object it was planned under. The
options never change in a running server; a rules reload makes a new RuleSet, and the memo then
forgets everything. Least recently used verdicts go first past `size`.
"""

from __future__ import annotations

from collections import OrderedDict

import orjson

from webhook.core.plan import PlanOptions
from webhook.core.review import mutation_inputs, mutation_verdict, Verdict
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
        key = _key(request, rules)
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


def _key(request: AdmissionRequest, rules: RuleSet) -> bytes | None:
    """The verdict's inputs, for Pod CREATEs only: other requests are cheap to answer afresh."""
    if request["operation"] != "CREATE" or not isinstance(request.get("object"), dict):
        return None
    return orjson.dumps(mutation_inputs(request, rules))  # JSON from parse_json: always serializable again
