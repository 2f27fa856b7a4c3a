"""Watchlists as the Authorised Professional Practice asks: each compiled for a purpose, on a legal
basis, authorised by a named senior officer, with a category, a maximum size and an expiry. An
incident's footage is matched against the lists chosen for it (EVIDENCE_DEFAULT_WATCHLISTS when
none are). An expired subject or list never matches (``live_subject``, checked at every match) and
is purged by the daily retention run: its reference templates and photos deleted, the subject row
kept (candidates raised keep their history), an audit entry naming the rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from evidence.alerts import close_stale_alerts
from evidence.audit import Actor, append_audit
from evidence.db.governance_tables import WatchlistRow
from evidence.db.tables import CandidateRow, Incident, WatchlistReference, WatchlistSubjectRow
from evidence.errors import Conflict, InvalidRequest, NotFound
from evidence.runtime import Runtime
from evidence.states import ReviewState
from evidence.utc import utcnow

NOT_RECORDED = "not recorded"  # the authority of the list schema 0015 made from the one watchlist before

__all__ = ["NOT_RECORDED", "ListSpec", "choose_lists", "create_list", "authorise_list", "list_is_live", "list_view", "lists_for_incident",
           "usable_list", "live_subject", "live_subjects", "purge_expired", "watchlists"]


@dataclass(frozen=True)
class ListSpec:
    name: str
    purpose: str
    legal_basis: str
    category: str
    authorised_by: str  # the named senior officer who authorised it
    expires_at: datetime
    max_subjects: int


def _check(spec: ListSpec, now: datetime) -> None:
    for field in ("name", "purpose", "legal_basis", "category", "authorised_by"):
        value = getattr(spec, field)
        if not value.strip() or not value.isprintable():
            raise InvalidRequest(f"a watchlist needs its {field.replace('_', ' ')} (printable text)")
    if len(spec.name) > 100 or len(spec.authorised_by) > 100 or len(spec.category) > 64:
        raise InvalidRequest("a watchlist's name and authorising officer are at most 100 characters, its category 64")
    if spec.expires_at <= now:
        raise InvalidRequest(f"a watchlist's expiry ({spec.expires_at:%Y-%m-%d}) must be in the future")
    if not 1 <= spec.max_subjects <= 1_000_000:
        raise InvalidRequest("a watchlist's maximum size is 1 to 1,000,000 subjects")


def create_list(rt: Runtime, spec: ListSpec, actor: Actor) -> WatchlistRow:
    now = utcnow()
    _check(spec, now)
    with rt.sessions.begin() as s:
        if s.scalar(select(WatchlistRow.id).where(WatchlistRow.name == spec.name.strip())) is not None:
            raise Conflict(f"there is already a watchlist called {spec.name!r}")
        wl = WatchlistRow(name=spec.name.strip(), purpose=spec.purpose, legal_basis=spec.legal_basis,
                          category=spec.category, authorised_by=spec.authorised_by, authorised_at=now,
                          expires_at=spec.expires_at, max_subjects=spec.max_subjects, created_by=actor.name)
        s.add(wl)
        s.flush()
        append_audit(s, actor, "watchlist.create", f"watchlist:{wl.id}", detail=list_view(wl))
        return wl


def authorise_list(rt: Runtime, spec: ListSpec, actor: Actor) -> WatchlistRow:
    """Record a (re-)authorisation of an existing list: its authority, purpose, basis, size and a
    new expiry. A purged list cannot be revived."""
    now = utcnow()
    _check(spec, now)
    with rt.sessions.begin() as s:
        wl = _named(s, spec.name, lock=True)
        if wl.purged_at is not None:
            raise Conflict(f"watchlist {wl.name!r} was purged on {wl.purged_at:%Y-%m-%d}: create a new one")
        before = list_view(wl)
        wl.purpose, wl.legal_basis, wl.category = spec.purpose, spec.legal_basis, spec.category
        wl.authorised_by, wl.authorised_at, wl.expires_at = spec.authorised_by, now, spec.expires_at
        wl.max_subjects = spec.max_subjects
        append_audit(s, actor, "watchlist.authorise", f"watchlist:{wl.id}", detail={"before": before,
                                                                                   "after": list_view(wl)})
        return wl


def _named(s: Session, name: str, lock: bool = False) -> WatchlistRow:
    q = select(WatchlistRow).where(WatchlistRow.name == name.strip())
    wl = s.scalar(q.with_for_update() if lock else q)
    if wl is None:
        known = ", ".join(s.scalars(select(WatchlistRow.name).order_by(WatchlistRow.name))) or "none"
        raise NotFound(f"no watchlist called {name!r} (there are: {known})")
    return wl


def usable_list(s: Session, name: str, now: datetime, lock: bool = False) -> WatchlistRow:
    """The list called ``name`` (its row locked to the end of the transaction with ``lock``: enrolments
    on it are serialised, so its maximum size holds); Conflict when it has expired or been purged."""
    wl = _named(s, name, lock)
    if not list_is_live(wl, now):
        raise Conflict(f"watchlist {wl.name!r} expired on {(wl.expires_at or wl.purged_at or now):%Y-%m-%d}: "
                       "re-authorise it (`evidence watchlist authorise`) before adding to it")
    return wl


def list_is_live(wl: WatchlistRow, now: datetime) -> bool:
    """Whether the list may match and take subjects at ``now``: neither expired nor purged."""
    return wl.purged_at is None and (wl.expires_at is None or wl.expires_at > now)


def live_subject(subject: WatchlistSubjectRow, wl: WatchlistRow, now: datetime) -> bool:
    """Whether the subject may be matched at ``now``: neither it nor its list expired or purged."""
    return (list_is_live(wl, now) and subject.purged_at is None
            and (subject.expires_at is None or subject.expires_at > now))


def watchlists(s: Session) -> list[WatchlistRow]:
    return list(s.scalars(select(WatchlistRow).order_by(WatchlistRow.name)))


def list_view(wl: WatchlistRow) -> dict[str, Any]:
    return {"id": wl.id, "name": wl.name, "purpose": wl.purpose, "legal_basis": wl.legal_basis,
            "category": wl.category, "authorised_by": wl.authorised_by,
            "authorised_at": wl.authorised_at.isoformat() if wl.authorised_at else None,
            "expires_at": wl.expires_at.isoformat() if wl.expires_at else None, "max_subjects": wl.max_subjects,
            "purged_at": wl.purged_at.isoformat() if wl.purged_at else None,
            "authority_recorded": wl.authorised_by != NOT_RECORDED}


def choose_lists(s: Session, incident: Incident, names: list[str], actor: Actor) -> None:
    """The lists this incident's footage is matched against from now on (audited)."""
    ids = [usable_list(s, n, utcnow()).id for n in names]
    if not ids:
        raise InvalidRequest("choose at least one watchlist")
    incident.watchlists = ids
    append_audit(s, actor, "incident.watchlists", f"incident:{incident.id}", detail={"lists": names})


