"""The ``transcode`` work item: the working copy (H.264, at most 720p, ``+faststart``; an H.264
original of that size is remuxed, not re-encoded) and a contact sheet, recorded as derivatives of
the original with the tool and arguments that made them."""

from __future__ import annotations

from evidence import SOFTWARE
from evidence.derivatives import discard_unreferenced, record_derivative
from evidence.runtime import Runtime
from evidence.work.contract import Hooks, ItemLease, Job, Outcome
from evidence.workingcopy import make_working_copy

__all__ = ["run_transcode"]


def run_transcode(rt: Runtime, job: Job, lease: ItemLease, hooks: Hooks) -> Outcome:
    made = make_working_copy(rt.store, job.original, job.media, rt.settings.decode_threads,
                             heartbeat=lambda: lease.beat(0.5, hooks), every_s=rt.settings.lease_s / 3)
    try:
        with rt.sessions.begin() as s:
            lease.fence(s)
            if not all(f.stored.path.is_file() for f in made):  # removed by a run that failed meanwhile
                raise RuntimeError(f"work item {job.item_id}: the working copy left the store before it was recorded")
            for f in made:
                record_derivative(s, job.evidence_id, job.sha256, f.kind, f.stored.sha256,
                                  rt.store.relative(f.stored.path), {"software": SOFTWARE, **f.made_by})
    except BaseException:
        discard_unreferenced(rt.sessions, rt.store, [f.stored for f in made])
        raise
    return Outcome(0, {f.kind: f.stored.sha256 for f in made})
