"""What stands in front of every route, before authentication and before any parsing.

- ``BodyLimit`` (ASGI middleware): each route has a body cap (a small default for JSON; uploads,
  camera batches, probe photos and enrolments their own). A declared ``Content-Length`` over the
  cap is refused at once; otherwise the bytes are counted as they stream in, chunked or not, and the
  request is refused with 413 the moment the count passes the cap. A NUL in the path or query
  string is refused (422) before anything sees it.
- ``SafeJSONRoute``: request bodies parsed as JSON are refused (422 ``json_invalid``) when nested
  deeper than ``MAX_JSON_DEPTH``, or holding a lone UTF-16 surrogate, a NUL or a non-finite number:
  none of these can be stored, and several crash a JSON encoder or a database driver downstream.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator
from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evidence.errors import TooLarge

__all__ = ["BodyLimit", "BodyTooLarge", "MAX_JSON_DEPTH", "MULTIPART_SLACK", "SafeJSONRoute", "Text", "clean_text",
           "limit_body", "parse_json", "refuse_oversize"]

MULTIPART_SLACK = 64 * 1024  # a form's framing and fields around its file


def refuse_oversize(headers: Mapping[str, str], cap: int, slack: int = 0) -> None:
    """TooLarge at once when the declared Content-Length is over ``cap`` + ``slack``, before a byte
    of the body is read."""
    length = headers.get("content-length")
    if length and length.isdigit() and int(length) > cap + slack:
        raise TooLarge(f"request of {int(length)} bytes is over the {cap}-byte limit")

_CAP_KEY = "evidence.body_cap"


def limit_body(scope: Scope, cap: int) -> None:
    """Lower this request's body cap from inside the route, before it reads the body (an upload
    link's own size cap, known only once the link is looked up); counted as the bytes stream."""
    scope[_CAP_KEY] = min(cap, scope.get(_CAP_KEY, cap))

MAX_JSON_DEPTH = 32


class BodyTooLarge(HTTPException):
    """413: an HTTPException so that FastAPI's body parser passes it through untouched."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"the request body is over this route's {cap}-byte limit")


def _error(status: int, code: str, message: str) -> tuple[Message, Message]:
    body = json.dumps({"code": code, "message": message}).encode()
    return ({"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close")]},
            {"type": "http.response.body", "body": body})


class BodyLimit:
    """Per-route body caps: ``routes`` maps (method, path template) to bytes; others get ``default``."""

    def __init__(self, app: ASGIApp, default: int, routes: Mapping[tuple[str, str], int]) -> None:
        self.app = app
        self.default = default
        self.routes = [(method, compile_path(path)[0], cap) for (method, path), cap in routes.items()]

    def cap(self, method: str, path: str) -> int:
        for m, pattern, cap in self.routes:
            if m == method and pattern.match(path):
                return cap
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or re.search(rb"%00|\x00", scope.get("query_string", b"")):
            for message in _error(422, "invalid_request", "a NUL character in the path or query string"):
                await send(message)
            return
        cap = scope[_CAP_KEY] = self.cap(scope["method"], scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            for message in _error(413, "too_large", f"request of {int(declared)} bytes is over this route's "
                                                    f"{cap}-byte limit"):
                await send(message)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > scope[_CAP_KEY]:
                    raise BodyTooLarge(scope[_CAP_KEY])
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:  # raised where no handler turned it into a response
            if started:
                raise
            for message in _error(413, "too_large", str(exc.detail)):
                await send(message)


def _check(value: Any, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        clean_text(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("a number too large to store")
    elif isinstance(value, dict):
        for k, v in value.items():
            clean_text(k)
            _check(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check(v, depth + 1)


def clean_text(text: str) -> str:
    """``text`` if it can be stored as it is; ValueError for a NUL or a lone surrogate."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text holding a lone UTF-16 surrogate (not Unicode text)") from exc
    if "\x00" in text:
        raise ValueError("text holding a NUL character")
    return text


# A text field of a form (JSON bodies, paths and query strings are checked whole).
Text = Annotated[str, AfterValidator(clean_text)]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes | str) -> Any:
    """``json.loads`` that refuses what cannot be stored (json.JSONDecodeError, with the reason)."""
    doc = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        value = json.loads(body, parse_constant=_no_constant)
        _check(value, 0)
    except json.JSONDecodeError:
        raise
    except RecursionError as exc:
        raise json.JSONDecodeError(f"nested deeper than {MAX_JSON_DEPTH} levels", doc[:200], 0) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise json.JSONDecodeError(str(exc), doc[:200], 0) from exc
    return value


class _SafeJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class SafeJSONRoute(APIRoute):
    """Routes whose request bodies are parsed by ``parse_json``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def safe(request: Request) -> Response:
            return await handler(_SafeJSONRequest(request.scope, request.receive))

        return safe
