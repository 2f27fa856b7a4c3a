"""The project's vocabulary, one enum each, shared by the tables, the queue, the API and the CLI.
They are ``StrEnum``s: stored and sent as their plain values (``"pending"``), compared equal to
them, and typed everywhere else.

    Evidence      queued -> ingesting -> analysing -> done | failed
    Work item     queued -> running -> done | failed       (kinds: quick, segment, plates, transcode)
    Candidate     pending -> confirmed | rejected          (a named person's decision)
                  pending -> superseded                    (a quick-pass alert the full analysis replaced)
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ADMINS", "CAMERAS", "CLOSED", "EXPORTERS", "OPENERS", "READERS", "REVIEWERS", "ROLES", "UNREVIEWED", "UPLOADERS",
           "Decision", "EvidenceState", "ReviewState", "Role", "WorkKind", "WorkState"]


class EvidenceState(StrEnum):
    QUEUED = "queued"
    INGESTING = "ingesting"
    ANALYSING = "analysing"
    DONE = "done"
    FAILED = "failed"


CLOSED = (EvidenceState.DONE, EvidenceState.FAILED)  # analysis over: exportable


class WorkKind(StrEnum):
    QUICK = "quick"  # keyframe triage of long footage: first alerts in seconds
    SEGMENT = "segment"  # faces in one stretch of the clip
    PLATES = "plates"  # number plates in one stretch of the clip
    TRANSCODE = "transcode"  # the working copy and its contact sheet


class WorkState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ReviewState(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


UNREVIEWED = (ReviewState.PENDING, ReviewState.SUPERSEDED)  # no person's decision: a re-run may redo them


class Decision(StrEnum):
    """What a reviewer decides about a candidate or a plate read."""

    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class Role(StrEnum):
    """An API key's role (``evidence keys create --role``)."""

    CONTROL_ROOM = "control_room"  # live incidents and reviews
    INVESTIGATOR = "investigator"  # search, evidence, export
    ADMIN = "admin"  # watchlists, keys, retention, audit
    CAMERA = "camera"  # posts ANPR reads only
    UPLOADER = "uploader"  # uploads evidence (body-worn footage)
    AUTHORITY = "authority"  # an inspector or above: approves access to ANPR reads past 90 days


ROLES = tuple(Role)

# Who may do what, the same for the API (api.auth) and the command line (cli.common.cli_actor).
READERS = (Role.CONTROL_ROOM, Role.INVESTIGATOR, Role.ADMIN)  # incidents, evidence, candidates, hotlist; search
REVIEWERS = (Role.CONTROL_ROOM, Role.INVESTIGATOR)  # a named person's decision on a candidate or a plate read
OPENERS = (Role.CONTROL_ROOM, Role.ADMIN)  # open incidents, send upload links
EXPORTERS = (Role.INVESTIGATOR, Role.ADMIN)  # evidence packages, unknown people
UPLOADERS = (Role.UPLOADER, Role.CONTROL_ROOM, Role.INVESTIGATOR, Role.ADMIN)  # send footage
ADMINS = (Role.ADMIN,)  # the watchlist
CAMERAS = (Role.CAMERA,)  # ANPR reads
