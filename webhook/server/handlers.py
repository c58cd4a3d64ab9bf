"""The endpoints, one named method each: (scope, receive) -> Reply. The pipeline (app.py) times them,
turns a RequestRefused into its status and writes the reply; bootstrap.py lists the routes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import Receive, Scope

from webhook.adapters.documents import parse_json
from webhook.adapters.preview import PAGE_PREVIEW_TYPE, PreviewRequest
from webhook.core import reasons
from webhook.core.errors import BadRequest, DocumentError, RequestRefused
from webhook.core.review import build_response, object_name, read_request, validation_verdict, Verdict
from webhook.core.rules import RuleSet
from webhook.core.wire import AdmissionRequest
from webhook.server.ledger import Admission
from webhook.server.limits import read_body
from webhook.server.runtime import Runtime

STATIC = Path(__file__).parent.parent / "static"
# The page loads nothing from elsewhere (a cluster may have no internet) and runs no inline script.
PAGE_HEADERS = ((b"content-security-policy", b"default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"),)


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
Judge = Callable[[AdmissionRequest, RuleSet], Verdict]


class Handlers:
    """What each endpoint does with the server's parts (runtime.py)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def mutate(self, scope: Scope, receive: Receive) -> Reply:
        """POST /mutate: a Pod CREATE, answered from the verdict memo."""
        return await self._admission("mutate", scope, receive, self.runtime.memo.mutation_verdict)

    async def mutate_shadow(self, scope: Scope, receive: Receive) -> Reply:
        """POST /mutate-shadow: /mutate for namespaces labelled workerguard.io/mode: shadow, where
        nothing is patched or refused."""
        return await self._admission("mutate", scope, receive, self._shadow_mutation_verdict)

    async def validate(self, scope: Scope, receive: Receive) -> Reply:
        """POST /validate: a workload's CREATE or UPDATE, judged by what its pods would get."""
        return await self._admission("validate", scope, receive, self._validation_verdict)

    async def validate_shadow(self, scope: Scope, receive: Receive) -> Reply:
        """POST /validate-shadow: /validate for shadow namespaces, where a refusal is said as warnings."""
        return await self._admission("validate", scope, receive, self._shadow_validation_verdict)

    async def preview(self, scope: Scope, receive: Receive) -> Reply:
        """POST /preview: YAML or JSON in, every plan out, computed in a preview worker process."""
        runtime = self.runtime
        async with runtime.previews.place():
            body = await read_body(scope, receive, runtime.config.max_body_bytes, runtime.body_deadlines, runtime.preview_budget)
            content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
            namespace = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("namespace", [None])[0]
            job = PreviewRequest(body, content_type.startswith(PAGE_PREVIEW_TYPE), namespace, self._rules(), runtime.options)
            status, answer = await runtime.previews.answer(job)
        return Reply(status, answer)

    async def page(self, scope: Scope, receive: Receive) -> Reply:
        """GET /: the preview page."""
        return Reply(200, (STATIC / "index.html").read_bytes(), b"text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def healthz(self, scope: Scope, receive: Receive) -> Reply:
        return json_reply({"status": "ok"})

    async def readyz(self, scope: Scope, receive: Receive) -> Reply:
        """Ready while rules are loaded and the process is not draining; the detail says why not."""
        detail = readiness(self.runtime)
        return json_reply(detail, 200 if detail["ready"] else 503)

    async def metrics(self, scope: Scope, receive: Receive) -> Reply:
        """Every answer already given is counted before the scrape: the ledger settles first."""
        self.runtime.ledger.settle()
        return Reply(200, self.runtime.metrics.render(), CONTENT_TYPE_LATEST.encode())

    async def _admission(self, webhook: str, scope: Scope, receive: Receive, judge: Judge) -> Reply:
        started = time.perf_counter()
        request = await self._read_request(scope, receive)
        verdict = judge(request, self._rules())
        reply = Reply(200, orjson.dumps(build_response(request, verdict)))
        seconds = time.perf_counter() - started
        namespace, name = request.get("namespace") or "", object_name(request)
        self.runtime.ledger.add(
            Admission(webhook, request["uid"], namespace, name, request["operation"], verdict, seconds, time.time())
        )
        return reply

    def _shadow_mutation_verdict(self, request: AdmissionRequest, rules: RuleSet) -> Verdict:
        return self.runtime.memo.mutation_verdict(request, rules, "shadow")

    def _validation_verdict(self, request: AdmissionRequest, rules: RuleSet) -> Verdict:
        return validation_verdict(request, rules, self.runtime.options)

    def _shadow_validation_verdict(self, request: AdmissionRequest, rules: RuleSet) -> Verdict:
        return validation_verdict(request, rules, self.runtime.options, "shadow")

    async def _read_request(self, scope: Scope, receive: Receive) -> AdmissionRequest:
        runtime = self.runtime
        body = await read_body(scope, receive, runtime.config.max_body_bytes, runtime.body_deadlines, runtime.body_budget)
        try:
            return read_request(parse_json(body))
        except DocumentError as error:  # a body that is not JSON is a bad request
            raise BadRequest(str(error)) from None

    def _rules(self) -> RuleSet:
        current = self.runtime.rules.rules
        if current is None:
            raise RequestRefused(reasons.NO_RULES, "no valid rules loaded")
        return current


def readiness(runtime: Runtime) -> dict[str, Any]:
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
