"""Who may call what: every route declares its roles with ``allow(...)``. A missing, unknown or
revoked key is 401; a valid key whose role is not listed is 403."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from evidence.audit import Actor
from evidence.keys import authenticate
from pipeline.errors import Forbidden

__all__ = ["allow"]

_bearer = HTTPBearer(auto_error=False, description="an API key from `evidence keys create --role ROLE --name NAME`")


def allow(*roles: str) -> Callable[..., Actor]:
    """A dependency giving the calling Actor if its role is one of ``roles``."""

    def caller(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Actor:
        with request.app.state.runtime.sessions() as s:
            actor = authenticate(s, creds.credentials if creds else None)
        if actor.role not in roles:
            raise Forbidden(f"role {actor.role} may not call this (allowed: {', '.join(roles)})")
        return actor

    caller.roles = roles  # type: ignore[attr-defined]  # read by the role-matrix test and the docs
    return caller
