"""make bench-probe: what workerguard-probe costs per probe, beside what `sh -c <readiness script>` costs.

Measured in this run, on this machine:
- the server's own CPU time (utime + stime of /proc/PID/stat) over sequential GET /ready requests for a
  fresh heartbeat, on one keep-alive connection and on a new connection each (as kubelet probes), per request;
- its VmRSS and VmHWM (/proc/PID/status) before and after;
- the CPU of one exec readiness run, dash only (resource.getrusage(RUSAGE_CHILDREN) over a few hundred
  runs): the command alone, without the container runtime's share, which docs/probes.md gives for a real node.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.probeserver import build, ProbeServer
from webhook.core import probes

READINESS = 60
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat (fields 14 and 15, after the command's parentheses)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kib(pid: int) -> dict[str, int]:
    wanted = ("VmRSS", "VmHWM")
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {name: int(line.split()[1]) for line in lines for name in wanted if line.startswith(name + ":")}


def keep_alive(server: ProbeServer, requests: int) -> None:
    connection = server.connection()
    try:
        for _ in range(requests):
            connection.request("GET", "/ready")
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
    finally:
        connection.close()


def new_connections(server: ProbeServer, requests: int) -> None:
    for _ in range(requests):
        assert server.get("/ready")[0] == 200


def server_cpu_per_request(
    server: ProbeServer, send: Callable[[ProbeServer, int], None], requests: int, heartbeat: Path
) -> float:
    heartbeat.write_text(str(int(time.time())))  # fresh for the whole batch, however slow the machine
    before = cpu_seconds(server.pid)
    send(server, requests)
    return (cpu_seconds(server.pid) - before) / requests


def exec_cpu_per_run(script: str, runs: int) -> float:
    dash = shutil.which("dash")
    assert dash, "dash is not installed"
    env = {"PATH": os.environ["PATH"]}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(runs):
        subprocess.run([dash, "-c", script], env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / runs


def run(requests: int, runs: int, rounds: int, server_env: dict[str, str]) -> dict[str, object]:
    binary = build()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        heartbeat = directory / "heartbeat"
        heartbeat.write_text(str(int(time.time())))
        script = probes.readiness_script(str(heartbeat), "unix", READINESS)
        with ProbeServer(binary, heartbeat, directory / "server.log", readiness=READINESS, env=server_env) as server:
            idle = memory_kib(server.pid)
            keep, fresh, execs = [], [], []
            for _ in range(rounds):
                keep.append(server_cpu_per_request(server, keep_alive, requests, heartbeat))
                fresh.append(server_cpu_per_request(server, new_connections, requests, heartbeat))
                execs.append(exec_cpu_per_run(script, runs))
            after = memory_kib(server.pid)
    keep_us, fresh_us, exec_us = (statistics.median(values) * 1e6 for values in (keep, fresh, execs))
    return {
        "server_env": server_env,
        "requests_per_round": requests,
        "exec_runs_per_round": runs,
        "rounds": rounds,
        "server_cpu_us_per_request": {
            "keep_alive": round(keep_us, 1),
            "new_connection": round(fresh_us, 1),
            "keep_alive_rounds": [round(v * 1e6, 1) for v in keep],
            "new_connection_rounds": [round(v * 1e6, 1) for v in fresh],
        },
        "server_memory_kib": {"idle": idle, "after": after},
        "exec_readiness_cpu_us_per_run": round(exec_us, 1),
        "exec_readiness_rounds": [round(v * 1e6, 1) for v in execs],
        "exec_run_over_server_request": {
            "keep_alive": round(exec_us / keep_us, 1),
            "new_connection": round(exec_us / fresh_us, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.probe_server")
    parser.add_argument("--requests", type=int, default=10_000, help="GET /ready per round and connection mode")
    parser.add_argument("--runs", type=int, default=300, help="dash readiness runs per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="the server's environment (GOGC=..., ...)"
    )
    args = parser.parse_args()
    server_env = dict(item.split("=", 1) for item in args.env)
    print(json.dumps(run(args.requests, args.runs, args.rounds, server_env), indent=2))


if __name__ == "__main__":
    main()
