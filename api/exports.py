"""Evidence packages for court over HTTP: the same package as ``evidence export``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.auth import allow
from api.guards import SafeJSONRoute
from api.params import Id
from evidence.audit import Actor
from evidence.export import export_incident
from evidence.redaction import redactor_for
from evidence.runtime import Runtime

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute)


class ExportIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="why it is exported: recorded in the audit log")
    redact: bool = Field(False, description="add disclosure copies: every face blurred but confirmed subjects'")
    redact_plates: bool = Field(False, description="blur number plates too (implies redact)")


@router.post("/incidents/{incident_id}/export", summary="The incident's evidence package, ZIP (audited)",
             responses={409: {"description": "Evidence still being analysed, or an original no longer matches "
                                             "its intake hash"}},
             description="Roles: investigator, admin. Originals, working copies, crops, candidate and sighting "
                         "reports (JSON, HTML), provenance, the incident's audit extract and MANIFEST.sha256 "
                         "(check with `evidence verify`). The `X-Manifest-SHA256` header is the manifest's hash, "
                         "recorded in the audit log. 409 while evidence is still being analysed.",
             response_class=FileResponse)
def export(incident_id: Id, body: ExportIn, request: Request, background: BackgroundTasks,
           actor: Annotated[Actor, Depends(allow("investigator", "admin"))]) -> FileResponse:
    rt: Runtime = request.app.state.runtime
    tmp_dir = rt.settings.data_dir / "exports"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(dir=tmp_dir)) / f"incident-{incident_id}.zip"
    redactor = redactor_for(rt, actor, body.redact_plates) if body.redact or body.redact_plates else None
    try:
        summary = export_incident(rt, incident_id, out, actor, body.reason, redactor)
    except BaseException:
        out.parent.rmdir()
        raise
    background.add_task(lambda: (out.unlink(missing_ok=True), out.parent.rmdir()))
    return FileResponse(out, media_type="application/zip", filename=out.name,
                        headers={"X-Manifest-SHA256": summary.manifest_sha256})
