"""writers/python (the workerguard_heartbeat package) on its own: beats, stuck jobs, the not-ready marker, errors.

The real frameworks are in tests/workers (make test-workers); here a clock is passed in, so nothing sleeps.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "writers" / "python" / "src"))

from workerguard_heartbeat import CHECK_STALE_BEATS, Heartbeat  # noqa: E402


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
