"""The application's errors, on the root the pure stages share (``pipeline.errors``). The API maps
them to HTTP in one handler (``api.errors``); the command line prints ``error: <message>`` and
exits 2.

    EvidenceError                                     (pipeline.errors)
    ├── InvalidMedia        the bytes are not usable video (empty, not video, truncated, corrupt)
    ├── InvalidReference    a watchlist image that cannot be enrolled (no face, several faces, unreadable)
    ├── ModelUnavailable    a model file is missing or its SHA-256 does not match the manifest
    ├── InvalidRequest      a request that is malformed (a bad header, a field that cannot be stored)
    ├── NotFound            an id that names nothing
    ├── Conflict            the request contradicts stored state (already reviewed, still analysing)
    │   └── ModelMismatch   stored face vectors were made by another embedder (`evidence models reembed`)
    ├── TooLarge            over a size cap
    ├── Gone                a link that expired or is used up
    ├── Unauthorized        no valid credentials
    ├── Forbidden           the caller may not do this
    ├── TooManyRequests     over a rate limit (``retry_after_s`` says when to try again)
    └── StoreUnavailable    the object store did not answer or returned wrong bytes (try again)
"""

from __future__ import annotations

from pipeline.errors import EvidenceError, InvalidMedia, InvalidReference, ModelUnavailable

__all__ = ["Conflict", "EvidenceError", "Forbidden", "Gone", "InvalidMedia", "InvalidReference", "InvalidRequest",
           "ModelMismatch", "ModelUnavailable", "NotFound", "StoreUnavailable", "TooLarge", "TooManyRequests",
           "Unauthorized"]


class InvalidRequest(EvidenceError):
    code = "invalid_request"


class NotFound(EvidenceError):
    code = "not_found"


class Conflict(EvidenceError):
    code = "conflict"


class ModelMismatch(Conflict):
    """Face vectors made by another embedder than this process's: they are never compared with its
    own (distances between two models' vectors mean nothing). ``REMEDY`` says what to run."""

    code = "model_mismatch"
    REMEDY = "run `evidence models reembed` to re-make them with it"


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


class StoreUnavailable(EvidenceError):
    code = "store_unavailable"