def lists_for_incident(s: Session, incident_id: int | None, default_names: list[str]) -> list[int]:
    """The ids of the lists chosen for the incident, or of the default lists."""
    incident = s.get(Incident, incident_id) if incident_id is not None else None
    if incident is not None and incident.watchlists:
        return [int(i) for i in incident.watchlists]
    return list(s.scalars(select(WatchlistRow.id).where(WatchlistRow.name.in_(default_names))))


def _supersede_pending(s: Session, subject_ids: list[int]) -> None:
    """Potential matches of purged subjects nobody has decided on yet: nobody is to act on them
    (they are kept, marked superseded, their alerts closed saying why)."""
    if not subject_ids:
        return
    pending = list(s.scalars(select(CandidateRow).where(CandidateRow.subject_id.in_(subject_ids),
                                                        CandidateRow.review_state == ReviewState.PENDING)))
    for c in pending:
        c.review_state = ReviewState.SUPERSEDED
    for evidence_id in sorted({c.evidence_id for c in pending}):
        close_stale_alerts(s, evidence_id, "the watchlist entry expired and was purged")


def live_subjects(s: Session, wl: WatchlistRow, now: datetime) -> int:
    """How many subjects of the list may match now (a list's size counts these)."""
    return int(s.scalar(select(func.count()).select_from(WatchlistSubjectRow).where(
        WatchlistSubjectRow.watchlist_id == wl.id, WatchlistSubjectRow.purged_at.is_(None),
        or_(WatchlistSubjectRow.expires_at.is_(None), WatchlistSubjectRow.expires_at > now),
        exists().where(WatchlistReference.subject_id == WatchlistSubjectRow.id))) or 0)


def purge_expired(rt: Runtime, actor: Actor, now: datetime | None = None) -> dict[str, list[str]]:
    """Purge every expired subject and list: references (templates and photos) deleted, the rows
    kept and marked; one audit entry for what was purged under which rule. Returns the names."""
    now = now or utcnow()
    purged: dict[str, list[str]] = {"lists": [], "subjects": []}
    with rt.sessions.begin() as s:
        lists = list(s.scalars(select(WatchlistRow).where(WatchlistRow.purged_at.is_(None),
                                                          WatchlistRow.expires_at <= now)))
        for wl in lists:
            wl.purged_at = now
            purged["lists"].append(wl.name)
        subjects = list(s.scalars(select(WatchlistSubjectRow).join(WatchlistRow).where(
            WatchlistSubjectRow.purged_at.is_(None),
            or_(WatchlistSubjectRow.expires_at <= now, WatchlistRow.purged_at.is_not(None)))))
        paths: set[str] = set()
        for subject in subjects:
            paths |= {r.store_path for r in subject.references}
            subject.references.clear()
            subject.purged_at = now
            subject.version += 1
            purged["subjects"].append(subject.name)
        s.flush()
        _supersede_pending(s, [x.id for x in subjects])
        if paths:  # a photo another subject still uses stays
            paths -= set(s.scalars(select(WatchlistReference.store_path).where(
                WatchlistReference.store_path.in_(sorted(paths)))))
        deleted = rt.store.delete_many(sorted(paths), kinds=("references",))
        if lists or subjects:
            append_audit(s, actor, "watchlist.purge", "watchlists", reason="expired: the list's or the subject's "
                         "expiry passed (APP: kept no longer than needed)",
                         detail={**purged, "subject_ids": [x.id for x in subjects], "photos_deleted": deleted,
                                 "at": now.isoformat()})
    return purged
