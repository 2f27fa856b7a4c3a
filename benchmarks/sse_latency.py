"""Live feed latency: from an incident event being committed to the database to a client holding
`GET /incidents/{id}/events` receiving it, over real HTTP (`evidence serve`, SQLite).

    python benchmarks/sse_latency.py [--events 50]

Events are committed by this process one at a time, 0.3 s apart (as candidates arrive), each
carrying its commit time; prints p50 / p95 / max delay. Target: a candidate on the stream within
a second of being stored."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import served  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=50)
    args = ap.parse_args()
    from evidence.audit import Actor
    from evidence.eventkinds import EventKind
    from evidence.events import add_event
    from evidence.keys import create_key
    from evidence.work import get_or_create_incident
    from evidence.runtime import Runtime
    from evidence.settings import Settings

    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "EVIDENCE_DATA_DIR": data}
        env.pop("EVIDENCE_DATABASE_URL", None)
        env.pop("EVIDENCE_REDIS_URL", None)
        rt = Runtime(Settings(data_dir=Path(data)))
        key = create_key(rt, "bench", "control_room", Actor("bench", "admin"))[1]
        with rt.sessions.begin() as s:
            incident_id = get_or_create_incident(s, "INC-SSE").id
        delays: list[float] = []
        with served(env) as base:
            ready = threading.Event()

            def listen() -> None:
                with httpx.stream("GET", f"{base}/incidents/{incident_id}/events",
                                  headers={"Authorization": f"Bearer {key}"}, params={"max_s": 3600},
                                  timeout=httpx.Timeout(10, read=60)) as feed:
                    ready.set()
                    for line in feed.iter_lines():
                        if line.startswith("data: "):
                            event = json.loads(line[6:])
                            delays.append(time.time() - json.loads(event["text"])["sent"])
                            if len(delays) == args.events:
                                return

            t = threading.Thread(target=listen, daemon=True)
            t.start()
            ready.wait(10)
            time.sleep(0.5)
            for i in range(args.events):
                with rt.sessions.begin() as s:
                    add_event(s, incident_id, EventKind.PUBLIC_UPDATE, {"text": json.dumps({"n": i, "sent": time.time()}),
                                                                       "by": "bench"})
                time.sleep(0.3)
            t.join(30)
    delays.sort()
    n = len(delays)
    p50, p95 = delays[n // 2], delays[min(n - 1, int(0.95 * n))]
    print(f"{n} events over SSE: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms")
    print(f"sse_p50_ms={p50 * 1000:.0f} sse_p95_ms={p95 * 1000:.0f} sse_max_ms={delays[-1] * 1000:.0f} events={n}")


if __name__ == "__main__":
    main()
