"""Watchlist enrolment and loading. Enrolment is all-or-nothing: every photo is checked (exactly
one face) before anything is written."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from evidence.audit import Actor, append_audit
from evidence.derivatives import discard_unreferenced
from evidence.db.tables import WatchlistReference, WatchlistSubjectRow
from evidence.images import read_rgb
from evidence.runtime import Runtime
from evidence.errors import InvalidReference, NotFound
from pipeline.faces import embed_reference
from pipeline.types import WatchlistSubject

__all__ = ["EnrolResult", "Enrolment", "enrol", "folder_enrolments", "list_subjects", "load_subjects"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
SMALL_PHOTO_PX = 800


@dataclass(frozen=True)
class Enrolment:
    """A subject's name and reference photos; ``labels`` name the photos in messages (an upload's
    file names) when the paths do not (temporary files)."""

    name: str
    images: tuple[Path, ...]
    labels: tuple[str, ...] = ()

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


def enrol(rt: Runtime, enrolments: Iterable[Enrolment], actor: Actor, skip_unusable: bool = False) -> EnrolResult:
    """Embed every photo, then write the subjects and references in one transaction.

    Strict (the default): any unusable photo (no face, several faces, unreadable) raises
    InvalidReference listing every one, and nothing is written. With ``skip_unusable`` (a folder
    of many subjects) the usable photos are enrolled and the others reported in ``skipped``; a
    subject with no usable photo is not enrolled at all."""
    m = rt.faces
    embedded: list[tuple[str, Path, str, np.ndarray]] = []
    problems: list[str] = []
    for e in enrolments:
        if not e.name.strip():
            problems.append("a subject needs a name")
            continue
        usable = 0
        for i, path in enumerate(e.images):
            label = e.label(i)
            try:
                img = read_rgb(path, name=label)
                # Small photos (LFW-sized) need the upsampling detector; large ones do not (~4x cheaper).
                detector = m.reference_detector if max(img.shape[:2]) < SMALL_PHOTO_PX else m.photo_detector
                embedded.append((e.name.strip(), path, label, embed_reference(img, detector, m.aligner, m.embedder,
                                                                              label)))
                usable += 1
            except InvalidReference as exc:
                problems.append(exc.message)
        if not usable:
            problems.append(f"{e.name}: no usable photo, not enrolled")
    if problems and not skip_unusable:
        raise InvalidReference("; ".join(problems))
    added: dict[str, int] = {}
    stored = []
    try:
        with rt.sessions.begin() as s:
            for name, path, label, vec in embedded:
                suffix = Path(label).suffix.lower()
                f = rt.store.put_file(path, "references", suffix if suffix in IMAGE_SUFFIXES else "")
                stored.append(f)
                subject = s.scalar(select(WatchlistSubjectRow).where(WatchlistSubjectRow.name == name))
                if subject is None:
                    subject = WatchlistSubjectRow(name=name, created_by=actor.name)
                    s.add(subject)
                    s.flush()
                added.setdefault(name, 0)
                if s.scalar(select(WatchlistReference.id).where(WatchlistReference.subject_id == subject.id,
                                                                WatchlistReference.sha256 == f.sha256)):
                    continue
                s.add(WatchlistReference(subject_id=subject.id, sha256=f.sha256,
                                         store_path=rt.store.relative(f.path),
                                         embedding=vec.astype("<f4").tobytes(), model_version=m.embedder_version))
                added[name] += 1
            append_audit(s, actor, "watchlist.enrol", "watchlist", detail={"added": added, "skipped": problems})
    except BaseException:
        discard_unreferenced(rt.sessions, rt.store, stored)
        raise
    return EnrolResult(list(added.items()), problems)


def load_subjects(session: Session) -> list[WatchlistSubject]:
    rows = session.scalars(select(WatchlistSubjectRow).options(selectinload(WatchlistSubjectRow.references)))
    return [
        WatchlistSubject(r.id, r.name, np.stack([np.frombuffer(ref.embedding, dtype="<f4") for ref in r.references]))
        for r in rows if r.references
    ]


def list_subjects(session: Session) -> list[tuple[int, str, int]]:
    rows = session.scalars(select(WatchlistSubjectRow).options(selectinload(WatchlistSubjectRow.references))
                           .order_by(WatchlistSubjectRow.name))
    return [(r.id, r.name, len(r.references)) for r in rows]



def remove_subject(rt: Runtime, subject_id: int, actor: Actor, reason: str) -> str:
    """Take a subject off the watchlist: its reference photos stop being matched at once. The
    subject row stays, so candidates already raised (and their reviews) keep their history."""
    with rt.sessions.begin() as s:
        subject = s.get(WatchlistSubjectRow, subject_id)
        if subject is None or not subject.references:
            raise NotFound(f"watchlist subject {subject_id} not found")
        n = len(subject.references)
        subject.references.clear()
        append_audit(s, actor, "watchlist.remove", f"subject:{subject_id}", reason=reason,
                     detail={"name": subject.name, "references": n})
        return subject.name
