"""The pipeline every request of ours goes through: drain handling, timing, refusals, writing the answer."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import orjson
from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webhook.core import reasons
from webhook.core.errors import RequestRefused
from webhook.server.handlers import Handler, Reply
from webhook.server.runtime import Runtime

log = logging.getLogger("workerguard.server")


# A preview's answer can be megabytes; encrypted in one write it would hold the loop for milliseconds.
ANSWER_SLICE_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Endpoint:
    handler: Handler
    latency: Histogram


class Pipeline:
    """Every request of ours goes through here once: drain handling, timing, refusals and writing the
    answer. Endpoints are plain handlers (scope, receive) -> Reply. FastAPI's own stack is left to what
    only it does (lifespan, static files, 404s): its middleware stack would sit on /mutate, the path every
    opted-in pod creation waits for (docs/performance.md has its cost)."""

    def __init__(self, runtime: Runtime, fallback: ASGIApp) -> None:
        self.runtime, self.fallback = runtime, fallback
        self.endpoints: dict[tuple[str, str], Endpoint] = {}

    def route(self, method: str, path: str, handler: Handler) -> None:
        name = path.strip("/") or "page"
        self.endpoints[(method, path)] = Endpoint(handler, self.runtime.metrics.latency.labels(name))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        endpoint = self.endpoints.get((scope["method"], scope["path"]))
        if endpoint is None:
            await self.fallback(scope, receive, _closing_once_draining(send, self.runtime))
            return
        started = time.perf_counter()
        try:
            reply = await endpoint.handler(scope, receive)
        except RequestRefused as refused:
            self.runtime.metrics.refusal[refused.reason.code].inc()
            reply = Reply(refused.status, orjson.dumps({"error": refused.message}), close=refused.closes_connection)
        except Exception:
            # A bug, not a bad request: counted and logged with its traceback, so it cannot pass unseen.
            self.runtime.metrics.refusal[reasons.INTERNAL_ERROR.code].inc()
            log.exception("internal error answering %s", scope["path"], extra={"event": "internal_error"})
            reply = Reply(500, orjson.dumps({"error": "internal error"}), close=True)
        # Asked as the answer is written, not as the request came in: a request in flight when SIGTERM
        # arrived is answered during the drain, and its client must stop reusing the connection too.
        await _write(send, reply, reply.close or self.runtime.draining)
        endpoint.latency.observe(time.perf_counter() - started)


def _closing_once_draining(send: Send, runtime: Runtime) -> Send:
    """While draining, every response says Connection: close so clients stop reusing the connection."""

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start" and runtime.draining:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return send_closing


async def _write(send: Send, reply: Reply, close: bool) -> None:
    body = reply.body
    headers = [(b"content-type", reply.content_type), (b"content-length", str(len(body)).encode()), *reply.headers]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    last = max(0, len(body) - 1) // ANSWER_SLICE_BYTES * ANSWER_SLICE_BYTES
    for start in range(0, last + 1, ANSWER_SLICE_BYTES):
        await send({"type": "http.response.body", "body": body[start : start + ANSWER_SLICE_BYTES], "more_body": start < last})
