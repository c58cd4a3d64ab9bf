"""Real OS threads and locks, even where gevent or eventlet has patched `threading`.

Under `celery -P gevent` or `-P eventlet` a `threading.Thread` is a greenlet: a task that computes
without yielding would stop the beat with it. The beat runs instead in a thread the kernel schedules,
from the primitives both libraries keep unpatched.
"""

from __future__ import annotations

import _thread
import sys
from collections.abc import Callable
from typing import Any


def _originals() -> tuple[Callable[..., Any], Callable[[], Any], str]:
    gevent_monkey = sys.modules.get("gevent.monkey")
    if gevent_monkey is not None and gevent_monkey.is_module_patched("threading"):
        get = gevent_monkey.get_original
        return get("_thread", "start_new_thread"), get("_thread", "allocate_lock"), "gevent"
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("thread"):
        thread = patcher.original("_thread")
        return thread.start_new_thread, thread.allocate_lock, "eventlet"
    return _thread.start_new_thread, _thread.allocate_lock, "none"


def patched_by() -> str:
    """Which library has patched threading: 'gevent', 'eventlet' or 'none'."""
    return _originals()[2]


def allocate_lock() -> Any:
    return _originals()[1]()


class Stopper:
    """A flag a real thread can wait on with a timeout, set from any thread or greenlet."""

    def __init__(self) -> None:
        self._lock = allocate_lock()
        self._lock.acquire()
        self._guard = allocate_lock()
        self._set = False

    def wait(self, timeout: float) -> bool:
        """True once stopped; otherwise waits up to timeout seconds and says whether it was stopped."""
        if self._set:
            return True
        if self._lock.acquire(True, timeout):
            self._lock.release()
        return self._set

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._guard:
            if not self._set:
                self._set = True
                self._lock.release()


def start_thread(target: Callable[[], None]) -> None:
    """Starts target in a real OS thread; like a daemon thread, it never holds the process open."""
    _originals()[0](target, ())
