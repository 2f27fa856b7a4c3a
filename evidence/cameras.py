"""ANPR cameras' health: each read and each heartbeat says a camera is alive; a camera heard from
by neither for EVIDENCE_ANPR_CAMERA_SILENT_S raises an ``anpr.camera_silent`` alert on the desk
(once), and ``anpr.camera_back`` when it speaks again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from evidence.alerts import close_alerts_of
from evidence.audit import Actor, append_audit
from evidence.db import rows_changed
from evidence.db.anpr_tables import AnprCamera
from evidence.eventkinds import EventKind
from evidence.events import add_event
from evidence.runtime import Runtime
from evidence.utc import utcnow

__all__ = ["camera_view", "cameras", "check_cameras", "heard", "heartbeat"]


def heard(s: Session, cameras_: set[str], heartbeat: dict[str, dict[str, Any]] | None = None) -> None:
    """Cameras heard from now (when reads or a heartbeat arrived, not the camera's clock), with a
    heartbeat's figures per camera. One UPDATE each for a known camera that is not silent (the
    ingest's hot path); a new camera is added, a silent one is announced back (its silence alert
    closed) unless the heartbeat says its stream is down."""
    now = utcnow()
    for camera in sorted(cameras_):
        values: dict[str, Any] = {"last_heartbeat_at": now, "status": heartbeat[camera],
                                  "streaming": heartbeat[camera].get("is_streaming")} if heartbeat else \
            {"last_read_at": now}
        done = rows_changed(s.execute(update(AnprCamera).where(
            AnprCamera.camera_id == camera, AnprCamera.silent_since.is_(None)).values(**values)
            .execution_options(synchronize_session=False)))
        if done:
            continue
        row = s.get(AnprCamera, camera)
        if row is None:
            s.add(AnprCamera(camera_id=camera, **values))
            s.flush()
            continue
        for k, v in values.items():
            setattr(row, k, v)
        if values.get("streaming") is False:  # a heartbeat saying the stream is down: still silent
            continue
        silent_since, row.silent_since = row.silent_since, None
        add_event(s, None, EventKind.ANPR_CAMERA_BACK, {"camera_id": camera, "silent_since": silent_since.isoformat()
                                                if silent_since else None})
        close_alerts_of(s, EventKind.ANPR_CAMERA_SILENT, "camera_id", camera, Actor("anpr", "system"),
                        "the camera is heard from again")


def heartbeat(rt: Runtime, streams: dict[str, dict[str, Any]]) -> None:
    """A camera agent's heartbeat: each of its streams' figures (``is_streaming``, fps, ...)."""
    with rt.sessions.begin() as s:
        heard(s, set(streams), streams)


def check_cameras(rt: Runtime, now: datetime | None = None) -> list[str]:
    """Raise the silence alert for each camera heard from by neither a read nor a streaming
    heartbeat for ``anpr_camera_silent_s``; returns their ids."""
    now = now or utcnow()
    quiet = now - timedelta(seconds=rt.settings.anpr_camera_silent_s)
    alive = [and_(AnprCamera.last_read_at.is_not(None), AnprCamera.last_read_at >= quiet),  # no NULL in the test
             and_(AnprCamera.last_heartbeat_at.is_not(None), AnprCamera.last_heartbeat_at >= quiet,
                  AnprCamera.streaming.is_not(False))]
    with rt.sessions() as s:
        if not s.scalar(select(func.count()).select_from(AnprCamera).where(
                AnprCamera.silent_since.is_(None), ~or_(*alive))):
            return []
    silent = []
    with rt.sessions.begin() as s:
        for row in s.scalars(select(AnprCamera).where(AnprCamera.silent_since.is_(None), ~or_(*alive))):
            row.silent_since = now
            last = max([t for t in (row.last_read_at, row.last_heartbeat_at) if t], default=None)
            add_event(s, None, EventKind.ANPR_CAMERA_SILENT, {
                "camera_id": row.camera_id, "last_read_at": row.last_read_at.isoformat() if row.last_read_at else None,
                "last_heartbeat_at": row.last_heartbeat_at.isoformat() if row.last_heartbeat_at else None,
                "streaming": row.streaming, "silent_s": round((now - last).total_seconds()) if last else None,
                "after_s": rt.settings.anpr_camera_silent_s})
            append_audit(s, Actor("anpr", "system"), EventKind.ANPR_CAMERA_SILENT, f"camera:{row.camera_id}")
            silent.append(row.camera_id)
    return silent


def camera_view(row: AnprCamera) -> dict[str, Any]:
    return {"camera_id": row.camera_id, "last_read_at": row.last_read_at, "last_heartbeat_at": row.last_heartbeat_at,
            "streaming": row.streaming, "silent_since": row.silent_since, "status": row.status or {}}


def cameras(s: Session) -> list[AnprCamera]:
    return list(s.scalars(select(AnprCamera).order_by(AnprCamera.camera_id)))
