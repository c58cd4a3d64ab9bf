"""The server's one cache: recent verdicts of Pod CREATEs, remembered by what they were decided from.

The key is the planning input itself (core.inputs.PlanningInput): planning reads nothing else, so equal
keys mean equal verdicts by construction. Replicas of one ReplicaSet agree on it, and so do the pods of
a StatefulSet or a DaemonSet, which differ only in fields planning never reads. After the first, the
answer is a lookup of the finished verdict, its patch already encoded.

The one invalidation rule: a verdict is kept only for the rules object it was planned under. The
options never change in a running server; a rules reload makes a new RuleSet, and the memo then
forgets everything. Least recently used verdicts go first past `size`.
"""

from __future__ import annotations

from collections import OrderedDict

from webhook.core.plan import plan_input, PlanOptions
from webhook.core.review import mutation_question, Verdict, verdict_of
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
        """What core.review.mutation_verdict answers, remembered for Pod CREATEs (the rest are skips,
        answered without planning)."""
        question = mutation_question(request, rules)
        if isinstance(question, Verdict):
            return question
        if rules is not self.rules:
            self.verdicts.clear()
            self.rules = rules
        key = question.key()
        remembered = self.verdicts.get(key)
        if remembered is not None:
            self.hits += 1
            self.verdicts.move_to_end(key)
            return remembered
        self.misses += 1
        verdict = self.verdicts[key] = verdict_of(plan_input(question, rules, self.options))
        if len(self.verdicts) > self.size:
            self.verdicts.popitem(last=False)
        return verdict
