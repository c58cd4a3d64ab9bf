"""The HTTP surface: /mutate, /validate, /preview, the page, /healthz, /readyz, /metrics, through one pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs

import orjson
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, Histogram
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webhook.adapters.documents import DocumentError, parse_json
from webhook.adapters.preview import PAGE_PREVIEW_TYPE, PreviewRequest
from webhook.core import reasons
from webhook.core.review import BadRequest, build_response, object_name, read_request, validation_verdict, Verdict
from webhook.core.rules import RuleSet
from webhook.core.wire import AdmissionRequest
from webhook.server.ledger import Admission
from webhook.server.limits import read_body, RequestRefused
from webhook.server.runtime import Runtime

STATIC = Path(__file__).parent.parent / "static"
log = logging.getLogger("workerguard.server")
# The page loads nothing from elsewhere (a cluster may have no internet) and runs no inline script.
PAGE_HEADERS = ((b"content-security-policy", b"default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"),)


# A preview's answer can be megabytes; encrypted in one write it would hold the loop for milliseconds.
ANSWER_SLICE_BYTES = 64 * 1024


class Reply(NamedTuple):
    """An answer ready to write (a tuple: one is made for every request)."""

    status: int
    body: bytes
    content_type: bytes = b"application/json"
    close: bool = False
    headers: tuple[tuple[bytes, bytes], ...] = ()


def json_reply(body: object, status: int = 200) -> Reply:
    return Reply(status, orjson.dumps(body))


Handler = Callable[[Scope, Receive], Awaitable[Reply]]


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
        if self.runtime.draining:
            send = _closing(send)
        endpoint = self.endpoints.get((scope["method"], scope["path"]))
        if endpoint is None:
            await self.fallback(scope, receive, send)
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
        await _write(send, reply)
        endpoint.latency.observe(time.perf_counter() - started)


def _closing(send: Send) -> Send:
    """While draining, every response says Connection: close so clients stop reusing the connection."""

    async def send_closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return send_closing


async def _write(send: Send, reply: Reply) -> None:
    body = reply.body
    headers = [(b"content-type", reply.content_type), (b"content-length", str(len(body)).encode()), *reply.headers]
    if reply.close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    last = max(0, len(body) - 1) // ANSWER_SLICE_BYTES * ANSWER_SLICE_BYTES
    for start in range(0, last + 1, ANSWER_SLICE_BYTES):
        await send({"type": "http.response.body", "body": body[start : start + ANSWER_SLICE_BYTES], "more_body": start < last})


def create_app(runtime: Runtime) -> ASGIApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = [asyncio.create_task(runtime.reload_forever()), asyncio.create_task(runtime.tick_forever())]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            ledger.settle()
            runtime.previews.close()

    rest = FastAPI(title="workerguard", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    pipeline = Pipeline(runtime, rest)
    config, metrics, ledger = runtime.config, runtime.metrics, runtime.ledger

    def rules() -> RuleSet:
        current = runtime.rules.rules
        if current is None:
            raise RequestRefused(reasons.NO_RULES, "no valid rules loaded")
        return current

    async def read_request_of(scope: Scope, receive: Receive) -> AdmissionRequest:
        body = await read_body(scope, receive, config.max_body_bytes, runtime.body_deadlines, runtime.body_budget)
        try:
            return read_request(parse_json(body))
        except (DocumentError, BadRequest) as error:
            raise RequestRefused(reasons.BAD_REQUEST, str(error)) from None

    def admission(webhook: str, judge: Callable[[AdmissionRequest, RuleSet], Verdict]) -> Handler:
        async def answer(scope: Scope, receive: Receive) -> Reply:
            started = time.perf_counter()
            request = await read_request_of(scope, receive)
            try:
                verdict = judge(request, rules())
            except BadRequest as error:
                raise RequestRefused(reasons.BAD_REQUEST, str(error)) from None
            reply = Reply(200, orjson.dumps(build_response(request, verdict)))
            seconds = time.perf_counter() - started
            namespace, name = request.get("namespace") or "", object_name(request)
            ledger.add(Admission(webhook, request["uid"], namespace, name, request["operation"], verdict, seconds, time.time()))
            return reply

        return answer

    pipeline.route("POST", "/mutate", admission("mutate", runtime.memo.mutation_verdict))
    pipeline.route(
        "POST", "/validate", admission("validate", lambda request, ruleset: validation_verdict(request, ruleset, runtime.options))
    )

    async def preview(scope: Scope, receive: Receive) -> Reply:
        async with runtime.previews.place():
            body = await read_body(scope, receive, config.max_body_bytes, runtime.body_deadlines, runtime.preview_budget)
            content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
            namespace = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("namespace", [None])[0]
            job = PreviewRequest(body, content_type.startswith(PAGE_PREVIEW_TYPE), namespace, rules(), runtime.options)
            status, answer_body = await runtime.previews.answer(job)
        return Reply(status, answer_body)

    async def page(scope: Scope, receive: Receive) -> Reply:
        return Reply(200, (STATIC / "index.html").read_bytes(), b"text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def healthz(scope: Scope, receive: Receive) -> Reply:
        return json_reply({"status": "ok"})

    async def readyz(scope: Scope, receive: Receive) -> Reply:
        detail = _readiness(runtime)
        return json_reply(detail, 200 if detail["ready"] else 503)

    async def metrics_endpoint(scope: Scope, receive: Receive) -> Reply:
        ledger.settle()
        return Reply(200, metrics.render(), CONTENT_TYPE_LATEST.encode())

    if config.preview == "on":
        pipeline.route("GET", "/", page)
        pipeline.route("POST", "/preview", preview)
        rest.mount("/static", StaticFiles(directory=STATIC), name="static")
    pipeline.route("GET", "/healthz", healthz)
    pipeline.route("GET", "/readyz", readyz)
    pipeline.route("GET", "/metrics", metrics_endpoint)
    return pipeline


def _readiness(runtime: Runtime) -> dict[str, Any]:
    rules = runtime.rules
    certs = runtime.certs
    rules_detail = {"loaded": rules.rules is not None, "path": rules.path, "error": rules.last_error}
    cert_detail = (
        None
        if certs is None
        else {
            "serial": f"{certs.current.info.serial:x}",
            "not_after": certs.current.info.not_after.isoformat(),
            "error": certs.last_error,
        }
    )
    ready = rules.rules is not None and not runtime.draining
    return {"ready": ready, "draining": runtime.draining, "rules": rules_detail, "certificate": cert_detail}
