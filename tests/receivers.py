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


class NotifyStandIn:
    """A local stand-in for GOV.UK Notify's API (POST /v2/notifications/sms and /email), as its
    documentation describes it: the client's JSON Web Token checked (HS256 with the key's secret,
    ``iss`` the service id, ``iat`` within 30 s), 201 with the notification, and Notify's 400
    answer for a number it will not text (``refuse``). ``sent``: what it accepted."""

    SERVICE = "26785a09-ab16-4eb0-8407-a37497a57506"
    SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
    SMS_TEMPLATE = "f33517ff-2a88-4f6e-b855-c550268ce08a"
    EMAIL_TEMPLATE = "0b1c2a3e-1111-4d6f-9a3c-5b7e2f1d0c9a"

    def __init__(self, refuse: tuple[str, ...] = ("07700900000",)) -> None:
        import jwt  # PyJWT: notifications-python-client's own dependency

        self.sent: list[dict[str, Any]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                try:
                    claims = jwt.decode(token, stand_in.SECRET, algorithms=["HS256"])
                    assert claims["iss"] == stand_in.SERVICE and abs(time.time() - claims["iat"]) < 30
                except Exception:  # noqa: BLE001 - any bad token is Notify's 403
                    return self._answer(403, {"status_code": 403, "errors": [
                        {"error": "AuthError", "message": "Invalid token: signature, api token not found"}]})
                kind = self.path.rsplit("/", 1)[-1]
                to = body.get("phone_number") if kind == "sms" else body.get("email_address")
                template = stand_in.SMS_TEMPLATE if kind == "sms" else stand_in.EMAIL_TEMPLATE
                if body.get("template_id") != template:
                    return self._answer(400, {"status_code": 400, "errors": [
                        {"error": "BadRequestError", "message": "Template not found"}]})
                if to in refuse:
                    return self._answer(400, {"status_code": 400, "errors": [
                        {"error": "BadRequestError", "message": "Can’t send to this recipient using a team-only API key"}]})
                stand_in.sent.append({"kind": kind, "to": to, **body})
                self._answer(201, {"id": "740e5834-3a29-46b4-9a6f-16142fde533a", "reference": body.get("reference"),
                                   "content": {"body": body["personalisation"]["message"]},
                                   "template": {"id": template, "version": 1}})

            def _answer(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def env(self) -> dict[str, str]:
        return {"EVIDENCE_NOTIFY_API_KEY": f"evidence_test-{self.SERVICE}-{self.SECRET}",
                "EVIDENCE_NOTIFY_BASE_URL": f"http://127.0.0.1:{self.port}",
                "EVIDENCE_NOTIFY_SMS_TEMPLATE": self.SMS_TEMPLATE, "EVIDENCE_NOTIFY_EMAIL_TEMPLATE": self.EMAIL_TEMPLATE}

    def close(self) -> None:
        self.server.shutdown()
