"""Watchlist enrolment and loading. Enrolment is all-or-nothing: every photo is checked (exactly
one face) before anything is written. A subject is on one list (``evidence.watchlist_lists``: its
authority, purpose and expiry); only live subjects of live lists are loaded for matching."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from evidence.audit import Actor, append_audit
from evidence.derivatives import discard_unreferenced
from evidence.db.governance_tables import WatchlistRow
from evidence.db.tables import WatchlistReference, WatchlistSubjectRow
from evidence.images import read_rgb
from evidence.runtime import FaceModels, Runtime
from evidence.errors import Conflict, InvalidReference, ModelMismatch, NotFound
from evidence.utc import utcnow
from evidence.watchlist_lists import usable_list, live_subject, live_subjects
from pipeline.faces import embed_reference
from pipeline.types import RGBImage, WatchlistSubject

__all__ = ["EnrolResult", "Enrolment", "SubjectMeta", "embed_photo", "enrol", "folder_enrolments", "list_subjects",
           "load_subjects"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SMALL_PHOTO_PX = 800


@dataclass(frozen=True)
class Enrolment:
    """A subject's name and reference photos; ``labels`` name the photos in messages (an upload's
    file names) when the paths do not (temporary files)."""

    name: str
    images: tuple[Path, ...]
    labels: tuple[str, ...] = ()
    expires_at: datetime | None = None  # the subject is purged then (never later than its list)
    source: str | None = None  # e.g. a custody image reference
    reason: str | None = None  # why they are on the list
    risk: str | None = None  # warning markers (violence, weapons, ...): shown on every potential match

    def label(self, i: int) -> str:
        return self.labels[i] if i < len(self.labels) else str(self.images[i])


def folder_enrolments(folder: Path) -> list[Enrolment]:
    """DIR/<subject name>/*.jpg -> one Enrolment per subject folder."""
    if not folder.is_dir():
        raise InvalidReference(f"{folder}: not a folder")
    out = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        images = tuple(sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        if images:
            out.append(Enrolment(sub.name, images))
    if not out:
        raise InvalidReference(f"{folder}: no <subject>/<photo> images found")
    return out


@dataclass(frozen=True)
class EnrolResult:
    added: list[tuple[str, int]]  # (subject name, reference photos newly added)
    skipped: list[str]  # one line per unusable photo or subject left out


def enrol(rt: Runtime, enrolments: Iterable[Enrolment], actor: Actor, skip_unusable: bool = False,
          watchlist: str | None = None) -> EnrolResult:
    """Embed every photo, then write the subjects and references in one transaction, on the list
    named ``watchlist`` (default: the first of EVIDENCE_DEFAULT_WATCHLISTS), which must be live and
    have room.

    Strict (the default): any unusable photo (no face, several faces, unreadable) raises
    InvalidReference listing every one, and nothing is written. With ``skip_unusable`` (a folder
    of many subjects) the usable photos are enrolled and the others reported in ``skipped``; a
    subject with no usable photo is not enrolled at all."""
    enrolments = list(enrolments)
    now = utcnow()
    for e in enrolments:
        if e.expires_at is not None and e.expires_at <= now:
            raise InvalidReference(f"{e.name}: the expiry {e.expires_at:%Y-%m-%d} has passed")
    with rt.sessions() as s:  # before the costly embedding: a list that cannot take them fails at once
        usable_list(s, watchlist or rt.settings.default_watchlists[0], now)
    m = rt.faces
    embedded: list[tuple[Enrolment, Path, str, np.ndarray]] = []
    problems: list[str] = []
    for e in enrolments:
        if not e.name.strip():
            problems.append("a subject needs a name")
            continue
        usable = 0
        for i, path in enumerate(e.images):
            label = e.label(i)
            try:
                embedded.append((e, path, label, embed_photo(m, read_rgb(path, name=label), label)))
                usable += 1
            except InvalidReference as exc:
                problems.append(exc.message)
        if not usable:
            problems.append(f"{e.name}: no usable photo, not enrolled")
    if problems and not skip_unusable:
        raise InvalidReference("; ".join(problems))
    added: dict[str, int] = {}
    changed: dict[str, dict[str, str | None]] = {}  # an enrolled subject's details as they were before
    stored = []
    try:
        with rt.sessions.begin() as s:
            wl = usable_list(s, watchlist or rt.settings.default_watchlists[0], now, lock=True)
            for e, path, label, vec in embedded:
                name = e.name.strip()
                suffix = Path(label).suffix.lower()
                f = rt.store.put_file(path, "references", suffix if suffix in IMAGE_SUFFIXES else "")
                stored.append(f)
                subject = _subject(s, wl, e, actor, changed)
                added.setdefault(name, 0)
                if s.scalar(select(WatchlistReference.id).where(WatchlistReference.subject_id == subject.id,
                                                                WatchlistReference.sha256 == f.sha256)):
                    continue
                if added[name] == 0 and subject.references:
                    subject.version += 1  # new references for an enrolled subject: a new version of them
                s.add(WatchlistReference(subject_id=subject.id, sha256=f.sha256,
                                         store_path=rt.store.relative(f.path),
                                         embedding=vec.astype("<f4").tobytes(), model_version=m.embedder_version,
                                         embedder=m.profile.name))
                added[name] += 1
            n = live_subjects(s, wl, now)
            if n > wl.max_subjects:
                raise Conflict(f"watchlist {wl.name!r} is authorised for at most {wl.max_subjects} subjects; this would "
                               f"make {n}")
            append_audit(s, actor, "watchlist.enrol", f"watchlist:{wl.id}",
                         detail={"list": wl.name, "added": added, "skipped": problems,
                                 "expires": {e.name: e.expires_at.isoformat() for e in enrolments if e.expires_at},
                                 "sources": {e.name: e.source for e in enrolments if e.source},
                                 "reasons": {e.name: e.reason for e in enrolments if e.reason},
                                 "risks": {e.name: e.risk for e in enrolments if e.risk},
                                 "replaced": changed})
    except BaseException:
        discard_unreferenced(rt.sessions, rt.store, stored)
        raise
    return EnrolResult(list(added.items()), problems)


def _subject(s: Session, wl: WatchlistRow, e: Enrolment, actor: Actor,
             changed: dict[str, dict[str, str | None]]) -> WatchlistSubjectRow:
    """The list's live subject of this name (its details updated from ``e``, what they replace kept
    in ``changed`` for the audit entry), or a new one."""
    name = e.name.strip()
    subject = s.scalar(select(WatchlistSubjectRow).where(WatchlistSubjectRow.watchlist_id == wl.id,
                                                         WatchlistSubjectRow.name == name))
    if subject is not None and subject.purged_at is not None:
        raise Conflict(f"{name} was purged from {wl.name!r} on {subject.purged_at:%Y-%m-%d}: enrol them under "
                       "another name (e.g. with a custody reference)")
    if subject is None:
        subject = WatchlistSubjectRow(watchlist_id=wl.id, name=name, created_by=actor.name, version=1)
        s.add(subject)
    for field in ("expires_at", "source", "reason", "risk"):
        value, before = getattr(e, field), getattr(subject, field)
        if value is not None and value != before:
            if subject.id is not None:
                changed.setdefault(name, {})[field] = before.isoformat() if isinstance(before, datetime) else before
            setattr(subject, field, value)
    s.flush()
    return subject


@dataclass(frozen=True)
class SubjectMeta:
    """What a candidate records about the subject it matched: list, version, authority, expiry."""

    watchlist_id: int
    version: int
    authority: str
    expires_at: datetime | None


def embed_photo(m: FaceModels, img: RGBImage, label: str) -> np.ndarray:
    """The embedding of a reference photo's one face (InvalidReference unless it shows exactly one)."""
    # Small photos (LFW-sized) need the upsampling detector; large ones do not (~4x cheaper).
    detector = m.reference_detector if max(img.shape[:2]) < SMALL_PHOTO_PX else m.photo_detector
    return embed_reference(img, detector, m.aligner, m.embedder, label)


def load_subjects(session: Session, list_ids: Iterable[int] | None = None, now: datetime | None = None,
                  embedder: str | None = None) -> tuple[list[WatchlistSubject], dict[int, SubjectMeta]]:
    """The live subjects (not expired, not purged, with references) of the live lists among
    ``list_ids`` (None: every list), and what a candidate records about each. With ``embedder``
    (the process's): ModelMismatch if any of their references was embedded by another model — a
    subject is never matched on vectors of another model, nor silently left out."""
    now = now or utcnow()
    q = (select(WatchlistSubjectRow, WatchlistRow).join(WatchlistRow, WatchlistRow.id == WatchlistSubjectRow.watchlist_id)
         .options(selectinload(WatchlistSubjectRow.references)))
    if list_ids is not None:
        q = q.where(WatchlistRow.id.in_(list(list_ids)))
    subjects, meta = [], {}
    for r, wl in session.execute(q):
        if r.references and live_subject(r, wl, now):
            others = {ref.embedder for ref in r.references} - {embedder or ref.embedder for ref in r.references}
            if embedder is not None and others:
                raise ModelMismatch(f"watchlist {wl.name!r}: {r.name}'s reference photos were embedded by "
                                    f"{', '.join(sorted(others))}; this process embeds faces with {embedder} and "
                                    f"never compares two models' vectors: {ModelMismatch.REMEDY}")
            subjects.append(WatchlistSubject(r.id, r.name, np.stack([np.frombuffer(ref.embedding, dtype="<f4")
                                                                     for ref in r.references])))
            ends = [t for t in (r.expires_at, wl.expires_at) if t is not None]
            meta[r.id] = SubjectMeta(wl.id, r.version, wl.authorised_by, min(ends) if ends else None)
    return subjects, meta


def list_subjects(session: Session, watchlist_id: int | None = None) -> list[WatchlistSubjectRow]:
    """Every subject (purged ones too, with no references), by name."""
    q = select(WatchlistSubjectRow).options(selectinload(WatchlistSubjectRow.references)).order_by(
        WatchlistSubjectRow.name, WatchlistSubjectRow.id)
    if watchlist_id is not None:
        q = q.where(WatchlistSubjectRow.watchlist_id == watchlist_id)
    return list(session.scalars(q))


def remove_subject(rt: Runtime, subject_id: int, actor: Actor, reason: str) -> str:
    """Take a subject off the watchlist: its reference photos stop being matched at once. The
    subject row stays, so candidates already raised (and their reviews) keep their history."""
    with rt.sessions.begin() as s:
        subject = s.get(WatchlistSubjectRow, subject_id)
        if subject is None or not subject.references:
            raise NotFound(f"watchlist subject {subject_id} not found")
        n = len(subject.references)
        subject.references.clear()
        subject.version += 1
        append_audit(s, actor, "watchlist.remove", f"subject:{subject_id}", reason=reason,
                     detail={"name": subject.name, "references": n})
        return subject.name
