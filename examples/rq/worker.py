"""An RQ worker with workerguard's writer: jobs count in the parent, from fork to reaping."""

from __future__ import annotations

import logging
import os

from redis import Redis
from rq import Queue, Worker
from workerguard_heartbeat.rq import install_rq

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
connection = Redis.from_url(os.environ["REDIS_URL"])
# job_timeout far above stuck-after: here the writer, not RQ's own timer, judges a hung job.
worker = Worker([Queue("default", connection=connection, default_timeout=3600)], connection=connection)
install_rq(worker)
worker.work(with_scheduler=False)
