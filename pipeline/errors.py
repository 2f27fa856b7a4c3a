"""The project's one error tree. Every error carries a stable ``code`` and a one-line message.

    EvidenceError
    ├── InvalidMedia        the bytes are not usable video (empty, not video, truncated, corrupt)
    ├── InvalidReference    a watchlist image that cannot be enrolled (no face, several faces, unreadable)
    ├── InvalidRequest      a request that is malformed (a bad header, a field that cannot be stored)
    ├── NotFound            an id that names nothing
    ├── Conflict            the request contradicts stored state
    ├── TooLarge            over a size cap
    ├── Gone                a link that expired or is used up
    ├── Unauthorized        no valid credentials
    ├── Forbidden           the caller may not do this
    ├── TooManyRequests     over a rate limit (``retry_after_s`` says when to try again)
    └── ModelUnavailable    a model file is missing or its SHA-256 does not match the manifest

The API maps these to HTTP in one handler; the CLI prints ``error: <message>`` and exits 2.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "EvidenceError",
    "Forbidden",
    "InvalidMedia",
    "InvalidReference",
    "InvalidRequest",
    "Gone",
    "ModelUnavailable",
    "TooLarge",
    "TooManyRequests",
    "NotFound",
    "Unauthorized",
]


class EvidenceError(Exception):
    code = "evidence_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidMedia(EvidenceError):
    code = "invalid_media"


class InvalidReference(EvidenceError):
    code = "invalid_reference"


class InvalidRequest(EvidenceError):
    code = "invalid_request"


class NotFound(EvidenceError):
    code = "not_found"


class Conflict(EvidenceError):
    code = "conflict"


class TooLarge(EvidenceError):
    code = "too_large"


class Gone(EvidenceError):
    code = "gone"


class Unauthorized(EvidenceError):
    code = "unauthorized"


class Forbidden(EvidenceError):
    code = "forbidden"


class TooManyRequests(EvidenceError):
    code = "too_many_requests"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ModelUnavailable(EvidenceError):
    code = "model_unavailable"
