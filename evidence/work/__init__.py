"""The work of an evidence item, from arrival to ``done``. One module per step, one per kind of
work item:

    intake.py     ingest_clip / ingest_upload: probe, store under its SHA-256, record  (queued)
    plan.py       prepare_evidence: hash check, key frames, the plan of work items     (ingesting)
    runner.py     run_item: lease, Job, the kind's runner, its Outcome recorded        (analysing)
      quick.py      keyframe triage of long footage: first alerts in seconds
      segment.py    faces in one stretch of the clip
      plates.py     number plates in one stretch of the clip
      transcode.py  the working copy and contact sheet
    finalise.py   finalise_evidence: stitch across cuts, supersede, provenance         (done)
    failure.py    fail_evidence                                                        (failed)
    driver.py     analyse_evidence: all of it in this process
    dispatch.py   start_analysis: on the workers' queue, or in this process

Shared: ``lease.py`` (a runner's hold on a row: take, fence, heartbeat, let go), ``contract.py``
(``Job`` in, ``Outcome`` out), ``results.py`` (face tracks and candidates as stored)."""

from evidence.work.contract import Hooks, Job, Outcome
from evidence.work.dispatch import WorkQueue, start_analysis
from evidence.work.driver import AnalysisSummary, analyse_evidence
from evidence.work.failure import fail_evidence
from evidence.work.finalise import finalise_evidence
from evidence.work.intake import get_or_create_incident, incident_reference, ingest_clip, ingest_upload, with_reference
from evidence.work.lease import Lease, LeaseHeld
from evidence.work.plan import prepare_evidence, work_order
from evidence.work.results import QUICK_SEGMENT, TRACK_INDEX_STRIDE
from evidence.work.runner import ItemDone, run_item

__all__ = ["QUICK_SEGMENT", "TRACK_INDEX_STRIDE", "AnalysisSummary", "Hooks", "ItemDone", "Job", "Lease", "LeaseHeld",
           "Outcome", "WorkQueue", "analyse_evidence", "fail_evidence", "finalise_evidence", "get_or_create_incident", "incident_reference", "with_reference",
           "ingest_clip", "ingest_upload", "prepare_evidence", "run_item", "start_analysis", "work_order"]
