"""The HTTP surface: /mutate, /preview, /healthz, /readyz, /metrics. A thin shell around the core."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webhook.core.review import answer, answer_validation, BadRequest, Review
from webhook.core.rules import RuleSet
from webhook.core.types import SKIP_CODES
from webhook.documents import DocumentError, parse_json
from webhook.preview import PAGE_PREVIEW_TYPE, PreviewRequest
from webhook.server.limits import read_body, RequestRefused
from webhook.server.metrics import one_of, OPERATIONS
from webhook.server.runtime import Runtime

STATIC = Path(__file__).parent.parent / "static"
log = logging.getLogger("workerguard.server")
# The page loads nothing from elsewhere (a cluster may have no internet) and runs no inline script.
PAGE_HEADERS = {"content-security-policy": "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"}


def _json(body: Any, status: int = 200, close: bool = False) -> Response:
    headers = {"connection": "close"} if close else None
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


# A preview's answer can be megabytes; encrypted in one write it would hold the loop for milliseconds.
ANSWER_SLICE_BYTES = 64 * 1024


def _in_slices(body: bytes, status: int) -> Response:
    async def slices() -> AsyncIterator[bytes]:
        for start in range(0, len(body), ANSWER_SLICE_BYTES):
            yield body[start : start + ANSWER_SLICE_BYTES]

    headers = {"content-length": str(len(body))}
    return StreamingResponse(slices(), status, headers, media_type="application/json")


async def send_json(send: Send, status: int, body: bytes, close: bool) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class DrainMiddleware:
    """While draining, every response says Connection: close so clients stop reusing the connection."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app, self.runtime = app, runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.runtime.draining:
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)


class Webhook:
    """POST /mutate and /validate as plain ASGI handlers (the hot path: every opted-in pod creation waits
    for /mutate); everything else, lifespan included, through FastAPI, whose middleware stack would
    cost /mutate a sixth of its planning work."""

    def __init__(self, runtime: Runtime, rest: ASGIApp) -> None:
        self.runtime, self.rest = runtime, rest
        self.answers: dict[str, Callable[[object], Review]] = {
            "/mutate": lambda body: answer(body, self._rules(), runtime.options, runtime.memo.decide),
            "/validate": lambda body: answer_validation(body, self._rules(), runtime.options),
        }
        self.latency = {path: runtime.metrics.latency.labels(path.strip("/")) for path in self.answers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.answers and scope["method"] == "POST":
            await self.admit(scope["path"], scope, receive, send)
        else:
            await self.rest(scope, receive, send)

    def _rules(self) -> RuleSet:
        rules = self.runtime.rules.rules
        if rules is None:
            raise RequestRefused(503, "no valid rules loaded")
        return rules

    async def admit(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        runtime, config = self.runtime, self.runtime.config
        started = time.perf_counter()
        try:
            body = await read_body(scope, receive, config.max_body_bytes, runtime.body_deadlines, runtime.body_budget)
            try:
                review = self.answers[path](parse_json(body))
            except (DocumentError, BadRequest) as error:
                raise RequestRefused(400, str(error)) from None
            await send_json(send, 200, orjson.dumps(review.response), runtime.draining)
            _account(runtime, path.strip("/"), review, time.perf_counter() - started)
        except RequestRefused as refused:
            runtime.metrics.rejected.labels(str(refused.status)).inc()
            close = runtime.draining or refused.closes_connection
            await send_json(send, refused.status, orjson.dumps({"error": refused.message}), close)
        except Exception:
            # A bug, not a bad request: counted and logged with its traceback, so it cannot pass unseen.
            runtime.metrics.rejected.labels("500").inc()
            log.exception("internal error answering %s", path, extra={"event": "internal_error"})
            await send_json(send, 500, orjson.dumps({"error": "internal error"}), True)
        finally:
            self.latency[path].observe(time.perf_counter() - started)


def create_app(runtime: Runtime) -> ASGIApp:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = [asyncio.create_task(runtime.reload_forever()), asyncio.create_task(runtime.tick_forever())]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            runtime.admission_log.flush()
            runtime.previews.close()

    app = FastAPI(title="workerguard", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_middleware(DrainMiddleware, runtime=runtime)
    metrics, config = runtime.metrics, runtime.config

    def timed(endpoint: str, handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        histogram = metrics.latency.labels(endpoint)

        async def run(request: Request) -> Response:
            started = time.perf_counter()
            try:
                return await handler(request)
            except RequestRefused as refused:
                metrics.rejected.labels(str(refused.status)).inc()
                return _json({"error": refused.message}, refused.status, close=refused.closes_connection)
            except Exception:
                metrics.rejected.labels("500").inc()
                log.exception("internal error answering %s", endpoint, extra={"event": "internal_error"})
                return _json({"error": "internal error"}, 500, close=True)
            finally:
                histogram.observe(time.perf_counter() - started)

        return run

    async def preview(request: Request) -> Response:
        async with runtime.previews.place():
            body = await read_body(
                request.scope, request.receive, config.max_body_bytes, runtime.body_deadlines, runtime.preview_budget
            )
            rules = runtime.rules.rules
            if rules is None:
                raise RequestRefused(503, "no valid rules loaded")
            page = request.headers.get("content-type", "").startswith(PAGE_PREVIEW_TYPE)
            job = PreviewRequest(body, page, request.query_params.get("namespace"), rules, runtime.options)
            status, answer_body = await runtime.previews.answer(job)
        return _in_slices(answer_body, status)

    async def page(request: Request) -> Response:
        return Response((STATIC / "index.html").read_bytes(), media_type="text/html", headers=PAGE_HEADERS)

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(request: Request) -> Response:
        detail = _readiness(runtime)
        return _json(detail, 200 if detail["ready"] else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    if config.preview == "on":
        app.add_route("/", page, methods=["GET"])
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
        app.add_route("/preview", timed("preview", preview), methods=["POST"])
    app.add_route("/healthz", healthz, methods=["GET"])
    app.add_route("/readyz", readyz, methods=["GET"])
    app.add_route("/metrics", metrics_endpoint, methods=["GET"])
    return Webhook(runtime, app)


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


def _account(runtime: Runtime, webhook: str, review: Review, seconds: float) -> None:
    metrics, verdict = runtime.metrics, review.verdict
    metrics.admission(webhook, one_of(review.operation, OPERATIONS), verdict.decision).inc()
    if verdict.decision == "patched":
        metrics.injection(verdict.profile or "").inc()
        for rule in verdict.rules:
            metrics.rule_match(rule).inc()
    elif verdict.reasons and verdict.decision == "allowed":
        metrics.skip(one_of(verdict.reasons[0], SKIP_CODES)).inc()
    if verdict.invalid:
        metrics.invalid_setting("denied" if verdict.decision == "denied" else "allowed").inc()
    runtime.admission_log.write(
        {
            "webhook": webhook,
            "uid": review.uid,
            "namespace": review.namespace,
            "pod": review.name,
            "operation": review.operation,
            "decision": verdict.decision,
            "reasons": list(verdict.reasons),
            "duration_ms": round(seconds * 1000, 3),
        }
    )
