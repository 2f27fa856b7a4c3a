"""Evidence packages for court: one ZIP per incident holding the originals (byte for byte), the
working copies, face and plate crops, candidate and sighting reports (JSON and an HTML page),
provenance (software version, model files' SHA-256, thresholds), the incident's audit extract and
``MANIFEST.sha256`` -- ``sha256sum`` format, one line per file -- which ``verify_package`` (and
``sha256sum -c`` after unzipping) checks. The package is written to a temporary name and renamed
when complete, so a failed export leaves no partial package; the export is audited with its reason
and the manifest's own hash (the number to quote for the package)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from evidence import SOFTWARE
from evidence.audit import Actor, append_audit
from evidence.db.tables import AuditEntry, Derivative, Evidence, FaceTrackRow, Incident
from evidence.chronology import chronology, chronology_csv
from evidence.exportpage import report_html
from evidence.reports import candidate_view, evidence_candidates, evidence_plates, evidence_view, sender_view
from evidence.runtime import Runtime
from evidence.states import CLOSED
from evidence.work.intake import with_reference
from models.registry import manifest
from evidence.errors import Conflict, InvalidRequest, NotFound
from evidence.packagecheck import MANIFEST, PackageCheck, verify_package

__all__ = ["ExportSummary", "PackageCheck", "export_incident", "find_incident", "verify_package"]

STORED_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".jpg", ".jpeg", ".png", ".webm", ".3gp"}  # compressed already
CHUNK = 1 << 20


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    manifest_sha256: str
    files: int
    bytes: int
    evidence: int


def _safe(name: str, max_chars: int = 100) -> str:
    """A file name for inside the package: ASCII letters, digits, ``._-``; at most ``max_chars``
    with the extension kept (the full name is in the report)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "file"
    if len(name) > max_chars:
        stem, dot, suffix = name.rpartition(".")
        suffix = f".{suffix}" if dot and len(suffix) <= 10 else ""
        name = (stem if suffix else name)[: max_chars - len(suffix)] + suffix
    return name


def find_incident(s: Session, incident: str, lock: bool = False) -> Incident:
    """By reference, or by number; ``lock``: the row locked for this transaction (a change that
    depends on what it reads)."""
    row = s.scalar(select(Incident).where(with_reference(incident)).with_for_update(read=False) if lock else
                   select(Incident).where(with_reference(incident)))
    if row is None and incident.isdigit():
        row = s.get(Incident, int(incident), with_for_update=lock)
    if row is None:
        raise NotFound(f"incident {incident} not found")
    return row


