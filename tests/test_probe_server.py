"""workerguard-probe (probe-server/) against the exec probes it replaces: one table of heartbeat situations
through both, the same verdicts and the same messages, and a status code per reason. Real binary, real
files, real sockets, the exec scripts run by dash."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.probeserver import build, ProbeServer
from tests.serverproc import settle_in_a_second
from webhook.core import probes

READINESS, PERIOD, LIVENESS = 60, 10, 300
LIMIT = probes.liveness_limit(PERIOD, LIVENESS)
# The server's ReadHeaderTimeout (probe-server/server.go).
HEADER_TIMEOUT = 2.0


def now() -> int:
    return int(time.time())


def beat(directory: Path, content: str) -> None:
    (directory / "heartbeat").write_text(content)


def touch(path: Path, at: int) -> None:
    path.write_text("")
    os.utime(path, (at, at))


@dataclass(frozen=True)
class Situation:
    heartbeat_format: str
    prepare: Callable[[Path], None]  # given the heartbeat's directory, at now()
    ready: int  # the server's status code for /ready
    live: int  # and for /live


def _draining(d: Path, content: str) -> None:
    beat(d, content)
    (d / "draining").write_text("")


def _not_ready(d: Path, reason: str, content: str | None = None) -> None:
    if content is not None:
        beat(d, content)
    (d / "not-ready").write_text(reason)


def _draining_and_not_ready(d: Path) -> None:
    _draining(d, f"{now()}")
    _not_ready(d, "redis")


def _not_ready_directory(d: Path) -> None:
    beat(d, f"{now()}")
    (d / "not-ready").mkdir()


def _touched_garbage(d: Path) -> None:
    beat(d, "garbage")
    os.utime(d / "heartbeat", (now(), now()))


def _touched_draining(d: Path) -> None:
    touch(d / "heartbeat", now())
    (d / "draining").write_text("")


def _touched_not_ready(d: Path) -> None:
    touch(d / "heartbeat", now())
    _not_ready(d, "no db")


def _mtime_symlink(d: Path) -> None:
    target = d / "target"
    touch(target, now())
    (d / "heartbeat").symlink_to(target)
    os.utime(d / "heartbeat", (now() - 400, now() - 400), follow_symlinks=False)


SITUATIONS = {
    "fresh": Situation("unix", lambda d: beat(d, f"{now()}"), 200, 200),
    "fresh with newlines": Situation("unix", lambda d: beat(d, f"{now()}\n\n"), 200, 200),
    "fresh with a NUL byte inside (shells drop it)": Situation(
        "unix", lambda d: beat(d, f"{now()}"[:4] + "\0" + f"{now()}"[4:]), 200, 200
    ),
    "exactly readiness-max-age old": Situation("unix", lambda d: beat(d, f"{now() - READINESS}"), 200, 200),
    "a second past readiness-max-age": Situation("unix", lambda d: beat(d, f"{now() - READINESS - 1}"), 525, 200),
    "exactly at the liveness limit": Situation("unix", lambda d: beat(d, f"{now() - LIMIT}"), 525, 200),
    "a second past the liveness limit": Situation("unix", lambda d: beat(d, f"{now() - LIMIT - 1}"), 525, 525),
    "a second in the future (busybox's coarse clock)": Situation("unix", lambda d: beat(d, f"{now() + 1}"), 200, 200),
    "two seconds in the future": Situation("unix", lambda d: beat(d, f"{now() + 2}"), 524, 524),
    "past readiness, within the liveness limit": Situation("unix", lambda d: beat(d, f"{now() - 75}"), 525, 200),
    "past the liveness limit, before liveness-max-age": Situation("unix", lambda d: beat(d, f"{now() - LIMIT - 20}"), 525, 525),
    "past liveness-max-age": Situation("unix", lambda d: beat(d, f"{now() - LIVENESS - 100}"), 525, 525),
    "from the future": Situation("unix", lambda d: beat(d, f"{now() + 3600}"), 524, 524),
    "missing": Situation("unix", lambda d: None, 522, 522),
    "a directory instead": Situation("unix", lambda d: (d / "heartbeat").mkdir(), 522, 522),
    "empty": Situation("unix", lambda d: beat(d, ""), 523, 523),
    "garbage": Situation("unix", lambda d: beat(d, "not a time"), 523, 523),
    "long garbage is cut to 20": Situation("unix", lambda d: beat(d, "x" * 500), 523, 523),
    "digits then garbage": Situation("unix", lambda d: beat(d, f"{now()}x"), 523, 523),
    "a newline inside": Situation("unix", lambda d: beat(d, f"17\n{now()}"), 523, 523),
    "negative": Situation("unix", lambda d: beat(d, f"-{now()}"), 523, 523),
    "leading zero (octal in bash)": Situation("unix", lambda d: beat(d, f"0{now()}"), 523, 523),
    "eleven digits": Situation("unix", lambda d: beat(d, "99999999999"), 523, 523),
    "spaces around": Situation("unix", lambda d: beat(d, f" {now()} "), 523, 523),
    "draining": Situation("unix", lambda d: _draining(d, f"{now()}"), 503, 200),
    "draining before stale": Situation("unix", lambda d: _draining(d, f"{now() - 75}"), 503, 200),
    "draining before not ready": Situation("unix", _draining_and_not_ready, 503, 200),
    "not ready with a reason": Situation(
        "unix", lambda d: _not_ready(d, "dependency check failed: redis refused\nmore", f"{now()}"), 521, 200
    ),
    "not ready, reason padded": Situation("unix", lambda d: _not_ready(d, " \t redis down \t \nmore", f"{now()}"), 521, 200),
    "not ready, reason cut to 100": Situation("unix", lambda d: _not_ready(d, "r" * 300, f"{now()}"), 521, 200),
    "not ready, reason with % and backslashes": Situation(
        "unix", lambda d: _not_ready(d, r"100% C:\tmp \n", f"{now()}"), 521, 200
    ),
    "not ready, empty marker": Situation("unix", lambda d: _not_ready(d, "", f"{now()}"), 521, 200),
    "not ready, marker is a directory": Situation("unix", _not_ready_directory, 521, 200),
    "not ready before no heartbeat": Situation("unix", lambda d: _not_ready(d, "broker down"), 521, 522),
    "mtime touched now": Situation("mtime", lambda d: touch(d / "heartbeat", now()), 200, 200),
    "mtime ignores the content": Situation("mtime", _touched_garbage, 200, 200),
    "mtime past readiness": Situation("mtime", lambda d: touch(d / "heartbeat", now() - 75), 525, 200),
    "mtime past liveness-max-age": Situation("mtime", lambda d: touch(d / "heartbeat", now() - LIVENESS - 100), 525, 525),
    "mtime from the future": Situation("mtime", lambda d: touch(d / "heartbeat", now() + 3600), 524, 524),
    "mtime missing": Situation("mtime", lambda d: None, 522, 522),
    "mtime before 1970": Situation("mtime", lambda d: touch(d / "heartbeat", -5), 523, 523),
    "mtime of a symlink is the link's own": Situation("mtime", _mtime_symlink, 525, 525),
    "mtime draining": Situation("mtime", _touched_draining, 503, 200),
    "mtime not ready": Situation("mtime", _touched_not_ready, 521, 200),
}

# Each status code has one reason, and its body says it.
REASONS = {
    200: r"workerguard: fresh\n",
    503: r"workerguard: draining since preStop\n",
    521: r"workerguard: not ready: .*\n",
    522: r"workerguard: no heartbeat yet at \S+\n",
    523: r"workerguard: (heartbeat holds '.*', not unix seconds|cannot read the time of \S+)\n",
    524: r"workerguard: heartbeat \S+ is \d+s in the future\n",
    525: r"workerguard: heartbeat \S+ is \d+s old \((readiness allows|liveness restarts it at) \d+s\)\n",
}


@pytest.fixture(scope="session")
def binary() -> Path:
    return build()


@dataclass
class Bench:
    """A heartbeat directory, the exec scripts for it and a server judging it."""

    directory: Path
    scripts: dict[str, str]
    server: ProbeServer

    def reset(self) -> None:
        for entry in self.directory.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


@pytest.fixture(scope="module")
def benches(binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Bench]]:
    made: dict[str, Bench] = {}
    try:
        for heartbeat_format in ("unix", "mtime"):
            root = tmp_path_factory.mktemp(f"probe-{heartbeat_format}")
            directory = root / "beat"
            directory.mkdir()
            heartbeat = directory / "heartbeat"
            scripts = {
                "ready": probes.readiness_script(str(heartbeat), heartbeat_format, READINESS),
                "live": probes.freshness_script(str(heartbeat), heartbeat_format, LIMIT, f"liveness restarts it at {LIVENESS}s"),
            }
            server = ProbeServer(binary, heartbeat, root / "server.log", heartbeat_format, READINESS, (LIMIT, LIVENESS))
            made[heartbeat_format] = Bench(directory, scripts, server.start())
        yield made
    finally:
        for bench in made.values():
            bench.server.stop()


def run_dash(script: str) -> tuple[int, str]:
    """Exit code and everything printed, as kubelet keeps stdout and stderr together for the event."""
    dash = shutil.which("dash")
    assert dash, "dash is not installed: apt-get install dash (make test installs it)"
    result = subprocess.run(
        [dash, "-c", script], env={"PATH": os.environ["PATH"]}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10
    )
    return result.returncode, result.stdout.decode(errors="surrogateescape")


def prepared(benches: dict[str, Bench], name: str) -> tuple[Situation, Bench]:
    situation = SITUATIONS[name]
    bench = benches[situation.heartbeat_format]
    bench.reset()
    settle_in_a_second()
    situation.prepare(bench.directory)
    return situation, bench


@pytest.mark.parametrize("name", list(SITUATIONS))
def test_the_server_says_what_the_exec_probe_says(benches: dict[str, Bench], name: str) -> None:
    _, bench = prepared(benches, name)
    for probe in ("ready", "live"):
        exit_code, printed = run_dash(bench.scripts[probe])
        status, body = bench.server.get(f"/{probe}")
        if exit_code == 0:
            assert (status, printed, body) == (200, "", "workerguard: fresh\n"), probe
        else:
            assert exit_code == 1 and status != 200, probe
            assert body == printed, probe


@pytest.mark.parametrize("name", list(SITUATIONS))
def test_each_failure_reason_has_its_own_status_code(benches: dict[str, Bench], name: str) -> None:
    situation, bench = prepared(benches, name)
    for probe, expected in (("ready", situation.ready), ("live", situation.live)):
        status, body = bench.server.get(f"/{probe}")
        assert status == expected, (probe, body)
        assert re.fullmatch(REASONS[status], body, re.DOTALL), (probe, body)


@pytest.fixture
def beat_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "beat"
    directory.mkdir()
    return directory


@pytest.fixture
def server(binary: Path, beat_dir: Path, tmp_path: Path) -> Iterator[ProbeServer]:
    with ProbeServer(binary, beat_dir / "heartbeat", tmp_path / "server.log", liveness=(LIMIT, LIVENESS)) as started:
        yield started


def judgement_lines(server: ProbeServer) -> list[str]:
    return [line for line in server.log().splitlines() if re.match(r"workerguard-probe: (ready|live): ", line)]


def test_each_change_of_judgement_is_logged_once(server: ProbeServer, beat_dir: Path) -> None:
    heartbeat = beat_dir / "heartbeat"
    settle_in_a_second()
    heartbeat.write_text(f"{now()}")
    for _ in range(3):
        assert server.get("/ready")[0] == 200
    heartbeat.write_text(f"{now() - 75}")
    assert server.get("/ready")[0] == 525
    heartbeat.write_text(f"{now() - 90}")  # another message, the same judgement
    assert server.get("/ready")[0] == 525
    heartbeat.write_text(f"{now()}")
    for _ in range(2):
        assert server.get("/ready")[0] == 200
        assert server.get("/live")[0] == 200
    assert judgement_lines(server) == [
        "workerguard-probe: ready: 200 fresh",
        f"workerguard-probe: ready: 525 heartbeat {heartbeat} is 75s old (readiness allows 60s)",
        "workerguard-probe: ready: 200 fresh",
        "workerguard-probe: live: 200 fresh",
    ]


@pytest.mark.parametrize("path", ["/ready", "/live", "/healthz"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_405(server: ProbeServer, path: str, method: str) -> None:
    connection = server.connection()
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        assert (response.status, response.getheader("Allow")) == (405, "GET, HEAD")
    finally:
        connection.close()


def test_head_answers_like_get_without_a_body(server: ProbeServer, beat_dir: Path) -> None:
    (beat_dir / "heartbeat").write_text(f"{now() - 75}")
    assert server.get("/ready", "HEAD") == (525, "")
    assert server.get("/live", "HEAD") == (200, "")


@pytest.mark.parametrize("path", ["/", "/readyz", "/ready/", "/ready/x", "/healthz/x", "/metrics"])
def test_other_paths_get_404(server: ProbeServer, path: str) -> None:
    assert server.get(path)[0] == 404


def test_live_is_404_when_liveness_is_off(binary: Path, beat_dir: Path, tmp_path: Path) -> None:
    (beat_dir / "heartbeat").write_text(f"{now()}")
    with ProbeServer(binary, beat_dir / "heartbeat", tmp_path / "off.log", liveness=None) as server:
        assert server.get("/live")[0] == 404
        assert server.get("/ready")[0] == 200


def test_healthz_is_ok_whatever_the_heartbeat(server: ProbeServer, beat_dir: Path) -> None:
    assert server.get("/healthz") == (200, "ok\n")
    (beat_dir / "draining").write_text("")
    assert server.get("/healthz") == (200, "ok\n")


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_clients_sending_headers_slowly_are_cut_off_and_others_are_answered_meanwhile(server: ProbeServer) -> None:
    slow = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
    try:
        for sock in slow:
            sock.sendall(b"GET /ready HTTP/1.1\r\nHost: probe\r\n")
            sock.setblocking(False)
        started = time.monotonic()
        open_ones = set(slow)
        while open_ones and time.monotonic() - started < HEADER_TIMEOUT + 5:
            asked = time.monotonic()
            assert server.get("/healthz")[0] == 200
            assert time.monotonic() - asked < 1.0
            for sock in list(open_ones):
                if _closed(sock):
                    open_ones.discard(sock)
                    continue
                try:
                    sock.send(b"X-Slow: 1\r\n")  # never the blank line that ends the headers
                except OSError:
                    open_ones.discard(sock)
            time.sleep(0.2)
        assert not open_ones, f"{len(open_ones)} slow clients still connected"
        assert time.monotonic() - started >= HEADER_TIMEOUT - 0.5  # cut by the timeout, not refused at once
    finally:
        for sock in slow:
            sock.close()


def _raw_get(port: int, header_bytes: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nX-Pad: " + b"a" * header_bytes + b"\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        return answer


def test_an_oversized_header_is_refused(server: ProbeServer) -> None:
    assert _raw_get(server.port, 2048).startswith(b"HTTP/1.1 200 ")
    assert _raw_get(server.port, 64 * 1024).startswith(b"HTTP/1.1 431 ")


GOOD_FLAGS = ["--listen=127.0.0.1:1", "--heartbeat=/hb/heartbeat", "--format=unix", "--readiness-max-age=60"]


def _without(flag: str) -> list[str]:
    return [arg for arg in GOOD_FLAGS if not arg.startswith(flag + "=")]


BAD_FLAGS = {
    "no listen": (_without("--listen"), "--listen"),
    "no heartbeat": (_without("--heartbeat"), "--heartbeat"),
    "no format": (_without("--format"), "--format"),
    "no readiness-max-age": (_without("--readiness-max-age"), "--readiness-max-age"),
    "listen without a port": ([*_without("--listen"), "--listen=127.0.0.1"], "--listen"),
    "relative heartbeat": ([*_without("--heartbeat"), "--heartbeat=hb/heartbeat"], "--heartbeat"),
    "unnormalized heartbeat": ([*_without("--heartbeat"), "--heartbeat=/hb/../heartbeat"], "--heartbeat"),
    "unknown format": ([*_without("--format"), "--format=json"], "--format"),
    "readiness not a number": ([*_without("--readiness-max-age"), "--readiness-max-age=60s"], "--readiness-max-age"),
    "negative liveness limit": ([*GOOD_FLAGS, "--liveness-limit=-1", "--liveness-max-age=300"], "--liveness-limit"),
    "liveness-limit alone": ([*GOOD_FLAGS, "--liveness-limit=180"], "--liveness-limit"),
    "liveness-max-age alone": ([*GOOD_FLAGS, "--liveness-max-age=300"], "--liveness-max-age"),
    "unknown flag": ([*GOOD_FLAGS, "--readiness=60"], "-readiness"),
    "a positional argument": ([*GOOD_FLAGS, "extra"], "extra"),
}


@pytest.mark.parametrize("case", list(BAD_FLAGS))
def test_bad_flags_exit_2_with_one_line_naming_the_flag(binary: Path, case: str) -> None:
    args, named = BAD_FLAGS[case]
    result = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=10)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("workerguard-probe: ") and result.stderr.count("\n") == 1
    assert named in result.stderr


def test_sigterm_stops_it_with_status_0(server: ProbeServer) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(5) == 0
