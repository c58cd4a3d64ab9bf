"""Bounds on what a request may cost: body size per request and in flight, and how long it may take."""

from __future__ import annotations

import asyncio
import time

from starlette.types import Receive, Scope

from webhook.core import reasons
from webhook.core.errors import BadRequest, InternalError, RequestRefused


class BodyBudget:
    """Bytes of request bodies being received, across all requests of this process.

    The per-request limit alone lets 20 concurrent chunked bodies hold 20 x 3 MiB; the budget caps the
    sum, so a flood of large bodies cannot grow memory past it (20 chunked 10 MiB bodies: 41 MiB of
    growth without it, about 15 with it; make soak measures).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity, self.used = capacity, 0

    def take(self, size: int) -> None:
        if self.used + size > self.capacity:
            raise RequestRefused(reasons.BYTES_IN_FLIGHT, "too many request bytes in flight; retry later")
        self.used += size

    def give_back(self, size: int) -> None:
        self.used -= size


class BodyDeadlines:
    """How long a request body may take to arrive, enforced by one sweep every `interval` seconds.

    asyncio.timeout arms and disarms a loop timer for every request, on the path every pod creation
    waits for, to catch the rare slow sender (the cost is in docs/server.md). Here a request only notes its
    deadline; a body may take up to `timeout + interval` before it is refused.
    """

    def __init__(self, timeout: float, interval: float = 0.25) -> None:
        self.timeout, self.interval = timeout, interval
        self.pending: dict[asyncio.Task[object], float] = {}
        self.expired: set[asyncio.Task[object]] = set()

    def sweep(self, now: float) -> None:
        for task, deadline in list(self.pending.items()):
            if deadline <= now and task not in self.expired:
                self.expired.add(task)
                task.cancel(msg="the request body is late")


async def read_body(scope: Scope, receive: Receive, limit: int, deadlines: BodyDeadlines, budget: BodyBudget) -> bytes:
    """The whole body, refusing more than `limit` bytes before reading them and slow senders after the deadline."""
    declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(declared) > limit:
            raise RequestRefused(reasons.BODY_TOO_LARGE, f"the body is larger than {limit} bytes")
    task = asyncio.current_task()
    if task is None:
        raise InternalError("read_body ran outside an asyncio task; an ASGI server always runs one")
    deadlines.pending[task] = time.monotonic() + deadlines.timeout
    chunks, size, more = [], 0, True
    try:
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestRefused(reasons.CLIENT_GONE, "the client went away")
            chunk = message.get("body", b"")
            if size + len(chunk) > limit:
                raise RequestRefused(reasons.BODY_TOO_LARGE, f"the body is larger than {limit} bytes")
            budget.take(len(chunk))
            size += len(chunk)
            chunks.append(chunk)
            more = message.get("more_body", False)
    except asyncio.CancelledError:
        # Ours only if the sweep cancelled this task and nobody else did too (the server at shutdown).
        if task not in deadlines.expired or task.uncancel() > 0:
            raise
        raise RequestRefused(reasons.BODY_TOO_SLOW, f"the body did not arrive within {deadlines.timeout:g}s") from None
    finally:
        budget.give_back(size)
        del deadlines.pending[task]
        deadlines.expired.discard(task)
    return b"".join(chunks)
