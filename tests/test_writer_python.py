"""writers/python (the workerguard_heartbeat package) on its own: beats, stuck jobs, the markers, errors.

The real frameworks are in tests/workers (make test-workers); here a clock is passed in, so nothing sleeps.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "writers" / "python" / "src"))

from workerguard_heartbeat import CHECK_STALE_BEATS, EXITED, Heartbeat  # noqa: E402

CONTRACT = json.loads((Path(__file__).parent.parent / "writers" / "contract.json").read_text())


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def beat_value(path: Path) -> int:
    return int(path.read_text())


def test_a_beat_is_unix_seconds_written_whole_with_nothing_left_behind(tmp_path: Path, clock: Clock) -> None:
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=1, clock=clock)
    heartbeat.beat()
    assert (tmp_path / "heartbeat").read_text() == "1800000000"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["heartbeat"]


def test_a_job_running_past_stuck_after_stops_the_beat_and_its_end_resumes_it(tmp_path: Path, clock: Clock) -> None:
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=1, stuck_after=60, clock=clock)
    token = heartbeat.job_started()
    clock.now += 60
    heartbeat.beat()
    assert beat_value(tmp_path / "heartbeat") == 1_800_000_060  # exactly stuck_after is still healthy
    clock.now += 1
    heartbeat.beat()
    assert heartbeat.stuck_jobs() == 1
    assert beat_value(tmp_path / "heartbeat") == 1_800_000_060  # no new beat: liveness will see it age
    heartbeat.job_finished(token)
    heartbeat.beat()
    assert beat_value(tmp_path / "heartbeat") == 1_800_000_061


def test_jobs_tracked_elsewhere_count_and_off_never_counts_them(tmp_path: Path, clock: Clock) -> None:
    elsewhere = [clock.now - 500]
    assert Heartbeat(tmp_path / "hb", stuck_after=400, running_since=lambda: elsewhere, clock=clock).stuck_jobs() == 1
    assert Heartbeat(tmp_path / "hb", stuck_after=None, running_since=lambda: elsewhere, clock=clock).stuck_jobs() == 0
    with Heartbeat(tmp_path / "hb", stuck_after=400, clock=clock).job():
        pass


def test_a_failing_check_marks_not_ready_and_a_passing_one_clears_it(tmp_path: Path, clock: Clock) -> None:
    failing = [True]

    def check() -> None:
        if failing[0]:
            raise ConnectionError("redis refused")

    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=1, check=check, clock=clock)
    heartbeat._run_check()
    heartbeat.beat()
    assert "redis refused" in (tmp_path / "not-ready").read_text()
    assert (tmp_path / "heartbeat").exists()  # not ready, still alive
    failing[0] = False
    heartbeat._run_check()
    heartbeat.beat()
    assert not (tmp_path / "not-ready").exists()


def test_a_check_that_stops_answering_counts_as_failed(tmp_path: Path, clock: Clock) -> None:
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=2, check=lambda: None, clock=clock)
    heartbeat._run_check()
    clock.now += CHECK_STALE_BEATS * 2
    heartbeat.beat()
    assert not (tmp_path / "not-ready").exists()
    clock.now += 1
    heartbeat.beat()
    assert (tmp_path / "not-ready").read_text() == "the dependency check has not answered"


def test_a_failed_write_is_survived_and_the_next_beat_writes(tmp_path: Path, clock: Clock) -> None:
    directory = tmp_path / "run"
    heartbeat = Heartbeat(directory / "heartbeat", interval=1, clock=clock)
    heartbeat.beat()  # the directory does not exist: logged, not raised
    assert not directory.exists()
    directory.mkdir()
    heartbeat.beat()
    assert beat_value(directory / "heartbeat") == 1_800_000_000


def test_start_clears_a_previous_containers_markers_beats_and_stop_ends_the_thread(tmp_path: Path) -> None:
    (tmp_path / "draining").write_text("")
    (tmp_path / "not-ready").write_text("old")
    heartbeat = Heartbeat(tmp_path / "heartbeat", interval=0.05)
    heartbeat.start()
    assert not (tmp_path / "draining").exists() and not (tmp_path / "not-ready").exists()
    assert (tmp_path / "heartbeat").exists()
    heartbeat.stop()
    assert not any(thread.name == "workerguard-heartbeat" and thread.is_alive() for thread in threading.enumerate())


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ("/var/run/workerguard/heartbeat", 10.0, 1800.0)),
        (
            {"WORKERGUARD_HEARTBEAT_FILE": "/run/hb", "WORKERGUARD_BEAT_INTERVAL": "2", "WORKERGUARD_STUCK_AFTER": "90"},
            ("/run/hb", 2.0, 90.0),
        ),
        ({"WORKERGUARD_STUCK_AFTER": "off"}, ("/var/run/workerguard/heartbeat", 10.0, None)),
    ],
)
def test_settings_come_from_the_env_workerguard_injects(environ: dict[str, str], expected: tuple[object, ...]) -> None:
    heartbeat = Heartbeat.from_env(environ)
    assert (str(heartbeat.path), heartbeat.interval, heartbeat.stuck_after) == expected


def started(directory: Path, clock: Clock, running_since: Callable[[], Iterable[float]] | None = None) -> Heartbeat:
    """Started with an interval the test never reaches: every beat after the first is the test's own."""
    heartbeat = Heartbeat(directory / "heartbeat", interval=3600, clock=clock, running_since=running_since)
    heartbeat.start()
    return heartbeat


