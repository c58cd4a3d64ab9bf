"""The docs name every setting and every value a writer reads, so a new one cannot go unexplained."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import make_pod
from webhook.core.inject import writer_env
from webhook.core.plan import plan
from webhook.core.profiles import BUILTIN_PROFILES
from webhook.core.reasons import ALL
from webhook.core.settings import DEFAULTS, field_name, SPECS

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


def test_the_built_in_profiles_table_says_what_the_code_sets() -> None:
    text = (ROOT / "docs/rules.md").read_text()
    documented = [
        line for line in text.split("## Built-in profiles")[1].splitlines() if line.startswith("| ") and "---" not in line
    ]
    expected = [
        f"| {name} | {key} | {SPECS[key].render(value)} | {profile.reasons[key]} |"
        for name, profile in BUILTIN_PROFILES.items()
        for key, value in profile.values.items()
    ]
    assert documented[1:] == expected


@pytest.mark.parametrize("page", ["docs/annotations.md", "README.md"])
def test_the_annotation_tables_state_the_codes_defaults(page: str) -> None:
    """A default cell reads `DEFAULT`, then `; PROFILE[, PROFILE] `VALUE`` for the profiles that set
    another value: each as the code renders it (booleans quoted, as annotations hold them)."""
    for key, cell in _default_cells(page).items():
        if key == "profile" or getattr(DEFAULTS, field_name(key)) is None:
            continue
        stated, *per_profile = cell.split(";")
        assert _values(stated) == [_said(key, getattr(DEFAULTS, field_name(key)))], (key, cell)
        claims = {
            name.strip(): value for names, value in PROFILE_VALUE.findall(";".join(per_profile)) for name in names.split(",")
        }
        set_by = {name: profile.values[key] for name, profile in BUILTIN_PROFILES.items() if key in profile.values}
        differing = {name for name, value in set_by.items() if value != getattr(DEFAULTS, field_name(key))}
        assert set(claims) == differing, (key, cell)
        assert all(value == _said(key, set_by[name]) for name, value in claims.items()), (key, cell)


PROFILE_VALUE = re.compile(r"([a-z]+(?:, [a-z]+)*) `([^`]+)`")


def _default_cells(page: str) -> dict[str, str]:
    lines = (ROOT / page).read_text().splitlines()
    cells = [line.split("|") for line in lines if line.startswith("| `workerguard.io/")]
    return {parts[1].strip().strip("`").removeprefix("workerguard.io/"): parts[3].strip() for parts in cells}


def _values(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def _said(key: str, value: object) -> str:
    rendered = SPECS[key].render(value)
    return f'"{rendered}"' if isinstance(value, bool) else rendered


def test_the_sh_worker_example_says_the_beat_it_gets() -> None:
    text = (ROOT / "examples/sh-worker.yaml").read_text()
    said = re.search(r"it beats every (\d+)s", text)
    assert said is not None
    pod = next(doc for doc in yaml.safe_load_all(text) if doc["kind"] == "Deployment")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod["spec"]["template"]["metadata"],
        "spec": pod["spec"]["template"]["spec"],
    }
    env = {
        item["name"]: item["value"] for item in plan(pod, namespace="workerguard-demo").mutated()["spec"]["containers"][0]["env"]
    }
    assert env["WORKERGUARD_BEAT_INTERVAL"] == said.group(1)
