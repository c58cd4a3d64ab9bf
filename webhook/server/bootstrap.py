"""The composition root: every part of one server process is built here, and every route listed.

ServeConfig ─▶ build_runtime ─▶ Runtime: rules store, certificates, metrics, plan options, verdict
                                memo, ledger, body budgets and deadlines, preview workers
Runtime ─────▶ build_app ────▶ Pipeline, each route to a named method of Handlers ─▶ uvicorn (run.py)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from webhook.core.inject import ProbeHelper
from webhook.core.plan import PlanOptions
from webhook.server.app import Pipeline
from webhook.server.config import ServeConfig
from webhook.server.handlers import Handlers, STATIC
from webhook.server.ledger import Ledger
from webhook.server.limits import BodyBudget, BodyDeadlines
from webhook.server.logs import AdmissionLog
from webhook.server.memo import VerdictMemo
from webhook.server.metrics import Metrics
from webhook.server.previews import PreviewWorkers
from webhook.server.runtime import RulesStore, Runtime, TICK_SECONDS
from webhook.server.tls import CertStore

# Room for the many small bodies the apiserver really sends, beside one of the largest allowed.
SMALL_BODIES_BYTES = 1024 * 1024


def build_runtime(config: ServeConfig, certs: CertStore | None) -> Runtime:
    """The parts, with the rules file and the certificate loaded once."""
    metrics = Metrics()
    helper = ProbeHelper(config.probe_helper_image, config.probe_helper_path)
    options = PlanOptions(own_namespace=config.own_namespace, on_invalid=config.on_invalid, probe_helper=helper)
    previews = PreviewWorkers(config.preview_workers, config.preview_timeout)
    runtime = Runtime(
        config=config,
        certs=certs,
        rules=RulesStore(config.rules),
        metrics=metrics,
        options=options,
        memo=VerdictMemo(options),
        ledger=Ledger(metrics, AdmissionLog(config.log_format)),
        # Previews have a budget of their own, so they never spend admission's.
        body_budget=BodyBudget(config.max_body_bytes + SMALL_BODIES_BYTES),
        preview_budget=BodyBudget(previews.places * config.max_body_bytes),
        body_deadlines=BodyDeadlines(config.body_timeout, TICK_SECONDS),
        previews=previews,
    )
    runtime.reload()
    return runtime


def build_app(runtime: Runtime) -> ASGIApp:
    """FastAPI keeps what only it does (the lifespan, static files, 404s); every route of ours goes
    through the pipeline."""
    rest = FastAPI(title="workerguard", docs_url=None, redoc_url=None, openapi_url=None, lifespan=_lifespan(runtime))
    pipeline = Pipeline(runtime, rest)
    handlers = Handlers(runtime)
    pipeline.route("POST", "/mutate", handlers.mutate)
    pipeline.route("POST", "/mutate-shadow", handlers.mutate_shadow)
    pipeline.route("POST", "/validate", handlers.validate)
    pipeline.route("POST", "/validate-shadow", handlers.validate_shadow)
    if runtime.config.preview == "on":
        pipeline.route("GET", "/", handlers.page)
        pipeline.route("POST", "/preview", handlers.preview)
        rest.mount("/static", StaticFiles(directory=STATIC), name="static")
    pipeline.route("GET", "/healthz", handlers.healthz)
    pipeline.route("GET", "/readyz", handlers.readyz)
    pipeline.route("GET", "/metrics", handlers.metrics)
    return pipeline


def _lifespan(runtime: Runtime) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """While serving: reload the rules and certificate, sweep late bodies and settle the ledger. After:
    count and log every answer given, and stop the preview workers."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = [asyncio.create_task(runtime.reload_forever()), asyncio.create_task(runtime.tick_forever())]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            runtime.ledger.settle()
            runtime.previews.close()

    return lifespan
