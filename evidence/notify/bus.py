"""Committed events pushed to the live feeds: to this process's listeners as the transaction
commits (``EventBus``, one a runtime), and to other processes (API processes, from workers and from each other) over Redis
pub/sub when Redis is configured. A push is a shortcut, never the record: the feeds still read the
events table, so a message lost with Redis costs latency, not an event."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

__all__ = ["CHANNEL", "EventBus", "RedisBridge", "pending", "queued"]

log = logging.getLogger(__name__)
CHANNEL = "evidence:events"
RETRY_S = 5.0
Views = list[dict[str, Any]]


def pending(s: Session, view: dict[str, Any]) -> None:
    """Note an event written in this transaction, to be pushed once it commits."""
    s.info.setdefault("events", []).append(view)


def queued(s: Session, group: int) -> None:
    """Note in the transaction that the outbox's ``group`` has new deliveries (a subscription id,
    0 for the emails to witnesses)."""
    s.info.setdefault("outbox", set()).add(group)


class EventBus:
    """What a runtime's transactions committed, handed on (``Runtime.bus``, called by
    ``Sessions.begin`` once a transaction commits): its events to the listeners (this process's
    live feeds, the Redis bridge to the others) and its new deliveries to whoever starts the
    outbox's senders (the API's sweeper, a worker's queue). Nothing is sent from inside a
    transaction: what rolls back was never promised to anyone."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[Views], None]] = []
        self._starters: list[Callable[[set[int]], None]] = []

    def listen(self, listener: Callable[[Views], None]) -> Callable[[], None]:
        """Call ``listener(views)`` with the events of every transaction committed (each view as
        the feed shows it, with its ``incident_id``). Returns the way to stop."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def start_senders(self, starter: Callable[[set[int]], None]) -> Callable[[], None]:
        """Call ``starter(groups)`` after every commit that put deliveries in the outbox. Returns
        the way to stop."""
        self._starters.append(starter)
        return lambda: self._starters.remove(starter) if starter in self._starters else None

    def after_commit(self, s: Session) -> None:
        views, groups = s.info.pop("events", None), s.info.pop("outbox", None)
        calls: list[partial[None]] = [partial(starter, groups) for starter in list(self._starters) if groups]
        calls += [partial(listener, views) for listener in list(self._listeners) if views]
        for call in calls:  # each on its own: one that fails stops none of the others
            try:
                call()
            except Exception:  # noqa: BLE001 - what committed stands: the sweep sends it, the feeds read it
                log.exception("after-commit %s failed", call.func)


class RedisBridge:
    """Events between processes: ``publish`` (a listener) sends this process's committed events
    on the channel; ``subscribe(deliver)`` calls ``deliver(views)`` from a thread with every other
    process's, reconnecting after a Redis restart."""

    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=0.5)
        self.origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._down_until = 0.0

    def publish(self, views: Views) -> None:
        """Runs in the committing thread, after the commit: while Redis is unreachable it is not
        asked again for RETRY_S, so commits do not each wait for a connection time-out."""
        if time.monotonic() < self._down_until:
            return
        try:
            self.redis.publish(CHANNEL, json.dumps({"origin": self.origin, "events": views}, default=str))
        except RedisError as exc:  # the feeds' poll finds the events in the table
            self._down_until = time.monotonic() + RETRY_S
            log.warning("events not pushed (Redis), not trying again for %s s: %s", RETRY_S, exc)

    def subscribe(self, deliver: Callable[[Views], None]) -> None:
        threading.Thread(target=self._run, args=(deliver,), name="event-bus", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self, deliver: Callable[[Views], None]) -> None:
        while not self._stop.is_set():
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                pubsub.subscribe(CHANNEL)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    body = json.loads(message["data"])
                    if body.get("origin") != self.origin:
                        deliver(body["events"])
                pubsub.close()
            except (RedisError, OSError, ValueError) as exc:
                log.warning("event bus: %s; reconnecting", exc)
                self._stop.wait(1.0)
