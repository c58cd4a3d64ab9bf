#!/usr/bin/env python3
"""A small background worker as workerguard expects one: it beats, drains on SIGTERM, and can hang.

- A heartbeat thread writes unix time to $WORKERGUARD_HEARTBEAT_FILE (write a temp file, rename),
  but only while the job loop has made progress recently: a stuck loop stops the heartbeat, so the
  probes see what matters (the work), not merely that a thread is alive.
- SIGTERM: stop taking jobs, finish the current one, exit 0.
- SIGUSR1: simulate a deadlock (the job loop blocks forever), for demonstrations and tests.

Environment: WORKERGUARD_HEARTBEAT_FILE (required), HEARTBEAT_INTERVAL (seconds, default 5),
JOB_SECONDS (how long one job takes, default 2).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

HEARTBEAT = Path(os.environ["WORKERGUARD_HEARTBEAT_FILE"])
INTERVAL = float(os.environ.get("HEARTBEAT_INTERVAL", "5"))
JOB_SECONDS = float(os.environ.get("JOB_SECONDS", "2"))

stopping = threading.Event()
hung = threading.Event()
last_progress = time.monotonic()


def write_heartbeat() -> None:
    """Atomically: a probe never reads a half-written file."""
    descriptor, temporary = tempfile.mkstemp(dir=HEARTBEAT.parent, prefix=".heartbeat-")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(str(int(time.time())))
    os.replace(temporary, HEARTBEAT)


def beat_forever() -> None:
    while True:
        if time.monotonic() - last_progress < 3 * max(INTERVAL, JOB_SECONDS):
            write_heartbeat()
        time.sleep(INTERVAL)


def main() -> int:
    global last_progress
    HEARTBEAT.parent.mkdir(parents=True, exist_ok=True)
    # A draining marker left by a previous container (kubelet runs preStop before a liveness restart).
    (HEARTBEAT.parent / "draining").unlink(missing_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGUSR1, lambda *_: hung.set())
    write_heartbeat()
    threading.Thread(target=beat_forever, daemon=True).start()
    job = 0
    while not stopping.is_set():
        job += 1
        print(f"started job {job}", flush=True)
        deadline = time.monotonic() + JOB_SECONDS
        while time.monotonic() < deadline or hung.is_set():
            time.sleep(0.05)  # a SIGTERM does not cut a job short
        last_progress = time.monotonic()
        print(f"finished job {job}", flush=True)
    print("stopped taking jobs; exiting", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
