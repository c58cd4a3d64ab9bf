"""The injected probe commands, run for real in dash, bash and busybox sh against real heartbeat files.

The commands come from plan() itself, so what is tested is exactly what a pod would get.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_pod, pid1_of
from tests.serverproc import settle_in_a_second, wait_until
from webhook.core.inject import ProbeHelper
from webhook.core.plan import plan, PlanOptions

READINESS, LIVENESS = 60, 300


SHELLS = ["dash", "bash", "busybox"]


@pytest.fixture
def workdir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="wg-probe-"))
    yield directory
    shutil.rmtree(directory)


def probe_commands(directory: Path, heartbeat_format: str) -> dict[str, list[str]]:
    """name -> argv of every injected exec command (probes and preStop) for a heartbeat in directory."""
    pod = make_pod(
        {
            "workerguard.io/heartbeat-path": f"{directory}/heartbeat",
            "workerguard.io/heartbeat-format": heartbeat_format,
            "workerguard.io/prestop-sleep": "1s",
        }
    )
    container = plan(pod).mutated()["spec"]["containers"][0]
    commands = {name: container[f"{name}Probe"]["exec"]["command"] for name in ("startup", "readiness", "liveness")}
    commands["preStop"] = container["lifecycle"]["preStop"]["exec"]["command"]
    for argv in commands.values():
        assert argv[:2] == ["sh", "-c"] and len(argv) == 3
    return commands


def run_with_output(shell: str, argv: list[str], busybox_path: str) -> tuple[int, str]:
    """Exit code and everything printed (kubelet keeps stdout and stderr together for the event)."""
    script = argv[2]
    if shell == "busybox":
        busybox = shutil.which("busybox")
        assert busybox is not None
        command, env = [busybox, "sh", "-c", script], {"PATH": busybox_path}
    else:
        command, env = [shell, "-c", script], {"PATH": os.environ["PATH"]}
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    return result.returncode, result.stdout.decode()


def run(shell: str, argv: list[str], busybox_path: str) -> int:
    return run_with_output(shell, argv, busybox_path)[0]


def write_unix(file: Path, content: str) -> None:
    file.write_text(content)


def now() -> int:
    return int(time.time())


# state -> (content writer for the unix format, expected exit code of startup, readiness, liveness)
UNIX_CASES = {
    "fresh": (lambda: f"{now()}", (0, 0, 0)),
    "fresh with newline": (lambda: f"{now()}\n", (0, 0, 0)),
    "stale for readiness only": (lambda: f"{now() - READINESS - 30}", (1, 1, 0)),
    "stale for both": (lambda: f"{now() - LIVENESS - 30}", (1, 1, 1)),
    "empty": (lambda: "", (1, 1, 1)),
    "garbage": (lambda: "not a time", (1, 1, 1)),
    "digits then garbage": (lambda: f"{now()}x", (1, 1, 1)),
    "negative": (lambda: f"-{now()}", (1, 1, 1)),
    "leading zero (octal in bash)": (lambda: f"0{now()}", (1, 1, 1)),
    "eleven digits": (lambda: "99999999999", (1, 1, 1)),
    "a second ahead (busybox's coarse clock)": (lambda: f"{now() + 1}", (0, 0, 0)),
    "three seconds ahead": (lambda: f"{now() + 3}", (1, 1, 1)),
    "from the future": (lambda: f"{now() + 3600}", (1, 1, 1)),
    "spaces": (lambda: f" {now()} ", (1, 1, 1)),
}


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("state", list(UNIX_CASES))
def test_unix_heartbeat(shell: str, state: str, workdir: Path, busybox_path: str) -> None:
    commands = probe_commands(workdir, "unix")
    content, expected = UNIX_CASES[state]
    settle_in_a_second()
    write_unix(workdir / "heartbeat", content())
    got = tuple(run(shell, commands[name], busybox_path) for name in ("startup", "readiness", "liveness"))
    assert got == expected


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("heartbeat_format", ["unix", "mtime"])
def test_a_missing_heartbeat_fails_every_probe(shell: str, heartbeat_format: str, workdir: Path, busybox_path: str) -> None:
    commands = probe_commands(workdir, heartbeat_format)
    assert [run(shell, commands[name], busybox_path) for name in ("startup", "readiness", "liveness")] == [1, 1, 1]


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("heartbeat_format", ["unix", "mtime"])
def test_a_directory_where_the_heartbeat_should_be_fails(
    shell: str, heartbeat_format: str, workdir: Path, busybox_path: str
) -> None:
    commands = probe_commands(workdir, heartbeat_format)
    (workdir / "heartbeat").mkdir()
    os.utime(workdir / "heartbeat", (0, 0))
    assert run(shell, commands["readiness"], busybox_path) == 1


MTIME_CASES = {
    "touched now": (0, (0, 0, 0)),
    "stale for readiness only": (READINESS + 30, (1, 1, 0)),
    "stale for both": (LIVENESS + 30, (1, 1, 1)),
    "from the future": (-3600, (1, 1, 1)),
}


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("state", list(MTIME_CASES))
def test_mtime_heartbeat_ignores_content(shell: str, state: str, workdir: Path, busybox_path: str) -> None:
    commands = probe_commands(workdir, "mtime")
    age, expected = MTIME_CASES[state]
    file = workdir / "heartbeat"
    file.write_text("")  # `touch` leaves an empty file; with mtime only the modification time counts
    stamp = now() - age
    os.utime(file, (stamp, stamp))
    assert tuple(run(shell, commands[name], busybox_path) for name in ("startup", "readiness", "liveness")) == expected


@pytest.mark.parametrize("shell", SHELLS)
def test_draining_fails_readiness_only_and_a_new_container_clears_it(shell: str, workdir: Path, busybox_path: str) -> None:
    commands = probe_commands(workdir, "unix")
    write_unix(workdir / "heartbeat", str(now()))
    assert run(shell, commands["preStop"], busybox_path) == 0
    assert (workdir / "draining").exists()
    assert run(shell, commands["readiness"], busybox_path) == 1
    assert run(shell, commands["liveness"], busybox_path) == 0
    # After a liveness restart the emptyDir still holds the marker: the startup probe removes it.
    assert run(shell, commands["startup"], busybox_path) == 0
    assert not (workdir / "draining").exists()
    assert run(shell, commands["readiness"], busybox_path) == 0


def test_prestop_sleeps_for_the_configured_time(workdir: Path, busybox_path: str) -> None:
    commands = probe_commands(workdir, "unix")
    started = time.monotonic()
    assert run("dash", commands["preStop"], busybox_path) == 0
    assert time.monotonic() - started >= 1.0


@pytest.mark.parametrize("shell", SHELLS)
def test_the_writers_not_ready_marker_fails_readiness_only(shell: str, workdir: Path, busybox_path: str) -> None:
    commands = probe_commands(workdir, "unix")
    write_unix(workdir / "heartbeat", str(now()))
    (workdir / "not-ready").write_text("redis unreachable")
    assert [run(shell, commands[name], busybox_path) for name in ("startup", "readiness", "liveness")] == [0, 1, 0]
    (workdir / "not-ready").unlink()
    assert run(shell, commands["readiness"], busybox_path) == 0


class Container:
    """A process as PID 1 of a PID namespace of its own, as a container's first process is; probes enter
    its namespaces the way kubelet's exec does."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", "sleep", "60"])
        self.started = time.time()

    def pid(self) -> int:
        return wait_until(lambda: pid1_of(self.process.pid), timeout=5)

    def run_with_output(self, shell: str, argv: list[str], busybox_path: str) -> tuple[int, str]:
        entered = ["nsenter", "--target", str(self.pid()), "--pid", "--mount"]
        if shell == "busybox":
            command = [*entered, shutil.which("busybox") or "busybox", "sh", "-c", argv[2]]
            env = {"PATH": busybox_path}
        else:
            command, env = [*entered, shell, "-c", argv[2]], {"PATH": os.environ["PATH"]}
        result = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        return result.returncode, result.stdout.decode()

    def run(self, shell: str, argv: list[str], busybox_path: str) -> int:
        return self.run_with_output(shell, argv, busybox_path)[0]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("heartbeat_format", ["unix", "mtime"])
