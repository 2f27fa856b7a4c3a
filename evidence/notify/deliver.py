"""Emptying the outbox. Deliveries are grouped by recipient (a subscription; group 0: the direct
emails to witnesses). A sender claims a few of a group's due deliveries with a lease, sends them one
by one and records each attempt; a failed attempt puts that delivery, and the whole group, back by
an exponential back-off, so one receiver that hangs holds up nobody but itself. A sender killed
mid-send leaves its lease to lapse, and the delivery is sent again (the receiver sees the same event
id). After ``delivery_max_attempts`` a delivery is given up; after ``subscription_failing_after``
failed attempts in a row the subscription is marked failing and the desk gets an alert.

Who runs senders: ``Sweeper`` — in the API process a sweep every half second and a wake-up
after each commit that filled the outbox, sending on its own threads (no Redis) or enqueueing an
RQ job per group (``workers.jobs.deliver_job``) that a worker runs."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update

from evidence.db import rows_changed
from evidence.db.outbox_tables import Delivery, Subscription
from evidence.eventkinds import EventKind
from evidence.events import add_event
from evidence.notify.govnotify import send_notify
from evidence.notify.messages import email_for, notify_message
from evidence.notify.send import Outcome, post_webhook, send_email
from evidence.runtime import Runtime
from evidence.settings import Settings
from evidence.utc import utcnow

__all__ = ["Sweeper", "deliver_group", "due_groups"]

log = logging.getLogger(__name__)
BATCH = 50
BUDGET_S = 1.0  # a sender's turn: then it makes way for the other recipients'


def lease_s(settings: Settings) -> float:
    """How long a claim holds: a turn, one message that takes its whole time-out (SMTP: connect
    and send), and some slack. A sender killed mid-turn holds its recipient no longer than this."""
    return BUDGET_S + 2 * settings.webhook_timeout_s + 5


def due_groups(rt: Runtime) -> list[int]:
    """Groups with a delivery due now whose recipient is not backing off."""
    now = utcnow()
    with rt.sessions() as s:
        rows = s.execute(select(Delivery.subscription_id).where(
            Delivery.state == "pending", Delivery.next_at <= now,
            or_(Delivery.lease_until.is_(None), Delivery.lease_until < now)).distinct()).all()
        ids = {r[0] for r in rows}
        waiting = set(s.scalars(select(Subscription.id).where(Subscription.id.in_(ids - {None}),
                                                              Subscription.retry_at > now)))
    return sorted((i or 0) for i in ids if i not in waiting)


def _claim(rt: Runtime, group: int, holder: str) -> list[Delivery]:
    """Up to BATCH due deliveries of the group, leased. A subscription has one sender at a time
    (its own lease, taken by compare-and-set): messages go in order, and its back-off holds."""
    now = utcnow()
    until = now + timedelta(seconds=lease_s(rt.settings))
    with rt.sessions.begin() as s:
        if group:
            took = s.execute(update(Subscription).where(
                Subscription.id == group, Subscription.state != "stopped",
                or_(Subscription.retry_at.is_(None), Subscription.retry_at <= now),
                or_(Subscription.lease_until.is_(None), Subscription.lease_until < now,
                    Subscription.lease_holder == holder))
                .values(lease_until=until, lease_holder=holder).execution_options(synchronize_session=False))
            if rows_changed(took) != 1:
                return []
        q = select(Delivery.id).where(Delivery.state == "pending", Delivery.next_at <= now,
                                      or_(Delivery.lease_until.is_(None), Delivery.lease_until < now))
        q = q.where(Delivery.subscription_id == group) if group else q.where(Delivery.subscription_id.is_(None))
        ids = list(s.scalars(q.order_by(Delivery.id).limit(BATCH)))
        if not ids:
            return []
        s.execute(update(Delivery).where(Delivery.id.in_(ids)).values(lease_until=until))
        return list(s.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)))


def _send(rt: Runtime, client: httpx.Client, d: Delivery, sub: Subscription | None) -> Outcome:
    try:
        if d.channel == "webhook":
            return post_webhook(client, rt.settings, d.target, sub.secret if sub else "", d.payload)
        if d.channel.startswith("notify_"):
            subject, message = notify_message(rt.settings, d)
            return send_notify(rt.settings, d.channel, d.target, subject, message, f"delivery-{d.id}")
        subject, text, headers = email_for(rt.settings, d)
        return send_email(rt.settings, d.target, subject, text, headers)
    except Exception as exc:  # noqa: BLE001 - a message that cannot be made is a failed attempt, counted
        log.exception("delivery %s could not be sent", d.id)  # and given up at once: trying again would make
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500], final=True)  # it no better, and hold back the next


def _record(rt: Runtime, attempts: list[tuple[Delivery, Outcome]], unsent: list[int]) -> None:
    """Record a batch's attempts in one transaction (a write per message would cap the rate at
    what the database commits a second), and let go of what was not sent."""
    with rt.sessions.begin() as s:
        for d, outcome in attempts:
            _attempt(s, rt, d, outcome)
        if unsent:
            s.execute(update(Delivery).where(Delivery.id.in_(unsent)).values(lease_until=None))


def _without_links(payload: dict[str, Any]) -> dict[str, Any]:
    """A message's private links (a witness's status page, an officer's share) are kept only until
    it has been sent or given up on: only their hashes stay in the database."""
    out = {k: v for k, v in payload.items() if k not in ("link_path", "status_path")}
    if isinstance(out.get("data"), dict) and "link_path" in out["data"]:
        out["data"] = {k: v for k, v in out["data"].items() if k != "link_path"}
    return out


def _let_go(rt: Runtime, group: int, holder: str) -> None:
    if group:
        with rt.sessions.begin() as s:
            s.execute(update(Subscription).where(Subscription.id == group, Subscription.lease_holder == holder)
                      .values(lease_until=None, lease_holder=None).execution_options(synchronize_session=False))


def _attempt(s: Any, rt: Runtime, d: Delivery, outcome: Outcome) -> None:
    """One attempt on the delivery's row (and its subscription's: back-off, failing)."""
    now, st = utcnow(), rt.settings
    row = s.get(Delivery, d.id)
    if row is None or row.state != "pending":
        return
    sub = s.get(Subscription, row.subscription_id) if row.subscription_id else None
    row.attempts += 1
    row.lease_until, row.last_status, row.last_error = None, outcome.status, outcome.error
    row.log = [*row.log, {"at": now.isoformat(), "status": outcome.status, "error": outcome.error}][-20:]
    if outcome.ok:
        row.state, row.delivered_at = "delivered", now
        row.payload = _without_links(row.payload)
        if sub is not None:
            sub.failures, sub.retry_at = 0, None
            if sub.state == "failing":
                sub.state = "active"
        return
    if row.attempts >= st.delivery_max_attempts or outcome.final:
        row.state = "failed"
        row.payload = _without_links(row.payload)
    else:
        row.next_at = now + timedelta(seconds=min(3600.0, st.delivery_backoff_s * 2 ** (row.attempts - 1)))
    if sub is None:
        return
    sub.failures += 1
    sub.retry_at = row.next_at if row.state == "pending" else now + timedelta(seconds=st.delivery_backoff_s)
    if sub.state == "active" and sub.failures >= st.subscription_failing_after:
        sub.state = "failing"
        add_event(s, None, EventKind.SUBSCRIPTION_FAILING, {"subscription_id": sub.id, "name": sub.name,
                                                    "error": outcome.error, "failures": sub.failures})


def deliver_group(rt: Runtime, group: int, budget_s: float = BUDGET_S) -> tuple[int, bool]:
    """Send what is due to one recipient group, until nothing is due, an attempt fails or
    ``budget_s`` has passed (then the sender makes way for the other recipients' and is started
    again); (how many were delivered, whether more is due now)."""
    sent, start, holder = 0, time.monotonic(), uuid.uuid4().hex
    timeout = httpx.Timeout(rt.settings.webhook_timeout_s)
    try:
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            while batch := _claim(rt, group, holder):
                sub = None
                if group:
                    with rt.sessions() as s:
                        sub = s.get(Subscription, group)
                attempts: list[tuple[Delivery, Outcome]] = []
                for d in batch:
                    outcome = _send(rt, client, d, sub)
                    attempts.append((d, outcome))
                    if (not outcome.ok and group) or time.monotonic() - start > budget_s:
                        break  # this recipient backs off, or makes way: the rest of the batch waits
                sent += sum(o.ok for _, o in attempts)
                _record(rt, attempts, [d.id for d in batch[len(attempts):]])
                if not all(o.ok for _, o in attempts) and group:
                    return sent, False
                if time.monotonic() - start > budget_s:
                    return sent, True
        return sent, False
    finally:
        _let_go(rt, group, holder)


CAMERA_CHECK_S = 5.0
UPLOAD_SWEEP_S = 60.0  # unfinished resumable uploads past their idle limit or their link: removed


class Sweeper:
    """The API process's periodic sweep (named for all it does, not only sending): every ``every``
    seconds (and at once when woken) it escalates overdue alerts, every CAMERA_CHECK_S raises those
    of silent cameras, every UPLOAD_SWEEP_S removes abandoned uploads, and it starts a sender for
    every due group of the outbox — on this process's threads, or through ``enqueue`` (an RQ job
    per group)."""

    def __init__(self, rt: Runtime, enqueue: Callable[[int], None] | None = None, threads: int = 4,
                 every: float = 0.5) -> None:
        self.rt, self.enqueue, self.every = rt, enqueue, every
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="deliver")
        self.running: set[int] = set()
        self.lock = threading.Lock()
        self.woken = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)

    def start(self) -> Sweeper:
        self.thread.start()
        return self

    def wake(self) -> None:
        self.woken.set()

    def stop(self) -> None:
        self.stopped.set()
        self.woken.set()
        self.thread.join(timeout=5)
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        from evidence.alerts import escalate_due
        from evidence.cameras import check_cameras
        from evidence.uploads import expire_uploads

        cameras_checked = uploads_swept = 0.0
        while not self.stopped.is_set():
            self.woken.wait(self.every)
            self.woken.clear()
            try:
                escalate_due(self.rt)
                if time.monotonic() - cameras_checked >= CAMERA_CHECK_S:  # silent ANPR cameras
                    cameras_checked = time.monotonic()
                    check_cameras(self.rt)
                if time.monotonic() - uploads_swept >= UPLOAD_SWEEP_S:  # unfinished uploads left too long
                    uploads_swept = time.monotonic()
                    expire_uploads(self.rt)
                for group in due_groups(self.rt):
                    self._start(group)
            except Exception:  # noqa: BLE001 - the loop outlives a database blip; logged
                log.exception("delivery sweep failed")

    def _start(self, group: int) -> None:
        if self.enqueue is not None:
            self.enqueue(group)
            return
        with self.lock:
            if group in self.running:
                return
            self.running.add(group)
        self.pool.submit(self._run, group)

    def _run(self, group: int) -> Any:
        more = False
        try:
            sent, more = deliver_group(self.rt, group)
            return sent
        except Exception:  # noqa: BLE001
            log.exception("delivering to group %s failed", group)
            return 0
        finally:
            with self.lock:
                self.running.discard(group)
            if more:  # its turn again, behind the groups already waiting
                self.wake()
