"""How stored rows are shown through the API, shared by the routers (which never import each other)."""

from __future__ import annotations

from api.schemas import CandidatePublic, IncidentPublic, PlateSightingPublic
from evidence.db.tables import CandidateRow, Incident, PlateSightingRow
from evidence.errors import NotFound
from evidence.reports import candidate_view, sighting_view
from evidence.runtime import Runtime

__all__ = ["candidate_public", "incident_exists", "incident_public", "sighting_public"]


def incident_public(i: Incident) -> IncidentPublic:
    return IncidentPublic(id=i.id, reference=i.reference, title=i.title, incident_type=i.incident_type,
                          created_at=i.created_at)


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