def test_only_a_beat_from_the_current_container_passes_startup(
    shell: str, heartbeat_format: str, workdir: Path, busybox_path: str
) -> None:
    """The emptyDir keeps the previous container's last beat: fresh by age, but older than this container."""
    commands = probe_commands(workdir, heartbeat_format)
    heartbeat = workdir / "heartbeat"

    def beat(at: int) -> None:
        heartbeat.write_text(str(at))
        os.utime(heartbeat, (at, at))

    beat(now() - 2)  # the previous container's last beat, two seconds before this one starts
    container = Container()
    try:
        container.pid()
        assert container.run(shell, commands["startup"], busybox_path) == 1
        assert container.run(shell, commands["liveness"], busybox_path) == 0  # liveness judges age alone
        assert run(shell, commands["startup"], busybox_path) == 0  # the host's PID 1 started long before
        wait_until(lambda: now() >= int(container.started) + 1)
        beat(now())  # the new process beats
        assert container.run(shell, commands["startup"], busybox_path) == 0
    finally:
        container.stop()


@pytest.mark.parametrize("shell", SHELLS)
def test_startup_falls_back_to_freshness_where_proc_cannot_tell(shell: str, workdir: Path, busybox_path: str) -> None:
    commands = probe_commands(workdir, "unix")
    write_unix(workdir / "heartbeat", str(now()))
    script = commands["startup"][2].replace("/proc/1/stat", f"{workdir}/no-such-proc")
    assert run(shell, ["sh", "-c", script], busybox_path) == 0
    write_unix(workdir / "heartbeat", str(now() - READINESS - 5))
    assert run(shell, ["sh", "-c", script], busybox_path) == 1


