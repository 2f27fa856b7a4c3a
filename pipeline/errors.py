"""The root of the project's one error tree, and the errors the pure stages raise. Every error
carries a stable ``code`` and a one-line message; the application's own errors (not found,
conflicts, access) extend the tree in ``evidence.errors``, where the whole tree is drawn.

    EvidenceError
    ├── InvalidMedia        the bytes are not usable video (empty, not video, truncated, corrupt)
    ├── InvalidReference    a watchlist image that cannot be enrolled (no face, several faces, unreadable)
    └── ModelUnavailable    a model file is missing or its SHA-256 does not match the manifest
"""

from __future__ import annotations

__all__ = ["EvidenceError", "InvalidMedia", "InvalidReference", "ModelUnavailable"]


class EvidenceError(Exception):
    code = "evidence_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidMedia(EvidenceError):
    code = "invalid_media"


class InvalidReference(EvidenceError):
    code = "invalid_reference"


class ModelUnavailable(EvidenceError):
    code = "model_unavailable"
