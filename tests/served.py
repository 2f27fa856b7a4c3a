"""Real processes for tests: `evidence serve` on a free loopback port, and the `evidence` command."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

EVIDENCE = str(Path(sys.executable).parent / "evidence")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


@contextmanager
def served(env: dict[str, str]) -> Iterator[str]:
    """`evidence serve` with ``env`` until the block ends; yields its base URL."""
    port = free_port()
    log = tempfile.TemporaryFile()  # a pipe nobody reads would stall the server once full
    proc = subprocess.Popen([EVIDENCE, "serve", "--port", str(port)], env=env, start_new_session=True,
                            stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health")
        yield base
    finally:
        log.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(*args: object, env: dict[str, str], check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real `evidence` command; with ``check`` its exit status must be 0."""
    res = subprocess.run([EVIDENCE, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert res.returncode == 0, res.stderr
    return res
