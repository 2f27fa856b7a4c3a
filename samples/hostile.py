"""Hostile inputs for tests and the soak benchmark, made on the fly (nothing stored)."""

from __future__ import annotations

import struct
import zlib

__all__ = ["png_bomb"]


def png_bomb(side: int) -> bytes:
    """A valid PNG of side x side black RGB pixels: a few hundred KB that decode to side² x 3 bytes
    (20,000: 1.2 GB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z, row, parts = zlib.compressobj(9), b"\0" * (side * 3 + 1), []
    for _ in range(side):
        parts.append(z.compress(row))
    parts.append(z.flush())
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
