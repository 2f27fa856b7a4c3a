"""Evidence packages for court over HTTP: the same package as ``evidence export``."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.auth import EXPORTERS, allow
from api.deps import RuntimeDep
from api.guards import SafeJSONRoute
from api.params import Id
from evidence.audit import Actor
from evidence.export import export_incident
from evidence.redaction import redactor_for

__all__ = ["router"]

router = APIRouter(route_class=SafeJSONRoute, tags=["export"])


class ExportIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="why it is exported: recorded in the audit log")
    redact: bool = Field(False, description="add disclosure copies: every face blurred but confirmed subjects'")
    redact_plates: bool = Field(False, description="blur number plates too (implies redact)")


@router.post("/incidents/{incident_id}/export", summary="The incident's evidence package, ZIP (audited)",
             responses={200: {"content": {"application/zip": {}}, "description": "the package"},
                        409: {"description": "Evidence still being analysed, or an original no longer matches "
                                             "its intake hash"}},
             description="Roles: investigator, admin. Originals, working copies, crops, candidate and sighting "
                         "reports (JSON, HTML), provenance, the incident's audit extract and MANIFEST.sha256 "
                         "(check with `evidence verify`). The `X-Manifest-SHA256` header is the manifest's hash, "
                         "recorded in the audit log. 409 while evidence is still being analysed.",
             response_class=FileResponse)
def export(incident_id: Id, body: ExportIn, rt: RuntimeDep, background: BackgroundTasks,
           actor: Annotated[Actor, Depends(allow(*EXPORTERS))]) -> FileResponse:
    tmp_dir = rt.settings.data_dir / "exports"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(dir=tmp_dir)) / f"incident-{incident_id}.zip"
    redactor = redactor_for(rt, actor, body.redact_plates) if body.redact or body.redact_plates else None
    try:
        summary = export_incident(rt, incident_id, out, actor, body.reason, redactor)
    except BaseException:
        shutil.rmtree(out.parent, ignore_errors=True)
        raise
    background.add_task(shutil.rmtree, out.parent, True)  # once the response is sent
    return FileResponse(out, media_type="application/zip", filename=out.name,
                        headers={"X-Manifest-SHA256": summary.manifest_sha256})
