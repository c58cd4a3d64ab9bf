"""The admission log: one line per admission, batched, and nothing lost at flush."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from webhook.server.logs import AdmissionLog

pytestmark = pytest.mark.usefixtures("admission_log_at_info")


def test_lines_wait_for_a_flush_then_come_out_whole_and_in_order() -> None:
    stream = io.StringIO()
    log = AdmissionLog("json", stream)
    for n in range(3):
        log.write({"uid": f"u{n}", "decision": "patched"})
    assert stream.getvalue() == ""
    log.flush()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["uid"] for line in lines] == ["u0", "u1", "u2"]
    assert {line["message"] for line in lines} == {"admission"} and {line["level"] for line in lines} == {"info"}
    log.flush()  # nothing new: nothing written
    assert len(stream.getvalue().splitlines()) == 3


def test_a_full_batch_is_written_without_waiting_for_the_tick() -> None:
    stream = io.StringIO()
    log = AdmissionLog("json", stream)
    line_size = len(json.dumps({"uid": "x" * 100})) + 80
    written_after = None
    for n in range(AdmissionLog.BATCH_BYTES // line_size + 10):
        log.write({"uid": "x" * 100})
        if stream.getvalue() and written_after is None:
            written_after = n + 1
    assert written_after is not None and written_after * line_size >= AdmissionLog.BATCH_BYTES // 2
    assert all(json.loads(line)["uid"] == "x" * 100 for line in stream.getvalue().splitlines())


def test_the_timestamp_is_utc_with_milliseconds_and_follows_the_clock() -> None:
    stream = io.StringIO()
    now = [1_800_000_000.25]
    log = AdmissionLog("json", stream, clock=lambda: now[0])
    log.write({"uid": "a"})
    now[0] += 0.5  # the same second: its text is reused
    log.write({"uid": "b"})
    now[0] += 1.0  # the next second must show
    log.write({"uid": "c"})
    log.flush()
    stamps = [json.loads(line)["time"] for line in stream.getvalue().splitlines()]
    assert stamps == ["2027-01-15T08:00:00.250Z", "2027-01-15T08:00:00.750Z", "2027-01-15T08:00:01.750Z"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp) for stamp in stamps)


def test_human_format_and_the_level_switch() -> None:
    stream = io.StringIO()
    log = AdmissionLog("human", stream)
    log.write({"uid": "a", "decision": "allowed"})
    logging.getLogger("workerguard.admission").setLevel(logging.WARNING)
    log.write({"uid": "b"})
    log.flush()
    assert stream.getvalue().count("\n") == 1 and "admission  uid=a decision=allowed" in stream.getvalue()


def test_the_human_format_writes_flags_and_lists_as_the_json_lines_do() -> None:
    stream = io.StringIO()
    log = AdmissionLog("human", stream)
    log.write({"reasons": ["profile_unknown", "probe_runs_costly"], "shadow": True, "would_deny": False})
    log.write({"reasons": []})
    log.flush()
    first, second = stream.getvalue().splitlines()
    assert first.endswith("admission  reasons=profile_unknown,probe_runs_costly shadow=true would_deny=false")
    assert second.endswith("admission  reasons=-")
