"""The witness page: a member of the public opens the link from a text message on a phone. Plain
words, one thing at a time, nothing about the incident: what happens to the video, choose or
record it, send it (resumable), a receipt."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path as PathParam, Request
from fastapi.responses import HTMLResponse

from api.auth import limit_key
from api.pages.common import render, size_text
from api.ratelimit import Limits
from evidence.errors import Gone, TooManyRequests
from evidence.runtime import Runtime
from evidence.uploads import UnknownLink, check_link

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/u/{token}", response_class=HTMLResponse)
def witness(token: Annotated[str, PathParam(max_length=100)], request: Request) -> HTMLResponse:
    rt: Runtime = request.app.state.runtime
    limits: Limits = request.app.state.limits
    context: dict[str, Any] = {"force_name": rt.settings.force_name, "page_title": "Send your video",
               "service_name": "Send a video to the police", "home_url": f"/u/{token}"}
    try:
        limits.link_client.hit(limit_key(request))
        link, _ = check_link(rt, token)
    except UnknownLink:
        limits.auth_failures.hit(limit_key(request))
        return render(request, "witness.html", None, status_code=404, gone="This link is not right: check the "
                      "text message we sent you.", **context)
    except (Gone, TooManyRequests) as exc:
        status = 429 if isinstance(exc, TooManyRequests) else 410
        return render(request, "witness.html", None, status_code=status, gone=exc.message, **context)
    return render(request, "witness.html", None, endpoint=f"/public/tus/{token}", max_bytes=link.max_bytes,
                  max_size=size_text(link.max_bytes), **context)
