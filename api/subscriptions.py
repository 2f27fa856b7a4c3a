"""Subscriptions and officers' devices (admin), the delivery log (admin, audited), and the list
of devices the control room sends alerts to.

A webhook subscription receives each event as a signed JSON POST: the body
``{"id": "evt_<n>", "type": …, "created_at": …, "incident": {…} | null, "data": {…}}``, the
headers ``X-Evidence-Event-Id`` (the same id: ignore one seen before) and
``X-Evidence-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, model_validator

from api.auth import ADMINS, OPENERS, allow
from api.deps import RuntimeDep
from api.guards import SafeJSONRoute
from api.params import MAX_BIG_ID, MAX_ID, Id
from api.schemas import DeliveryPublic, DevicePublic, SubscriptionCreated, SubscriptionPublic
from evidence.audit import Actor
from evidence.eventkinds import subscribable
from evidence.notify.subscriptions import (create_subscription, deliveries, delivery_view, list_subscriptions,
                                           resume_subscription, stop_subscription, subscription_view)

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["subscriptions"])
Kind = Literal[tuple(str(k) for k in subscribable())]  # type: ignore[valid-type]


class Filters(BaseModel):
    incident: int | None = Field(None, ge=1, le=MAX_ID, description="only this incident's events")
    incident_type: str | None = Field(None, min_length=1, max_length=64, description="only incidents of this type")
    hotlist_category: str | None = Field(None, min_length=1, max_length=32, description="only hits in this category")


class SubscriptionIn(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="who it is for, e.g. 'Duty inspector', "
                                                               "'Housing partner', 'PC 99 Jones (phone)'")
    purpose: Literal["subscriber", "device"] = Field("subscriber", description="`device`: an officer's device, "
                                                     "sent alerts by hand (POST /alerts/{id}/send); no events")
    events: list[Kind] = Field(default_factory=list, max_length=len(subscribable()))  # type: ignore[valid-type]
    channel: Literal["webhook", "email"]
    url: str | None = Field(None, max_length=500, description="the webhook's http(s) URL")
    email: str | None = Field(None, max_length=254)
    filters: Filters = Field(default_factory=Filters)

    @model_validator(mode="after")
    def _target(self) -> SubscriptionIn:
        if self.channel == "webhook" and not self.url:
            raise ValueError("a webhook subscription needs its url")
        if self.channel == "email" and not self.email:
            raise ValueError("an email subscription needs its email")
        return self


def _public(sub: Any) -> SubscriptionPublic:
    return SubscriptionPublic(**subscription_view(sub))


@router.post("/subscriptions", status_code=201, summary="Subscribe a webhook or an email address to events",
             response_model=SubscriptionCreated, responses={422: {"description": "A refused URL or address"}},
             description="Roles: admin. Answers the subscription with its `secret` (shown once: it signs the "
                         "webhooks). A webhook URL is http(s) to a public address (private and loopback ones "
                         "only with `EVIDENCE_WEBHOOK_ALLOW_PRIVATE=true`; link-local and cloud metadata never).")
def subscribe(body: SubscriptionIn, request: Request, rt: RuntimeDep,
              actor: Annotated[Actor, Depends(allow(*ADMINS))]) -> SubscriptionCreated:
    target = body.url if body.channel == "webhook" else body.email
    assert target is not None
    sub, secret = create_subscription(rt, actor, name=body.name, purpose=body.purpose, events=list(body.events),
                                      channel=body.channel, target=target,
                                      filters=body.filters.model_dump(exclude_none=True))
    return SubscriptionCreated(**subscription_view(sub), secret=secret)


@router.get("/subscriptions", summary="Subscriptions and devices", response_model=list[SubscriptionPublic],
            description="Roles: admin. With their state: `active`, `failing` (deliveries keep being retried; the "
                        "desk was alerted), `stopped`.")
def subscriptions(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*ADMINS))]) -> list[SubscriptionPublic]:
    return [_public(s) for s in list_subscriptions(rt)]


@router.delete("/subscriptions/{subscription_id}", summary="Stop a subscription", response_model=SubscriptionPublic,
               responses={404: {"description": "No such subscription"}},
               description="Roles: admin. Its undelivered messages are dropped; `reason` is audited.")
def unsubscribe(subscription_id: Id, rt: RuntimeDep, reason: Annotated[str, Query(min_length=1, max_length=2000)],
                actor: Annotated[Actor, Depends(allow(*ADMINS))]) -> SubscriptionPublic:
    return _public(stop_subscription(rt, subscription_id, actor, reason))


@router.post("/subscriptions/{subscription_id}/resume", summary="Resume a failing or stopped subscription",
             response_model=SubscriptionPublic, responses={404: {"description": "No such subscription"}},
             description="Roles: admin. What was given up on is tried again; `reason` is audited.")
def resume(subscription_id: Id, request: Request, rt: RuntimeDep,
           reason: Annotated[str, Query(min_length=1, max_length=2000)],
           actor: Annotated[Actor, Depends(allow(*ADMINS))]) -> SubscriptionPublic:
    sub = resume_subscription(rt, subscription_id, actor, reason)
    request.app.state.sweeper.wake()
    return _public(sub)


@router.get("/deliveries", summary="The delivery log", response_model=list[DeliveryPublic],
            description="Roles: admin. Newest first; each with its attempts (when, the answer, the error). The "
                        "query and its `reason` are audited.")
def delivery_log(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*ADMINS))],
                 reason: Annotated[str, Query(min_length=1, max_length=2000)],
                 subscription: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                 event: Annotated[int | None, Query(ge=1, le=MAX_BIG_ID)] = None,
                 state: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[DeliveryPublic]:
    rows = deliveries(rt, actor, reason, subscription=subscription, event=event, state=state, limit=limit)
    return [DeliveryPublic(**delivery_view(d)) for d in rows]


@router.get("/devices", summary="Officers' devices alerts can be sent to", response_model=list[DevicePublic],
            description="Roles: control_room, admin.")
def devices(rt: RuntimeDep, actor: Annotated[Actor, Depends(allow(*OPENERS))]) -> list[DevicePublic]:
    return [DevicePublic(id=d.id, name=d.name, channel=d.channel) for d in list_subscriptions(rt, "device")
            if d.state != "stopped"]
