"""workerguard heartbeat writer for Python workers: the signal that workerguard's probes judge.

Standard library only. One beat every $WORKERGUARD_BEAT_INTERVAL seconds, from a thread of its own,
so a long job keeps beating; but no beat while any job has run longer than $WORKERGUARD_STUCK_AFTER,
so a wedged worker stops beating and liveness restarts it. A dependency check that fails (or hangs)
writes the not-ready marker next to the heartbeat: readiness fails, liveness does not.

    from workerguard_heartbeat import Heartbeat

    heartbeat = Heartbeat.from_env(check=redis_ping(os.environ["REDIS_URL"]))
    heartbeat.start()
    with heartbeat.job():
        do_the_work()

Celery: call `install_celery(app)` once where the app is defined (prefork, threads and solo pools).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

__version__ = "1.0.0"

DEFAULT_PATH = "/var/run/workerguard/heartbeat"
DEFAULT_INTERVAL = 10.0
DEFAULT_STUCK_AFTER = 1800.0
NOT_READY = "not-ready"
DRAINING = "draining"
# A dependency check that has not finished for this many beats counts as failed: a hung Redis hangs it.
CHECK_STALE_BEATS = 3

log = logging.getLogger("workerguard.heartbeat")

Check = Callable[[], None]  # returns when the dependency is usable; raises (any exception) when not


def _seconds(text: str | None, default: float | None) -> float | None:
    if text is None or text.strip() == "":
        return default
    if text.strip() == "off":
        return None
    return float(text)


class Heartbeat:
    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        interval: float = DEFAULT_INTERVAL,
        stuck_after: float | None = DEFAULT_STUCK_AFTER,
        check: Check | None = None,
        running_since: Callable[[], Iterable[float]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`running_since` adds the wall-clock start times of jobs tracked elsewhere (Celery's own
        active requests, say) to those marked with job()."""
        self.path = Path(path)
        self.interval = interval
        self.stuck_after = stuck_after
        self.check = check
        self.running_since = running_since
        self.clock = clock
        self._jobs: dict[int, float] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._checked_at: float | None = None  # when the last check finished
        self._check_error: str | None = "not checked yet"
        self._reported: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **kwargs: Any) -> Heartbeat:
        """The settings workerguard injects: WORKERGUARD_HEARTBEAT_FILE, _BEAT_INTERVAL, _STUCK_AFTER."""
        env = os.environ if environ is None else environ
        interval = _seconds(env.get("WORKERGUARD_BEAT_INTERVAL"), DEFAULT_INTERVAL) or DEFAULT_INTERVAL
        return cls(
            env.get("WORKERGUARD_HEARTBEAT_FILE") or DEFAULT_PATH,
            interval=interval,
            stuck_after=_seconds(env.get("WORKERGUARD_STUCK_AFTER"), DEFAULT_STUCK_AFTER),
            **kwargs,
        )

    # --- jobs -------------------------------------------------------------------------------------

    def job_started(self) -> int:
        token = next(self._ids)
        with self._lock:
            self._jobs[token] = self.clock()
        return token

    def job_finished(self, token: int) -> None:
        with self._lock:
            self._jobs.pop(token, None)

    @contextlib.contextmanager
    def job(self) -> Iterator[None]:
        token = self.job_started()
        try:
            yield
        finally:
            self.job_finished(token)

    def stuck_jobs(self) -> int:
        """How many running jobs have run longer than stuck_after."""
        if self.stuck_after is None:
            return 0
        with self._lock:
            starts = list(self._jobs.values())
        if self.running_since is not None:
            starts.extend(self.running_since())
        now = self.clock()
        return sum(1 for started in starts if now - started > self.stuck_after)

    # --- beating ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Clear what a previous container left, beat once, then beat from a thread of its own."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for name in (DRAINING, NOT_READY):
            with contextlib.suppress(OSError):
                (self.path.parent / name).unlink()
        if self.check is not None:
            self._run_check()
            self._spawn(self._check_forever, "workerguard-check")
        self.beat()
        self._spawn(self._beat_forever, "workerguard-heartbeat")

    def stop(self) -> None:
        """Stop beating; the last beat stays, and ages out as the process goes away."""
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(self.interval + 1)

    def beat(self) -> None:
        """One beat: the heartbeat unless a job is stuck, and the not-ready marker as the check says.
        Never raises: a writer that dies on one full disk would stop beating for good."""
        try:
            stuck = self.stuck_jobs()
            if stuck:
                self._report(f"{stuck} job(s) running longer than {self.stuck_after:g}s: not beating, so liveness restarts")
            else:
                self._write(self.path, str(int(self.clock())))
                self._report(None)
            reason = self._not_ready_reason()
            marker = self.path.parent / NOT_READY
            if reason is None:
                with contextlib.suppress(FileNotFoundError):
                    marker.unlink()
            else:
                self._write(marker, reason)
        except Exception as error:  # noqa: BLE001 - the next beat tries again
            log.warning("workerguard heartbeat failed: %s", error)

    def _not_ready_reason(self) -> str | None:
        if self.check is None:
            return None
        if self._checked_at is None or self.clock() - self._checked_at > CHECK_STALE_BEATS * self.interval:
            return "the dependency check has not answered"
        return self._check_error

    def _write(self, target: Path, text: str) -> None:
        """Atomically: a temporary file in the same directory, then rename, so no probe reads half of it."""
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            temporary.write_text(text)
            os.replace(temporary, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()

    def _report(self, problem: str | None) -> None:
        if problem != self._reported:
            (log.warning if problem else log.info)("workerguard: %s", problem or "beating")
            self._reported = problem

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _beat_forever(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def _run_check(self) -> None:
        assert self.check is not None
        try:
            self.check()
            error = None
        except Exception as failure:  # noqa: BLE001 - any failure means "not usable"
            error = f"dependency check failed: {failure}"[:200]
        self._check_error, self._checked_at = error, self.clock()

    def _check_forever(self) -> None:
        while not self._stop.wait(self.interval):
            self._run_check()


def redis_ping(url: str, timeout: float = 2.0) -> Check:
    """A check that PINGs the Redis at url (redis://[:password@]host[:port][/db]) with no client library."""
    parts = urllib.parse.urlsplit(url)
    host, port, password = parts.hostname or "localhost", parts.port or 6379, parts.password

    def ping() -> None:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            if password:
                connection.sendall(_command("AUTH", password))
                _expect(connection, b"+OK")
            connection.sendall(_command("PING"))
            _expect(connection, b"+PONG")

    return ping


def _command(*words: str) -> bytes:
    encoded = [word.encode() for word in words]
    return b"".join([b"*%d\r\n" % len(encoded), *(b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded)])


def _expect(connection: socket.socket, answer: bytes) -> None:
    got = connection.recv(64)
    if not got.startswith(answer):
        raise ConnectionError(f"redis answered {got[:40]!r}")


def install_celery(app: Any, check: Check | None = None) -> Heartbeat:
    """Beat from the Celery worker's main process, judging the tasks it has handed to its pool.

    Works for prefork (tasks run in child processes; the main process knows when each was accepted),
    threads and solo (where a task blocks the worker's event loop, but not this thread). The default
    check PINGs the broker when it is Redis. Beating starts when the worker is ready.
    """
    from celery import signals
    from celery.worker import state

    def running_since() -> list[float]:
        for _ in range(3):  # the pool's threads may change the set while it is read
            try:
                return [request.time_start for request in list(state.active_requests) if request.time_start]
            except RuntimeError:
                continue
        return []

    broker = str(app.conf.broker_url or "")
    if check is None and broker.startswith(("redis://", "rediss://")):
        check = redis_ping(broker)
    heartbeat = Heartbeat.from_env(check=check, running_since=running_since)

    def started(**_: Any) -> None:
        heartbeat.start()

    def stopping(**_: Any) -> None:
        # Warm shutdown waits for running tasks: keep beating until they are done and the process ends.
        log.info("workerguard: worker shutting down; beating until it exits")

    signals.worker_ready.connect(started, weak=False)
    signals.worker_shutdown.connect(stopping, weak=False)
    return heartbeat
