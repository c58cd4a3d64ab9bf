"""A plain Python worker: up to 10 jobs at once from a Redis list, judged by workerguard's probes.

Jobs are JSON on the list workerguard:jobs: {"sleep": SECONDS} or {"hang": true}. SIGTERM stops taking
jobs, lets the running ones finish and exits 0.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time

import redis
from workerguard_heartbeat import Heartbeat, redis_ping

QUEUE = "workerguard:jobs"
SLOTS = int(os.environ.get("CONCURRENCY", "10"))

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(message)s", stream=sys.stdout)
log = logging.getLogger("worker")
stopping = threading.Event()


def run(job: dict[str, object]) -> None:
    if job.get("hang"):
        threading.Event().wait()  # blocks forever, as a deadlocked job does
    time.sleep(float(job.get("sleep", 0)))  # type: ignore[arg-type]


def take_jobs(client: redis.Redis, heartbeat: Heartbeat) -> None:
    while not stopping.is_set():
        try:
            popped = client.brpop([QUEUE], timeout=1)
        except redis.RedisError as error:
            log.warning("redis: %s", error)
            stopping.wait(1)
            continue
        if popped is None:
            continue
        job = json.loads(popped[1])
        log.info("started %s", job)
        with heartbeat.job():
            run(job)
        log.info("finished %s", job)


def main() -> int:
    url = os.environ["REDIS_URL"]
    heartbeat = Heartbeat.from_env(check=redis_ping(url))
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    heartbeat.start()
    slots = [threading.Thread(target=take_jobs, args=(client, heartbeat), name=f"slot-{n}") for n in range(SLOTS)]
    for slot in slots:
        slot.start()
    log.info("worker ready: %d slots", SLOTS)
    for slot in slots:
        slot.join()
    heartbeat.stop()
    log.info("stopped: every job finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
