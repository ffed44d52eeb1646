"""A PNG encoder that takes its rows in pieces, compressed on several threads.

Deflate is zlib-ng's (the ``zlib-ng`` package: zlib's API and stream format): its run-length
strategy writes the same bytes' worth of output as zlib's in 0.63x the time on the benchmark
photo (bench/README.md, "The default PNG compression").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import numpy as np
from zlib_ng import zlib_ng as zlib

from ..cpus import default_threads

_PNG_COLOUR = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6}


def adler32_combine(a1: int, a2: int, len2: int) -> int:
    """zlib's adler32_combine: the checksum of A+B from those of A and B and B's length."""
    base = 65521
    rem = len2 % base
    s1 = a1 & 0xFFFF
    s2 = (rem * s1) % base
    s1 = (s1 + (a2 & 0xFFFF) + base - 1) % base
    s2 = (s2 + (a1 >> 16) + (a2 >> 16) + base - rem) % base
    return s1 | (s2 << 16)


def _chunk(f: IO[bytes], tag: bytes, data: bytes) -> None:
    f.write(len(data).to_bytes(4, "big") + tag + data + zlib.crc32(data, zlib.crc32(tag)).to_bytes(4, "big"))


class PngStream:
    """A PNG written in horizontal pieces that are filtered and compressed independently.

    Every piece becomes raw deflate data ending in a sync flush, so the pieces
    can be compressed on several threads (zlib releases the GIL) and
    concatenated into one zlib stream; the Adler-32 of the whole is combined
    from the pieces'. The first row of a piece uses the Sub filter (it cannot
    see the row above), the others Up: on upsampled images Up compresses
    best of the filters numpy applies in one pass (figures in bench/README.md).

    Usage: :meth:`start`, then :meth:`encode` each piece (any thread) and
    :meth:`write` the results in order, then :meth:`finish`.
    """

    def __init__(
        self,
        f: IO[bytes],
        width: int,
        height: int,
        channels: str,
        depth: int,
        level: int,
        *,
        icc_profile: bytes | None = None,
        dpi: tuple[float, float] | None = None,
        strategy: int | None = None,
    ):
        self.f = f
        self.size = (width, height)
        self.channels = channels
        self.depth = depth
        self.level = level
        self.strategy = zlib.Z_DEFAULT_STRATEGY if strategy is None else strategy
        self.icc_profile = icc_profile
        self.dpi = dpi
        self.bpp = len(channels) * depth // 8
        self.adler = 1
        self.rows = 0

    def start(self) -> None:
        w, h = self.size
        f = self.f
        f.write(b"\x89PNG\r\n\x1a\n")
        ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([self.depth, _PNG_COLOUR[self.channels], 0, 0, 0])
        _chunk(f, b"IHDR", ihdr)
        if self.icc_profile:
            _chunk(f, b"iCCP", b"ICC Profile\0\0" + zlib.compress(self.icc_profile))
        if self.dpi:  # as Pillow writes it: pixels per metre
            ppm = [int(d / 0.0254 + 0.5) for d in self.dpi]
            _chunk(f, b"pHYs", ppm[0].to_bytes(4, "big") + ppm[1].to_bytes(4, "big") + b"\x01")
        flevel = (
            0
            if self.level < 2 or self.strategy >= zlib.Z_HUFFMAN_ONLY
            else 1
            if self.level < 6
            else 2
            if self.level == 6
            else 3
        )
        head = (0x78 << 8) | (flevel << 6)
        head += 31 - head % 31
        _chunk(f, b"IDAT", head.to_bytes(2, "big"))

    def filtered(self, stored: np.ndarray) -> np.ndarray:
        """Rows of samples -> (rows, 1 + bytes per row) uint8, each led by its filter type."""
        n = stored.shape[0]
        if self.depth == 16:
            raw = stored.astype(">u2").reshape(n, -1).view(np.uint8)
        else:
            raw = np.ascontiguousarray(stored).reshape(n, -1)
        out = np.empty((n, raw.shape[1] + 1), np.uint8)
        bpp = self.bpp
        out[0, 0] = 1  # Sub
        out[0, 1 : 1 + bpp] = raw[0, :bpp]
        np.subtract(raw[0, bpp:], raw[0, :-bpp], out=out[0, 1 + bpp :])
        if n > 1:
            out[1:, 0] = 2  # Up
            np.subtract(raw[1:], raw[:-1], out=out[1:, 1:])
        return out

    def encode(self, stored: np.ndarray) -> tuple[bytes, int, int]:
        """Filter and compress rows of samples ((rows, W) or (rows, W, C), uint8 or uint16).

        Returns (raw deflate data ending in a sync flush, Adler-32 and length
        of the filtered bytes). Safe to call from several threads at once.
        """
        data = self.filtered(stored)
        z = zlib.compressobj(self.level, zlib.DEFLATED, -15, 8, self.strategy)
        raw = data.data  # a memoryview: zlib reads the array's buffer without a copy
        return z.compress(raw) + z.flush(zlib.Z_SYNC_FLUSH), zlib.adler32(raw), data.size

    def write(self, piece: tuple[bytes, int, int], rows: int) -> None:
        data, adler, length = piece
        _chunk(self.f, b"IDAT", data)
        self.adler = adler32_combine(self.adler, adler, length)
        self.rows += rows

    def finish(self) -> None:
        if self.rows != self.size[1]:
            raise ValueError(f"PNG stream got {self.rows} rows, expected {self.size[1]}")
        end = zlib.compressobj(self.level, zlib.DEFLATED, -15).flush()  # an empty final block
        _chunk(self.f, b"IDAT", end + self.adler.to_bytes(4, "big"))
        _chunk(self.f, b"IEND", b"")


def png_pieces(stored: np.ndarray, rows: int = 64) -> Iterator[np.ndarray]:
    for r in range(0, stored.shape[0], rows):
        yield stored[r : r + rows]


def write_png(f: IO[bytes], stored: np.ndarray, channels: str, depth: int, level: int, opts: dict) -> None:
    """A whole stored array as a PNG, pieces compressed on a few threads."""
    from concurrent.futures import ThreadPoolExecutor

    h, w = stored.shape[:2]
    png = PngStream(
        f,
        w,
        h,
        channels,
        depth,
        level,
        icc_profile=opts.get("icc_profile"),
        dpi=opts.get("dpi"),
        strategy=opts.get("strategy"),
    )
    png.start()
    rows = max(1, (1 << 20) // max(1, stored[0].nbytes))
    pieces = list(png_pieces(stored, rows))
    threads = min(default_threads(), len(pieces))
    if threads > 1:
        with ThreadPoolExecutor(threads) as ex:
            for piece, part in zip(ex.map(png.encode, pieces), pieces, strict=True):
                png.write(piece, len(part))
    else:
        for part in pieces:
            png.write(png.encode(part), len(part))
    png.finish()
