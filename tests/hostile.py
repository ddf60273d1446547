"""Hostile files, made small on disk: what the tests refuse and lab/limits.py measures the refusal of."""

from __future__ import annotations

import zlib
from pathlib import Path

BOMB_GIGABYTES = 8  # zeros behind the gzip bomb: a few MB on disk


def gzip_bomb(path: Path) -> None:
    """A gzip file of BOMB_GIGABYTES of zeros, written a block at a time."""
    block, compressor = bytes(1 << 24), zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        for _ in range(BOMB_GIGABYTES * 64):
            out.write(compressor.compress(block))
        out.write(compressor.flush())


def idx_header_claiming_4_billion(path: Path) -> None:
    header = (0x00000803).to_bytes(4, "big") + (0xFFFFFFFF).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    path.write_bytes(zlib.compress(header, wbits=31))


def png_of_size(width: int, height: int) -> bytes:
    """A valid greyscale PNG of width x height black pixels: a few MB on disk at most."""
    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes(width)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def billion_laughs() -> str:
    """Nine YAML lines whose aliases would expand to 10^9 strings."""
    lines = ["a: &a ['lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol', 'lol']"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
    return "\n".join(lines) + "\n"
