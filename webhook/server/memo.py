"""The server's one cache: recent verdicts of Pod CREATEs, remembered by what they were decided from.

The key is the planning input itself (core.inputs.PlanningInput): planning reads nothing else, so equal
keys mean equal verdicts by construction. Replicas of one ReplicaSet agree on it, and so do the pods of
a StatefulSet or a DaemonSet, which differ only in fields planning never reads. After the first, the
answer is a lookup of the finished verdict, its patch already encoded.

The one invalidation rule: a verdict is kept only for the rules object it was planned under. The
options never change in a running server; a rules reload makes a new RuleSet, and the memo then
forgets everything. Least recently used verdicts go first past `size`.

Besides the input, only the namespace's mode decides (core.mode): the path says it, and a shadow
namespace's verdicts are kept under keys of their own.
"""

from __future__ import annotations

from collections import OrderedDict

from webhook.core.plan import PlanOptions
from webhook.core.review import input_verdict, mutation_question, Verdict
from webhook.core.rules import Mode, RuleSet
from webhook.core.wire import AdmissionRequest

DEFAULT_SIZE = 512


class VerdictMemo:
    def __init__(self, options: PlanOptions, size: int = DEFAULT_SIZE) -> None:
        self.options, self.size = options, size
        self.rules: RuleSet | None = None
        self.verdicts: OrderedDict[bytes, Verdict] = OrderedDict()
        self.hits = self.misses = 0

    def mutation_verdict(self, request: AdmissionRequest, rules: RuleSet, namespace_mode: Mode = "enforce") -> Verdict:
        """What core.review.mutation_verdict answers, remembered for Pod CREATEs (the rest are skips,
        answered without planning)."""
        question = mutation_question(request, rules)
        if isinstance(question, Verdict):
            return question
        if rules is not self.rules:
            self.verdicts.clear()
            self.rules = rules
        # Enforce keys are the input's own bytes (a JSON array); a prefix sets the shadow ones apart.
        key = question.key() if namespace_mode == "enforce" else b"shadow" + question.key()
        remembered = self.verdicts.get(key)
        if remembered is not None:
            self.hits += 1
            self.verdicts.move_to_end(key)
            return remembered
        self.misses += 1
        verdict = self.verdicts[key] = input_verdict(question, rules, self.options, namespace_mode)
        if len(self.verdicts) > self.size:
            self.verdicts.popitem(last=False)
        return verdict
