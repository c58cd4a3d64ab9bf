"""The writer: one beat every interval from a real thread, none while a job is stuck, the not-ready marker,
and the exited marker once the process has finished its work."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from . import native, settings
from .settings import CHECK_STALE_BEATS, DEFAULT_INTERVAL, DEFAULT_PATH, DEFAULT_STUCK_AFTER, DRAINING, EXITED, NOT_READY

log = logging.getLogger("workerguard.heartbeat")

Check = Callable[[], None]  # returns when the dependency is usable; raises (any exception) when not

_writes = itertools.count()


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
        if not interval > 0:
            raise settings.SettingError(f"interval={interval!r}: expected seconds above 0")
        if stuck_after is not None and not stuck_after > 0:
            raise settings.SettingError(f"stuck_after={stuck_after!r}: expected seconds above 0, or None for off")
        self.path = Path(path)
        self.interval = interval
        self.stuck_after = stuck_after
        self.check = check
        self.running_since = running_since
        self.clock = clock
        self._jobs: dict[int, float] = {}
        self._ids = itertools.count()
        self._lock = native.allocate_lock()
        self._writing = native.allocate_lock()  # held by a beat and by stop(): no beat after the exited marker
        self._stopper = native.Stopper()
        self._started = False
        self._beating_pid: int | None = None  # the process that started beating, until it writes the exited marker
        self._checked_at: float | None = None  # when the last check finished
        self._check_error: str | None = "not checked yet"
        self._reported: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> Heartbeat:
        """The settings workerguard injects; a bad value raises SettingError naming it (the contract's rule)."""
        found = settings.from_env(environ)
        return cls(found.path, interval=found.interval, stuck_after=found.stuck_after, **kwargs)

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
        now = self.clock()
        return sum(1 for started in self._running_starts() if now - started > self.stuck_after)

    def running_jobs(self) -> int:
        """How many jobs run now: those marked with job() and those tracked elsewhere."""
        return len(self._running_starts())

    def _running_starts(self) -> list[float]:
        with self._lock:
            starts = list(self._jobs.values())
        if self.running_since is not None:
            starts.extend(self.running_since())
        return starts

    # --- beating ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Clear what a previous container left, beat once, then beat from a real thread of its own.
        A second call, or one after stop(), does nothing."""
        with self._lock:
            if self._started or self._stopper.is_set():
                return
            self._started = True
            self._beating_pid = os.getpid()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for name in (DRAINING, NOT_READY):
            with contextlib.suppress(OSError):
                (self.path.parent / name).unlink()
        self._clear_exited()
        if self.check is not None:
            self._run_check()
            native.start_thread(self._check_forever)
        self.beat()
        native.start_thread(self._beat_forever)
        pool = native.patched_by()
        log.info(
            "workerguard: beating every %gs into %s%s",
            self.interval,
            self.path,
            f" (from a real thread under {pool})" if pool != "none" else "",
        )

    def stop(self) -> None:
        """The final stop, for when the process is finishing after its last job: no beat after it, then
        the exited marker (unix seconds) next to the heartbeat, which the sidecars' preStop waits for.
        Only the process that started beating writes it, once, and never while a job still runs: a
        later stop() writes it once they have finished. The last beat stays and ages out."""
        self._stopper.set()
        # Never started, already written, or a forked child: there, before the lock, which a thread
        # that did not survive the fork may hold.
        if self._beating_pid != os.getpid():
            return
        with self._writing:
            if self._beating_pid != os.getpid():
                return
            running = self.running_jobs()
            if running:
                log.warning(
                    "workerguard: stopped beating with %d job(s) still running: no exited marker yet, "
                    "so the sidecars wait for the heartbeat to go stale",
                    running,
                )
                return
            self._beating_pid = None
            try:
                self._write(self.path.parent / EXITED, str(int(self.clock())))
            except OSError as error:
                log.warning("workerguard: could not write the exited marker: %s", error)
            else:
                log.info("workerguard: stopped beating; wrote %s", self.path.parent / EXITED)

    def beat(self) -> None:
        """One beat: the heartbeat unless a job is stuck, and the not-ready marker as the check says.
        Never raises: a writer that dies on one full disk would stop beating for good. After stop() it
        writes nothing."""
        with self._writing:
            if self._stopper.is_set():
                return
            self._clear_exited()
            self._beat_files()

    def _clear_exited(self) -> None:
        """A previous container's exited marker must never make this one's deletion look finished. Run
        at start and again at every beat, so a removal that failed is tried again, as a write is."""
        try:
            (self.path.parent / EXITED).unlink(missing_ok=True)
        except OSError as error:
            log.warning("workerguard heartbeat failed: %s", error)

    def _beat_files(self) -> None:
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
        """Atomically: a temporary file in the same directory, then rename, so no probe reads half of it.
        The temporary name is unique per write, so concurrent beats never share one."""
        temporary = target.with_name(f".{target.name}.{os.getpid()}.{next(_writes)}.tmp")
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

    def _beat_forever(self) -> None:
        while not self._stopper.wait(self.interval):
            self.beat()

    def _run_check(self) -> None:
        check = self.check
        if check is None:
            return
        try:
            check()
            error = None
        except Exception as failure:  # noqa: BLE001 - any failure means "not usable"
            error = f"dependency check failed: {failure}"[:200]
        self._check_error, self._checked_at = error, self.clock()

    def _check_forever(self) -> None:
        while not self._stopper.wait(self.interval):
            self._run_check()