class _Package:
    """Files going into the ZIP, each hashed as it is written."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.hashes: dict[str, str] = {}
        self.bytes = 0

    def _method(self, name: str) -> int:
        return zipfile.ZIP_STORED if Path(name).suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED

    def add_file(self, name: str, src: Path) -> str:
        if not src.is_file():  # e.g. a database restored without the store's copy of this file
            raise Conflict(f"{name}: its file is missing from the store ({src.name}); restore it, then export")
        h = hashlib.sha256()
        with src.open("rb") as f, self.zf.open(self._info(name), "w", force_zip64=True) as out:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
                self.bytes += len(chunk)
        self.hashes[name] = h.hexdigest()
        return self.hashes[name]

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
        info.compress_type = self._method(name)
        return info

    def add_bytes(self, name: str, data: bytes) -> None:
        self.zf.writestr(self._info(name), data)
        self.hashes[name] = hashlib.sha256(data).hexdigest()
        self.bytes += len(data)

    def add_json(self, name: str, value: Any) -> None:
        self.add_bytes(name, json.dumps(value, indent=1, default=str, sort_keys=True).encode())


def _audit_extract(s: Session, incident: Incident, evidence: list[Evidence], candidates: list[int],
                   sightings: list[int]) -> list[dict[str, Any]]:
    tracks = s.scalars(select(FaceTrackRow.id).where(FaceTrackRow.evidence_id.in_([e.id for e in evidence]))).all()
    targets = ([f"incident:{incident.id}"] + [f"evidence:{e.id}" for e in evidence]
               + [f"candidate:{c}" for c in candidates] + [f"plate_sighting:{p}" for p in sightings]
               + [f"face_track:{t}" for t in tracks])
    rows: list[AuditEntry] = []
    for i in range(0, len(targets), 500):
        rows += s.scalars(select(AuditEntry).where(AuditEntry.target.in_(targets[i:i + 500])))
    rows.sort(key=lambda e: e.id)
    return [{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "role": e.role, "action": e.action,
             "target": e.target, "reason": e.reason, "detail": e.detail, "prev_hash": e.prev_hash, "hash": e.hash}
            for e in rows]


def _provenance(rt: Runtime, evidence: list[Evidence], derivatives: dict[int, list[Derivative]]) -> dict[str, Any]:
    return {
        "software": SOFTWARE,
        "models": [{"name": m.name, "role": m.role, "file": m.file, "sha256": m.sha256, "version": m.version,
                    "source": m.source, "licence": m.licence, "caveats": m.caveats} for m in manifest().values()],
        "settings": {**rt.analysis.as_record(), "search_max_distance": rt.analysis.search_max_distance,
                     "people_threshold": rt.analysis.people_threshold},
        "evidence": [{"id": ev.id, "sha256": ev.sha256, "provenance": ev.provenance,
                      "derivatives": [{"id": d.id, "kind": d.kind, "sha256": d.sha256, "parent_sha256": d.parent_sha256,
                                       "made_by": d.made_by, "created_at": d.created_at.isoformat()}
                                      for d in derivatives.get(ev.id, [])]} for ev in evidence],
    }


Redactor = Callable[[Evidence, Path], Iterator[tuple[str, Path, Derivative]]]
Progress = Callable[[int, int, str], None]  # (evidence items done, of how many, what is being done now)


def export_incident(rt: Runtime, incident_id: int, out: Path, actor: Actor, reason: str,
                    redactor: Redactor | None = None, progress: Progress | None = None) -> ExportSummary:
    """Write the incident's evidence package to ``out`` (a .zip). ``redactor`` (see
    ``evidence.redaction``) adds disclosure copies of the working copies. Raises NotFound,
    InvalidRequest (no reason), Conflict (evidence still being analysed)."""
    if not reason.strip():
        raise InvalidRequest("an export needs a reason (it is recorded in the audit log)")
    tmp = out.with_name(f".{out.name}.part")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with rt.sessions() as s, zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            inc = s.get(Incident, incident_id)
            if inc is None:
                raise NotFound(f"incident {incident_id} not found")
            evidence = list(s.scalars(select(Evidence).where(Evidence.incident_id == inc.id).order_by(Evidence.id)))
            busy = [ev.id for ev in evidence if ev.state not in CLOSED]
            if busy:
                raise Conflict(f"evidence {', '.join(map(str, busy))} of incident {inc.reference} is still being "
                               "analysed; export when it is done")
            pkg = _Package(zf)
            files: list[dict[str, Any]] = []
            derivs: dict[int, list[Derivative]] = {}
            for d in s.scalars(select(Derivative).where(Derivative.evidence_id.in_([e.id for e in evidence]))
                               .order_by(Derivative.id)):
                derivs.setdefault(d.evidence_id, []).append(d)
            report: list[dict[str, Any]] = []
            candidates: list[int] = []
            sightings: list[int] = []
            for i, ev in enumerate(evidence):
                if progress:
                    progress(i, len(evidence), f"Copying {ev.original_name}")
                name = f"originals/{ev.id}_{_safe(ev.original_name)}"
                got = pkg.add_file(name, rt.store.absolute(ev.store_path))
                if got != ev.sha256:
                    raise Conflict(f"evidence {ev.id}: the stored original no longer matches its intake hash "
                                   f"({got} != {ev.sha256}); not exporting")
                files.append({"path": name, "role": "original", "evidence_id": ev.id, "sha256": got})
                for d in derivs.get(ev.id, []):
                    if d.kind in ("working_copy", "contact_sheet"):
                        dname = f"working/{ev.id}_{d.kind}{Path(d.store_path).suffix}"
                        files.append({"path": dname, "role": d.kind, "evidence_id": ev.id, "derivative_id": d.id,
                                      "parent_sha256": d.parent_sha256,
                                      "sha256": pkg.add_file(dname, rt.store.absolute(d.store_path))})
                if redactor is not None:
                    if progress:
                        progress(i, len(evidence), f"Blurring {ev.original_name}")
                    for role, path, d in redactor(ev, tmp.parent):
                        derivs.setdefault(ev.id, []).append(d)  # into provenance.json with what made it
                        rname = f"redacted/{ev.id}_{role}{path.suffix}"
                        files.append({"path": rname, "role": role, "evidence_id": ev.id, "derivative_id": d.id,
                                      "parent_sha256": d.parent_sha256, "sha256": pkg.add_file(rname, path)})
                cands = []
                for c in evidence_candidates(s, ev.id):
                    view = candidate_view(c)
                    view["crop_file"] = None
                    if c.track.crop is not None:
                        view["crop_file"] = f"crops/faces/{c.track_id}.jpg"
                        if view["crop_file"] not in pkg.hashes:
                            pkg.add_file(view["crop_file"], rt.store.absolute(c.track.crop.store_path))
                    view["reviewed_at"] = c.reviewed_at.isoformat() if c.reviewed_at else None
                    view["review_reason"] = c.review_reason
                    cands.append(view)
                    candidates.append(c.id)
                plates = evidence_plates(s, ev.id, rt.store)
                for p in plates:
                    sightings.append(p["id"])
                    for kind in ("crop", "overview"):
                        path = p.pop(f"{kind}_path")
                        p[f"{kind}_file"] = None
                        if path:
                            p[f"{kind}_file"] = f"crops/plates/{p['id']}_{kind}.jpg"
                            pkg.add_file(p[f"{kind}_file"], Path(path))
                report.append({**evidence_view(ev), "sender": sender_view(ev), "candidates": cands, "plates": plates})
            if progress:
                progress(len(evidence), len(evidence), "Writing the reports, the audit extract and the manifest")
            summary = {"incident": {"id": inc.id, "reference": inc.reference, "title": inc.title},
                       "exported_at": datetime.now(UTC).isoformat(), "exported_by": actor.name, "reason": reason,
                       "software": SOFTWARE, "evidence": report,
                       "note": "Candidates and plate reads are potential matches with scores; only the review "
                               "state records a named person's decision."}
            pkg.add_json("reports/report.json", summary)
            pkg.add_bytes("reports/report.html", report_html(summary).encode())
            pkg.add_bytes("reports/chronology.csv", chronology_csv(chronology(s, inc.id), rt.settings.zone).encode())
            pkg.add_json("provenance.json", _provenance(rt, evidence, derivs))
            with rt.sessions() as now:  # a fresh read: entries written during this export (redaction) too
                pkg.add_json("audit.json", _audit_extract(now, inc, evidence, candidates, sightings))
            pkg.add_json("files.json", files)
            lines = "".join(f"{h}  {n}\n" for n, h in sorted(pkg.hashes.items()))
            zf.writestr(MANIFEST, lines)
            manifest_sha = hashlib.sha256(lines.encode()).hexdigest()
            n_files, n_bytes, inc_id, n_ev = len(pkg.hashes), pkg.bytes, inc.id, len(evidence)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    with rt.sessions.begin() as s:
        append_audit(s, actor, "incident.export", f"incident:{inc_id}", reason=reason,
                     detail={"file": out.name, "manifest_sha256": manifest_sha, "files": n_files, "bytes": n_bytes,
                             "redacted": redactor is not None})
    return ExportSummary(out, manifest_sha, n_files, n_bytes, n_ev)
