"""writers/contract.json against the webhook and the Python writer: the contract is written down once.

The Go and Ruby writers read the same file in their own tests (make test-workers)."""

from __future__ import annotations

import ast
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from webhook.core import inject, probes, settings

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(ROOT / "writers" / "python" / "src"))

import workerguard_heartbeat as writer  # noqa: E402
from workerguard_heartbeat import settings as writer_settings  # noqa: E402

CONTRACT: dict[str, Any] = json.loads((ROOT / "writers" / "contract.json").read_text())


def test_the_webhook_injects_the_contracts_env_names_markers_and_defaults() -> None:
    assert (inject.HEARTBEAT_ENV, inject.BEAT_INTERVAL_ENV, inject.STUCK_AFTER_ENV) == tuple(
        CONTRACT["env"][key] for key in ("heartbeat_file", "beat_interval", "stuck_after")
    )
    assert settings.DEFAULT_HEARTBEAT_PATH == CONTRACT["defaults"]["heartbeat_file"]
    assert (settings.NOT_READY_MARKER_NAME, settings.DRAINING_MARKER_NAME) == (
        CONTRACT["markers"]["not_ready"],
        CONTRACT["markers"]["draining"],
    )
    assert settings.DEFAULTS.stuck_after == CONTRACT["defaults"]["stuck_after"]
    assert probes.BEAT_INTERVAL_MAX_SECONDS == CONTRACT["defaults"]["beat_interval"]


def test_the_python_writer_has_the_contracts_constants() -> None:
    assert (writer.DEFAULT_PATH, writer.DEFAULT_INTERVAL, writer.DEFAULT_STUCK_AFTER) == tuple(
        CONTRACT["defaults"][key] for key in ("heartbeat_file", "beat_interval", "stuck_after")
    )
    assert (writer.NOT_READY, writer.DRAINING) == (CONTRACT["markers"]["not_ready"], CONTRACT["markers"]["draining"])
    assert writer.CHECK_STALE_BEATS == CONTRACT["check_stale_beats"]
    assert writer_settings.MAX_SECONDS == CONTRACT["max_seconds"]
    env = CONTRACT["env"]
    assert (writer_settings.HEARTBEAT_FILE_ENV, writer_settings.BEAT_INTERVAL_ENV, writer_settings.STUCK_AFTER_ENV) == (
        env["heartbeat_file"],
        env["beat_interval"],
        env["stuck_after"],
    )


def _expected(row: dict[str, Any]) -> object:
    if "path" in row:
        return row["path"]
    return None if row["seconds"] == "off" else float(row["seconds"])


FIELD = {"WORKERGUARD_HEARTBEAT_FILE": "path", "WORKERGUARD_BEAT_INTERVAL": "interval", "WORKERGUARD_STUCK_AFTER": "stuck_after"}


@pytest.mark.parametrize("row", CONTRACT["parse"], ids=lambda row: f"{row['env']}={row['value']!r}")
def test_the_python_writer_parses_each_env_value_as_the_contract_says(row: dict[str, Any]) -> None:
    environ = {} if row["value"] is None else {row["env"]: row["value"]}
    if row.get("error"):
        with pytest.raises(writer.SettingError) as refused:
            writer.Heartbeat.from_env(environ)
        assert row["env"] in str(refused.value) and repr(row["value"]) in str(refused.value)
    else:
        found = writer_settings.from_env(environ)
        assert getattr(found, FIELD[row["env"]]) == _expected(row)


def test_every_value_the_webhook_injects_parses_in_the_writer() -> None:
    for stuck in (None, 1, 600, 1800):
        for readiness in (3, 30, 60, 600):
            resolved = settings.resolve([settings.Layer("test", {"stuck-after": stuck, "readiness-max-age": readiness})])
            env = inject.writer_env(resolved.settings)
            found = writer_settings.from_env(env)
            assert found.stuck_after == (None if stuck is None else float(stuck))
            assert found.interval == probes.beat_interval(readiness)


def _recorded_scenarios() -> dict[str, set[str]]:
    """Scenario id -> the tests under tests/workers that record it (record(worker, "b_stuck", ...)), read
    from the source: the first word of the figures' name is the scenario's id."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "tests" / "workers").glob("test_*.py")):
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, ast.FunctionDef) or not function.name.startswith("test_"):
                continue
            for call in ast.walk(function):
                if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "record" and len(call.args) >= 2:
                    name = call.args[1]
                    text = name.values[0] if isinstance(name, ast.JoinedStr) else name
                    assert isinstance(text, ast.Constant), f"{path.name}:{function.name}"
                    found.setdefault(str(text.value).split("_")[0], set()).add(f"{path.stem}::{function.name}")
    return found


def test_every_scenario_of_the_contract_has_a_worker_test_and_no_test_records_another() -> None:
    recorded = _recorded_scenarios()
    assert sorted(recorded) == sorted(scenario["id"] for scenario in CONTRACT["scenarios"])


def test_the_scenarios_for_every_writer_run_for_every_example() -> None:
    """One table for all writers: a scenario the contract asks of every writer is a test over the
    `worker` fixture, which is parametrised with every example."""
    from tests.workers import test_contract

    assert set(test_contract.EXAMPLE_NAMES) >= {"sidekiq", "celery", "rq", "python", "go"}
    every = {scenario["id"] for scenario in CONTRACT["scenarios"] if scenario["writers"] == "every"}
    for scenario, tests in _recorded_scenarios().items():
        if scenario in every:
            for test in tests:
                module, name = test.split("::")
                assert module == "test_contract" and "worker" in inspect.signature(getattr(test_contract, name)).parameters, test


def test_the_contract_page_describes_every_scenario() -> None:
    page = (ROOT / "docs" / "heartbeat-contract.md").read_text()
    for scenario in CONTRACT["scenarios"]:
        assert f"({scenario['id']})" in page, scenario["id"]