# state -> {probe: the line it prints}; a probe not named passes, silently.
MESSAGES = {
    "fresh": (lambda d: write_unix(d / "heartbeat", str(now())), {}),
    "missing": (
        lambda d: None,
        {name: "workerguard: no heartbeat yet at {d}/heartbeat\n" for name in ("startup", "readiness", "liveness")},
    ),
    "garbage": (
        lambda d: write_unix(d / "heartbeat", "abc"),
        {name: "workerguard: heartbeat holds 'abc', not unix seconds\n" for name in ("startup", "readiness", "liveness")},
    ),
    "long garbage is cut": (
        lambda d: write_unix(d / "heartbeat", "x" * 500),
        {name: f"workerguard: heartbeat holds '{'x' * 20}', not unix seconds\n" for name in ("startup", "readiness", "liveness")},
    ),
    "stale for readiness": (
        lambda d: write_unix(d / "heartbeat", str(now() - 74)),
        {
            "startup": "workerguard: heartbeat {d}/heartbeat is 74s old (startup allows 60s)\n",
            "readiness": "workerguard: heartbeat {d}/heartbeat is 74s old (readiness allows 60s)\n",
        },
    ),
    "stale for liveness": (
        lambda d: write_unix(d / "heartbeat", str(now() - 400)),
        {
            "startup": "workerguard: heartbeat {d}/heartbeat is 400s old (startup allows 60s)\n",
            "readiness": "workerguard: heartbeat {d}/heartbeat is 400s old (readiness allows 60s)\n",
            "liveness": "workerguard: heartbeat {d}/heartbeat is 400s old (liveness restarts it at 300s)\n",
        },
    ),
    "from the future": (
        lambda d: write_unix(d / "heartbeat", str(now() + 3600)),
        {name: "workerguard: heartbeat {d}/heartbeat is 3600s in the future\n" for name in ("startup", "readiness", "liveness")},
    ),
    "draining": (
        lambda d: (write_unix(d / "heartbeat", str(now())), (d / "draining").write_text("")),
        {"readiness": "workerguard: draining since preStop\n"},
    ),
    "not ready": (
        lambda d: (
            write_unix(d / "heartbeat", str(now())),
            (d / "not-ready").write_text("dependency check failed: redis refused\nmore"),
        ),
        {"readiness": "workerguard: not ready: dependency check failed: redis refused\n"},
    ),
}


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("state", list(MESSAGES))
def test_a_failing_probe_says_why_in_one_line_and_success_is_silent(
    shell: str, state: str, workdir: Path, busybox_path: str
) -> None:
    commands = probe_commands(workdir, "unix")
    prepare, expected = MESSAGES[state]
    settle_in_a_second()
    prepare(workdir)
    for name in ("readiness", "liveness", "startup"):  # startup last: it removes the draining marker
        code, output = run_with_output(shell, commands[name], busybox_path)
        message = expected.get(name, "").format(d=workdir)
        assert (code, output) == (1 if message else 0, message), name


