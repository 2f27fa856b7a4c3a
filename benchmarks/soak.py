"""Soak: a busy control room and an attacker at once against one `evidence serve` (the embedded
default: SQLite, local store). 20 clients send 20,000 requests drawn from a fixed mix of good ones
(audited incident views, timelines, camera reads and batches, hotlist changes, plate and face
searches, public uploads, live feeds) and bad ones (bad keys, malformed and oversized bodies, a
decompression bomb, ids past 2^63, lone surrogates, nested JSON, forged upload fields, JPEGs
renamed .mp4) — and, since issue 29, the edges: resumable uploads started and abandoned, a camera's
1 MiB list of junk, a heartbeat with a 1 MiB host name and invented cameras, times at the calendar's
edge. Reports per kind the status codes, the server errors (must be 0), whether `evidence audit
verify` holds, and the server's memory: after a warm-up (one of each kind, so the models are loaded),
after the soak, and after 5 s idle. Then the expiry run (unfinished uploads removed) and the disk
of unfinished parts against where it started; then open streams whose keys are revoked, and how
long each took to end.

    python benchmarks/soak.py [--requests 20000] [--clients 20] [--database-url URL]

Last line: server_errors=... audit=intact|BROKEN rss_warm_mb=... rss_after_mb=... rss_idle_mb=...
parts_start_mb=... parts_end_mb=... revoked_streams_ended=N/N revoked_end_max_s=..."""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import EVIDENCE, admin_env, served_process  # noqa: E402
from samples.hostile import png_bomb  # noqa: E402
from samples.make_samples import FACES  # noqa: E402

Request = Callable[[httpx.Client, random.Random], httpx.Response]


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MB of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def tiny_clips(folder: Path, n: int) -> list[bytes]:
    """n distinct small valid MP4 clips (ffmpeg's test pattern, 1-2 s, 160x120)."""
    out = []
    for i in range(n):
        path = folder / f"clip{i}.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=160x120:rate=10:duration={1 + i / n}",
                        "-pix_fmt", "yuv420p", str(path)], check=True)
        out.append(path.read_bytes())
    return out


