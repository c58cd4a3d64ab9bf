"""make bench: workerguard against the floor over real TLS on loopback, plus plan() and memory figures.

Servers run pinned to core 0, wrk to core 1. Each round runs the floor and workerguard with four
bodies, so drift on the machine hits all five:
- replicas of one ReplicaSet: a uid per request;
- every pod different: an annotation numbered per request as well, one that planning never reads;
- StatefulSet-like pods: name, hostname and the pod-name and pod-index labels numbered per request;
- every spec different: an env value numbered per request, so every request is planned from scratch.
Everything is reported as measured in this run.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.pods import admission_review, realistic_pod
from tests.serverproc import free_port, serve_argv, wait_until, write_pair
from webhook.core.plan import plan
from webhook.core.rules import BUILTIN_RULES

ROOT = Path(__file__).parent.parent
LUA = Path(__file__).parent / "post.lua"


def pinned(core: int, argv: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", str(core), *argv] if taskset else argv


def start(argv: list[str], port: int, ca: Path, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(pinned(0, argv), stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)

    def up() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{argv[:4]} exited: {log.read_text()[-2000:]}")
        with httpx.Client(verify=str(ca)) as client:
            return client.post(f"https://127.0.0.1:{port}/mutate", json=admission_review()).status_code == 200

    wait_until(up, timeout=30)
    return process


def wrk(port: int, body: Path, seconds: int, connections: int) -> dict[str, float]:
    done = subprocess.run(
        pinned(
            1,
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                str(LUA),
                f"https://127.0.0.1:{port}/mutate",
            ],
        ),
        capture_output=True,
        text=True,
        env={**os.environ, "WG_BODY_FILE": str(body)},
        timeout=seconds + 60,
    )
    out = done.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    errors = (
        sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", m.group(0)))
        if (m := re.search(r"Socket errors:.*", out))
        else 0
    )

    def percentile(name: str) -> float:
        value, unit = re.search(rf"\s{name}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"rps": rps, "requests": total, "failed": non2xx + errors, "p50_ms": percentile("50"), "p99_ms": percentile("99")}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def plan_microseconds(runs: int = 15, number: int = 500) -> float:
    """Median of plan() over distinct copies of the benchmark pod (they differ in one annotation). plan()
    remembers nothing, so this is the cost of every pod the server's memo has not seen."""
    timings = []
    for run in range(runs):
        pods = [realistic_pod() for _ in range(number)]
        for n, pod in enumerate(pods):
            pod["metadata"]["annotations"]["example.com/n"] = f"{run}-{n}"
        started = time.perf_counter()
        for pod in pods:
            plan(pod, BUILTIN_RULES)
        timings.append((time.perf_counter() - started) / number * 1e6)
    assert plan(realistic_pod()).patch
    return statistics.median(timings)


def check_the_full_injection_runs(port: int, ca: Path, body: Path) -> None:
    """The measured request must be patched with every probe, not skipped or denied."""
    with httpx.Client(verify=str(ca)) as client:
        answer = client.post(f"https://127.0.0.1:{port}/mutate", content=body.read_text().replace("__N__", "0")).json()
    patch = json.loads(base64.b64decode(answer["response"]["patch"]))
    injected = {op["path"].rsplit("/", 1)[-1] for op in patch}
    assert {"startupProbe", "readinessProbe", "livenessProbe", "lifecycle"} <= injected, injected


