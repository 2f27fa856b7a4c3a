"""The incident board in Chromium with 500 potential matches: how soon it is usable, and how soon
a new card appears after its candidate is stored.

    python benchmarks/board.py [--candidates 500] [--new 30] [--loads 5]

Set-up: a real clip (samples/make_samples.py's renderer, LFW photos from samples/faces) analysed by
`evidence process` gives real face tracks, crops and candidates; they are cloned (new track rows
sharing the crops) to CANDIDATES pending candidates with their `candidate` events on one incident.
`evidence serve` (SQLite), Debian's Chromium driven by Playwright, a signed-in control-room user.

- Load (LOADS times): navigation start to DOMContentLoaded (every card in the page, the board's
  script running: the keys work), to the load event (the images in view: card images load lazily,
  and cards off screen are not laid out, CSS `content-visibility`), and a key press (`j`) until the
  first card has the focus. Side by side, the plain page: the same board with every image fetched
  at once (1,000 images, each an audited read), every card laid out, and each card's review a
  <form> (Chromium's autofill inspects every form with an input as the page finishes parsing:
  500 forms cost about a second), to its load event.
- New card (NEW times, 0.5 s apart): a candidate and its event committed by this process; the
  time until the card is in the open board's page (a MutationObserver's clock; the same machine's
  clock as the commit), through the live feed and the card's fetch. Beside it: the feed's own
  delay (the event on the EventSource).
Targets (issue 14): usable within 1 s; a new card within 1 s (p95)."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness import EVIDENCE, admin_env, served  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WATCHING = """() => {
    window.__seen = {}; window.__fed = {};
    new MutationObserver(ms => ms.forEach(m => m.addedNodes.forEach(n => {
        if (n.id && n.id.startsWith('card-c')) window.__seen[n.dataset.candidateId] = performance.timeOrigin + performance.now();
    }))).observe(document.getElementById('cards'), {childList: true});
}"""


def seed(data: Path, n: int) -> int:
    """An incident with ``n`` pending candidates (real crops); returns its id."""
    import subprocess

    from sqlalchemy import select

    from evidence.db.tables import CandidateRow, FaceTrackRow, IncidentEvent, WatchlistSubjectRow
    from evidence.events import candidate_event
    from evidence.runtime import Runtime
    from evidence.settings import Settings
    from samples.make_samples import Appearance, build_watchlist, render_clip

    env = {**os.environ, "EVIDENCE_DATA_DIR": str(data), "EVIDENCE_PLATES": "false"}
    work = data.parent / "clip"
    work.mkdir()
    wl = build_watchlist(work / "watchlist", {"Gordon_Brown": [1, 2, 3], "Kim_Clijsters": [1, 2, 3],
                                              "Jennifer_Garner": [1, 2, 3], "Tom_Ridge": [1, 2, 3]})
    clip = render_clip(work / "street.mp4", [
        Appearance("Gordon_Brown", "Gordon_Brown_0006", 0.3, 4.0, (0.2, 0.5), (0.35, 0.5), (120, 110), True),
        Appearance("Kim_Clijsters", "Kim_Clijsters_0008", 3.0, 6.0, (0.45, 0.3), (0.5, 0.45), (110, 130), True)],
        6.0, size_wh=(1280, 720), seed=11)
    env = admin_env(env)
    subprocess.run([EVIDENCE, "watchlist", "import", str(wl)], env=env, check=True, capture_output=True)
    subprocess.run([EVIDENCE, "process", str(clip), "--incident", "INC-BOARD"], env=env, check=True,
                   capture_output=True)
    rt = Runtime(Settings(data_dir=data))
    with rt.sessions.begin() as s:
        tracks = list(s.scalars(select(FaceTrackRow).where(FaceTrackRow.crop_id.is_not(None))))
        subjects = list(s.scalars(select(WatchlistSubjectRow)))
        model = s.scalars(select(CandidateRow)).first()
        assert tracks and model is not None
        have = s.query(CandidateRow).count()
        for i in range(n - have):
            t = tracks[i % len(tracks)]
            clone = FaceTrackRow(embedder=t.embedder, evidence_id=t.evidence_id, track_index=10_000 + i, first_t_s=t.first_t_s,
                                 last_t_s=t.last_t_s, best_t_s=t.best_t_s, best_xyxy=t.best_xyxy,
                                 n_detections=t.n_detections, quality=t.quality, closed=True,
                                 embeddings=t.embeddings, segment=t.segment, crop_id=t.crop_id)
            s.add(clone)
            s.flush()
            c = CandidateRow(evidence_id=t.evidence_id, track_id=clone.id, subject_id=subjects[i % len(subjects)].id,
                             rank=1, distance=model.distance, score=model.score, threshold=model.threshold,
                             model_version=model.model_version, t_s=t.best_t_s)
            s.add(c)
            s.flush()
            candidate_event(s, c)
        incident_id = s.scalar(select(IncidentEvent.incident_id).limit(1))
    rt.engine.dispose()
    return int(incident_id)


def new_candidate(data: Path) -> tuple[int, float]:
    """Store one more candidate (and its event) as a worker would; (its id, the commit time)."""
    from sqlalchemy import func, select

    from evidence.db.tables import CandidateRow, FaceTrackRow
    from evidence.events import candidate_event
    from evidence.runtime import Runtime
    from evidence.settings import Settings

    rt = NEW_RT.setdefault("rt", Runtime(Settings(data_dir=data)))
    with rt.sessions.begin() as s:
        t = s.scalars(select(FaceTrackRow).where(FaceTrackRow.crop_id.is_not(None))).first()
        model = s.scalars(select(CandidateRow)).first()
        assert t is not None and model is not None
        clone = FaceTrackRow(embedder=t.embedder, evidence_id=t.evidence_id, track_index=int(s.scalar(select(func.max(FaceTrackRow.track_index))) or 0) + 1,
                             first_t_s=t.first_t_s, last_t_s=t.last_t_s, best_t_s=t.best_t_s, best_xyxy=t.best_xyxy,
                             n_detections=t.n_detections, quality=t.quality, closed=True, embeddings=t.embeddings,
                             segment=t.segment, crop_id=t.crop_id)
        s.add(clone)
        s.flush()
        c = CandidateRow(evidence_id=t.evidence_id, track_id=clone.id, subject_id=model.subject_id, rank=1,
                         distance=model.distance, score=model.score, threshold=model.threshold,
                         model_version=model.model_version, t_s=t.best_t_s)
        s.add(c)
        s.flush()
        candidate_event(s, c)
        cid = c.id
    return cid, time.time()


NEW_RT: dict[str, object] = {}


def plain(html: str) -> str:
    """The board as a plain page would be: each card's review a <form> (as one writes it first),
    its images fetched at once, every card laid out whether on screen or not."""
    html = re.sub(r'<div class="ep-review"(.*?)</p>\n(\s*)</div>', r'<form class="ep-review"\1</p>\n\2</form>', html,
                  flags=re.S)
    html = html.replace(' loading="lazy"', "")
    return html.replace("</head>", "<style>.ep-card { content-visibility: visible !important; }</style></head>")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", type=int, default=500)
    ap.add_argument("--new", type=int, default=30)
    ap.add_argument("--loads", type=int, default=5)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from evidence.audit import Actor
    from evidence.runtime import Runtime
    from evidence.settings import Settings
    from evidence.users import add_user, change_password

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        t0 = time.time()
        incident_id = seed(data, args.candidates)
        rt = Runtime(Settings(data_dir=data))
        user, one_time = add_user(rt, "PC 1 Bench", "control_room", Actor("bench", "admin"))
        change_password(rt, user.id, one_time, "benchmark password")
        rt.engine.dispose()
        print(f"seeded {args.candidates} candidates on incident {incident_id} in {time.time() - t0:.0f} s; "
              f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("EVIDENCE_")}
        env["EVIDENCE_DATA_DIR"] = str(data)
        with served(env) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
            context = browser.new_context(viewport={"width": 1920, "height": 1080}, bypass_csp=True)
            page = context.new_page()
            page.goto(f"{base}/signin")
            page.fill("#name", "PC 1 Bench")
            page.fill("#password", "benchmark password")
            page.click("button:has-text('Sign in')")
            page.wait_for_url("**/app/incidents")
            board = f"{base}/app/incidents/{incident_id}"
            rows: dict[str, list[float]] = {"dcl": [], "load": [], "key": [], "all_images": []}
            for _ in range(args.loads):
                page.goto(board, wait_until="load")
                timing = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                                       " return [n.domContentLoadedEventEnd, n.loadEventEnd]; }")
                assert page.locator(".ep-card").count() == args.candidates
                rows["dcl"].append(timing[0] / 1000)
                rows["load"].append(timing[1] / 1000)
                page.locator("h1").click()
                t = page.evaluate("() => performance.now()")
                page.keyboard.press("j")
                page.wait_for_function("document.activeElement.classList.contains('ep-card')")
                rows["key"].append((page.evaluate("() => performance.now()") - t) / 1000)
                time.sleep(1.0)  # the server idle again before the next load
            for _ in range(args.loads):  # the plain page: forms, every image at once, every card laid out
                page.route("**/app/incidents/*", lambda route: route.fulfill(
                    response=(served_page := route.fetch()), body=plain(served_page.text())))
                page.goto(board, wait_until="load")
                rows["all_images"].append(page.evaluate(
                    "() => performance.getEntriesByType('navigation')[0].loadEventEnd") / 1000)
                page.unroute("**/app/incidents/*")
                time.sleep(3.0)
            html_kb = len(page.content()) / 1024
            # New cards on the open board.
            page.goto(board, wait_until="load")
            page.evaluate(WATCHING)
            page.evaluate("""() => { const s = new EventSource(location.pathname.replace('/app', '') + '/events?after='
                + document.getElementById('board').dataset.after);
                s.addEventListener('candidate', m => { const e = JSON.parse(m.data);
                    window.__fed[e.candidate_id] = performance.timeOrigin + performance.now(); }); }""")
            time.sleep(1.0)
            stored: dict[int, float] = {}
            for _ in range(args.new):
                cid, at = new_candidate(data)
                stored[cid] = at
                time.sleep(0.5)
            page.wait_for_function(f"Object.keys(window.__seen).length >= {args.new}", timeout=60_000)
            seen = page.evaluate("() => window.__seen")
            fed = page.evaluate("() => window.__fed")
            card_s = [seen[str(c)] / 1000 - at for c, at in stored.items()]
            feed_s = [fed[str(c)] / 1000 - at for c, at in stored.items() if str(c) in fed]
            browser.close()
    med = statistics.median
    print(f"board with {args.candidates} candidates ({html_kb:.0f} kB of HTML), {args.loads} loads in Chromium:")
    print(f"  DOMContentLoaded (cards in the page, keys work)  median {med(rows['dcl']):.3f} s, max {max(rows['dcl']):.3f} s")
    print(f"  load event (the images in view)                  median {med(rows['load']):.3f} s, max {max(rows['load']):.3f} s")
    print(f"  key j -> first card focused                      median {med(rows['key']) * 1000:.0f} ms")
    print(f"  plain page (forms, images at once, all laid out): load event median {med(rows['all_images']):.3f} s, "
          f"max {max(rows['all_images']):.3f} s")
    print(f"new card after its candidate is stored ({len(card_s)}): p50 {pct(card_s, .5) * 1000:.0f} ms, "
          f"p95 {pct(card_s, .95) * 1000:.0f} ms, max {max(card_s) * 1000:.0f} ms "
          f"(the live feed alone: p50 {pct(feed_s, .5) * 1000:.0f} ms, p95 {pct(feed_s, .95) * 1000:.0f} ms)")
    print(f"board_dcl_s={med(rows['dcl']):.3f} board_load_s={med(rows['load']):.3f} "
          f"plain_all_images_s={med(rows['all_images']):.3f} new_card_p95_ms={pct(card_s, .95) * 1000:.0f}")


if __name__ == "__main__":
    main()
