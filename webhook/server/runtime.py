"""What one server process holds: certificate and rules stores, metrics, and whether it is draining."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from webhook.adapters.rulesfile import load_rules_file
from webhook.core.errors import RulesError
from webhook.core.plan import PlanOptions
from webhook.core.rules import BUILTIN_RULES, RuleSet
from webhook.server.config import ServeConfig
from webhook.server.ledger import Ledger
from webhook.server.limits import BodyBudget, BodyDeadlines
from webhook.server.memo import VerdictMemo
from webhook.server.metrics import Metrics
from webhook.server.previews import PreviewWorkers
from webhook.server.tls import CertStore

log = logging.getLogger("workerguard.rules")

# How often late request bodies are cut off and admission log lines written out.
TICK_SECONDS = 0.25


class RulesStore:
    """The last good rules; a bad new file is reported and ignored until a good one replaces it."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.rules: RuleSet | None = None if path else BUILTIN_RULES
        self.digest: str | None = None
        self.last_error: str | None = None

    def reload(self) -> str:
        """'unchanged', 'reloaded' or 'failed'."""
        if self.path is None:
            return "unchanged"
        try:
            digest = hashlib.sha256(Path(self.path).read_bytes()).hexdigest()
        except OSError as error:
            return self._failed(f"cannot read {self.path}: {error.strerror}")
        if digest == self.digest:
            return "unchanged"
        self.digest = digest
        try:
            self.rules = load_rules_file(self.path)
        except RulesError as error:
            return self._failed(str(error))
        self.last_error = None
        log.info("loaded rules", extra={"event": "rules_reloaded", "path": self.path, "rules": len(self.rules.rules)})
        return "reloaded"

    def _failed(self, message: str) -> str:
        kept = "kept the last good rules" if self.rules is not None else "no rules loaded yet"
        if message != self.last_error:
            log.error(f"rules file rejected ({kept}): {message}", extra={"event": "rules_reload_failed"})
        self.last_error = message
        return "failed"


@dataclass
class Runtime:
    """The parts one server process holds, built by bootstrap.build_runtime, and whether it is draining."""

    config: ServeConfig
    certs: CertStore | None
    rules: RulesStore
    metrics: Metrics
    options: PlanOptions
    memo: VerdictMemo
    ledger: Ledger
    body_budget: BodyBudget  # one full-size body at a time, plus the small ones
    preview_budget: BodyBudget
    body_deadlines: BodyDeadlines
    previews: PreviewWorkers
    draining_since: float | None = None

    @property
    def draining(self) -> bool:
        return self.draining_since is not None

    def begin_drain(self) -> None:
        if self.draining_since is None:
            self.draining_since = time.monotonic()
            self.metrics.draining.set(1)

    def reload(self) -> None:
        self.metrics.rules_reloads.labels(self.rules.reload()).inc()
        if self.certs is not None:
            self.metrics.cert_reloads.labels(self.certs.reload()).inc()
            self.metrics.cert_expiry.set(self.certs.current.info.not_after.timestamp())

    async def reload_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.reload_interval)
            await asyncio.to_thread(self.reload)

    async def tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            self.body_deadlines.sweep(time.monotonic())
            self.ledger.settle()