@pytest.mark.parametrize("shell", SHELLS)
def test_a_previous_containers_beat_is_named_by_the_startup_probe(shell: str, workdir: Path, busybox_path: str) -> None:
    commands = probe_commands(workdir, "unix")
    container = Container()
    try:
        container.pid()
        write_unix(workdir / "heartbeat", str(int(container.started) - 5))
        code, output = container.run_with_output(shell, commands["startup"], busybox_path)
        assert code == 1
        assert output.startswith(f"workerguard: heartbeat {workdir}/heartbeat predates this container (")
        assert output.endswith("s before it started)\n") and output.count("\n") == 1
    finally:
        container.stop()


# --- probe-shell: bundled ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def static_busybox() -> str:
    """Debian's busybox-static, as the helper image ships it: applets run with no PATH and no libc."""
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is not installed: make test installs it"
    check = subprocess.run([busybox, "sh", "-c", "cat /dev/null"], env={"PATH": "/nonexistent"}, capture_output=True)
    assert check.returncode == 0, "this busybox needs PATH for its applets: make test installs busybox-static"
    return busybox


def bundled_commands(directory: Path, helper_path: str) -> tuple[list[str], dict[str, list[str]]]:
    pod = make_pod(
        {
            "workerguard.io/heartbeat-path": f"{directory}/heartbeat",
            "workerguard.io/probe-shell": "bundled",
            "workerguard.io/prestop-sleep": "1s",
        }
    )
    options = PlanOptions(probe_helper=ProbeHelper("registry.example/workerguard:1", helper_path))
    mutated = plan(pod, options=options).mutated()
    [init] = mutated["spec"]["initContainers"]
    container = mutated["spec"]["containers"][0]
    commands = {name: container[f"{name}Probe"]["exec"]["command"] for name in ("startup", "readiness", "liveness")}
    commands["preStop"] = container["lifecycle"]["preStop"]["exec"]["command"]
    return init["command"], commands


def run_bare(argv: list[str]) -> tuple[int, str]:
    """As kubelet runs an exec probe in an image with nothing in it: no PATH, no environment at all."""
    result = subprocess.run(argv, env={}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    return result.returncode, result.stdout.decode()


BUNDLED_STATES = {
    "fresh": (lambda d: write_unix(d / "heartbeat", str(now())), {}),
    "stale": (
        lambda d: write_unix(d / "heartbeat", str(now() - 90)),
        {
            "startup": "workerguard: heartbeat {d}/heartbeat is 90s old (startup allows 60s)\n",
            "readiness": "workerguard: heartbeat {d}/heartbeat is 90s old (readiness allows 60s)\n",
        },
    ),
    "missing": (
        lambda d: None,
        {name: "workerguard: no heartbeat yet at {d}/heartbeat\n" for name in ("startup", "readiness", "liveness")},
    ),
    "draining": (
        lambda d: (write_unix(d / "heartbeat", str(now())), (d / "draining").write_text("")),
        {"readiness": "workerguard: draining since preStop\n"},
    ),
}


@pytest.mark.parametrize("state", list(BUNDLED_STATES))
def test_the_bundled_shell_runs_every_probe_with_no_path_and_no_image_files(
    state: str, workdir: Path, static_busybox: str
) -> None:
    init, commands = bundled_commands(workdir, static_busybox)
    assert init == [static_busybox, "cp", static_busybox, f"{workdir}/busybox"]
    assert run_bare(init) == (0, "")  # the init container's own command
    assert os.access(workdir / "busybox", os.X_OK)
    for argv in commands.values():
        assert argv[:3] == [f"{workdir}/busybox", "sh", "-c"]
    prepare, expected = BUNDLED_STATES[state]
    settle_in_a_second()
    prepare(workdir)
    for name in ("readiness", "liveness", "startup"):
        message = expected.get(name, "").format(d=workdir)
        assert run_bare(commands[name]) == (1 if message else 0, message), name


def test_the_bundled_prestop_marks_draining_with_no_path(workdir: Path, static_busybox: str) -> None:
    init, commands = bundled_commands(workdir, static_busybox)
    run_bare(init)
    write_unix(workdir / "heartbeat", str(now()))
    assert run_bare(commands["preStop"]) == (0, "")
    assert (workdir / "draining").exists()
    assert run_bare(commands["readiness"]) == (1, "workerguard: draining since preStop\n")
