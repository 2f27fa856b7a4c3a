"""Where an evidence item's analysis runs — the one place that decides: on the workers when the
process was given their queue, else in this process, after the caller has answered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from evidence.runtime import Runtime
from evidence.work.driver import analyse_evidence
from pipeline.errors import EvidenceError

__all__ = ["WorkQueue", "start_analysis"]

log = logging.getLogger(__name__)


class WorkQueue(Protocol):
    """The workers' queue (``workers.queue.RQWorkQueue``), as the layers below the workers see it."""

    def submit(self, evidence_id: int) -> None:
        """Queue the evidence's ingest (and anything else unfinished). Never raises for an outage
        of the queue: the evidence row says `queued`, and every worker picks it up as it starts."""

    def deliver(self, group: int) -> None:
        """Queue a sender for one recipient group of the outbox (``evidence.notify.deliver``).
        Never raises for an outage of the queue: the outbox keeps the deliveries."""

    def watch(self) -> None:
        """Called every few seconds by each API process: re-queue what the database says is
        unfinished and nobody holds at once when Redis has lost its data (restarted without
        persistence), and every minute in any case (a runner that died). Never raises."""


def start_analysis(rt: Runtime, evidence_id: int, queue: WorkQueue | None,
                   hashed_at_intake: bool = True) -> Callable[[], None] | None:
    """Queue the analysis, or return the in-process run for the caller to start after it has
    answered (its failure is recorded on the evidence, `failed` with the reason)."""
    if queue is not None:
        queue.submit(evidence_id)
        return None

    def run() -> None:
        try:
            analyse_evidence(rt, evidence_id, hashed_at_intake=hashed_at_intake)
        except EvidenceError as exc:
            log.warning("evidence %s: %s", evidence_id, exc.message)

    return run
