"""Shared by the clip and HTTP benchmarks: build missing sample clips, describe a clip, run
`evidence serve` on a free port for the length of a `with` block."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
EVIDENCE = str(Path(sys.executable).parent / "evidence")
SHARED_LFW = ROOT.parent / "shared" / "data" / "faces" / "lfw" / "images"


def admin_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` acting as a named administrator (tests/served.py: a key made once per database)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from served import admin_env as acting

    return acting(env)


def shared_data(path: Path) -> Path:
    """``path`` (benchmark data in ../shared, beside the repository), or exit with a message saying
    what is missing: the tests and the demo never need it, the benchmarks measure on it."""
    if not path.exists():
        raise SystemExit(f"benchmark data missing: {path} (the benchmarks measure on ../shared beside the "
                         "repository; the demo and the tests run without it)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_samples(clip: Path, long_args: list[str], watchlist: Path) -> None:
    """Render the benchmark clip (samples/make_samples.py --scenario long ARGS) and the demo
    watchlist if they are missing."""
    make = [sys.executable, str(ROOT / "samples" / "make_samples.py")]
    if not clip.exists():
        subprocess.run([*make, "--scenario", "long", *long_args, "--out", str(clip.parent)], check=True)
    if not watchlist.exists():
        subprocess.run(make, check=True)


def describe_clip(clip: Path) -> tuple[float, str]:
    """(duration s, "clip NAME: WxH codec D s, R Mbit/s; N CPUs") from ffprobe."""
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                                       "-show_streams", str(clip)], capture_output=True, text=True).stdout)
    v = next(s for s in probe["streams"] if s["codec_type"] == "video")
    duration = float(probe["format"]["duration"])
    return duration, (f"clip {clip.name}: {v['width']}x{v['height']} {v['codec_name']} {duration:.1f} s, "
                      f"{int(probe['format']['bit_rate']) / 1e6:.1f} Mbit/s; {os.cpu_count()} CPUs")


@contextmanager
def served_process(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`evidence serve` with ``env`` on a free port; yields (base URL, the server's process) once
    /health answers."""
    port = free_port()
    server = subprocess.Popen([EVIDENCE, "serve", "--port", str(port)], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base, server
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@contextmanager
def served(env: dict[str, str]) -> Iterator[str]:
    """`evidence serve` with ``env`` on a free port; yields its base URL once /health answers."""
    with served_process(env) as (base, _):
        yield base
