"""Bounds on what a request may cost: body size per request and in flight, and how long it may take."""

from __future__ import annotations

import asyncio

from starlette.types import Receive, Scope


class RequestRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    @property
    def closes_connection(self) -> bool:
        """A body refused for its size or slowness was not read to its end: the connection is not reusable."""
        return self.status in (408, 413)


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
            raise RequestRefused(413, "too many request bytes in flight; retry later")
        self.used += size

    def give_back(self, size: int) -> None:
        self.used -= size


async def read_body(scope: Scope, receive: Receive, limit: int, timeout: float, budget: BodyBudget) -> bytes:
    """The whole body, refusing more than `limit` bytes before reading them and slow senders after `timeout`."""
    declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
    if declared is not None:
        if not declared.isdigit():
            raise RequestRefused(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise RequestRefused(413, f"the body is larger than {limit} bytes")
    chunks, size, more = [], 0, True
    try:
        async with asyncio.timeout(timeout):
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise RequestRefused(400, "the client went away")
                chunk = message.get("body", b"")
                if size + len(chunk) > limit:
                    raise RequestRefused(413, f"the body is larger than {limit} bytes")
                budget.take(len(chunk))
                size += len(chunk)
                chunks.append(chunk)
                more = message.get("more_body", False)
    except TimeoutError:
        raise RequestRefused(408, f"the body did not arrive within {timeout:g}s") from None
    finally:
        budget.give_back(size)
    return b"".join(chunks)
