"""The worker of tests/workers/test_sidecar_order.py: one job that ends by querying its database through
the sidecar beside it, with the Python heartbeat writer as any worker uses it.

    sidecar_order_worker.py PORT JOB_SECONDS

Its environment is what workerguard injects and nothing else. SIGTERM lets the running job finish; then
the writer makes its final stop and the exit code says whether the job succeeded. Each log line starts
with its unix time, so the test can place it on the deletion's timeline.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time

from workerguard_heartbeat import Heartbeat

logging.basicConfig(level=logging.INFO, format="%(created).6f %(name)s %(message)s", stream=sys.stdout)
log = logging.getLogger("worker")
stopping = threading.Event()


def query(port: int) -> str:
    """The job's database query: one line from the proxy on the loopback port."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        answer = connection.makefile("r").readline().strip()
    if not answer:
        raise ConnectionError("the proxy closed the connection without answering")
    return answer


def run_job(heartbeat: Heartbeat, port: int, seconds: float) -> bool:
    log.info("job started")
    with heartbeat.job():
        time.sleep(seconds)  # the job's own work; a SIGTERM meanwhile does not cut it short
        try:
            answer = query(port)
        except OSError as error:
            log.error("job failed: its database query failed: %s", error)
            return False
    log.info("job finished: the database answered %r", answer)
    return True


def main(argv: list[str]) -> int:
    port, seconds = int(argv[1]), float(argv[2])
    heartbeat = Heartbeat.from_env()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    heartbeat.start()
    succeeded = run_job(heartbeat, port, seconds)
    stopping.wait()  # a real worker would take its next job here; this one has none left
    log.info("final stop: stopping the writer")
    heartbeat.stop()
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
