"""Subscriptions (who is told what) and officers' devices: made, listed, stopped and resumed by
an administrator, every change audited; the delivery log of each, queryable (and audited)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from evidence.audit import Actor, append_audit
from evidence.db.outbox_tables import Delivery, Subscription
from evidence.errors import InvalidRequest, NotFound
from evidence.eventkinds import subscribable
from evidence.notify.bus import queued
from evidence.notify.outbox import new_secret
from evidence.notify.targets import check_email, check_webhook
from evidence.runtime import Runtime
from evidence.utc import utcnow

__all__ = ["create_subscription", "deliveries", "delivery_view", "list_subscriptions", "resume_subscription",
           "stop_subscription", "subscription_view"]


def subscription_view(sub: Subscription) -> dict[str, Any]:
    return {"id": sub.id, "name": sub.name, "purpose": sub.purpose, "events": sub.events, "channel": sub.channel,
            "target": sub.target, "filters": sub.filters, "state": sub.state, "failures": sub.failures,
            "created_by": sub.created_by, "created_at": sub.created_at.isoformat(),
            "retry_at": sub.retry_at.isoformat() if sub.retry_at else None}


def create_subscription(rt: Runtime, actor: Actor, *, name: str, purpose: str, events: list[str], channel: str,
                        target: str, filters: dict[str, Any]) -> tuple[Subscription, str]:
    """A new subscription (or officer device) and its signing secret, shown this once."""
    known = subscribable()
    unknown = sorted(set(events) - set(known))
    if unknown:
        raise InvalidRequest(f"Unknown event kind(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if purpose == "subscriber" and not events:
        raise InvalidRequest("A subscription names at least one event kind")
    if channel == "webhook":
        target = check_webhook(target, rt.settings.webhook_allow_private)
    else:
        target = check_email(target)
    secret = new_secret()
    with rt.sessions.begin() as s:
        sub = Subscription(name=name, purpose=purpose, events=sorted(set(events)), channel=channel, target=target,
                           secret=secret, filters=filters, created_by=actor.name)
        s.add(sub)
        s.flush()
        append_audit(s, actor, "subscription.create", f"subscription:{sub.id}",
                     detail={"name": name, "purpose": purpose, "events": sub.events, "channel": channel,
                             "target": target, "filters": filters})
    return sub, secret


def list_subscriptions(rt: Runtime, purpose: str | None = None) -> list[Subscription]:
    with rt.sessions() as s:
        q = select(Subscription).order_by(Subscription.id)
        return list(s.scalars(q.where(Subscription.purpose == purpose) if purpose else q))


def stop_subscription(rt: Runtime, sub_id: int, actor: Actor, reason: str) -> Subscription:
    with rt.sessions.begin() as s:
        sub = s.get(Subscription, sub_id)
        if sub is None:
            raise NotFound(f"no subscription {sub_id}")
        sub.state, sub.stopped_at, sub.stopped_reason = "stopped", utcnow(), reason
        s.execute(update(Delivery).where(Delivery.subscription_id == sub_id, Delivery.state == "pending")
                  .values(state="failed", last_error="the subscription was stopped"))
        append_audit(s, actor, "subscription.stop", f"subscription:{sub_id}", reason)
        return sub


def resume_subscription(rt: Runtime, sub_id: int, actor: Actor, reason: str) -> Subscription:
    """Active again, and what was given up on while it failed is tried once more."""
    with rt.sessions.begin() as s:
        sub = s.get(Subscription, sub_id)
        if sub is None:
            raise NotFound(f"no subscription {sub_id}")
        sub.state, sub.failures, sub.retry_at = "active", 0, None
        s.execute(update(Delivery).where(Delivery.subscription_id == sub_id, Delivery.state == "failed")
                  .values(state="pending", attempts=0, next_at=utcnow()))
        queued(s, sub_id)
        append_audit(s, actor, "subscription.resume", f"subscription:{sub_id}", reason)
        return sub


def delivery_view(d: Delivery) -> dict[str, Any]:
    return {"id": d.id, "subscription_id": d.subscription_id, "event_id": d.event_id, "kind": d.kind,
            "channel": d.channel, "target": d.target, "state": d.state, "attempts": d.attempts,
            "created_at": d.created_at.isoformat(), "next_at": d.next_at.isoformat(),
            "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
            "last_status": d.last_status, "last_error": d.last_error, "log": d.log}


def deliveries(rt: Runtime, actor: Actor, reason: str, *, subscription: int | None = None, event: int | None = None,
               state: str | None = None, limit: int = 100) -> list[Delivery]:
    """The delivery log, newest first, filtered; the query is audited."""
    q = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if subscription is not None:
        q = q.where(Delivery.subscription_id == subscription)
    if event is not None:
        q = q.where(Delivery.event_id == event)
    if state is not None:
        q = q.where(Delivery.state == state)
    with rt.sessions() as s:
        rows = list(s.scalars(q))
    from evidence.audit import audit_read

    audit_read(rt.sessions, actor, "deliveries.view", f"subscription:{subscription}" if subscription else "deliveries",
               reason, {"event": event, "state": state, "results": len(rows)})
    return rows
