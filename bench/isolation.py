"""make bench-isolation: /mutate and /readyz latency alone, then while clients flood /preview with big YAML.

Reported as measured in this run: each endpoint's p50 and p99 unloaded and loaded, the ratio of the
two p99s, and what the flood got back. The loaded figures are taken while the flood is running.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from tests.loadgen import PreviewFlood, Sample, sample
from tests.pods import admission_review
from tests.serverproc import Server

MUTATE_BODY = json.dumps(admission_review()).encode()


def measure(server: Server, seconds: float) -> dict[str, Sample]:
    with server.client() as mutate, server.client() as readyz:
        return {
            "mutate": sample(mutate, "POST", "/mutate", MUTATE_BODY, seconds),
            "readyz": sample(readyz, "GET", "/readyz", None, seconds / 4),
        }


def run(clients: int, size: int, seconds: float, extra_args: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp), *extra_args) as server:
        measure(server, 1)  # warm: connections, caches, the preview workers
        alone = measure(server, seconds)
        with PreviewFlood(server.url, server.ca, clients, size, seconds + 6) as flood:
            loaded = measure(server, seconds)
        report: dict[str, object] = {}
        for endpoint in ("mutate", "readyz"):
            before, during = alone[endpoint], loaded[endpoint]
            report[endpoint] = {
                "alone_ms": {"p50": round(before.p50 * 1000, 2), "p99": round(before.p99 * 1000, 2)},
                "flooded_ms": {"p50": round(during.p50 * 1000, 2), "p99": round(during.p99 * 1000, 2)},
                "p99_ratio": round(during.p99 / before.p99, 2),
                "requests": len(during.seconds),
                "statuses": during.statuses,
            }
        report["preview_flood"] = flood.report
        return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.isolation")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--size", type=int, default=2_000_000, help="bytes of YAML per preview")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("serve_args", nargs="*", help="extra `workerguard serve` flags, after --")
    args = parser.parse_args()
    print(json.dumps(run(args.clients, args.size, args.seconds, args.serve_args), indent=2))


if __name__ == "__main__":
    main()
