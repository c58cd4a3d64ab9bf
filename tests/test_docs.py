"""The docs name every setting and every value a writer reads, so a new one cannot go unexplained."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_pod
from webhook.core.inject import writer_env
from webhook.core.plan import plan
from webhook.core.reasons import ALL
from webhook.core.settings import SPECS

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("page", ["docs/annotations.md", "README.md"])
def test_every_setting_is_in_the_annotation_tables(page: str) -> None:
    text = (ROOT / page).read_text()
    assert [key for key in SPECS if f"| `workerguard.io/{key}` |" not in text] == []


def test_every_env_a_writer_reads_is_in_the_contract_and_each_writer() -> None:
    provenance = plan(make_pod()).provenance
    assert provenance is not None
    names = list(writer_env(provenance.resolved.settings))
    pages = [
        "docs/heartbeat-contract.md",
        "writers/python/src/workerguard_heartbeat/settings.py",
        "writers/ruby/lib/workerguard/heartbeat.rb",
        "writers/go/heartbeat.go",
    ]
    for page in pages:
        text = (ROOT / page).read_text()
        assert [name for name in names if name not in text] == [], page


def test_every_reason_code_is_in_the_reasons_page_with_its_meaning() -> None:
    text = (ROOT / "docs/reasons.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in text.splitlines() if line.startswith("| `")}
    assert sorted(rows) == sorted(reason.code for reason in ALL)
    for reason in ALL:
        assert rows[reason.code].rstrip().endswith(f"| {reason.meaning} |"), reason.code
        if reason.status is not None:
            assert f"| {reason.status} |" in rows[reason.code], reason.code


def test_reason_codes_are_unique_snake_case() -> None:
    codes = [reason.code for reason in ALL]
    assert len(codes) == len(set(codes))
    assert all(code.replace("_", "").isalpha() and code.islower() for code in codes)
