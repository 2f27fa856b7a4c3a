"""Rate limits (429 with ``Retry-After``) on what an outsider can hammer: failed authentication
(per client address) and public upload links (per link and per client address).

Counted in this process (a sliding window of event times per key): behind several API processes
each counts on its own, so the effective limit is the per-process limit times the processes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from evidence.errors import TooManyRequests

__all__ = ["Limits", "RateLimiter", "SigninBrake"]

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

    def recent(self, key: Hashable) -> int:
        """How many events ``key`` had in the window."""
        with self._lock:
            return len(self._recent(key, self.clock()))

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


class SigninBrake:
    """Failed sign-ins slow the next attempt down rather than refuse it: past ``free`` failures in
    ``window_s`` for a key, each attempt first waits 0.5 s, doubling with each further failure, at
    most ``max_delay_s`` — then the password is checked as usual, so the right one still signs the
    owner in (a delay, never a lockout someone else can cause). Attempts for one key go one at a
    time (``turn``), at most two waiting: sending in parallel gains an attacker nothing."""

    def __init__(self, free: int, window_s: float = 60, max_delay_s: float = 3.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free, self.window_s, self.max_delay_s, self.clock = free, window_s, max_delay_s, clock
        self.failures = RateLimiter(10**9, window_s, "failed sign-ins", clock)
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._waiting: dict[Hashable, int] = {}

    def delay_s(self, key: Hashable) -> float:
        n = self.failures.recent(key)
        return 0.0 if n < self.free else min(self.max_delay_s, 0.5 * 2 ** (n - self.free))

    @asynccontextmanager
    async def turn(self, key: Hashable, most_waiting: int = 2) -> AsyncIterator[None]:
        """This key's attempts one at a time; TooManyRequests when ``most_waiting`` already wait (a
        queue of an attacker's attempts cannot keep the owner waiting long, nor pile up)."""
        if self._waiting.get(key, 0) >= most_waiting:
            raise TooManyRequests("another sign-in with this name is being checked: try again in a moment",
                                  retry_after_s=self.max_delay_s)
        if len(self._locks) > MAX_KEYS:  # keep only the ones in use
            self._locks = {k: v for k, v in self._locks.items() if v.locked() or self._waiting.get(k)}
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        queued = True
        try:
            async with lock:
                self._waiting[key] -= 1
                queued = False
                await asyncio.sleep(self.delay_s(key))
                yield
        finally:
            if queued:  # gone before its turn (the client left)
                self._waiting[key] -= 1
            if self._waiting.get(key, 0) <= 0:
                self._waiting.pop(key, None)

    def count(self, key: Hashable) -> None:
        self.failures.count(key)


@dataclass
class Limits:
    """The API's limiters, built from Settings in the app factory."""

    auth_failures_per_min: int = 20
    link_requests_per_min: int = 20
    client_link_requests_per_min: int = 60
    auth_failures: RateLimiter = field(init=False)
    signin_address: RateLimiter = field(init=False)
    signin_pair: SigninBrake = field(init=False)
    signin_name: SigninBrake = field(init=False)
    link: RateLimiter = field(init=False)
    link_client: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.auth_failures = RateLimiter(self.auth_failures_per_min, 60, "failed authentications from this address")
        # Sign-in: a control room's people share an address, so failures there are refused only far
        # past what people mistype (a spray of guesses over many names); one name's failures slow that
        # name's next attempts from the same address (one at a time) and, less, from anywhere — a delay
        # of at most 3 s, never a refusal: nobody can lock another person out by typing their name.
        self.signin_address = RateLimiter(10 * self.auth_failures_per_min, 60, "failed sign-ins from this address")
        self.signin_pair = SigninBrake(free=5)
        self.signin_name = SigninBrake(free=2 * self.auth_failures_per_min)
        self.link = RateLimiter(self.link_requests_per_min, 60, "uploads through this link")
        self.link_client = RateLimiter(self.client_link_requests_per_min, 60, "upload-link requests from this address")
