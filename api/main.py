"""The app factory: Settings are read at the edge and the Runtime is shared through app state; the
guards go in front of every route; each resource's routes are in its own router. Every route
names the roles that may call it (``api.auth``); reads of evidence and every review are audited."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api import (alerts, anpr, anpr_access, candidates, events, exports, faces, hotlist, incidents, media, ops, plates, search,
                 subscriptions, tus, uploads, watchlist)
from api.errors import documented_errors, install_error_handlers
from api.sse import Wake
from api.guards import MULTIPART_SLACK, BodyLimit, SafeJSONRoute
from api.ops import Observe, metrics_registry
from api.pages import PAGE_ROUTERS, PageErrors, SecurityHeaders, install_page_handlers
from api.ratelimit import Limits
from api.schemas import Health
from evidence import __version__
from evidence.notify.bus import RedisBridge
from evidence.notify.deliver import Sweeper
from evidence.runtime import Runtime
from evidence.settings import Settings
from evidence.work import WorkQueue

__all__ = ["create_app"]

JSON_BODY_MAX = 64 * 1024  # every route's body cap unless it names its own (api.guards.BodyLimit)
ROUTERS = (incidents, events, candidates, uploads, watchlist, anpr, anpr_access, hotlist, plates, search, faces, exports, media, tus,
           alerts, subscriptions, ops)
STATIC = Path(__file__).resolve().parent / "static"


WATCH_S = 5.0


def _watch(queue: WorkQueue, stop: threading.Event) -> None:
    while not stop.wait(WATCH_S):
        queue.watch()


def create_app(settings: Settings | None = None, work_queue: WorkQueue | None = None) -> FastAPI:
    """The API. ``work_queue``: the workers' queue (``evidence serve`` passes it when Redis is
    configured); without it, evidence is analysed in this process after the upload is answered."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The outbox's senders: this process's threads, or an RQ job per recipient group when the
        # workers' queue is given; woken by every commit that fills the outbox, and a sweep (retries,
        # escalations, what another process left) every half second.
        sweeper: Sweeper = app.state.sweeper
        def start_senders(groups: set[int]) -> None:
            if work_queue is None:
                sweeper.wake()
                return
            for group in sorted(groups):
                work_queue.deliver(group)

        # What this process commits is pushed to its live feeds (or, without pushing, wakes them to read
        # the table at once); with Redis, what other processes commit too.
        wake: Wake = app.state.wake
        stops = [rt.bus.start_senders(start_senders),
                 rt.bus.listen(wake.publish if settings.feed_push else lambda _views: wake.notify())]
        if settings.redis_url and settings.feed_push:
            bridge = RedisBridge(settings.redis_url)
            stops.append(rt.bus.listen(bridge.publish))
            bridge.subscribe(wake.publish)
            stops.append(bridge.stop)
        sweeper.start()
        watching = threading.Event()
        if work_queue is not None:  # lost work (Redis restarted empty, a runner died) re-queued
            threading.Thread(target=_watch, args=(work_queue, watching), name="work-watch", daemon=True).start()
        yield
        watching.set()
        for stop in stops:
            stop()
        sweeper.stop()

    app = FastAPI(title="Evidence Pipeline", version=__version__, lifespan=lifespan,
                  description="Evidence intake, face tracks and watchlist candidates, plates and hotlist hits, "
                              "for review by named people. Every route but /health and the public upload needs "
                              "`Authorization: Bearer <API key>`; its description names the roles that may call "
                              "it. Errors are JSON `{\"code\", \"message\"}`; every request body has a size cap "
                              "(413).")
    app.router.route_class = SafeJSONRoute
    rt = app.state.runtime = Runtime(settings)
    _ = rt.faces.profile, rt.plates  # a model name no manifest holds stops the server here, not a request
    app.state.wake = Wake()
    app.state.work_queue = work_queue
    app.state.stopping = threading.Event()  # set on SIGTERM by `evidence serve`: live feeds end
    app.state.tus_receiving = set()  # uploads a PATCH is writing now (one at a time each: api/tus.py)
    app.state.sweeper = Sweeper(rt, enqueue=work_queue.deliver if work_queue is not None else None)
    app.state.limits = Limits(settings.auth_failures_per_min, settings.link_requests_per_min,
                              settings.client_link_requests_per_min)
    upload_cap = settings.max_upload_bytes + MULTIPART_SLACK
    app.add_middleware(BodyLimit, default=JSON_BODY_MAX, routes={
        ("POST", "/incidents/{incident_id}/evidence"): upload_cap,
        ("POST", "/public/uploads/{token}"): upload_cap,
        ("POST", "/anpr/reads"): anpr.MAX_BODY,
        ("POST", "/anpr/openalpr"): anpr.ALPRD_MAX_BODY,
        ("POST", "/search/faces"): search.MAX_PHOTO_BYTES + MULTIPART_SLACK,
        ("POST", "/watchlist"): watchlist.ENROLMENT_MAX,
        ("PATCH", "/public/tus/{token}/{upload_id}"): settings.max_upload_bytes,
        ("POST", "/app/search/faces"): search.MAX_PHOTO_BYTES + MULTIPART_SLACK,
        ("POST", "/app/admin/watchlist"): watchlist.ENROLMENT_MAX,
    })
    app.add_middleware(SecurityHeaders, map_tiles=settings.map_tiles)
    app.state.metrics, latency = metrics_registry(rt)
    app.add_middleware(Observe, latency=latency)  # outermost: every response has its request id and is timed
    install_error_handlers(app, PageErrors())
    install_page_handlers(app)

    @app.get("/health", summary="Liveness and database reachability (no key needed)", response_model=Health)
    def health() -> Health:
        with rt.engine.connect():
            pass
        return Health(status="ok", version=__version__)

    for module in ROUTERS:
        app.include_router(module.router)
    for router in PAGE_ROUTERS:  # the pages people use (api.pages), not in the OpenAPI document
        app.include_router(router)
    # The project's scripts; the styles and vendor scripts built at set-up (`npm run build`).
    app.mount("/assets/js", StaticFiles(directory=STATIC / "js"), name="scripts")
    app.mount("/assets", StaticFiles(directory=STATIC / "build", check_dir=False), name="assets")
    app.openapi = documented_errors(app)  # type: ignore[method-assign]
    return app
