"""Real peers for notifications: an HTTP server that receives webhooks (answering as told: 200,
500, or hanging), and an SMTP server (aiosmtpd) that keeps what it is sent."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.served import free_port


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes
    answered: int | None = None

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """``script``: how to answer the next requests ("500", "hang"), then ``default``."""

    script: list[str] = field(default_factory=list)
    default: str = "200"
    hang_s: float = 30.0
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                r = Received(time.time(), {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver.lock:
                    receiver.received.append(r)
                    how = receiver.script.pop(0) if receiver.script else receiver.default
                if how == "hang":  # no answer at all: the sender times out (or dies waiting)
                    receiver.release.wait(receiver.hang_s)
                    self.close_connection = True
                    return
                r.answered = int(how)
                try:
                    self.send_response(r.answered)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    r.answered = None  # the sender had gone

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def accepted(self) -> list[Received]:
        """Requests answered 2xx (the sender saw the answer)."""
        with self.lock:
            return [r for r in self.received if r.answered is not None and 200 <= r.answered < 300]

    def wait_for(self, n: int, timeout_s: float = 60, accepted: bool = True) -> list[Received]:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            got = self.accepted() if accepted else list(self.received)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{len(self.accepted())} of {n} webhooks after {timeout_s} s: {self.received}")

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def signature_ok(secret: str, r: Received, max_age_s: float = 300) -> bool:
    """The documented scheme: X-Evidence-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>."""
    parts = dict(p.split("=", 1) for p in r.headers["x-evidence-signature"].split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + r.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < max_age_s


class Mailbox:
    """A real SMTP server on loopback; ``messages`` in the order received."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        box = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                box.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def wait_for(self, n: int, timeout_s: float = 60) -> list[Message]:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and len(self.messages) < n:
            time.sleep(0.05)
        assert len(self.messages) >= n, [m["Subject"] for m in self.messages]
        return list(self.messages)

    def close(self) -> None:
        self.controller.stop()
