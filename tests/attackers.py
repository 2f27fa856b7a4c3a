"""What the attacker tests share (tests/test_attack_*.py) besides their fixtures in conftest (``api``:
an app with a key per role; ``bomb``): a chunked sender and the process's peak memory."""

from __future__ import annotations

import json
import re
import resource
import socket
from select import select as ready


from evidence.audit import Actor

__all__ = ["ADMIN", "MB", "peak_rss_mb", "post_chunked"]

ADMIN = Actor("test-admin", "admin")
MB = 1 << 20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def post_chunked(base: str, path: str, headers: dict[str, str], total: int, prefix: bytes = b"") -> tuple[int, dict, int]:
    """POST ``total`` bytes chunked (no Content-Length) over a raw socket, 1 MiB at a time, until
    the server answers; (status, JSON body, bytes sent before the answer)."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                 f"{head}\r\n".encode())
    sent, chunk = 0, b"%x\r\n%s\r\n" % (MB, b" " * MB)
    sock.settimeout(5)
    if prefix:
        sock.sendall(b"%x\r\n%s\r\n" % (len(prefix), prefix))
    try:
        while sent < total and not ready([sock], [], [], 0)[0]:
            sock.sendall(chunk)
            sent += MB
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    raw = b""
    try:
        while b"\r\n\r\n" not in raw or len(raw.split(b"\r\n\r\n", 1)[1]) < int(
                re.search(rb"content-length: (\d+)", raw, re.I).group(1)):  # type: ignore[union-attr]
            data = sock.recv(65536)
            if not data:
                break
            raw += data
    finally:
        sock.close()
    status = int(raw.split(b" ", 2)[1])
    return status, json.loads(raw.split(b"\r\n\r\n", 1)[1]), sent
