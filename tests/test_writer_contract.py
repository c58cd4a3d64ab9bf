"""writers/contract.json against the webhook and the Python writer: the contract is written down once.

The Go and Ruby writers read the same file in their own tests (make test-workers)."""

from __future__ import annotations

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
    assert settings.SPECS["stuck-after"].default == CONTRACT["defaults"]["stuck_after"]
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
            env = {name: value for name, (value, _) in inject.writer_env(resolved).items()}
            found = writer_settings.from_env(env)
            assert found.stuck_after == (None if stuck is None else float(stuck))
            assert found.interval == probes.beat_interval(readiness)
