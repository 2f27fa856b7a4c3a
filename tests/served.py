"""Real processes for tests: `evidence serve` on a free loopback port, the `evidence` command, and a
proxy that cuts a connection mid-request."""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
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


# Commands that act as nobody in particular (the system, or read-only and unaudited).
ANONYMOUS = {"db", "worker", "serve", "status", "reconcile", "verify", "index", "--help"}
_ADMIN_KEYS: dict[tuple[str, str], str] = {}
_MAKE_KEY = ("from evidence.audit import Actor; from evidence.keys import create_key; from evidence.runtime import Runtime; "
             "from evidence.settings import Settings; "
             "print(create_key(Runtime(Settings()), 'Test Administrator', 'admin', Actor('test set-up', 'system'))[1])")


def admin_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` acting as a named administrator: EVIDENCE_KEY of a key made (once per database,
    directly in it) for "Test Administrator". An env that sets EVIDENCE_KEY, even empty, is kept."""
    if "EVIDENCE_KEY" in env or env.get("EVIDENCE_USER"):
        return env
    where = (env.get("EVIDENCE_DATABASE_URL", ""), env.get("EVIDENCE_DATA_DIR", ""))
    if where not in _ADMIN_KEYS:
        made = subprocess.run([sys.executable, "-c", _MAKE_KEY], env=env, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        _ADMIN_KEYS[where] = made.stdout.split()[-1]
    return {**env, "EVIDENCE_KEY": _ADMIN_KEYS[where]}


def run(*args: object, env: dict[str, str], check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The real `evidence` command (as a test administrator unless ``env`` names someone, or the
    command acts as nobody); with ``check`` its exit status must be 0."""
    if str(args[0]) not in ANONYMOUS:
        env = admin_env(env)
    res = subprocess.run([EVIDENCE, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert res.returncode == 0, res.stderr
    return res


class CuttingProxy:
    """A TCP proxy in front of a server, as a phone's flaky connection: once armed with
    ``cut_after(n, outage_s)``, the connection that carries the n-th byte sent towards the server
    (counted from arming) is reset mid-request, once, and for ``outage_s`` after that nothing
    gets through (every connection that sends is reset), as when the signal is lost for a moment.
    The request lines it saw (``requests``) and the ``Upload-Offset`` values the server answered
    (``offsets``) are kept."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.requests: list[str] = []
        self.offsets: list[int] = []
        self.cuts = 0
        self._left: int | None = None
        self._outage_s = 0.0
        self._outage_until = 0.0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, n_bytes: int, outage_s: float = 0.0) -> None:
        with self._lock:
            self._left, self._outage_s = n_bytes, outage_s

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _cut_now(self, n: int) -> bool:
        with self._lock:
            if time.monotonic() < self._outage_until:
                return True
            if self._left is None:
                return False
            self._left -= n
            if self._left > 0:
                return False
            self._left, self.cuts = None, self.cuts + 1
            self._outage_until = time.monotonic() + self._outage_s
            return True

    def _pump(self, src: socket.socket, dst: socket.socket, towards_server: bool) -> None:
        cut = False
        try:
            while data := src.recv(65536):
                if towards_server:
                    line = re.match(rb"(GET|HEAD|POST|PATCH|DELETE|OPTIONS) (\S+) HTTP/1", data)
                    if line:
                        self.requests.append(f"{line.group(1).decode()} {line.group(2).decode()}")
                    if self._cut_now(len(data)):
                        dst.sendall(data[: len(data) // 2])  # half of this piece arrives, then nothing
                        time.sleep(0.3)  # (a reset now would drop what is still in the send buffer)
                        cut = True
                        break
                else:
                    self.offsets += [int(v) for v in re.findall(rb"(?i)upload-offset: (\d+)", data)]
                dst.sendall(data)
        except OSError:
            return
        if cut:  # both ends see the connection die, as when a phone loses its signal
            for sock in (src, dst):
                try:  # shutdown first: it wakes the other direction's thread blocked in recv
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass
            return
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


class S3Server:
    """A real S3-protocol server on loopback over HTTP (moto in server mode, its own process), with
    one bucket created with Object Lock enabled."""

    bucket = "evidence-test"

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=self.log, stderr=self.log, start_new_session=True)
        wait_http(f"{self.url}/moto-api/")
        self.client().create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test")

    def env(self, prefix: str = "evidence") -> dict[str, str]:
        return {"EVIDENCE_STORE_URL": f"s3://{self.bucket}/{prefix}", "EVIDENCE_S3_ENDPOINT_URL": self.url,
                "EVIDENCE_S3_ACCESS_KEY_ID": "test", "EVIDENCE_S3_SECRET_ACCESS_KEY": "test"}

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