class Mix:
    """The requests, each a (name, weight, function of a client and a random source)."""

    def __init__(self, keys: dict[str, str], incident: int, links: list[str], clips: list[bytes], face: bytes,
                 bomb: bytes) -> None:
        self.keys, self.incident, self.links, self.clips, self.face, self.bomb = keys, incident, links, clips, face, bomb
        self.kinds: list[tuple[str, float, Request]] = [
            ("incident view", 15, self.view), ("timeline", 8, self.timeline), ("incidents", 4, self.incidents),
            ("camera read", 14, self.read), ("camera batch", 4, self.batch), ("bad camera read", 5, self.bad_read),
            ("plate search", 5, self.plate_search), ("face search", 1, self.face_search),
            ("bomb photo", 1, self.bomb_search), ("open incident", 3, self.open_incident), ("hotlist add", 2, self.hotlist),
            ("review unknown", 2, self.review_unknown), ("bad key", 5, self.bad_key),
            ("declared oversize", 2, self.declared_oversize), ("streamed oversize", 2, self.streamed_oversize),
            ("id past 2^63", 2, self.big_id), ("bad Last-Event-ID", 1, self.bad_last_event),
            ("lone surrogate", 2, self.surrogate), ("text/plain body", 2, self.text_plain),
            ("nested JSON", 2, self.nested), ("upload: valid clip", 2, self.upload), ("upload: empty", 2, self.empty),
            ("upload: JPEG as .mp4", 2, self.jpeg_as_mp4), ("upload: forged fields", 1, self.forged),
            ("live feed", 1, self.feed), ("openapi", 1, self.openapi),
            ("upload: abandoned", 2, self.abandoned), ("camera: 1 MiB list", 1, self.junk_list),
            ("camera: junk heartbeat", 1, self.junk_heartbeat), ("time at calendar edge", 2, self.calendar_edge),
        ]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def view(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.get(f"/incidents/{self.incident}", headers=self.auth("control_room"))

    def timeline(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.get(f"/incidents/{self.incident}/timeline", headers=self.auth("investigator"))

    def incidents(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.get("/incidents", headers=self.auth("control_room"))

    def _read(self, r: random.Random) -> dict[str, Any]:
        zone = timezone(timedelta(hours=r.choice([0, 1, -5, 5.5])))
        at = (datetime.now(UTC) - timedelta(seconds=r.uniform(0, 3600))).astimezone(zone)
        vrm = r.choice(["AB12CDE", "A812C0E"]) if r.random() < 0.05 else \
            "".join(r.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2)) + f"{r.randint(10, 75)}" + \
            "".join(r.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(3))
        return {"camera_id": "CAM-SOAK", "timestamp": at.isoformat(), "vrm": vrm, "confidence": round(r.random(), 3),
                "location": {"lat": 51.5, "lon": -0.1}, "direction": "N"}

    def read(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post("/anpr/reads", json=self._read(r), headers=self.auth("camera"))

    def batch(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post("/anpr/reads", json={"reads": [self._read(r) for _ in range(20)]}, headers=self.auth("camera"))

    def bad_read(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        bad = r.choice([{"camera_id": "CAM-SOAK", "timestamp": "yesterday", "vrm": "AB12CDE", "confidence": 2},
                        {**self._read(r), "timestamp": datetime.now(UTC).replace(tzinfo=None).isoformat()},
                        {**self._read(r), "plate_image": "not base64!"}, {"reads": []}, [1, 2, 3]])
        return c.post("/anpr/reads", json=bad, headers=self.auth("camera"))

    def plate_search(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.get("/search/plates", params={"q": r.choice(["AB1?CDE", "*CDE", "AB12CDE", "A*"]), "reason": "soak",
                                               "since": (datetime.now(UTC) - timedelta(hours=2)).isoformat()},
                     headers=self.auth("investigator"))

    def face_search(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post("/search/faces", files={"photo": ("p.jpg", self.face, "image/jpeg")}, data={"reason": "soak"},
                      headers=self.auth("investigator"))

    def bomb_search(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post("/search/faces", files={"photo": ("p.png", self.bomb, "image/png")}, data={"reason": "soak"},
                      headers=self.auth("investigator"))

    def open_incident(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post("/incidents", json={"reference": f"SOAK-{r.randint(1, 50)}"}, headers=self.auth("control_room"))

    def hotlist(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post("/hotlist", json={"vrm": f"HT{r.randint(10, 99)}ABC", "reason": "soak", "category": "wanted",
                                        "incident_id": self.incident,
                                        "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
                      headers=self.auth("control_room"))

    def review_unknown(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post(f"/candidates/{r.randint(1000, 9999)}/review", json={"decision": "confirmed", "reason": "x"},
                      headers=self.auth("control_room"))

    def bad_key(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.get(f"/incidents/{self.incident}", headers={"Authorization": f"Bearer ep_{r.getrandbits(64):x}"})

    def declared_oversize(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        """Declares 300 MB and sends nothing (httpx will not send a short body: a raw socket)."""
        host, port = str(c.base_url).removeprefix("http://").rstrip("/").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(f"POST /search/faces HTTP/1.1\r\nHost: x\r\nContent-Length: {300 << 20}\r\n"
                         f"Authorization: {self.auth('investigator')['Authorization']}\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return httpx.Response(int(answer.split(b" ", 2)[1]))

    def streamed_oversize(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        def chunks():  # 2 MB, chunked: no Content-Length to refuse it by
            for _ in range(32):
                yield b" " * 65536
        return c.post("/incidents", content=chunks(), headers={"Content-Type": "application/json"})

    def big_id(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.get(r.choice([f"/incidents/{2**63 + r.randint(0, 99)}", f"/anpr/reads/{2**64}/plate",
                               f"/incidents/{self.incident}/timeline?after={2**70}"]), headers=self.auth("investigator"))

    def bad_last_event(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.get(f"/incidents/{self.incident}/events", params={"max_s": 0.1},
                     headers={"Last-Event-ID": r.choice(["²".encode(), b"-1", b"1e9"]), **self.auth("control_room")})

    def surrogate(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post("/incidents", content=b'{"reference": "X\\ud800"}',
                      headers={"Content-Type": "application/json", **self.auth("control_room")})

    def text_plain(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post("/hotlist", content=b"vrm=AB12CDE", headers={"Content-Type": "text/plain", **self.auth("control_room")})

    def nested(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        depth = r.choice([100, 10_000, 100_000])
        return c.post("/anpr/reads", content=b"[" * depth + b"]" * depth,
                      headers={"Content-Type": "application/json", **self.auth("camera")})

    def upload(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post(f"/incidents/{self.incident}/evidence", files={"file": ("clip.mp4", r.choice(self.clips), "video/mp4")},
                      data={"caption": "soak"}, headers=self.auth("uploader"))

    def empty(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post(r.choice(self.links), files={"file": ("clip.mp4", b"", "video/mp4")})

    def jpeg_as_mp4(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post(r.choice(self.links), files={"file": ("clip.mp4", self.face, "video/mp4")})

    def forged(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post(r.choice(self.links), files={"file": ("clip.mp4", r.choice(self.clips), "video/mp4")},
                      data={"by": "DCI Forger", "role": "admin"})

    def feed(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.get(f"/incidents/{self.incident}/events", params={"max_s": 0.3}, headers=self.auth("control_room"))

    def openapi(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.get("/openapi.json")

    def abandoned(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        """A resumable upload of 10 MiB started, 1 MiB sent, never finished (issue 29)."""
        token = r.choice(self.links).rsplit("/", 1)[1]
        tus = {"Tus-Resumable": "1.0.0"}
        made = c.post(f"/public/tus/{token}", headers={**tus, "Upload-Length": str(10 << 20)})
        if made.status_code != 201:
            return made  # the link's or the address's unfinished uploads are counted: 410 / 429
        return c.patch(made.headers["location"], content=b"\x80" * (1 << 20),
                       headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})

    def junk_list(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        return c.post("/anpr/reads", content=b'{"reads": [' + b"0, " * 349_999 + b"0]}",
                      headers={"Content-Type": "application/json", **self.auth("camera")})

    def junk_heartbeat(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        beat = {"data_type": "heartbeat", "agent_hostname": "h" * (1 << 20),
                "video_streams": [{"camera_id": f"fake-{i}", "is_streaming": True} for i in range(64)]}
        return c.post("/anpr/openalpr", json=beat, headers=self.auth("camera"))

    def calendar_edge(self, c: httpx.Client, r: random.Random) -> httpx.Response:
        edge = r.choice(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"])
        return r.choice([
            lambda: c.post("/anpr/reads", json={"reads": [self._read(r), {**self._read(r), "timestamp": edge}]},
                           headers=self.auth("camera")),
            lambda: c.post("/hotlist", json={"vrm": "ED12GEE", "reason": "soak", "expires_at": edge},
                           headers=self.auth("control_room")),
            lambda: c.get("/search/plates", params={"q": "AB12CDE", "reason": "soak", "since": edge},
                          headers=self.auth("investigator"))])()


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20 if path.exists() else 0.0


def revoked_streams(base: str, env: dict[str, str], incident: int, n: int) -> list[float | None]:
    """Open ``n`` live feeds, each with a key of its own, revoke the keys: how long each feed took to
    end after its key was revoked (None: still open after 30 s)."""
    from evidence.audit import Actor
    from evidence.keys import create_key, revoke_key
    from evidence.runtime import Runtime
    from evidence.settings import Settings

    rt = Runtime(Settings(data_dir=Path(env["EVIDENCE_DATA_DIR"]), database_url=env.get("EVIDENCE_DATABASE_URL")))
    admin = Actor("soak admin", "admin")
    keys = [create_key(rt, f"soak stream {i}", "investigator", admin) for i in range(n)]
    ended: list[float | None] = [None] * n
    flowing = [threading.Event() for _ in range(n)]
    revoked_at = [0.0] * n

    def listen(i: int) -> None:
        with httpx.stream("GET", f"{base}/incidents/{incident}/events", timeout=httpx.Timeout(5, read=40),
                          headers={"Authorization": f"Bearer {keys[i][1]}"}) as res:
            for _ in res.iter_lines():
                flowing[i].set()
        if revoked_at[i]:
            ended[i] = time.monotonic() - revoked_at[i]

    threads = [threading.Thread(target=listen, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    for i in range(n):
        flowing[i].wait(10)
        revoked_at[i] = time.monotonic()
        revoke_key(rt, keys[i][0], admin)
    for th in threads:
        th.join(35)
    rt.engine.dispose()
    return ended


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "EVIDENCE_DATA_DIR": str(Path(tmp) / "data"), "EVIDENCE_WORKING_COPY": "false",
               "EVIDENCE_REDIS_URL": "redis://127.0.0.1:1/0"}  # uploads are stored and queued, not analysed
        env.pop("EVIDENCE_DATABASE_URL", None)
        if args.database_url:
            env["EVIDENCE_DATABASE_URL"] = args.database_url
            subprocess.run([EVIDENCE, "db", "upgrade"], env=env, check=True)  # PostgreSQL: never on start
        env = admin_env(env)
        keys = {role: subprocess.run([EVIDENCE, "keys", "create", "--role", role, "--name", f"soak {role}"], env=env,
                                     capture_output=True, text=True, check=True).stdout.split()[-1]
                for role in ("control_room", "investigator", "camera", "uploader", "admin")}
        # CAM-SOAK is the camera key's name: reads must carry it.
        keys["camera"] = subprocess.run([EVIDENCE, "keys", "create", "--role", "camera", "--name", "CAM-SOAK"], env=env,
                                        capture_output=True, text=True, check=True).stdout.split()[-1]
        clips = tiny_clips(Path(tmp), 8)
        face = (FACES / "Gordon_Brown" / "Gordon_Brown_0001.jpg").read_bytes()
        parts = Path(env["EVIDENCE_DATA_DIR"]) / "store" / "tmp"
        parts_start = dir_mb(parts)
        with served_process(env) as (base, server):
            rss_start = rss_mb(server.pid)[0]
            with httpx.Client(base_url=base, timeout=60) as c:
                cr = {"Authorization": f"Bearer {keys['control_room']}"}
                incident = c.post("/incidents", json={"reference": "SOAK-1"}, headers=cr).json()["id"]
                c.post("/hotlist", json={"vrm": "AB12CDE", "reason": "soak", "category": "wanted", "incident_id": incident},
                       headers=cr)
                links = [c.post(f"/incidents/{incident}/upload-links", json={"max_uploads": 100}, headers=cr).json()["url"]
                         for _ in range(10)]
                mix = Mix(keys, incident, links, clips, face, png_bomb(20_000))
                warm = random.Random(0)
                for _, _, fn in mix.kinds:
                    fn(c, warm)
            time.sleep(1)
            rss_warm = rss_mb(server.pid)[0]
            counts: dict[str, Counter[int]] = defaultdict(Counter)
            errors: Counter[str] = Counter()
            lock = threading.Lock()
            per_client = args.requests // args.clients
            names = [k[0] for k in mix.kinds]
            weights = [k[1] for k in mix.kinds]
            fns = {k[0]: k[2] for k in mix.kinds}

            def client(i: int) -> None:
                r = random.Random(args.seed * 1000 + i)
                with httpx.Client(base_url=base, timeout=120) as c:
                    for _ in range(per_client):
                        name = r.choices(names, weights)[0]
                        try:
                            status = fns[name](c, r).status_code
                        except httpx.HTTPError as exc:
                            with lock:
                                errors[f"{name}: {type(exc).__name__}"] += 1
                            continue
                        with lock:
                            counts[name][status] += 1

            started = time.monotonic()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(client, range(args.clients)))
            wall = time.monotonic() - started
            rss_after, peak = rss_mb(server.pid)
            time.sleep(5)
            rss_idle = rss_mb(server.pid)[0]
            ended = revoked_streams(base, env, incident, 10)
        # The expiry run (what `evidence serve` does every minute, with the idle limit passed): the
        # unfinished uploads removed, their parts deleted.
        from evidence.runtime import Runtime
        from evidence.settings import Settings
        from evidence.uploads import expire_uploads

        parts_before_expiry = dir_mb(parts)
        rt = Runtime(Settings(data_dir=Path(env["EVIDENCE_DATA_DIR"]), database_url=env.get("EVIDENCE_DATABASE_URL"),
                              upload_idle_hours=1e-9))
        expired = expire_uploads(rt)
        rt.engine.dispose()
        parts_end = dir_mb(parts)
        audit = subprocess.run([EVIDENCE, "audit", "verify"], env=env, capture_output=True, text=True)
    total = sum(sum(c.values()) for c in counts.values())
    server_errors = sum(n for c in counts.values() for s, n in c.items() if s >= 500)
    print(f"{total} requests from {args.clients} clients in {wall:.1f} s ({total / wall:.0f}/s); "
          f"transport errors {sum(errors.values())}")
    print(f"{'kind':<24} {'n':>6}  status codes")
    for name in names:
        c = counts[name]
        print(f"{name:<24} {sum(c.values()):>6}  " + ", ".join(f"{s}: {n}" for s, n in sorted(c.items())))
    for e, n in errors.most_common():
        print(f"  transport error {e}: {n}")
    print((audit.stdout or audit.stderr).strip())
    print(f"server memory: {rss_start:.0f} MB at start, {rss_warm:.0f} MB after the warm-up, {rss_after:.0f} MB after "
          f"the soak (peak {peak:.0f} MB), {rss_idle:.0f} MB after 5 s idle")
    print(f"unfinished uploads: {parts_before_expiry:.0f} MB of parts after the soak; the expiry run removed {expired}, "
          f"leaving {parts_end:.1f} MB (at the start: {parts_start:.1f} MB)")
    done = [e for e in ended if e is not None]
    print(f"revoked keys' open streams: {len(done)} of {len(ended)} ended, the slowest {max(done, default=0):.1f} s "
          "after its key was revoked")
    print(f"server_errors={server_errors} audit={'intact' if audit.returncode == 0 else 'BROKEN'} "
          f"rss_warm_mb={rss_warm:.0f} rss_after_mb={rss_after:.0f} rss_idle_mb={rss_idle:.0f} "
          f"parts_start_mb={parts_start:.1f} parts_end_mb={parts_end:.1f} "
          f"revoked_streams_ended={len(done)}/{len(ended)} revoked_end_max_s={max(done, default=0):.1f}")


if __name__ == "__main__":
    main()
