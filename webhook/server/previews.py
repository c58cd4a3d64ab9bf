"""Previews run in worker processes of their own, so that no preview can hold up an admission.

Reading a big YAML document is seconds of CPU under the GIL; on the event loop it would stall every
/mutate behind it, and /preview needs no credentials. Here the loop only moves bytes: a preview waits
for one of a few places (refused with 503 before its body is read when all are taken), then for a
worker, which runs at a lower CPU priority than the server and is replaced if it overruns.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.pool
import os
import signal
from collections.abc import AsyncIterator

from webhook.adapters.preview import answer_preview, PreviewRequest
from webhook.core import reasons
from webhook.core.errors import InternalError, RequestRefused

# Previews allowed to wait for a worker, per worker, before more are refused.
WAITING_PER_WORKER = 4
WORKER_NICENESS = 10


def _worker_setup() -> None:
    os.nice(WORKER_NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which stops the workers


class PreviewWorkers:
    def __init__(self, workers: int, timeout: float) -> None:
        self.workers, self.timeout = workers, timeout
        self.places = workers * (1 + WAITING_PER_WORKER)
        self.taken = 0
        self.running = asyncio.Semaphore(workers)
        self._pool: multiprocessing.pool.Pool | None = None

    @contextlib.asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        """Hold one of the places; refused at once, before the body is read, when none is free."""
        if self.taken >= self.places:
            raise RequestRefused(reasons.PREVIEWS_BUSY, "too many previews at once; retry shortly", body_unread=True)
        self.taken += 1
        try:
            yield
        finally:
            self.taken -= 1

    async def answer(self, request: PreviewRequest) -> tuple[int, bytes]:
        async with self.running:
            pool = self._pool or self._start()
            loop = asyncio.get_running_loop()
            done: asyncio.Future[tuple[int, bytes]] = loop.create_future()
            pool.apply_async(
                answer_preview,
                (request,),
                callback=lambda result: loop.call_soon_threadsafe(_settle, done, result, None),
                error_callback=lambda error: loop.call_soon_threadsafe(_settle, done, None, error),
            )
            try:
                return await asyncio.wait_for(done, self.timeout)
            except TimeoutError:
                await self._replace(pool)
                raise RequestRefused(
                    reasons.PREVIEW_TIMEOUT, f"the preview took longer than {self.timeout:g}s and was stopped"
                ) from None

    def _start(self) -> multiprocessing.pool.Pool:
        # spawn, not fork: the server has threads and an event loop that a forked child must not inherit.
        self._pool = multiprocessing.get_context("spawn").Pool(self.workers, initializer=_worker_setup)
        return self._pool

    async def _replace(self, overrun: multiprocessing.pool.Pool) -> None:
        if self._pool is overrun:
            self._pool = None
        await asyncio.to_thread(overrun.terminate)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None


def _settle(future: asyncio.Future[tuple[int, bytes]], result: tuple[int, bytes] | None, error: BaseException | None) -> None:
    if future.done():  # the wait timed out first
        return
    if error is not None:
        future.set_exception(error)
    elif result is None:
        future.set_exception(InternalError("a preview worker answered with neither a result nor an error"))
    else:
        future.set_result(result)