def server_pid(process: subprocess.Popen[bytes]) -> int:
    """The Python process under taskset (taskset execs, so it is the same pid)."""
    return process.pid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="length of one wrk round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of floor, replicas, unique")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--soak-requests", type=int, default=200_000, help="requests for the memory growth figure")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("bench: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="wg-bench-"))
    ca, cert, key = write_pair(work / "certs")
    body = work / "review.json"
    body.write_text(json.dumps(admission_review(uid="bench-__N__")))
    unique = admission_review(uid="bench-__N__")
    unique["request"]["object"]["metadata"]["annotations"]["example.com/nonce"] = "__N__"
    unique_body = work / "review-unique.json"
    unique_body.write_text(json.dumps(unique))
    statefulset = admission_review(uid="bench-__N__")
    pod = statefulset["request"]["object"]
    pod["metadata"]["name"] = pod["spec"]["hostname"] = "billing-sidekiq-__N__"
    pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] = "billing-sidekiq-__N__"
    pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] = "__N__"
    pod["spec"]["subdomain"] = "billing-sidekiq"
    statefulset_body = work / "review-statefulset.json"
    statefulset_body.write_text(json.dumps(statefulset))
    distinct = admission_review(uid="bench-__N__")
    distinct["request"]["object"]["spec"]["containers"][0]["env"][0]["value"] = "__N__"
    distinct_body = work / "review-distinct.json"
    distinct_body.write_text(json.dumps(distinct))
    floor_port, wg_port = free_port(), free_port()
    floor = start([sys.executable, "-m", "bench.floor", str(floor_port), str(cert), str(key)], floor_port, ca, work / "floor.log")
    wg = start(
        serve_argv(wg_port, cert, key, "--log-format", "json", "--log-level", "info"), wg_port, ca, work / "workerguard.log"
    )
    try:
        for each in (unique_body, statefulset_body, distinct_body):
            check_the_full_injection_runs(wg_port, ca, each)
        for port in (floor_port, wg_port):  # warm-up
            wrk(port, body, 3, args.connections)
        rounds: dict[str, list[dict[str, float]]] = {
            "floor": [],
            "workerguard": [],
            "workerguard_unique": [],
            "workerguard_statefulset": [],
            "workerguard_distinct": [],
        }
        for _ in range(args.rounds):
            rounds["floor"].append(wrk(floor_port, body, args.seconds, args.connections))
            rounds["workerguard"].append(wrk(wg_port, body, args.seconds, args.connections))
            rounds["workerguard_unique"].append(wrk(wg_port, unique_body, args.seconds, args.connections))
            rounds["workerguard_statefulset"].append(wrk(wg_port, statefulset_body, args.seconds, args.connections))
            rounds["workerguard_distinct"].append(wrk(wg_port, distinct_body, args.seconds, args.connections))
        rss_warm = rss_mib(server_pid(wg))
        soak_seconds = 0.0
        soaked = 0
        while soaked < args.soak_requests:
            started = time.monotonic()
            result = wrk(wg_port, body, 10, args.connections)
            soak_seconds += time.monotonic() - started
            soaked += int(result["requests"])
            rounds.setdefault("soak", []).append(result)
        rss_after = rss_mib(server_pid(wg))
    finally:
        for process in (floor, wg):
            process.send_signal(signal.SIGTERM)
        for process in (floor, wg):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[name])

    failed = sum(r["failed"] for results in rounds.values() for r in results)
    summary = {
        "floor_rps": round(median("floor", "rps")),
        "workerguard_rps": round(median("workerguard", "rps")),
        "ratio": round(median("workerguard", "rps") / median("floor", "rps"), 3),
        "unique_rps": round(median("workerguard_unique", "rps")),
        "unique_ratio": round(median("workerguard_unique", "rps") / median("floor", "rps"), 3),
        "statefulset_rps": round(median("workerguard_statefulset", "rps")),
        "statefulset_ratio": round(median("workerguard_statefulset", "rps") / median("floor", "rps"), 3),
        "distinct_rps": round(median("workerguard_distinct", "rps")),
        "distinct_ratio": round(median("workerguard_distinct", "rps") / median("floor", "rps"), 3),
        "floor_p50_ms": median("floor", "p50_ms"),
        "floor_p99_ms": median("floor", "p99_ms"),
        "workerguard_p50_ms": median("workerguard", "p50_ms"),
        "workerguard_p99_ms": median("workerguard", "p99_ms"),
        "unique_p50_ms": median("workerguard_unique", "p50_ms"),
        "unique_p99_ms": median("workerguard_unique", "p99_ms"),
        "statefulset_p50_ms": median("workerguard_statefulset", "p50_ms"),
        "statefulset_p99_ms": median("workerguard_statefulset", "p99_ms"),
        "distinct_p50_ms": median("workerguard_distinct", "p50_ms"),
        "distinct_p99_ms": median("workerguard_distinct", "p99_ms"),
        "failed_or_non2xx": failed,
        "plan_us": round(plan_microseconds(), 1),
        "rss_warm_mib": round(rss_warm, 1),
        "rss_after_mib": round(rss_after, 1),
        "rss_growth_pct": round((rss_after - rss_warm) / rss_warm * 100, 1),
        "soak_requests": soaked,
        "body_bytes": body.stat().st_size,
        "connections": args.connections,
        "rounds": args.rounds,
    }
    print(json.dumps({"rounds": rounds}, indent=1), file=sys.stderr)
    print("bench: " + " ".join(f"{k}={v}" for k, v in summary.items()))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
