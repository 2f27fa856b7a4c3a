"""App factory: Settings are read here (the edge) and the Runtime is shared through app state."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from evidence import __version__
from evidence.runtime import Runtime
from evidence.settings import Settings
from pipeline.errors import Conflict, EvidenceError, Forbidden, InvalidMedia, InvalidReference, NotFound

__all__ = ["create_app"]

_STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, InvalidMedia: 422, InvalidReference: 422}


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(title="Evidence Pipeline", version=__version__,
                  description="Evidence intake, face tracks and watchlist candidates for review.")
    app.state.runtime = Runtime(settings or Settings())

    @app.exception_handler(EvidenceError)
    async def evidence_error(_: Request, exc: EvidenceError) -> JSONResponse:
        """The one place errors become HTTP: a stable ``code`` and a human message."""
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), 500)
        return JSONResponse({"code": exc.code, "message": exc.message}, status_code=status)

    @app.get("/health", summary="Liveness and database reachability")
    def health() -> dict[str, str]:
        with app.state.runtime.engine.connect():
            pass
        return {"status": "ok", "version": __version__}

    return app
