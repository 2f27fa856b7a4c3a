"""OpenALPR agents' (alprd) JSON as cameras send it, turned into the project's reads and camera
heartbeats. Three kinds are handled (``data_type``):

    alpr_group    one vehicle: best_plate_number, best_confidence (0-100), epoch_start (ms),
                  travel_direction (degrees, kept as given: location.travel_direction_deg),
                  gps_latitude/longitude, best_region, candidates,
                  best_plate.plate_crop_jpeg and vehicle_crop_jpeg (base64)
    alpr_results  one frame: results[] (plate, confidence, region, candidates), epoch_time (ms)
    heartbeat     the agent's health: video_streams[] (camera_id, is_streaming, fps, ...)

An agent's key names the agent; each of its cameras is ``<key name>/<alprd camera_id>`` (the key's
name alone when the JSON names no camera). Everything else in the JSON is ignored."""

from __future__ import annotations

import math

from datetime import UTC, datetime
from typing import Any

from evidence.audit import Actor
from evidence.errors import InvalidRequest

__all__ = ["KINDS", "alprd_reads", "alprd_streams"]

KINDS = ("alpr_group", "alpr_results", "heartbeat")
MAX_CANDIDATES = 20
MAX_STREAMS = 64  # video streams one heartbeat may list
MAX_RESULTS = 100  # plates one alpr_results may list
FIGURE_CHARS = 100  # a heartbeat's text figure (a host name, a camera's name) as kept


def _shown(value: Any) -> str:
    """A value a message names, as much of it as a person needs (an 8 MiB id is not echoed)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _epoch_ms(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 10 ** 14:
        raise InvalidRequest(f"{what}: epoch milliseconds expected, got {_shown(value)}")
    return datetime.fromtimestamp(value / 1000.0, UTC).isoformat()


def _camera(key_name: str, camera_id: Any) -> str:
    if camera_id is None or camera_id == "":
        return key_name
    camera = str(camera_id)
    if not isinstance(camera_id, (int, str)) or len(camera) > 30 or "/" in camera:
        raise InvalidRequest(f"camera_id {_shown(camera_id)}: a number or name of up to 30 characters expected")
    return f"{key_name}/{camera}"


def _confidence(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise InvalidRequest(f"{what}: a confidence from 0 to 100 expected, got {_shown(value)}")
    return round(float(value) / 100.0, 4)


def _candidates(items: Any, best: str) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        return []
    out = []
    for c in items[:MAX_CANDIDATES]:
        if isinstance(c, dict) and isinstance(c.get("plate"), str) and c["plate"] != best:
            out.append({"vrm": c["plate"][:20], "confidence": _confidence(c.get("confidence", 0), "candidate")})
    return out


def _location(body: dict[str, Any]) -> dict[str, Any] | None:
    lat, lon = body.get("gps_latitude"), body.get("gps_longitude")
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)) and (lat, lon) != (0, 0):
        return {"lat": float(lat), "lon": float(lon)}
    return None


def alprd_reads(body: dict[str, Any], key_name: str) -> list[dict[str, Any]]:
    """The reads in an ``alpr_group`` (one) or ``alpr_results`` (one per plate found), in the
    shape of ``POST /anpr/reads``; the checks that follow are that route's."""
    camera = _camera(key_name, body.get("camera_id"))
    if body.get("data_type") == "alpr_group":
        best = body.get("best_plate_number")
        if not isinstance(best, str) or not best:
            raise InvalidRequest("alpr_group: best_plate_number is missing")
        heading = body.get("travel_direction")
        plate: dict[str, Any] = body["best_plate"] if isinstance(body.get("best_plate"), dict) else {}
        location = _location(body)
        if isinstance(heading, (int, float)) and not isinstance(heading, bool):
            # Kept as the camera gave it: alprd's angle is measured in the camera's image, so it
            # is not turned into a compass point the camera never knew.
            location = {**(location or {}), "travel_direction_deg": float(heading)}
        return [{"camera_id": camera, "timestamp": _epoch_ms(body.get("epoch_start"), "epoch_start"),
                 "vrm": best[:20], "confidence": _confidence(body.get("best_confidence"), "best_confidence"),
                 "location": location,
                 "country": body.get("best_region") or body.get("country"),
                 "alternatives": _candidates(body.get("candidates"), best),
                 "plate_image": plate.get("plate_crop_jpeg") or None,
                 "overview_image": body.get("vehicle_crop_jpeg") or None}]
    results = body.get("results")
    if not isinstance(results, list):
        raise InvalidRequest("alpr_results: results must be a list")
    if len(results) > MAX_RESULTS:  # counted before one is read (one frame shows a handful of plates)
        raise InvalidRequest(f"alpr_results: at most {MAX_RESULTS} results, not {len(results)}")
    at = _epoch_ms(body.get("epoch_time"), "epoch_time")
    reads = []
    for r in results:
        if not isinstance(r, dict) or not isinstance(r.get("plate"), str):
            raise InvalidRequest("alpr_results: each result needs a plate")
        reads.append({"camera_id": camera, "timestamp": at, "vrm": r["plate"][:20],
                      "confidence": _confidence(r.get("confidence"), "confidence"), "location": _location(body),
                      "country": r.get("region") or body.get("country"),
                      "alternatives": _candidates(r.get("candidates"), r["plate"])})
    return reads


def _figure(value: Any) -> Any:
    """A heartbeat's figure as kept: a number, a yes/no, or a short text (a 1 MiB host name is not
    stored once per camera)."""
    if isinstance(value, bool) or (isinstance(value, (int, float)) and math.isfinite(value)):
        return value
    return str(value)[:FIGURE_CHARS] if isinstance(value, str) else None


def alprd_streams(body: dict[str, Any], actor: Actor) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """A heartbeat's figures per camera — each registered video stream's, or the agent's own when it
    lists none — and the streams it named that are not registered for the key (not kept: a
    compromised agent cannot invent cameras, nor the desk's "camera silent" alerts for them)."""
    agent: dict[str, Any] = {k: v for k in ("agent_version", "agent_hostname", "cpu_usage_percent", "daemon_uptime_seconds",
                            "disk_quota_consumed_bytes", "disk_quota_total_bytes")
             if k in body and (v := _figure(body[k])) is not None}
    streams = body.get("video_streams")
    if not isinstance(streams, list) or not streams:
        return {actor.name: {**agent, "is_streaming": True}}, []
    if len(streams) > MAX_STREAMS:
        raise InvalidRequest(f"heartbeat: more than {MAX_STREAMS} video streams")
    out: dict[str, dict[str, Any]] = {}
    unknown: list[str] = []
    for st in streams:
        if not isinstance(st, dict):
            raise InvalidRequest("heartbeat: video_streams must hold objects")
        camera = _camera(actor.name, st.get("camera_id"))
        if camera != actor.name and camera[len(actor.name) + 1:] not in actor.streams:
            unknown.append(camera[len(actor.name) + 1:])
            continue
        figures = {k: v for k in ("camera_name", "fps", "is_streaming", "last_plate_read", "last_update")
                   if k in st and (v := _figure(st[k])) is not None}
        figures["is_streaming"] = bool(st.get("is_streaming", True))
        out[camera] = {**agent, **figures}
    return out, unknown
