"""Operations: ``GET /ready`` for a load balancer or an orchestrator, ``GET /metrics`` for
Prometheus, and the middleware that gives every request an id, times it by route and writes one
access log line for it (``evidence.logs``: JSON by default)."""

from __future__ import annotations

import json
import hmac
import logging
import re
import time
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

from api.schemas import Ready, ReadyCheckOut
from evidence.errors import Forbidden, Unauthorized
from evidence.logs import REQUEST_ID
from evidence.metrics import SystemCollector, ready_checks
from evidence.runtime import Runtime

__all__ = ["Observe", "metrics_registry", "router"]

router = APIRouter(tags=["operations"])
access_log = logging.getLogger("evidence.access")
REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # a proxy's id is kept only if it is this tame


def metrics_registry(rt: Runtime) -> tuple[CollectorRegistry, Histogram]:
    """An app's own registry (tests build many apps in one process): its request histogram, and
    the system's figures read at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    latency = Histogram("evidence_http_request_duration_seconds",
                        "Time to the response's first byte, by method, route template and status",
                        ["method", "route", "status"], registry=registry,
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
    registry.register(SystemCollector(rt))
    return registry, latency


class Observe:
    """ASGI middleware: the request id (``X-Request-ID`` in, or made; echoed on the response and on
    every log line written while it is served), the latency histogram, one access log line."""

    def __init__(self, app: Any, latency: Histogram) -> None:
        self.app, self.latency = app, latency

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if REQUEST_ID_OK.match(sent) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        responded = [False]

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                responded[0] = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                self._observe(scope, message["status"], started)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # A bug: logged here, with the request id, and answered here (a 500 from Starlette's
            # outer handler would carry no id); re-raised only when the response had begun.
            access_log.exception("unhandled error in %s %s", scope["method"], scope.get("path"))
            if responded[0]:
                raise
            body = json.dumps({"code": "internal_error", "message": f"internal error (request {request_id})"})
            await send_with_id({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body.encode()})
        finally:
            REQUEST_ID.reset(token)

    def _observe(self, scope: Any, status: int, started: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        elapsed = time.perf_counter() - started
        self.latency.labels(scope["method"], route, str(status)).observe(elapsed)
        access_log.info("%s %s %s", scope["method"], route, status, extra={"fields": {
            "method": scope["method"], "route": route, "status": status, "ms": round(elapsed * 1000, 1)}})


@router.get("/ready", summary="Readiness: database, store, Redis and a live worker (no key needed)",
            response_model=Ready, responses={503: {"model": Ready, "description": "Not ready: a check failed"}},
            description="Roles: none (for load balancers). 200 when this process can take work: the database "
                        "reachable at this software's schema, the store writable and, with workers configured, "
                        "Redis answering and at least one worker alive on the project's queues; otherwise 503 "
                        "with the same body, each check saying what is wrong.")
def ready(request: Request) -> Response:
    checks = ready_checks(request.app.state.runtime)
    body = Ready(ready=all(c.ok for c in checks),
                 checks=[ReadyCheckOut(name=c.name, ok=c.ok, detail=c.detail) for c in checks])
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get("/metrics", summary="Prometheus metrics (with the scrape token)",
            response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                                                       "description": "Prometheus text format"},
                                                 401: {"description": "No token, or not the scrape token"},
                                                 403: {"description": "Metrics are off (no EVIDENCE_METRICS_TOKEN)"}},
            description="Roles: none — Prometheus sends `Authorization: Bearer <EVIDENCE_METRICS_TOKEN>` (its "
                        "`authorization` scrape setting); without the setting /metrics is off. Request latency by "
                        "route for this process; for the whole system, read at each scrape: evidence by state, "
                        "candidates by review state, hotlist hits, deliveries by state, jobs waiting per queue, live "
                        "workers, job durations by kind.")
def metrics(request: Request) -> Response:
    token = request.app.state.runtime.settings.metrics_token
    if token is None:
        raise Forbidden("metrics are off: set EVIDENCE_METRICS_TOKEN and scrape with it as a bearer token")
    sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(sent.encode(), token.encode()):
        raise Unauthorized("scrape /metrics with the bearer token set in EVIDENCE_METRICS_TOKEN")
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
