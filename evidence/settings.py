"""The one Settings object, read from the environment (prefix EVIDENCE_) at the edges only: the
CLI, the app factory and the worker entry point build it and pass plain values down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EVIDENCE_", env_file=None, extra="ignore", env_ignore_empty=True)

    data_dir: Path = Field(Path("./data"), description="file store and the SQLite file")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///DATA_DIR/evidence.db")
    redis_url: str | None = Field(None, description="Redis for RQ workers; unset means in-process execution")
    # Several processes starting on one PostgreSQL must not migrate it at once: there the schema is
    # upgraded by `evidence db upgrade`, and a process on an older (or newer) schema refuses to start.
    auto_upgrade: bool | None = Field(None, description="upgrade the database schema as a process starts; "
                                      "default: yes on SQLite (one machine), no on PostgreSQL")

    # Evidence in an S3-protocol object store instead of DATA_DIR/store (several machines, no shared
    # disk: evidence/objectstore.py). Credentials unset: boto3's own chain (AWS_* variables, instance role).
    store_url: str | None = Field(None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
                                  description="s3://bucket/prefix; unset: the local store in DATA_DIR/store")
    s3_endpoint_url: str | None = Field(None, max_length=500, description="the S3 service's address (unset: AWS)")
    s3_region: str | None = Field(None, max_length=50, description="the S3 service's region (unset: boto3's own)")
    s3_access_key_id: str | None = Field(None, max_length=200, description="the S3 access key (unset: boto3's own "
                                          "credentials: environment, instance role)")
    s3_secret_access_key: str | None = Field(None, max_length=500, description="the S3 access key's secret")
    store_cache_max_bytes: int = Field(20 * 1024**3, ge=64 * 1024**2, description="an s3 store's local cache of "
                                       "files in DATA_DIR/cache: least recently used files go past this")
    store_object_lock_days: int = Field(365, ge=0, description="originals are written under Object Lock for this "
                                        "long where the bucket has it enabled (0: not locked)")
    store_object_lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] = Field(
        "GOVERNANCE", description="S3 Object Lock mode of stored originals: GOVERNANCE (a privileged account may "
        "lift it) or COMPLIANCE (not even the bucket's owner can delete them before the retention ends)")

    sample_fps: float = Field(2.0, gt=0, le=30, description="frames analysed per second of video")
    # Footage faces: CenterFace (ONNX, models/centerface.py) finds faces from 16 px in the image it
    # is given, frontal and turned; frames are scaled so min_face_px lands there. dlib's HOG
    # (frontal only, ~54 px) stays selectable (benchmarks/face_detection.py, RESULTS.md).
    face_detector: str = Field("centerface", max_length=100, description="face detector for footage: a "
                               "face_detector model of the manifests (centerface, yunet, hog; `evidence models`)")
    # Models are profiles: each role plays the manifest entry named here (models/manifest.json and
    # model_manifests), through the adapter that entry names. A new embedder's vectors are never
    # compared with another's: `evidence models reembed` re-makes the stored ones.
    face_aligner: str = Field("dlib-5-point", max_length=100, description="face landmark model (face_aligner)")
    face_embedder: str = Field("dlib-resnet-v1", max_length=100, description="face embedding model (face_embedder)")
    face_embedder_runtime: Literal["onnx", "dlib"] = Field(
        "onnx", description="what runs an embedder that ships an ONNX file beside its own (dlib-resnet-v1): onnx "
        "(onnxruntime, several times faster) or dlib (dlib's own code); the same vectors either way")
    plate_localiser: str = Field("ppocr-v6-det", max_length=100, description="finds plates' text (plate_localiser)")
    plate_recogniser: str = Field("fast-plate-ocr-cct-xs-v2", max_length=100,
                                  description="reads plates (plate_recogniser): fast-plate-ocr-cct-xs-v2 or ppocr-v6-rec")
    model_manifests: list[Path] = Field([], description="further model manifests (JSON list of paths): a force's own "
                                        "licensed models, each entry with its adapter, file, SHA-256 and licence")
    min_face_px: float = Field(40.0, ge=20, description="smallest face width (pixels) to detect")
    full_frame_every: int = Field(2, ge=1, le=100, description="whole-frame face search on every Nth sampled "
                                  "frame; between them faces are looked for only where tracks predict them")
    # Watchlist alerts: the distance threshold is derived per watchlist from the measured
    # false-match curve (models/face_calibration.json) so that a face of someone *not* on the
    # list raises a candidate with probability ~match_fpir, however long the list
    # (benchmarks/RESULTS.md, watchlist identification). match_threshold fixes it instead.
    match_fpir: float = Field(0.005, gt=0, lt=1, description="wanted share of people *not* on the watchlist who raise "
                              "a candidate (the open-set threshold is set from it)")
    match_threshold: float | None = Field(None, gt=0, lt=1.5, description="fixed distance threshold")
    # ffmpeg's decoder already keeps ~1.3 cores busy: on 2 cores one detection thread beside it was
    # faster than two (15.1-16.6 s vs 16.2-17.1 s on the 60 s 1080p clip, benchmarks/RESULTS.md).
    detect_threads: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) - 1), ge=1, le=64,
                                description="threads running face detection per process")
    decode_threads: int = Field(0, ge=0, le=64, description="ffmpeg threads per decode; 0 lets ffmpeg choose")
    max_candidates_per_track: int = Field(3, ge=1, description="most watchlist candidates one face track raises")
    # Long footage is cut at keyframes into segments analysed in parallel by the workers (and one
    # after another in-process); faces crossing a cut are stitched back into one track.
    segment_s: float = Field(30.0, ge=2, description="target length of an analysis segment (seconds)")
    # The keyframe quick pass gives first alerts on long footage within seconds, before the full
    # analysis reaches the face; it runs on clips longer than this.
    quick_pass_min_s: float = Field(120.0, ge=0, description="run the keyframe quick pass on clips at least this long")
    working_copy: bool = Field(True, description="make the H.264 <=720p +faststart working copy and contact sheet")
    quick_pass_every_s: float = Field(2.0, gt=0, description="quick pass: at most one keyframe per this many seconds")
    lease_s: float = Field(60.0, gt=0, description="a runner's hold on evidence it analyses, renewed while it runs")
    queue_name: str = Field("evidence", description="RQ queue of analysis jobs")
    retry_backoff_s: list[int] = Field([5, 30], description="seconds before each retry of a failed job (JSON list)")
    job_timeout_s: int = Field(3600, gt=0, description="RQ job_timeout of one job (a segment, a working copy)")
    anpr_retention_days: int = Field(365, ge=1, description="camera reads older than this are deleted (national ANPR rules: 12 months)")
    anpr_reason_after_days: int = Field(90, ge=0, description="reading or searching camera reads older than this "
                                        "needs a second named person's approval (national ANPR standards: 90 days)")
    anpr_approval_days: float = Field(7, gt=0, le=90, description="how long an approval of access to old reads lasts")
    default_watchlists: list[str] = Field(["default"], min_length=1, description="the watchlists footage is matched "
                                          "against when its incident has none chosen (JSON list of names); "
                                          "`evidence watchlist add` enrols on the first")
    bystander_retention_days: float = Field(31, ge=0, description="face tracks with no candidate (bystanders' "
                                            "templates and crops) are deleted this long after their footage was "
                                            "analysed, unless the incident is held for investigation")
    retention_classes: dict[str, int] = Field(
        {"unclassified": 90, "no_crime": 31, "mopi_3": 6 * 365, "mopi_2": 10 * 365, "mopi_1": 10 * 365},
        description="an incident's retention class -> days until its evidence is reviewed (MoPI groups; JSON)")
    default_retention_class: str = Field("unclassified", description="the class of an incident nobody has classified")
    feed_push: bool = Field(True, description="push committed events to this process's live feeds as they commit "
                            "(and between processes over Redis when configured); off, the feeds read the events "
                            "table when woken and every 0.2 s")
    anpr_camera_silent_s: int = Field(600, ge=10, description="a camera heard from by neither a read nor a streaming heartbeat for this long raises an alert on the desk")
    # Plates in footage: text lines found by the PP-OCR detector at up to plate_max_side pixels
    # (960: as accurate as 1280 on the synthetic scenes, 99.4 % vs 99.0 %, in 213 ms a frame
    # instead of 387; the crop read is taken from the full frame), read restricted to A-Z 0-9 and
    # fitted to the UK grammar; reads under plate_min_confidence are dropped
    # (benchmarks/plate_accuracy.py, RESULTS.md).
    plates: bool = Field(True, description="find and read number plates in footage")
    plate_fps: float = Field(1.0, gt=0, le=30, description="frames a second searched for plates")
    plate_max_side: int = Field(960, ge=320, le=4096, description="longest side the plate detector sees (pixels)")
    plate_min_confidence: float = Field(0.6, ge=0, le=1, description="drop plate reads less sure than this")
    onnx_threads: int = Field(1, ge=1, le=64, description="onnxruntime intra-op threads per model (scale with workers)")
    # Face search and unknown-face grouping (models/face_calibration.json: one-to-one false-match
    # rate 0.56 % at 0.60, 0.013 % at 0.50). A search lists candidates for a person to look at, so
    # it reaches further than a watchlist alert; grouping strangers must not chain people together.
    search_max_distance: float | None = Field(None, gt=0, lt=2, description="face search: farthest appearance listed "
                                              "(default: the embedder's, 0.6 for dlib-resnet-v1)")
    people_threshold: float | None = Field(None, gt=0, lt=2, description="unknown faces: mean distance that groups two "
                                           "tracks (default: the embedder's, 0.5 for dlib-resnet-v1)")
    max_upload_bytes: int = Field(8 * 1024**3, gt=0, description="largest clip accepted over HTTP (and the cap of "
                                  "any upload link)")
    # Rate limits (per API process): 429 with Retry-After past them.
    auth_failures_per_min: int = Field(20, ge=1, description="failed authentications a minute from one address")
    upload_idle_hours: float = Field(6, gt=0, le=24 * 30, description="an unfinished resumable upload with no "
                                     "piece for this long is removed, its bytes deleted (audited)")
    uploads_in_progress_per_address: int = Field(20, ge=1, le=10_000, description="unfinished resumable uploads one "
                                                 "address may have at once (429 past it)")
    link_requests_per_min: int = Field(20, ge=1, description="requests a minute to one public upload link")
    client_link_requests_per_min: int = Field(60, ge=1, description="public upload requests a minute from one address")
    # The pages (api/pages): the address witnesses' links start with, the name they are sent in,
    # and how long a signed-in browser stays signed in.
    public_url: str | None = Field(None, max_length=200, description="public base URL of upload links (default: "
                                                                     "the address the page was asked for)")
    force_name: str = Field("the police", max_length=100, description="who the witness sends to, in the text message "
                                                                      "and on the witness page")
    timezone: str = Field("Europe/London", max_length=64, description="the force's time zone (IANA name): times "
                          "on the pages and in messages are shown in it; everything is stored in UTC")
    map_tiles: str | None = Field(None, max_length=300, pattern=r"^https?://[^\s]+$",
                                  description="map tiles for the hit and plate-search maps, a URL template with {z}, "
                                  "{x} and {y} (the force's own tile server); unset: positions on a plain background, "
                                  "nothing fetched")
    map_attribution: str = Field("", max_length=200, description="the tile source's attribution, shown under each map")
    witness_max_bytes: int = Field(4 * 1024**3, gt=0, description="largest video an upload link made on the pages takes")
    session_idle_min: float = Field(30, gt=0, description="a signed-in browser idle this long must sign in again")
    session_max_hours: float = Field(12, gt=0, description="and after this long in any case (a shift)")
    # Alerts and notifications (evidence.alerts, evidence.notify).
    alert_escalate_s: float = Field(300, gt=0, description="an alert nobody acknowledges within this is escalated")
    webhook_allow_private: bool = Field(False, description="allow webhooks to private and loopback addresses")
    webhook_timeout_s: float = Field(5, gt=0, le=60, description="a webhook or SMTP server that has not answered in "
                                                                  "this is a failed attempt")
    delivery_backoff_s: float = Field(5, gt=0, description="wait before the first retry (doubling each time, at "
                                                           "most an hour)")
    delivery_max_attempts: int = Field(10, ge=1, le=100, description="attempts before a delivery is given up")
    subscription_failing_after: int = Field(5, ge=1, description="failed attempts in a row that mark a subscription "
                                                                 "failing and alert the desk")
    share_ttl_min: float = Field(60, gt=0, description="how long an officer's link to an alert's image works")
    smtp_host: str | None = Field(None, max_length=200, description="SMTP server for emails (unset: none sent)")
    smtp_port: int = Field(587, ge=1, le=65535, description="the SMTP server's port")
    smtp_tls: str = Field("starttls", pattern="^(starttls|ssl|none)$", description="starttls, ssl or none")
    smtp_user: str | None = Field(None, max_length=200, description="user name on the SMTP server (unset: no login)")
    smtp_password: str | None = Field(None, max_length=500, description="password on the SMTP server")
    mail_from: str = Field("evidence@localhost", max_length=254, description="the From address of emails")
    # Upload links sent to witnesses by text message and email through GOV.UK Notify (evidence.notify.govnotify).
    notify_api_key: str | None = Field(None, max_length=200, description="GOV.UK Notify API key (unset: links are "
                                       "copied or shown as a QR code only)")
    notify_base_url: str = Field("https://api.notifications.service.gov.uk", max_length=200,
                                 pattern=r"^https?://[^\s]+$", description="GOV.UK Notify's API address")
    notify_sms_template: str | None = Field(None, max_length=64, description="id of the Notify text message "
                                            "template; its body is ((message))")
    notify_email_template: str | None = Field(None, max_length=64, description="id of the Notify email template; "
                                              "its subject is ((subject)) and its body ((message))")
    metrics_token: str | None = Field(None, min_length=16, max_length=200, description="the bearer token Prometheus "
                                      "scrapes GET /metrics with (unset: /metrics is off, 403)")
    log_format: Literal["json", "text"] = Field("json", description="`evidence serve` and `evidence worker` log "
                                                "lines: one JSON object each (with the request id), or text")
    audit_anchors: Path | None = Field(None, description="anchor file of the audit chain (default "
                                                         "DATA_DIR/audit-anchors.jsonl); keep it on other storage")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not a time zone this machine knows (an IANA name: Europe/London)") from None
        return name

    @field_validator("map_tiles")
    @classmethod
    def _tile_template(cls, url: str | None) -> str | None:
        if url is not None and not all(k in url for k in ("{z}", "{x}", "{y}")):
            raise ValueError("the map tile address must hold {z}, {x} and {y}: https://tiles.example/{z}/{x}/{y}.png")
        return url

    @property
    def link_max_bytes(self) -> int:
        """The largest file an upload link made on the pages takes (a witness's, or staff's own)."""
        return min(self.witness_max_bytes, self.max_upload_bytes)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'evidence.db').resolve()}"

    @property
    def upgrades_on_start(self) -> bool:
        return self.auto_upgrade if self.auto_upgrade is not None else self.db_url.startswith("sqlite")

    @property
    def audit_anchors_file(self) -> Path:
        return self.audit_anchors or self.data_dir / "audit-anchors.jsonl"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "store"
