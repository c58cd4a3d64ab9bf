"""The RQ example's jobs: each runs in a work horse that RQ forks per job."""

from __future__ import annotations

import threading
import time


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    print(f"finished sleep {seconds}", flush=True)
    return seconds


def hang() -> None:
    threading.Event().wait()  # blocks forever, as a deadlocked job does
