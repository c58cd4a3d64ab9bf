"""The sidecars' preStop wait, run for real in dash, bash and the busybox the init container copies in,
exactly as plan() injects it, against a real heartbeat directory.

For busybox the hook is run as kubelet runs it: argv as injected, its first word the busybox at
<heartbeat dir>/busybox, with only busybox's applets on PATH. For dash and bash the same script and
arguments follow `<shell> -c`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_pod
from webhook.core.plan import plan

SHELLS = ["dash", "bash", "busybox"]
# What a test sets the pod's grace period to when it waits for the bound: the wait gives up 5s before.
SHORT_GRACE = 11
SHORT_BOUND = SHORT_GRACE - 5


@pytest.fixture
def volume() -> Iterator[Path]:
    """The heartbeat volume, with the busybox the init container would have copied into it."""
    directory = Path(tempfile.mkdtemp(prefix="wg-wait-"))
    busybox = shutil.which("busybox")
    assert busybox is not None
    shutil.copy(busybox, directory / "busybox")
    yield directory
    shutil.rmtree(directory)


def injected_hook(volume: Path, heartbeat_format: str = "unix", own: list[str] | None = None, **settings: str) -> list[str]:
    """The preStop plan() gives the sidecar of a pod whose heartbeat lives in `volume`."""
    annotations = {
        "workerguard.io/heartbeat-path": f"{volume}/heartbeat",
        "workerguard.io/heartbeat-format": heartbeat_format,
        "workerguard.io/shutdown-timeout": "1s",
        **{f"workerguard.io/{key.replace('_', '-')}": value for key, value in settings.items()},
    }
    pod = make_pod(annotations)
    sidecar: dict[str, Any] = {"name": "proxy", "image": "gcr.io/distroless/static"}
    if own is not None:
        sidecar["lifecycle"] = {"preStop": {"exec": {"command": own}}}
    pod["spec"]["containers"].append(sidecar)
    pod["spec"]["terminationGracePeriodSeconds"] = SHORT_GRACE
    mutated = plan(pod).mutated()
    assert mutated["spec"]["terminationGracePeriodSeconds"] == SHORT_GRACE
    argv: list[str] = mutated["spec"]["containers"][1]["lifecycle"]["preStop"]["exec"]["command"]
    assert argv[:3] == [f"{volume}/busybox", "sh", "-c"]
    return argv


def start(shell: str, argv: list[str], applets: str) -> subprocess.Popen[bytes]:
    if shell == "busybox":
        command, path = argv, applets
    else:
        command, path = [shell, "-c", *argv[3:]], os.environ["PATH"]
    return subprocess.Popen(command, env={"PATH": path}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(process: subprocess.Popen[bytes], timeout: float = 30) -> tuple[int, str, float]:
    """Exit code, output, and the monotonic time it ended."""
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output.decode(), time.monotonic()


class Beating:
    """A worker's writer: a fresh beat every half second until stopped. Not atomic, like
    `date +%s > file` in a shell worker, so the wait also meets a beat caught mid-write."""

    def __init__(self, file: Path) -> None:
        self.file, self.stopped = file, threading.Event()
        self.file.write_text(str(int(time.time())))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(0.5):
            self.file.write_text(str(int(time.time())))

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()


def start_all(argv: list[str], applets: str) -> dict[str, subprocess.Popen[bytes]]:
    """The hook in every shell at once: the tests that wait, wait once for all three."""
    return {shell: start(shell, argv, applets) for shell in SHELLS}


def finish_all(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, tuple[int, str, float]]:
    return {shell: finish(process) for shell, process in processes.items()}


def test_the_wait_returns_within_2s_of_the_worker_finishing(volume: Path, busybox_path: str) -> None:
    beating = Beating(volume / "heartbeat")
    try:
        processes = start_all(injected_hook(volume), busybox_path)
        time.sleep(2.5)
        assert [shell for shell, process in processes.items() if process.poll() is not None] == [], (
            "returned while the worker ran"
        )
        (volume / "exited").write_text(str(int(time.time())))
        finished = time.monotonic()
        results = finish_all(processes)
    finally:
        beating.stop()
    assert {shell: (code, output) for shell, (code, output, _) in results.items()} == dict.fromkeys(SHELLS, (0, ""))
    took = {shell: ended - finished for shell, (_, _, ended) in results.items()}
    assert all(seconds < 2.0 for seconds in took.values()), took


GONE = [
    ("unix", "the writer's exited marker"),
    ("mtime", "the writer's exited marker"),
    ("unix", "a stale heartbeat (killed)"),
    ("mtime", "a stale heartbeat (killed)"),
    ("unix", "no heartbeat at all"),
    ("mtime", "no heartbeat at all"),
]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("heartbeat_format", "before"), GONE)
def test_the_wait_returns_at_once_when_the_worker_is_already_gone(
    shell: str, heartbeat_format: str, before: str, volume: Path, busybox_path: str
) -> None:
    heartbeat = volume / "heartbeat"
    stale = int(time.time()) - 120  # readiness-max-age is 60s
    if before == "the writer's exited marker":
        heartbeat.write_text(str(int(time.time())))
        (volume / "exited").write_text(str(int(time.time())))
    elif before == "a stale heartbeat (killed)":
        heartbeat.write_text(str(stale))
        os.utime(heartbeat, (stale, stale))
    began = time.monotonic()
    code, output, ended = finish(start(shell, injected_hook(volume, heartbeat_format), busybox_path))
    assert (code, output) == (0, "")
    assert ended - began < 1.0


def test_the_wait_notices_a_worker_killed_while_it_waits(volume: Path, busybox_path: str) -> None:
    beating = Beating(volume / "heartbeat")
    processes = start_all(injected_hook(volume, readiness_max_age="2s", probe_period="1s"), busybox_path)
    time.sleep(1.5)
    beating.stop()  # SIGKILL: no exited marker, the beat just stops
    killed = time.monotonic()
    results = finish_all(processes)
    assert {shell: (code, output) for shell, (code, output, _) in results.items()} == dict.fromkeys(SHELLS, (0, ""))
    # Stale once older than readiness-max-age (2s), noticed within a poll, on whole-second clocks.
    took = {shell: ended - killed for shell, (_, _, ended) in results.items()}
    assert all(1.0 < seconds < 5.0 for seconds in took.values()), took


def test_the_wait_gives_up_at_its_bound_when_the_worker_never_finishes(volume: Path, busybox_path: str) -> None:
    beating = Beating(volume / "heartbeat")
    try:
        began = time.monotonic()
        results = finish_all(start_all(injected_hook(volume), busybox_path))
    finally:
        beating.stop()
    message = f"workerguard: the worker still runs after {SHORT_BOUND}s; stopped waiting\n"
    assert {shell: (code, output) for shell, (code, output, _) in results.items()} == dict.fromkeys(SHELLS, (0, message))
    # The bound is counted on the whole-second clock: up to a second early, a poll late.
    took = {shell: ended - began for shell, (_, _, ended) in results.items()}
    assert all(SHORT_BOUND - 1 <= seconds < SHORT_BOUND + 2 for seconds in took.values()), took


@pytest.mark.parametrize("shell", SHELLS)
def test_the_sidecars_own_prestop_runs_after_the_wait_with_its_words_intact(shell: str, volume: Path, busybox_path: str) -> None:
    (volume / "exited").write_text(str(int(time.time())))
    record = volume / "own-hook"
    own = ["sh", "-c", 'printf "%s|" "$@" > "$0"', str(record), "two words", "$HOME", "*"]
    code, output, _ = finish(start(shell, injected_hook(volume, own=own), busybox_path))
    assert (code, output) == (0, "")
    assert record.read_text() == "two words|$HOME|*|"


@pytest.mark.parametrize("shell", SHELLS)
def test_the_sidecars_own_prestop_exit_code_is_kubelets_answer(shell: str, volume: Path, busybox_path: str) -> None:
    (volume / "exited").write_text(str(int(time.time())))
    code, _, _ = finish(start(shell, injected_hook(volume, own=["sh", "-c", "exit 7"]), busybox_path))
    assert code == 7


@pytest.mark.parametrize("content", ["", "garbage", "0123"])
def test_a_beat_that_holds_no_time_is_no_reason_to_stop_waiting(content: str, volume: Path, busybox_path: str) -> None:
    (volume / "heartbeat").write_text(content)
    processes = start_all(injected_hook(volume), busybox_path)
    time.sleep(1.5)
    assert [shell for shell, process in processes.items() if process.poll() is not None] == [], "took it for a finished worker"
    (volume / "exited").write_text(str(int(time.time())))
    results = finish_all(processes)
    assert {shell: (code, output) for shell, (code, output, _) in results.items()} == dict.fromkeys(SHELLS, (0, ""))
