"""An audit shown as a table for people or as JSON for tools; both end with the same summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from webhook.adapters.preview import findings
from webhook.core.audit import Audit, WorkloadAudit

AuditOutput = Literal["table", "json"]

_COLUMNS = ("NAMESPACE", "WORKLOAD", "WORKER", "OPTED IN", "INJECTION", "RISKS")


def render_audit(report: Audit, sources: Sequence[str], output: AuditOutput) -> str:
    """sources[i] names the file the i-th audited object came from."""
    if output == "json":
        return json.dumps(audit_json(report, sources), indent=2) + "\n"
    return audit_table(report)


def audit_json(report: Audit, sources: Sequence[str]) -> dict[str, Any]:
    summary = report.summary
    return {
        "workloads": [_workload_json(entry, sources[entry.position]) for entry in report.workloads],
        "summary": {
            "workloads": summary.workloads,
            "workers": summary.workers,
            "not_opted_in": summary.not_opted_in,
            "not_injected": summary.not_injected,
            "with_risks": summary.with_risks,
            "restart_storm": summary.restart_storm,
            "other_objects": summary.others,
            "text": summary.sentence(),
        },
    }


def _workload_json(entry: WorkloadAudit, source: str) -> dict[str, Any]:
    worker = entry.worker
    injection = entry.injection
    return {
        "source": source,
        "kind": entry.kind,
        "name": entry.name,
        "namespace": entry.namespace,
        "worker": None
        if worker is None
        else {
            "rule": worker.rule.name,
            "profile": worker.rule.profile,
            "container": worker.container,
            "by": worker.by,
            "evidence": worker.evidence,
        },
        "opted_in": entry.opted_in,
        "injected": entry.injected,
        "risks": [risk.as_dict() for risk in entry.risks],
        "restart_storm": entry.restart_storm,
        "injection": {"allowed": injection.allowed, "patch": injection.patch, **findings(injection)},
    }


def audit_table(report: Audit) -> str:
    """One row per workload, then each risk and error said in full under its workload, then the summary."""
    rows = [_COLUMNS, *(_row(entry) for entry in report.workloads)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_COLUMNS) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip() for row in rows
    ]
    for entry in report.workloads:
        details = _details(entry)
        if details:
            lines += ["", f"{_workload(entry)}{_where(entry)}:", *details]
    return "\n".join([*lines, "", report.summary.sentence()]) + "\n"


def _workload(entry: WorkloadAudit) -> str:
    return f"{entry.kind}/{entry.name or f'document-{entry.position + 1}'}"


def _where(entry: WorkloadAudit) -> str:
    return f" in {entry.namespace}" if entry.namespace else ""


def _row(entry: WorkloadAudit) -> tuple[str, ...]:
    worker = "-" if entry.worker is None else f"{entry.worker.rule.name} ({entry.worker.by})"
    if not entry.is_worker:
        risks = "-"  # not judged: the risks are a worker's
    else:
        risks = ", ".join(dict.fromkeys(risk.code for risk in entry.risks)) or "none"
    return (entry.namespace or "-", _workload(entry), worker, "yes" if entry.opted_in else "no", _injection(entry), risks)


def _injection(entry: WorkloadAudit) -> str:
    """What injection does, or would do once opted in, in a word."""
    planned = entry.injection
    if not planned.allowed:
        return "denied"
    if planned.patch:
        return "patched"
    return f"skipped ({planned.skip.code})" if planned.skip is not None else "nothing to do"


def _details(entry: WorkloadAudit) -> list[str]:
    lines = [f"  {risk.code}: {risk.message}" for risk in entry.risks]
    if entry.is_worker:
        lines += [f"  error: {problem}" for problem in entry.injection.errors]
    return lines
