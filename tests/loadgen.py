"""Load for isolation checks: big previews from another process, and latency samples of one endpoint.

The flood runs in a process of its own (`python -m tests.loadgen flood ...`) so that its threads never
share a GIL with the client whose latencies are measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def big_preview_yaml(size: int) -> bytes:
    """An opted-in Pod of about `size` bytes of YAML: one container with many env entries."""
    head = (
        'apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  labels: {workerguard.io/inject: "true"}\n'
        "spec:\n  containers:\n    - name: worker\n      image: registry.example/worker:1.0\n      env:\n"
    )
    entry = '        - name: VAR_{n}\n          value: "value number {n} of a generously long environment"\n'
    parts, total, n = [head], len(head), 0
    while total < size:
        line = entry.format(n=n)
        parts.append(line)
        total, n = total + len(line), n + 1
    return "".join(parts).encode()


@dataclass
class Sample:
    seconds: list[float]
    statuses: dict[int, int]

    def quantile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p99(self) -> float:
        return self.quantile(0.99)


def sample(client: httpx.Client, method: str, path: str, body: bytes | None, seconds: float, at_most: int = 100_000) -> Sample:
    """Requests one after another on one keep-alive connection for `seconds`; each one timed."""
    timings: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    headers = {"content-type": "application/json"}
    while time.monotonic() < deadline and len(timings) < at_most:
        started = time.perf_counter()
        answer = client.request(method, path, content=body, headers=headers)
        timings.append(time.perf_counter() - started)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
    return Sample(timings, statuses)


class PreviewFlood:
    """`clients` threads in another process, each posting a `size`-byte YAML preview in a loop."""

    def __init__(self, url: str, ca: Path, clients: int, size: int, seconds: float) -> None:
        self.argv = [
            sys.executable, "-m", "tests.loadgen", "flood", url, str(ca),
            "--clients", str(clients), "--size", str(size), "--seconds", str(seconds),
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None
        self.report: dict[str, int] = {}

    def __enter__(self) -> PreviewFlood:
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, cwd=Path(__file__).parent.parent)
        assert self.process.stdout is not None
        started = self.process.stdout.readline()  # the flood says when its bodies are built and it starts
        if not started:
            raise RuntimeError("the preview flood did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        out, _ = self.process.communicate(timeout=120)
        self.report = json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}


def _flood(url: str, ca: str, clients: int, size: int, seconds: float) -> None:
    body = big_preview_yaml(size)
    counts: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def post_in_a_loop() -> None:
        with httpx.Client(base_url=url, verify=ca, timeout=60) as client:
            while time.monotonic() < deadline:
                try:
                    outcome = str(client.post("/preview", content=body, headers={"content-type": "application/yaml"}).status_code)
                except httpx.HTTPError as error:
                    outcome = type(error).__name__
                with lock:
                    counts[outcome] = counts.get(outcome, 0) + 1

    threads = [threading.Thread(target=post_in_a_loop) for _ in range(clients)]
    print("started", flush=True)
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(counts), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.loadgen")
    sub = parser.add_subparsers(dest="command", required=True)
    flood = sub.add_parser("flood", help="post big previews from several threads until time is up")
    flood.add_argument("url")
    flood.add_argument("ca")
    flood.add_argument("--clients", type=int, default=4)
    flood.add_argument("--size", type=int, default=2_000_000)
    flood.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    _flood(args.url, args.ca, args.clients, args.size, args.seconds)


if __name__ == "__main__":
    main()
