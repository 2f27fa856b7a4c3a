"""Errors at the HTTP edge, in one place: the project's errors mapped to HTTP status codes with a
stable ``code`` and a human message; the framework's own errors and validation errors in the same
shape (made safe to send as JSON); and every status code a route can answer written into the
OpenAPI document, with the error body's shape."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from evidence.errors import (Conflict, EvidenceError, Forbidden, Gone, InvalidMedia, InvalidReference, InvalidRequest,
                             ModelUnavailable, NotFound, StoreUnavailable, TooLarge, TooManyRequests, Unauthorized)

__all__ = ["STATUS", "PageErrors", "api_routes", "documented_errors", "install_error_handlers", "json_safe_errors",
           "status_of"]

STATUS: dict[type[EvidenceError], int] = {
    NotFound: 404, Unauthorized: 401, Forbidden: 403, Conflict: 409, InvalidMedia: 422, InvalidReference: 422,
    InvalidRequest: 422, TooLarge: 413, Gone: 410, TooManyRequests: 429, StoreUnavailable: 503, ModelUnavailable: 503}

ERROR_SCHEMA = {"title": "Error", "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string", "description": "stable, for programs"},
                               "message": {"type": "string", "description": "one line, for people"},
                               "errors": {"type": "array", "items": {"type": "object"},
                                          "description": "invalid_request: each field's problem"}}}
DESCRIPTIONS = {
    400: "Malformed body (e.g. a broken multipart form)",
    401: "No valid API key",
    403: "The key's role may not call this",
    404: "Not found",
    409: "Conflicts with the stored state",
    410: "Expired or used up",
    413: "Body over this route's size cap",
    422: "Invalid request",
    429: "Rate limited: see Retry-After",
    503: "A store or service this needs did not answer: try again",
}


class PageErrors(Protocol):
    """How the pages show an error: as a page for a person, not JSON (``api.pages``)."""

    def handles(self, request: Request) -> bool: ...

    def render(self, request: Request, status: int, message: str) -> Response: ...


def status_of(exc: EvidenceError) -> int:
    return next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 500)


def _text(value: object, limit: int = 500) -> str:
    # A lone surrogate (from JSON escapes) cannot be encoded as UTF-8: show it escaped instead.
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")[:limit]


def json_safe_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's error list as plain JSON: location, message and type only (the offending input
    may be bytes, a file or text that cannot be encoded, and is not echoed back)."""
    out = []
    for e in errors[:20]:
        loc = [p if isinstance(p, int) else _text(p, 100) for p in e.get("loc", ())]
        msg = _text(e.get("msg", "invalid"))
        reason = (e.get("ctx") or {}).get("error")
        if e.get("type") == "json_invalid" and reason:
            msg = f"{msg}: {_text(reason)}"
        out.append({"loc": loc, "msg": msg, "type": _text(e.get("type", ""), 100)})
    return out


def install_error_handlers(app: FastAPI, pages: PageErrors | None = None) -> None:
    """The one place errors become HTTP responses: ``{"code": ..., "message": ...}``, or a page
    saying the same in plain words when ``pages`` handles the request."""

    def answer(request: Request, status: int, body: dict[str, Any], headers: Mapping[str, str] | None) -> Response:
        if pages is not None and pages.handles(request):
            response = pages.render(request, status, str(body["message"]))
            response.headers.update(headers or {})
            return response
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(EvidenceError)
    async def evidence_error(request: Request, exc: EvidenceError) -> Response:
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return answer(request, status, {"code": exc.code, "message": exc.message}, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = json_safe_errors(exc.errors())
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"])
        if pages is not None and pages.handles(request):  # people, not programs: no field paths
            if first["loc"] and first["loc"][0] == "path":
                return answer(request, 404, {"message": "There is no such page: check the address, or go back"}, None)
            return answer(request, 422, {"message": f"The {str(first['loc'][-1]).replace('_', ' ')} this page was "
                                                    "sent is not one it can use: go back and try again"}, None)
        return answer(request, 422, {"code": "invalid_request", "message": f"{where}: {first['msg']}",
                                     "errors": errors}, None)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        """The framework's own errors (no such route, a malformed multipart body, a body over its
        cap) in the same shape as ours."""
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error")
        return answer(request, exc.status_code, {"code": code, "message": str(exc.detail)}, exc.headers)


def api_routes(routes: Iterable[Any]) -> Iterable[APIRoute]:
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):  # an included router (FastAPI >= 0.16x)
            yield from api_routes(r.original_router.routes)


def _codes(route: APIRoute, method: str) -> set[int]:
    codes = {413, 422}
    if any(hasattr(dep.call, "roles") for dep in route.dependant.dependencies):
        codes |= {401, 403, 429}
    if route.param_convertors:
        codes.add(404)
    if method in ("POST", "PUT", "PATCH"):
        codes.add(400)
    return codes


def documented_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app.openapi`` with every error a route can give: 413 and 422 everywhere; 401, 403 and 429
    where a key is needed; 404 where the path names something; 400 where there is a body; and
    whatever the route declares itself (``responses=``). Each with the ``Error`` body."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for route in api_routes(app.routes):
            for method in route.methods or ():
                op = schema["paths"].get(route.path_format, {}).get(method.lower())
                if op is None:
                    continue
                responses = op.setdefault("responses", {})
                for code in sorted(_codes(route, method) | {int(c) for c in route.responses if int(c) >= 400}):
                    entry = responses.setdefault(str(code), {"description": DESCRIPTIONS.get(code, "Error")})
                    entry["content"] = error
        app.openapi_schema = schema
        return schema

    return openapi
