"""Logs as one JSON object a line (``EVIDENCE_LOG_FORMAT=json``, the default of ``evidence serve``
and ``evidence worker``), each with the UTC time, level, logger, message and, inside an HTTP
request, its request id (the ``X-Request-ID`` the client or proxy sent, or one made here) — so a
control-room complaint about one request can be followed through every line it wrote."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = ["REQUEST_ID", "JsonFormatter", "configure_logging"]

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        request_id = REQUEST_ID.get()
        if request_id:
            out["request_id"] = request_id
        out.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(fmt: str, level: str = "INFO") -> None:
    """Send every logger's records (uvicorn's and RQ's too) to stderr in ``fmt``: json or text."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "rq.worker"):  # their own handlers would print twice, as text
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
