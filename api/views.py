"""How stored rows are shown through the API, shared by the routers (which never import each other)."""

from __future__ import annotations

from sqlalchemy.orm import object_session

from api.schemas import CandidatePublic, IncidentPublic, PlateSightingPublic
from evidence.db.governance_tables import WatchlistRow
from evidence.db.tables import CandidateRow, Incident, PlateSightingRow
from evidence.errors import NotFound
from evidence.reports import candidate_view, sighting_view
from evidence.retention import incident_retention
from evidence.runtime import Runtime
from evidence.settings import Settings

__all__ = ["candidate_public", "incident_exists", "incident_public", "sighting_public"]


def incident_public(i: Incident, settings: Settings | None = None) -> IncidentPublic:
    s = object_session(i)
    names = [w.name for w in (s.get(WatchlistRow, n) for n in i.watchlists or []) if w] if s is not None else []
    return IncidentPublic(id=i.id, reference=i.reference, title=i.title, incident_type=i.incident_type,
                          created_at=i.created_at, watchlists=names, status=i.status, closed=i.closed,
                          assigned_to=i.assigned_to, retention=incident_retention(i, settings) if settings else None)


def candidate_public(c: CandidateRow) -> CandidatePublic:
    return CandidatePublic(**candidate_view(c), crop_url=f"/candidates/{c.id}/crop" if c.track.crop_id else None)


def sighting_public(row: PlateSightingRow) -> PlateSightingPublic:
    return PlateSightingPublic(**sighting_view(row, f"/plate-sightings/{row.id}/image?kind=plate",
                                               f"/plate-sightings/{row.id}/image?kind=overview"))


def incident_exists(rt: Runtime, incident_id: int) -> None:
    """NotFound unless the incident exists."""
    with rt.sessions() as s:
        if s.get(Incident, incident_id) is None:
            raise NotFound(f"incident {incident_id} not found")
