"""Rate limits (429 with ``Retry-After``) on what an outsider can hammer: failed authentication
(per client address) and public upload links (per link and per client address).

Counted in this process (a sliding window of event times per key): behind several API processes
each counts on its own, so the effective limit is the per-process limit times the processes."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from evidence.errors import TooManyRequests

__all__ = ["Limits", "RateLimiter"]

MAX_KEYS = 100_000  # past this, keys with no event in the window are dropped


class RateLimiter:
    """At most ``limit`` events per ``window_s`` for each key."""

    def __init__(self, limit: int, window_s: float, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.what, self.clock = limit, window_s, what, clock
        self._events: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: Hashable, now: float) -> deque[float]:
        events = self._events.setdefault(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        return events

    def check(self, key: Hashable) -> None:
        """TooManyRequests if ``key`` is at its limit now (nothing is counted)."""
        with self._lock:
            now = self.clock()
            events = self._recent(key, now)
            if len(events) >= self.limit:
                raise TooManyRequests(f"too many {self.what}: try again later",
                                      retry_after_s=events[0] + self.window_s - now)

    def count(self, key: Hashable) -> None:
        """Record one event for ``key``."""
        with self._lock:
            now = self.clock()
            self._recent(key, now).append(now)
            if len(self._events) > MAX_KEYS:
                for k in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window_s]:
                    del self._events[k]

    def hit(self, key: Hashable) -> None:
        """``check`` then ``count``: each call is one event, refused once the key is at its limit."""
        self.check(key)
        self.count(key)


@dataclass
class Limits:
    """The API's limiters, built from Settings in the app factory."""

    auth_failures_per_min: int = 20
    link_requests_per_min: int = 20
    client_link_requests_per_min: int = 60
    auth_failures: RateLimiter = field(init=False)
    signin_name: RateLimiter = field(init=False)
    link: RateLimiter = field(init=False)
    link_client: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.auth_failures = RateLimiter(self.auth_failures_per_min, 60, "failed sign-ins from this address")
        # A person's account: guessing one name's password from many addresses is slowed down too.
        self.signin_name = RateLimiter(max(1, self.auth_failures_per_min // 2), 60, "failed sign-ins for this name")
        self.link = RateLimiter(self.link_requests_per_min, 60, "uploads through this link")
        self.link_client = RateLimiter(self.client_link_requests_per_min, 60, "upload-link requests from this address")