def test_the_exited_marker_is_named_as_the_contract_says() -> None:
    assert CONTRACT["markers"]["exited"] == EXITED


def test_stop_writes_the_exited_marker_with_the_time_after_the_last_beat(tmp_path: Path, clock: Clock) -> None:
    heartbeat = started(tmp_path, clock)
    clock.now += 5
    heartbeat.stop()
    assert (tmp_path / EXITED).read_text() == "1800000005"
    clock.now += 1
    heartbeat.beat()
    heartbeat.stop()
    assert beat_value(tmp_path / "heartbeat") == 1_800_000_000  # no beat after the marker
    assert (tmp_path / EXITED).read_text() == "1800000005"  # written once
    assert sorted(path.name for path in tmp_path.iterdir()) == [EXITED, "heartbeat"]


def test_no_exited_marker_without_start_or_while_a_job_still_runs(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    Heartbeat(tmp_path / "heartbeat", clock=clock).stop()
    assert not (tmp_path / EXITED).exists()
    elsewhere: list[float] = []
    heartbeat = started(tmp_path, clock, running_since=lambda: elsewhere)
    token = heartbeat.job_started()  # a stop called while the worker still drains
    heartbeat.stop()
    assert not (tmp_path / EXITED).exists()
    heartbeat.job_finished(token)
    elsewhere.append(clock.now)  # a job Celery still runs counts the same
    heartbeat.stop()
    assert not (tmp_path / EXITED).exists()
    assert "1 job(s) still running" in caplog.text
    elsewhere.clear()
    clock.now += 3
    heartbeat.stop()
    assert (tmp_path / EXITED).read_text() == "1800000003"


def test_a_forked_child_never_writes_the_exited_marker(tmp_path: Path, clock: Clock) -> None:
    """RQ's work horse and Celery's prefork children are forks of the process that beats."""
    heartbeat = started(tmp_path, clock)
    child = os.fork()
    if child == 0:
        heartbeat.stop()
        os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not (tmp_path / EXITED).exists()
    heartbeat.stop()
    assert (tmp_path / EXITED).exists()


def test_start_and_every_beat_remove_a_previous_containers_exited_marker(tmp_path: Path, clock: Clock) -> None:
    (tmp_path / EXITED).write_text("1700000000")
    seen_by_first_check: list[bool] = []
    heartbeat = Heartbeat(
        tmp_path / "heartbeat", interval=3600, clock=clock, check=lambda: seen_by_first_check.append((tmp_path / EXITED).exists())
    )
    heartbeat.start()
    assert seen_by_first_check == [False]  # gone before a first check that may hang on Redis, so before the first beat
    assert not (tmp_path / EXITED).exists()
    assert beat_value(tmp_path / "heartbeat") == 1_800_000_000
    (tmp_path / EXITED).write_text("1700000000")
    heartbeat.beat()
    assert not (tmp_path / EXITED).exists()
    heartbeat.stop()


def test_an_exited_marker_that_cannot_be_removed_is_logged_retried_and_never_stops_the_beat(
    tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / EXITED / "inside").mkdir(parents=True)  # unlink fails on it, as on a read-only volume
    caplog.set_level(logging.WARNING, logger="workerguard.heartbeat")
    heartbeat = started(tmp_path, clock)
    assert beat_value(tmp_path / "heartbeat") == 1_800_000_000
    assert EXITED in caplog.text
    clock.now += 1
    heartbeat.beat()
    assert beat_value(tmp_path / "heartbeat") == 1_800_000_001
    (tmp_path / EXITED / "inside").rmdir()
    (tmp_path / EXITED).rmdir()
    (tmp_path / EXITED).write_text("")
    heartbeat.beat()
    assert not (tmp_path / EXITED).exists()  # tried again at the next beat
    heartbeat.stop()
