#!/usr/bin/env python3
"""A reproducible fuzzer for the deconv command line: hostile images, hostile kernels, hostile processes.

    python tools/fuzz.py --seed 20261129                      # 520 image mutants, every hostile kernel
    python tools/fuzz.py --seed 1 --images 60 --kernels 30    # a quick look
    python tools/fuzz.py --seed 1 --out /tmp/r.json --keep /tmp/fails --jobs 2 --timeout 30

Everything is generated from ``--seed`` (one numpy Generator, drawn in a fixed order): the base images,
their mutants, the kernel files and the order of the cases. Each case runs ``deconv`` in a fresh directory
under ``/usr/bin/time``, with a timeout, and is classified (see tools/README.md and ``CLASSES`` below).
Accepted images are compared with an independent decode by the libvips command-line tool. The summary
table goes to stdout, every case to the JSON report, and the files of every case that is not clean to
``--keep DIR/<case id>/`` with a ``repro.sh``.

The fuzzer needs numpy, Pillow and the ``vips`` command (``apt-get install libvips-tools``); it judges
deconv only through its exit code, its output files and libvips, never through deconv's own Python code.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import os
import re
import resource
import select
import shlex
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, features

# ----------------------------------------------------------------------------------------------------------
# classes

CLEAN_REFUSAL = "clean refusal"
CLEAN_ACCEPT = "clean accept"
QUIET_EXIT = "quiet exit"  # process cases only: stdout or stderr unusable, non-zero exit, nothing on stderr
UNCLEAN_REFUSAL = "unclean refusal"
WRONG = "accepted-but-wrong"
DISPUTED = "disputed"
INTERNAL = "internal error"
HANG = "hang"
CRASH = "crash"
MEMORY = "memory"
LEFTOVERS = "leftovers"
UNEXPECTED_EXIT = "unexpected exit"
STRAY_WARNING = "stray warning"  # exit 0, but a Python warning (file.py:N: SomeWarning) reached stderr
FUZZER_ERROR = "fuzzer error"

# The first class a run earns in this order is its class; every one it earns is in its "flags".
PRECEDENCE = [
    FUZZER_ERROR,
    HANG,
    CRASH,
    INTERNAL,
    MEMORY,
    LEFTOVERS,
    WRONG,
    DISPUTED,
    UNCLEAN_REFUSAL,
    STRAY_WARNING,
    UNEXPECTED_EXIT,
    CLEAN_REFUSAL,
    QUIET_EXIT,
    CLEAN_ACCEPT,
]
CLEAN = {CLEAN_REFUSAL, CLEAN_ACCEPT, QUIET_EXIT}

SIGNAL_RE = re.compile(r"terminated by signal (\d+)")
WARNING_RE = re.compile(r"^\S+:\d+: \w*Warning\b|^\w*Warning: ", re.MULTILINE)
VIPS_NOISE = re.compile(r"\(vips:\d+\): |\d\d:\d\d:\d\d\.\d+: ")
ALLOC_RE = re.compile(r"MemoryError|Unable to allocate|Cannot allocate memory|out of memory", re.IGNORECASE)
W, H = 64, 48  # the base images
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # zip members get this date, so that the files are the same on every run
MB = 1 << 20
SYSTEM_TEMP = "new in the system temp dir: "


# ----------------------------------------------------------------------------------------------------------
# PNG, written by hand: every depth, colour type, filter and Adam7 (Pillow writes none of 16-bit RGB, 2-bit
# grey or interlaced files)

PNG_SIG = b"\x89PNG\r\n\x1a\n"
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, data) chunks of a well-formed PNG."""
    out, i = [], 8
    while i + 8 <= len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        out.append((data[i + 4 : i + 8], data[i + 8 : i + 8 + n]))
        i += 12 + n
    return out


def png_join(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return PNG_SIG + b"".join(png_chunk(t, d) for t, d in chunks)


def png_rows(arr: np.ndarray, depth: int) -> np.ndarray:
    """(h, w[, c]) samples -> (h, rowbytes) uint8, packed at ``depth`` bits, big-endian."""
    h = arr.shape[0]
    flat = arr.reshape(h, -1)
    if depth == 16:
        return flat.astype(">u2").view(np.uint8).reshape(h, -1)
    if depth == 8:
        return flat.astype(np.uint8)
    bits = (flat[:, :, None].astype(np.uint8) >> np.arange(depth - 1, -1, -1, dtype=np.uint8)) & 1
    return np.packbits(bits.reshape(h, -1), axis=1)


def png_filter(rows: np.ndarray, bpp: int) -> bytes:
    """Filter each row with type (row index mod 5): None, Sub, Up, Average, Paeth in turn."""
    out = []
    prev = np.zeros(rows.shape[1], np.int32)
    for i, r in enumerate(rows.astype(np.int32)):
        a = np.concatenate([np.zeros(bpp, np.int32), r[:-bpp]])[: r.size]
        c = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])[: r.size]
        b, ft = prev, i % 5
        if ft == 0:
            f = r
        elif ft == 1:
            f = r - a
        elif ft == 2:
            f = r - b
        elif ft == 3:
            f = r - (a + b) // 2
        else:
            p = a + b - c
            pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
            f = r - np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        out.append(bytes([ft]) + (f % 256).astype(np.uint8).tobytes())
        prev = r
    return b"".join(out)


def png_encode(arr, depth, ctype, *, interlace=0, plte=None, trns=None, level=9) -> bytes:
    h, w = arr.shape[:2]
    bpp = max(1, PNG_CHANNELS[ctype] * depth // 8)
    if interlace:
        raw = b"".join(
            png_filter(png_rows(arr[ys::dy, xs::dx], depth), bpp)
            for xs, ys, dx, dy in ADAM7
            if arr[ys::dy, xs::dx].size
        )
    else:
        raw = png_filter(png_rows(arr, depth), bpp)
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))]
    if plte is not None:
        chunks.append((b"PLTE", plte))
    if trns is not None:
        chunks.append((b"tRNS", trns))
    chunks += [(b"IDAT", zlib.compress(raw, level)), (b"IEND", b"")]
    return png_join(chunks)


def exif_orientation(orientation: int) -> bytes:
    """A big-endian TIFF structure holding one IFD entry: Orientation."""
    return b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">HHHIHHI", 1, 0x0112, 3, 1, orientation, 0, 0)


# ----------------------------------------------------------------------------------------------------------
# JPEG, GIF, TIFF structure


def jpeg_segments(data: bytes) -> list[bytes]:
    """SOI, then each marker segment (a scan with its entropy-coded data), EOI; anything after EOI is dropped."""
    segs, i = [data[:2]], 2
    while i + 1 < len(data):
        if data[i] != 0xFF:
            raise ValueError("not at a marker")
        m = data[i + 1]
        if m == 0xFF:
            i += 1
            continue
        if m == 0xD9:
            segs.append(data[i : i + 2])
            break
        if 0xD0 <= m <= 0xD7 or m == 0x01:
            segs.append(data[i : i + 2])
            i += 2
            continue
        (n,) = struct.unpack(">H", data[i + 2 : i + 4])
        end = i + 2 + n
        if m == 0xDA:
            while end + 1 < len(data) and not (data[end] == 0xFF and data[end + 1] not in (0, *range(0xD0, 0xD8))):
                end += 1
        segs.append(data[i:end])
        i = end
    return segs


def gif_descriptor(data: bytes) -> int:
    """Offset of the first image descriptor (0x2C)."""
    i, flags = 13, data[10]
    if flags & 0x80:
        i += 3 << ((flags & 7) + 1)
    while i < len(data):
        if data[i] == 0x2C:
            return i
        if data[i] != 0x21:
            break
        i += 2
        while data[i]:
            i += data[i] + 1
        i += 1
    raise ValueError("no image descriptor")


def tiff_ifd(data: bytes) -> tuple[str, dict[int, tuple[int, int, int]]]:
    """Byte order and {tag: (entry offset, type, count)} of the first IFD."""
    e = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(e + "I", data[4:8])
    (n,) = struct.unpack(e + "H", data[ifd : ifd + 2])
    entries = {}
    for k in range(n):
        off = ifd + 2 + 12 * k
        tag, typ, cnt = struct.unpack(e + "HHI", data[off : off + 8])
        entries[tag] = (off, typ, cnt)
    return e, entries


def tiff_set(buf: bytearray, e: str, entry: tuple[int, int, int], values: list[int]) -> None:
    """Overwrite every value of a SHORT or LONG entry, in place (count and type unchanged)."""
    off, typ, cnt = entry
    size, code, top = (2, "H", 0xFFFF) if typ == 3 else (4, "I", 0xFFFFFFFF)
    base = off + 8 if cnt * size <= 4 else struct.unpack(e + "I", buf[off + 8 : off + 12])[0]
    for k in range(cnt):
        struct.pack_into(e + code, buf, base + k * size, min(int(values[k % len(values)]), top))


def tiff_many_pages(data: bytes, pages: int) -> bytes:
    """The file with ``pages - 1`` more 1x1 grey pages chained after its first IFD."""
    e, entries = tiff_ifd(data)
    (ifd,) = struct.unpack(e + "I", data[4:8])
    (n,) = struct.unpack(e + "H", data[ifd : ifd + 2])
    next_ptr = ifd + 2 + 12 * n
    buf = bytearray(data)
    start = len(buf) + (len(buf) & 1)
    buf += b"\0" * (start - len(buf))
    tags = [(256, 3, 1), (257, 3, 1), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 0), (277, 3, 1)]
    tags += [(278, 3, 1), (279, 4, 1)]
    size = 2 + 12 * len(tags) + 4 + 2  # IFD, next pointer, one data byte and a pad byte
    struct.pack_into(e + "I", buf, next_ptr, start)
    for p in range(pages - 1):
        at = start + p * size
        data_at = at + size - 2
        ifd_bytes = struct.pack(e + "H", len(tags))
        for tag, typ, val in tags:
            v = data_at if tag == 273 else val
            field = struct.pack(e + "H", v) + b"\0\0" if typ == 3 else struct.pack(e + "I", v)
            ifd_bytes += struct.pack(e + "HHI", tag, typ, 1) + field
        nxt = at + size if p < pages - 2 else 0
        buf += ifd_bytes + struct.pack(e + "I", nxt) + bytes([(p * 37) & 255, 0])
    return bytes(buf)


# ----------------------------------------------------------------------------------------------------------
# base images


def make_bases(rng: np.random.Generator) -> dict[str, dict]:
    """Small images in every format and layout deconv reads: name -> {fmt, ext, data, note}."""
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([x * 4, y * 5, (x + y) * 2], -1) + rng.integers(0, 24, (H, W, 3))
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    grey = np.clip(x * 3 + y * 2 + rng.integers(0, 16, (H, W)), 0, 255).astype(np.uint8)
    rgb16 = (rgb.astype(np.uint16) * 257) ^ rng.integers(0, 256, rgb.shape, dtype=np.uint16)
    grey16 = (grey.astype(np.uint16) * 257) ^ rng.integers(0, 256, grey.shape, dtype=np.uint16)
    alpha = np.clip(x * 5 - 40 + rng.integers(0, 9, (H, W)), 0, 255).astype(np.uint8)
    idx = ((x // 4 + y // 6) % 16).astype(np.uint8)
    plte = rng.integers(0, 256, (16, 3), dtype=np.uint8).tobytes()
    trns = bytes([0, 255, 128, 64] + [255] * 8)  # 12 of 16 entries: the rest are opaque

    bases: dict[str, dict] = {}

    def add(name, fmt, ext, data, note):
        bases[name] = {"fmt": fmt, "ext": ext, "data": data, "note": note}

    add("png_rgb8", "png", "png", png_encode(rgb, 8, 2), "8-bit RGB")
    add("png_rgb16", "png", "png", png_encode(rgb16, 16, 2), "16-bit RGB")
    add("png_grey8", "png", "png", png_encode(grey, 8, 0), "8-bit grey")
    add("png_grey16", "png", "png", png_encode(grey16, 16, 0), "16-bit grey")
    for d in (1, 2, 4):
        add(f"png_grey{d}bit", "png", "png", png_encode(grey >> (8 - d), d, 0), f"{d}-bit grey")
    add("png_pal_trns", "png", "png", png_encode(idx, 8, 3, plte=plte, trns=trns), "palette with tRNS")
    add("png_rgba8", "png", "png", png_encode(np.dstack([rgb, alpha]), 8, 6), "8-bit RGBA")
    add("png_la8", "png", "png", png_encode(np.dstack([grey, alpha]), 8, 4), "8-bit grey+alpha")
    add("png_adam7", "png", "png", png_encode(rgb, 8, 2, interlace=1), "8-bit RGB, Adam7")

    def pil(arr, fmt, **kw):
        b = io.BytesIO()
        Image.fromarray(arr).save(b, fmt, **kw)
        return b.getvalue()

    add("jpg_base", "jpeg", "jpg", pil(rgb, "JPEG", quality=90, subsampling=0), "baseline 4:4:4")
    add("jpg_prog", "jpeg", "jpg", pil(rgb, "JPEG", quality=90, subsampling=0, progressive=True), "progressive")
    add("jpg_grey", "jpeg", "jpg", pil(grey, "JPEG", quality=90), "grey")
    add("jpg_420", "jpeg", "jpg", pil(rgb, "JPEG", quality=90, subsampling=2), "baseline 4:2:0")
    add("tif_deflate", "tiff", "tif", pil(rgb, "TIFF", compression="tiff_adobe_deflate"), "RGB deflate")
    add("tif_raw", "tiff", "tif", pil(rgb, "TIFF"), "RGB uncompressed")
    add("tif_grey16", "tiff", "tif", pil(grey16, "TIFF"), "16-bit grey")
    gif = io.BytesIO()
    Image.fromarray(rgb).quantize(64, dither=Image.Dither.NONE).save(gif, "GIF", transparency=0)
    add("gif", "gif", "gif", gif.getvalue(), "64 colours, transparency index 0")
    if features.check("webp"):
        add("webp_lossless", "webp", "webp", pil(rgb, "WEBP", lossless=True), "lossless RGB")
    add("bmp", "bmp", "bmp", pil(rgb, "BMP"), "24-bit")
    add("ppm", "pnm", "ppm", pil(rgb, "PPM"), "P6 8-bit")
    add("pgm", "pnm", "pgm", pil(grey, "PPM"), "P5 8-bit")
    add("pgm16", "pnm", "pgm", b"P5\n%d %d\n65535\n" % (W, H) + grey16.astype(">u2").tobytes(), "P5 16-bit")
    add("tga", "tga", "tga", pil(rgb, "TGA"), "24-bit")
    return bases


# ----------------------------------------------------------------------------------------------------------
# image mutations: each takes (data, rng, base name) and returns (new data, detail)


def pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def m_truncate(data, rng, base):
    cut = int(rng.integers(0, min(len(data), 96))) if rng.random() < 0.3 else int(rng.integers(0, len(data)))
    return data[:cut], f"cut at {cut} of {len(data)}"


def m_byteflip(data, rng, base):
    buf = bytearray(data)
    n = int(rng.integers(1, 11))
    where = sorted(int(i) for i in rng.choice(len(buf), size=n, replace=False))
    for i in where:
        buf[i] ^= int(rng.integers(1, 256))
    return bytes(buf), f"{n} bytes at {where}"


def m_original(data, rng, base):
    return data, "unmutated"


def _idat_split(chunks):
    """(chunks before the first IDAT, joined IDAT data, chunks after the last IDAT)."""
    k = [i for i, (t, _) in enumerate(chunks) if t == b"IDAT"]
    return chunks[: k[0]], b"".join(chunks[i][1] for i in k), chunks[k[-1] + 1 :]


def _ihdr(chunks):
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    return w, h, depth, ctype, interlace


def m_png_idat_random(data, rng, base):
    head, idat, tail = _idat_split(png_chunks(data))
    n = len(idat) if rng.random() < 0.5 else int(rng.integers(1, 4 * len(idat)))
    return png_join(head + [(b"IDAT", rng.bytes(n))] + tail), f"{n} random bytes, CRC recomputed"


def m_png_idat_bitflip(data, rng, base):
    head, idat, tail = _idat_split(png_chunks(data))
    buf = bytearray(idat)
    n = int(rng.integers(1, 11))
    bits = sorted(int(b) for b in rng.choice(len(buf) * 8, size=n, replace=False))
    for b in bits:
        buf[b // 8] ^= 1 << (b % 8)
    return png_join(head + [(b"IDAT", bytes(buf))] + tail), f"bits {bits} of the zlib stream, CRC recomputed"


def m_png_zlib_fewer_rows(data, rng, base):
    chunks = png_chunks(data)
    w, h, depth, ctype, _ = _ihdr(chunks)
    head, idat, tail = _idat_split(chunks)
    raw = zlib.decompress(idat)
    stride = 1 + (w * PNG_CHANNELS[ctype] * depth + 7) // 8
    rows = int(rng.integers(0, h))
    cut = rows * stride + (int(rng.integers(0, stride)) if rng.random() < 0.5 else 0)
    return png_join(head + [(b"IDAT", zlib.compress(raw[:cut]))] + tail), f"{cut} of {len(raw)} bytes ({rows} rows)"


def m_png_zlib_more_data(data, rng, base):
    chunks = png_chunks(data)
    w, h, depth, ctype, _ = _ihdr(chunks)
    head, idat, tail = _idat_split(chunks)
    raw = zlib.decompress(idat)
    stride = 1 + (w * PNG_CHANNELS[ctype] * depth + 7) // 8
    if rng.random() < 0.5:
        n = int(rng.integers(1, 200))
        extra, what = (b"\0" * stride) * n, f"{n} extra rows"
    else:
        n = int(rng.integers(1, 5000))
        extra, what = rng.bytes(n), f"{n} random bytes"
    return png_join(head + [(b"IDAT", zlib.compress(raw + extra))] + tail), what + " after the image data"


def m_png_bad_filter(data, rng, base):
    chunks = png_chunks(data)
    w, h, depth, ctype, interlace = _ihdr(chunks)
    head, idat, tail = _idat_split(chunks)
    raw = bytearray(zlib.decompress(idat))
    stride = 1 + (w * PNG_CHANNELS[ctype] * depth + 7) // 8
    row = int(rng.integers(0, h)) if not interlace else 0
    ft = int(rng.integers(5, 256))
    raw[row * stride] = ft
    return png_join(head + [(b"IDAT", zlib.compress(bytes(raw)))] + tail), f"filter type {ft} on row {row}"


def m_png_ihdr_dims(data, rng, base):
    chunks = png_chunks(data)
    dims = [(13000, 13000), (W, 13000), (13000, H), (W + 1, H), (W, H - 1), (W, H + 1), (1, 1), (0, H)]
    dims += [(W, 0), (2**31 - 1, 1), (2**31, 2**31), (2**32 - 1, 2**32 - 1), (9000, 9000)]
    w, h = pick(rng, dims)
    chunks[0] = (b"IHDR", struct.pack(">II", w, h) + chunks[0][1][8:])
    return png_join(chunks), f"IHDR {w}x{h}, CRC recomputed"


def m_png_ihdr_depth(data, rng, base):
    chunks = png_chunks(data)
    ihdr = bytearray(chunks[0][1])
    field, value = pick(rng, [(8, 16), (8, 3), (8, 0), (8, 4), (9, 1), (9, 5), (9, 7), (9, 3), (10, 1), (11, 1)])
    ihdr[field] = value
    chunks[0] = (b"IHDR", bytes(ihdr))
    name = {8: "bit depth", 9: "colour type", 10: "compression method", 11: "filter method"}[field]
    return png_join(chunks), f"{name} {value}, CRC recomputed"


def m_png_interlace2(data, rng, base):
    chunks = png_chunks(data)
    ihdr = bytearray(chunks[0][1])
    ihdr[12] = 2
    chunks[0] = (b"IHDR", bytes(ihdr))
    return png_join(chunks), "interlace method 2, CRC recomputed"


def m_png_chunk_reorder(data, rng, base):
    chunks = png_chunks(data)
    how = pick(rng, ["IDAT first", "IEND before IDAT", "IHDR last", "reversed", "PLTE after IDAT"])
    if how == "IDAT first":
        chunks = [c for c in chunks if c[0] == b"IDAT"] + [c for c in chunks if c[0] != b"IDAT"]
    elif how == "IEND before IDAT":
        chunks = [chunks[0], (b"IEND", b"")] + chunks[1:-1]
    elif how == "IHDR last":
        chunks = chunks[1:] + chunks[:1]
    elif how == "reversed":
        chunks = chunks[::-1]
    else:
        plte = [c for c in chunks if c[0] in (b"PLTE", b"tRNS")] or [(b"PLTE", bytes(48))]
        chunks = [c for c in chunks if c[0] not in (b"PLTE", b"tRNS", b"IEND")] + plte + [(b"IEND", b"")]
    return png_join(chunks), how


def m_png_chunk_remove(data, rng, base):
    chunks = png_chunks(data)
    kinds = [b"IHDR", b"IDAT", b"IEND"] + [t for t in (b"PLTE", b"tRNS") if any(c[0] == t for c in chunks)]
    kind = pick(rng, kinds)
    return png_join([c for c in chunks if c[0] != kind]), f"no {kind.decode()}"


def m_png_idat_dup(data, rng, base):
    chunks = png_chunks(data)
    head, idat, tail = _idat_split(chunks)
    k = int(rng.integers(2, 7))
    cuts = sorted(int(c) for c in rng.choice(np.arange(1, len(idat)), size=k - 1, replace=False))
    pieces = [idat[a:b] for a, b in zip([0, *cuts], [*cuts, len(idat)], strict=True)]
    how = pick(rng, ["run duplicated", "all twice", "text between"])
    if how == "run duplicated":
        a = int(rng.integers(0, k))
        b = int(rng.integers(a + 1, k + 1))
        pieces = pieces[:b] + pieces[a:b] + pieces[b:]
        detail = f"{k} IDATs, pieces {a}..{b - 1} repeated"
        mid = [(b"IDAT", p) for p in pieces]
    elif how == "all twice":
        mid = [(b"IDAT", p) for p in pieces + pieces]
        detail = f"{k} IDATs, the whole run twice"
    else:
        mid = [(b"IDAT", p) for p in pieces]
        mid.insert(1, (b"tEXt", b"Comment\0between IDATs"))
        detail = f"{k} IDATs with a tEXt after the first"
    return png_join(head + mid + tail), detail


def m_png_idat_split(data, rng, base):
    """Valid: the zlib stream in many IDATs, some of them empty."""
    head, idat, tail = _idat_split(png_chunks(data))
    k = int(rng.integers(2, 40))
    cuts = sorted(int(c) for c in rng.integers(0, len(idat) + 1, size=k - 1))
    pieces = [idat[a:b] for a, b in zip([0, *cuts], [*cuts, len(idat)], strict=True)]
    return png_join(head + [(b"IDAT", p) for p in pieces] + tail), f"{k} IDATs (valid)"


def m_png_crc_bad(data, rng, base):
    chunks = png_chunks(data)
    i = int(rng.integers(0, len(chunks)))
    out = bytearray(PNG_SIG)
    for j, (t, d) in enumerate(chunks):
        c = png_chunk(t, d)
        if j == i:
            c = c[:-4] + struct.pack(">I", (zlib.crc32(t + d) ^ 0x5A5A5A5A) & 0xFFFFFFFF)
        out += c
    return bytes(out), f"CRC of {chunks[i][0].decode()} wrong"


def m_png_trailing(data, rng, base):
    n = int(rng.integers(1, 3000))
    return data + rng.bytes(n), f"{n} random bytes after IEND"


def m_png_exif_orient(data, rng, base):
    """Valid: an eXIf chunk with an orientation that deconv must apply (libvips' autorot does)."""
    chunks = png_chunks(data)
    o = int(rng.integers(2, 9))
    chunks.insert(1, (b"eXIf", exif_orientation(o)))
    return png_join(chunks), f"eXIf orientation {o} (valid)"


def _jpeg_sof(segs):
    return next(i for i, s in enumerate(segs) if s[1] in (0xC0, 0xC1, 0xC2))


def m_jpeg_sof_dims(data, rng, base):
    segs = jpeg_segments(data)
    i = _jpeg_sof(segs)
    h, w = pick(rng, [(8000, 8000), (65535, 65535), (0, W), (H, 0), (H + 8, W), (H - 8, W), (1, 1), (30000, 30000)])
    s = bytearray(segs[i])
    struct.pack_into(">HH", s, 5, h, w)
    segs[i] = bytes(s)
    return b"".join(segs), f"SOF {w}x{h}"


def m_jpeg_sof_ncomp(data, rng, base):
    segs = jpeg_segments(data)
    i = _jpeg_sof(segs)
    s = bytearray(segs[i])
    s[9] = n = pick(rng, [0, 2, 4, 255])
    segs[i] = bytes(s)
    return b"".join(segs), f"SOF says {n} components"


def m_jpeg_segment_remove(data, rng, base):
    segs = jpeg_segments(data)
    i = int(rng.integers(1, len(segs)))
    name = f"FF{segs[i][1]:02X}"
    return b"".join(segs[:i] + segs[i + 1 :]), f"segment {i} ({name}) removed"


def m_jpeg_segment_dup(data, rng, base):
    segs = jpeg_segments(data)
    i = int(rng.integers(1, len(segs)))
    n = int(rng.integers(2, 6))
    return b"".join(segs[:i] + [segs[i]] * n + segs[i + 1 :]), f"segment {i} (FF{segs[i][1]:02X}) x{n}"


def m_jpeg_scan_repeat(data, rng, base):
    segs = jpeg_segments(data)
    last = max(i for i, s in enumerate(segs) if s[1] == 0xDA)
    n = 20000 if rng.random() < 0.7 else int(rng.integers(100, 5000))
    return b"".join(segs[:last] + [segs[last]] * n + segs[last + 1 :]), f"last scan x{n}"


def m_jpeg_no_eoi(data, rng, base):
    segs = jpeg_segments(data)
    return b"".join(s for s in segs if s[:2] != b"\xff\xd9"), "EOI removed"


def m_jpeg_exif_orient(data, rng, base):
    """Valid: an APP1 Exif orientation that deconv must apply."""
    o = int(rng.integers(2, 9))
    body = b"Exif\0\0" + exif_orientation(o)
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:], f"Exif orientation {o} (valid)"


def m_gif_screen(data, rng, base):
    w, h = pick(rng, [(13000, 13000), (65535, 65535), (0, 0), (1, 1), (W, 13000)])
    return data[:6] + struct.pack("<HH", w, h) + data[10:], f"logical screen {w}x{h}"


def m_gif_frame_offset(data, rng, base):
    at = gif_descriptor(data)
    x, y = pick(rng, [(60000, 60000), (W // 2, H // 2), (1, 1), (65535, 0), (0, 65535), (W, H)])
    return data[: at + 1] + struct.pack("<HH", x, y) + data[at + 5 :], f"frame at {x},{y}"


def m_gif_frame_size(data, rng, base):
    at = gif_descriptor(data)
    w, h = pick(rng, [(13000, 13000), (65535, 65535), (0, 0), (W * 2, H * 2), (W - 1, H), (W, H + 1)])
    return data[: at + 5] + struct.pack("<HH", w, h) + data[at + 9 :], f"frame {w}x{h}"


def m_gif_lzw_code(data, rng, base):
    at = gif_descriptor(data)
    flags = data[at + 9]
    lzw = at + 10 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
    v = pick(rng, [0, 1, 12, 13, 255])
    return data[:lzw] + bytes([v]) + data[lzw + 1 :], f"LZW minimum code size {v}"


def m_gif_no_trailer(data, rng, base):
    return data.rstrip(b";"), "trailer removed"


def m_tiff_dims(data, rng, base):
    e, entries = tiff_ifd(data)
    tag = pick(rng, [256, 257, 256, 257])
    v = pick(rng, [13000, 100000, 0, 2**32 - 1, 2**31, W + 1, H + 1, 65535, 1])
    buf = bytearray(data)
    off = entries[tag][0]
    struct.pack_into(e + "HHII", buf, off, tag, 4, 1, v)
    if rng.random() < 0.5:  # both, square
        other = 257 if tag == 256 else 256
        struct.pack_into(e + "HHII", buf, entries[other][0], other, 4, 1, v)
        return bytes(buf), f"width and height {v}"
    return bytes(buf), f"{'width' if tag == 256 else 'height'} {v}"


def m_tiff_strips(data, rng, base):
    e, entries = tiff_ifd(data)
    buf = bytearray(data)
    tag = pick(rng, [273, 279])
    if tag == 273:
        v = pick(rng, [0, len(data) + 1000, 2**32 - 1, int(rng.integers(0, len(data))), 8])
        name = "strip offsets"
    else:
        v = pick(rng, [0, 1, 2**32 - 1, len(data) * 10, int(rng.integers(0, 4000))])
        name = "strip byte counts"
    tiff_set(buf, e, entries[tag], [v])
    return bytes(buf), f"{name} {v}"


def m_tiff_bps(data, rng, base):
    e, entries = tiff_ifd(data)
    buf = bytearray(data)
    v = pick(rng, [0, 1, 7, 12, 32, 64, 16, 8])
    tiff_set(buf, e, entries[258], [v])
    return bytes(buf), f"bits per sample {v}"


def m_tiff_many_pages(data, rng, base):
    n = 5000 if rng.random() < 0.7 else int(rng.integers(2, 500))
    return tiff_many_pages(data, n), f"{n} pages (1x1 after the first)"


def m_bmp_dims(data, rng, base):
    w, h = pick(rng, [(13000, 13000), (-W, H), (W, -H), (0, H), (W, 0), (2**31 - 1, 1), (W + 1, H), (W, H + 1)])
    return data[:18] + struct.pack("<ii", w, h) + data[26:], f"header {w}x{h}" + (
        " (top-down, valid)" if h == -H else ""
    )


def m_bmp_bpp(data, rng, base):
    v = pick(rng, [0, 1, 7, 32, 64, 16])
    return data[:28] + struct.pack("<H", v) + data[30:], f"bits per pixel {v}"


def m_bmp_offbits(data, rng, base):
    v = pick(rng, [0, 2**31, len(data) + 10, 14, len(data) - 10])
    return data[:10] + struct.pack("<I", v) + data[14:], f"pixel data offset {v}"


def m_webp_riff_size(data, rng, base):
    v = pick(rng, [0, 4, len(data) - 8 + 1000, 2**32 - 1, len(data) - 18, 2**31])
    return data[:4] + struct.pack("<I", v) + data[8:], f"RIFF size {v} (file {len(data) - 8})"


def m_webp_chunk_size(data, rng, base):
    v = pick(rng, [0, 1, len(data), 2**32 - 1, len(data) - 40])
    return data[:16] + struct.pack("<I", v) + data[20:], f"{data[12:16].decode('latin1')} chunk size {v}"


def m_webp_dims(data, rng, base):
    if data[12:16] != b"VP8L":
        return data, "not VP8L (unchanged)"
    w, h = pick(rng, [(16384, 16384), (1, 1), (W + 1, H), (W, H + 1), (8000, 8000)])
    (bits,) = struct.unpack("<I", data[21:25])
    bits = (bits & ~0x0FFFFFFF) | (w - 1) | ((h - 1) << 14)
    return data[:21] + struct.pack("<I", bits) + data[25:], f"VP8L {w}x{h}"


def _pnm_split(data):
    m = re.match(rb"(P[56])\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    return m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), data[m.end() :]


def m_pnm_dims(data, rng, base):
    magic, w, h, mx, body = _pnm_split(data)
    w, h = pick(rng, [(13000, 13000), (0, h), (w + 1, h), (w, h - 1), (99999999999, 1), (w, h + 1), (-1, h)])
    return b"%s\n%d %d\n%d\n" % (magic, w, h, mx) + body, f"header {w}x{h}"


def m_pnm_maxval(data, rng, base):
    magic, w, h, mx, body = _pnm_split(data)
    v = pick(rng, [0, 1, 15, 256, 65536, 100000, 127])
    return b"%s\n%d %d\n%d\n" % (magic, w, h, v) + body, f"maxval {v} (was {mx})"


def m_tga_dims(data, rng, base):
    w, h = pick(rng, [(65535, 65535), (0, H), (W + 1, H), (W, H + 1), (13000, 13000)])
    return data[:12] + struct.pack("<HH", w, h) + data[16:], f"header {w}x{h}"


GENERIC = {"truncate": m_truncate, "byteflip": m_byteflip}
# format -> {kind: (function, weight, applies to base?)}
SPECIFIC = {
    "png": {
        "png_idat_random": (m_png_idat_random, 3, None),
        "png_idat_bitflip": (m_png_idat_bitflip, 4, None),
        "png_zlib_fewer_rows": (m_png_zlib_fewer_rows, 4, lambda b: b != "png_adam7"),
        "png_zlib_more_data": (m_png_zlib_more_data, 3, lambda b: b != "png_adam7"),
        "png_bad_filter": (m_png_bad_filter, 2, None),
        "png_ihdr_dims": (m_png_ihdr_dims, 4, None),
        "png_ihdr_depth": (m_png_ihdr_depth, 2, None),
        "png_interlace2": (m_png_interlace2, 1, None),
        "png_chunk_reorder": (m_png_chunk_reorder, 2, None),
        "png_chunk_remove": (m_png_chunk_remove, 2, None),
        "png_idat_dup": (m_png_idat_dup, 3, None),
        "png_idat_split": (m_png_idat_split, 1, None),
        "png_crc_bad": (m_png_crc_bad, 2, None),
        "png_trailing": (m_png_trailing, 1, None),
        "png_exif_orient": (m_png_exif_orient, 1, None),
    },
    "jpeg": {
        "jpeg_sof_dims": (m_jpeg_sof_dims, 4, None),
        "jpeg_sof_ncomp": (m_jpeg_sof_ncomp, 1, None),
        "jpeg_segment_remove": (m_jpeg_segment_remove, 4, None),
        "jpeg_segment_dup": (m_jpeg_segment_dup, 3, None),
        "jpeg_scan_repeat": (m_jpeg_scan_repeat, 1, lambda b: b == "jpg_prog"),
        "jpeg_no_eoi": (m_jpeg_no_eoi, 2, None),
        "jpeg_exif_orient": (m_jpeg_exif_orient, 1, None),
    },
    "gif": {
        "gif_screen": (m_gif_screen, 3, None),
        "gif_frame_offset": (m_gif_frame_offset, 3, None),
        "gif_frame_size": (m_gif_frame_size, 2, None),
        "gif_lzw_code": (m_gif_lzw_code, 1, None),
        "gif_no_trailer": (m_gif_no_trailer, 1, None),
    },
    "tiff": {
        "tiff_dims": (m_tiff_dims, 4, None),
        "tiff_strips": (m_tiff_strips, 4, None),
        "tiff_bps": (m_tiff_bps, 2, None),
        "tiff_many_pages": (m_tiff_many_pages, 1, lambda b: b == "tif_raw"),
    },
    "bmp": {
        "bmp_dims": (m_bmp_dims, 3, None),
        "bmp_bpp": (m_bmp_bpp, 1, None),
        "bmp_offbits": (m_bmp_offbits, 1, None),
    },
    "webp": {
        "webp_riff_size": (m_webp_riff_size, 3, None),
        "webp_chunk_size": (m_webp_chunk_size, 2, None),
        "webp_dims": (m_webp_dims, 2, None),
    },
    "pnm": {"pnm_dims": (m_pnm_dims, 3, None), "pnm_maxval": (m_pnm_maxval, 2, None)},
    "tga": {"tga_dims": (m_tga_dims, 2, None)},
}
# the kinds a base with these properties must get at least once
MANDATORY_PAIRS = [
    ("png_rgb8", "png_zlib_fewer_rows"),
    ("png_rgb16", "png_zlib_fewer_rows"),
    ("png_grey16", "png_zlib_fewer_rows"),
]


def specific_kinds(bases, name):
    return {k: v for k, v in SPECIFIC.get(bases[name]["fmt"], {}).items() if v[2] is None or v[2](name)}


def image_cases(rng: np.random.Generator, bases: dict, n: int) -> list[dict]:
    names = sorted(bases)
    # every base unmutated, truncated and flipped; every specific kind on one of its bases; a few pairs
    plan = [(b, "original") for b in names] + [(b, k) for b in names for k in GENERIC]
    for fmt in sorted(SPECIFIC):
        for kind in sorted(SPECIFIC[fmt]):
            fit = [b for b in names if kind in specific_kinds(bases, b)]
            if fit:
                plan.append((pick(rng, fit), kind))
    plan += MANDATORY_PAIRS
    plan = [plan[i] for i in rng.permutation(len(plan))]
    while len(plan) < n:
        b = pick(rng, names)
        kinds = specific_kinds(bases, b)
        if not kinds or rng.random() < 0.4:
            plan.append((b, pick(rng, sorted(GENERIC))))
        else:
            ks = sorted(kinds)
            w = np.array([kinds[k][1] for k in ks], float)
            plan.append((b, ks[int(rng.choice(len(ks), p=w / w.sum()))]))
    cases = []
    for i, (b, kind) in enumerate(plan[:n]):
        base = bases[b]
        fn = m_original if kind == "original" else GENERIC.get(kind) or SPECIFIC[base["fmt"]][kind][0]
        data, detail = fn(base["data"], rng, b)
        name = f"mutant.{base['ext']}"
        cases.append(
            {
                "id": f"img-{i:04d}",
                "group": "image",
                "fmt": base["fmt"],
                "base": b,
                "kind": kind,
                "detail": detail,
                "files": {name: data},
                "args": ["upsample", "{in}/" + name, "-k", "1x1:1", "-s", "1", "--alpha", "separate", "-o", "OUT.png"],
                "check": "identity",
                "input": name,
                "out": "OUT.png",
            }
        )
    return cases


# ----------------------------------------------------------------------------------------------------------
# hostile kernels

PWN = b"cposix\nsystem\n(S'touch PWNED'\ntR."  # a pickle that, if loaded, leaves PWNED in the working directory


def npy_raw(descr="<f8", shape="(3, 3)", data=b"", *, fortran="False", header=None, version=(1, 0), magic=b"\x93NUMPY"):
    text = header if header is not None else f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    hb = text.encode("latin1")
    size = 2 if version[0] == 1 else 4
    hb += b" " * ((-(len(magic) + 2 + size + len(hb) + 1)) % 64) + b"\n"
    return magic + bytes(version) + struct.pack("<H" if size == 2 else "<I", len(hb)) + hb + data


def npy_of(arr: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, arr, allow_pickle=False)
    return b.getvalue()


def npz_of(members: dict[str, bytes], compress=True) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name, date_time=ZIP_TIME), data, compress_type=z.compression)
    return b.getvalue()


def st_raw(header, data=b"", hlen=None) -> bytes:
    hb = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(hb) if hlen is None else hlen) + hb + data


def st_of(tensors: dict[str, np.ndarray], dtype_names=None) -> bytes:
    names = {"float32": "F32", "float16": "F16", "float64": "F64", "int32": "I32", "int64": "I64", "uint8": "U8"}
    header, blob = {}, b""
    for k, a in tensors.items():
        raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        dt = (dtype_names or {}).get(k, names[a.dtype.name])
        header[k] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    return st_raw(header, blob)


def torch_like_zip() -> bytes:
    return npz_of({"archive/data.pkl": b"\x80\x02" + PWN, "archive/version": b"3\n"}, compress=False)


def write_zip_bomb(path: Path, shape: tuple[int, int], total_bytes: int) -> None:
    """An .npz whose one member inflates to ``total_bytes`` (its npy header says ``shape``), written in chunks."""
    member = zipfile.ZipInfo("k.npy", date_time=ZIP_TIME)
    member.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as z, z.open(member, "w", force_zip64=True) as f:
        head = npy_raw("<f8", str(tuple(shape)))
        f.write(head)
        left = total_bytes - len(head)
        chunk = bytes(16 * MB)
        while left > 0:
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)


def text_rows(rows) -> bytes:
    return "".join(" ".join(str(v) for v in r) + "\n" for r in rows).encode()


def kernel_catalogue(rng: np.random.Generator) -> list[dict]:
    """Every hostile kernel: {kind, fmt, detail, files, kernel, extra, image, k (expected kh, kw or None), ...}."""
    cat: list[dict] = []
    k3 = np.round(rng.random((3, 3)), 3)
    k3 = k3 / k3.sum()

    def add(fmt, kind, kernel, files=None, *, extra=(), k=None, image="small.png", cout=None, kbytes=0, stride="2"):
        cat.append(
            {
                "fmt": fmt,
                "kind": kind,
                "kernel": kernel,
                "files": files or {},
                "extra": list(extra),
                "k": k,
                "image": image,
                "cout": cout,
                "kbytes": kbytes,
                "stride": stride,
            }
        )

    def npy(kind, data, k=None, **kw):
        add("npy", kind, "{in}/k.npy", {"k.npy": data}, k=k, **kw)

    # ---- .npy
    npy("valid 3x3 float64", npy_of(k3), (3, 3))
    npy("valid big-endian >f4", npy_of(k3.astype(">f4")), (3, 3))
    npy(
        "valid fortran order 2x3",
        npy_raw("<f8", "(2, 3)", np.asfortranarray(k3[:2]).tobytes("F"), fortran="True"),
        (2, 3),
    )
    for dt in ("int8", "uint64", "float16", "bool", "int32"):
        npy(f"dtype {dt}", npy_of((k3 * 100).astype(dt)), (3, 3))
    npy("dtype complex128", npy_of(k3.astype(complex)))
    npy("dtype <U3", npy_of(np.array([["1", "2", "3"]] * 3)))
    npy("dtype object (pickle that runs `touch PWNED`)", npy_raw("|O", "(3, 3)", b"\x80\x02" + PWN))
    npy("dtype V8", npy_raw("|V8", "(3, 3)", bytes(72)))
    npy("structured dtype", npy_raw("[('a', '<f4'), ('b', '<f4')]", "(3, 3)", bytes(72)))
    npy("dtype datetime64", npy_raw("<M8[s]", "(3, 3)", bytes(72)))
    npy("dtype nonsense", npy_raw("<q9", "(3, 3)", bytes(72)))
    npy("shape (100000, 100000) f4, no data", npy_raw("<f4", "(100000, 100000)"))
    npy("shape (100000, 100000) f8, 1 MB of data", npy_raw("<f8", "(100000, 100000)", bytes(MB)))
    npy("shape (2**31, 2**31)", npy_raw("<f4", "(2147483648, 2147483648)", bytes(64)))
    npy("shape (2**62, 4): size overflows", npy_raw("<f8", "(4611686018427387904, 4)", bytes(64)))
    npy("shape (1, 100000000) f4, no data", npy_raw("<f4", "(1, 100000000)"))
    npy("shape (-1, 3)", npy_raw("<f8", "(-1, 3)", bytes(72)))
    npy("shape ()", npy_raw("<f8", "()", bytes(8)))
    npy("shape (0, 3)", npy_raw("<f8", "(0, 3)"))
    npy("shape (3, 0)", npy_raw("<f8", "(3, 0)"))
    npy("1-D shape (5,)", npy_of(np.ones(5)))
    npy("5-D shape", npy_of(np.ones((2, 2, 2, 2, 2))))
    npy("3-D (3, 3, 3): one kernel per channel", npy_of(np.stack([k3] * 3)), (3, 3))
    npy("3-D (4, 3, 3): wrong channel count", npy_of(np.stack([k3] * 4)))
    npy("4-D (3, 1, 4, 4) depthwise layer", npy_of(rng.random((3, 1, 4, 4)) / 4), (4, 4), cout=3)
    npy("4-D (3, 2, 4, 4) layer, 2 outputs", npy_of(rng.random((3, 2, 4, 4)) / 8), (4, 4), cout=2)
    npy("4-D (5, 1, 4, 4) layer, wrong C_in", npy_of(rng.random((5, 1, 4, 4))))
    npy("truncated data (40 of 72 bytes)", npy_of(k3)[:-32])
    npy("trailing bytes after the data", npy_of(k3) + b"\0" * 1000)
    npy("header not a dict", npy_raw(header="[1, 2, 3]"))
    npy("header not Python", npy_raw(header="{'descr': '<f8', 'fortran_order': False, 'shape': (3, 3)"))
    npy("header nested 5000 deep", npy_raw(header="{'descr': '<f8', 'fortran_order': False, 'shape': " + "(" * 5000))
    npy("header missing keys", npy_raw(header="{'descr': '<f8'}", data=bytes(72)))
    npy("header extra key", npy_raw(header="{'descr': '<f8', 'fortran_order': False, 'shape': (3, 3), 'x': 1}"))
    npy("shape with a float", npy_raw("<f8", "(3, 3.0)", bytes(72)))
    npy("shape with True", npy_raw("<f8", "(True, 3)", bytes(24)))
    npy("fortran_order None", npy_raw("<f8", "(3, 3)", bytes(72), fortran="None"))
    npy("header length past the end", npy_of(k3)[:8] + b"\xff\xff" + npy_of(k3)[10:80])
    npy("version 3.0, header length 2**32-1", b"\x93NUMPY\x03\x00\xff\xff\xff\xff{'descr': '<f8'")
    npy("version 9.9", npy_raw("<f8", "(3, 3)", bytes(72), version=(9, 9)))
    npy("bad magic", npy_raw("<f8", "(3, 3)", bytes(72), magic=b"\x93NUMPX"))
    npy("empty file", b"")
    npy("a PNG named .npy", png_encode(np.zeros((4, 4), np.uint8), 8, 0))
    npy("an .npz named .npy", npz_of({"k.npy": npy_of(k3)}))
    npy("NaN inside", npy_of(np.where(np.eye(3) > 0, np.nan, k3)))
    npy("inf inside", npy_of(np.where(np.eye(3) > 0, np.inf, k3)))
    npy("-inf inside", npy_of(np.where(np.eye(3) > 0, -np.inf, k3)))
    npy("1e308 (float64; inf as float32)", npy_of(np.full((3, 3), 1e308)), (3, 3))
    npy("3e38 float32 (sums overflow)", npy_of(np.full((3, 3), 3e38, np.float32)), (3, 3))
    npy("subnormal 5e-324", npy_of(np.full((3, 3), 5e-324)), (3, 3))
    npy("all zeros", npy_of(np.zeros((3, 3))), (3, 3))
    npy("-0.0", npy_of(np.full((3, 3), -0.0)), (3, 3))
    npy("large legit 1024x1024", npy_of(rng.random((1024, 1024)).astype(np.float32) / 1e6), (1024, 1024), kbytes=4 * MB)
    npy("4-D with NaN", npy_of(np.full((3, 1, 2, 2), np.nan)))

    # ---- .npz
    def npz(kind, data, k=None, name="", **kw):
        add("npz", kind, "{in}/k.npz" + name, {"k.npz": data}, k=k, **kw)

    npz("valid, one member", npz_of({"k.npy": npy_of(k3)}), (3, 3))
    two = npz_of({"a.npy": npy_of(k3), "b.npy": npy_of(np.ones((2, 2)))})
    npz("valid, two members, :b", two, (2, 2), name=":b")
    npz("two members, no name", two)
    npz("missing member :zz", two, name=":zz")
    npz("empty member name k.npz:", two, name=":")
    npz("3000 members, no name", npz_of({f"k{i}.npy": npy_of(np.ones((1, 1))) for i in range(3000)}))
    npz(
        "3000 members, :k2999",
        npz_of({f"k{i}.npy": npy_of(np.full((1, 1), i)) for i in range(3000)}),
        (1, 1),
        name=":k2999",
    )
    npz("not a zip", rng.bytes(500))
    npz("truncated zip", npz_of({"k.npy": npy_of(rng.random((40, 40)))})[:900])
    npz("member is a pickle (touch PWNED)", npz_of({"k.npy": npy_raw("|O", "(3, 3)", b"\x80\x02" + PWN)}))
    npz("member is text", npz_of({"k.npy": b"1 2 1\n2 4 2\n1 2 1\n"}))
    npz("empty zip", npz_of({}))
    npz(
        "stored member (100000, 100000) header",
        npz_of({"k.npy": npy_raw("<f8", "(100000, 100000)", bytes(100))}, False),
    )
    npz("member named ../../x", npz_of({"../../x.npy": npy_of(k3)}), name=":../../x")
    npz("npz inside npz", npz_of({"k.npy": npz_of({"k.npy": npy_of(k3)})}))
    good = bytearray(npz_of({"k.npy": npy_of(np.arange(64.0).reshape(8, 8))}, compress=False))
    good[60] ^= 0xFF
    npz("stored member, CRC mismatch", bytes(good))
    forged = bytearray(npz_of({"k.npy": npy_of(k3)}, compress=False))
    struct.pack_into("<I", forged, 22, 2**31)  # local header: uncompressed size
    npz("local header size forged to 2**31", bytes(forged))
    add("npz", "zip bomb: one member inflating to 2 GiB, header (16384, 16384) f8", "{in}/bomb.npz")
    cat[-1]["files"] = {"bomb.npz": ("zipbomb", (16384, 16384), 2 << 30)}
    add("npz", "zip bomb: header (3, 3), member inflating to 1 GiB", "{in}/bomb.npz")
    cat[-1]["files"] = {"bomb.npz": ("zipbomb", (3, 3), 1 << 30)}

    # ---- .safetensors
    def st(kind, data, k=None, name="", **kw):
        add("safetensors", kind, "{in}/k.safetensors" + name, {"k.safetensors": data}, k=k, **kw)

    st("valid F32 3x3", st_of({"w": k3.astype(np.float32)}), (3, 3))
    st("valid F16 3x3", st_of({"w": k3.astype(np.float16)}), (3, 3))
    st("valid I32 3x3", st_of({"w": (k3 * 10).astype(np.int32)}), (3, 3))
    both = st_of({"w": k3, "v": np.ones((2, 2))})
    st("valid F64, two tensors, :w", both, (3, 3), name=":w")
    st("two tensors, no name", both)
    st("missing tensor :zz", both, name=":zz")
    valid = st_of({"w": k3.astype(np.float32)})
    body = valid[8:]
    st("header length 2**63", struct.pack("<Q", 2**63) + body)
    st("header length past the end", struct.pack("<Q", len(body) + 100) + body)
    st("header length 0", struct.pack("<Q", 0) + body)
    st("header length 2**64-1", struct.pack("<Q", 2**64 - 1) + body)
    hjson = json.dumps({"w": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 36]}}).encode()
    st("JSON truncated", st_raw(hjson[:-5], bytes(36)))
    st(
        "JSON not UTF-8",
        st_raw(b'{"w\xff\xfe": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 36]}}', bytes(36)),
    )
    st("JSON array", st_raw(b"[1, 2, 3]", bytes(36)))
    st("JSON nested 100000 deep", st_raw(b"[" * 100000 + b"]" * 100000))
    st(
        "duplicate keys",
        st_raw(hjson[:-1] + b', "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}', bytes(36)),
    )

    def st1(kind, dtype="F32", shape=(3, 3), offs=(0, 36), data=bytes(36), k=None, **kw):
        st(kind, st_raw({"w": {"dtype": dtype, "shape": list(shape), "data_offsets": list(offs)}}, data), k, **kw)

    st1("offsets out of range [0, 10**12]", offs=(0, 10**12))
    st1("offsets reversed [36, 0]", offs=(36, 0))
    st1("offsets do not match the shape", offs=(0, 20))
    st1("negative offset", offs=(-8, 28))
    for dt in ("F4", "BF16", "F8_E4M3", "BOOL", "C64", "STRING", "f32", ""):
        st1(f"dtype {dt!r}", dtype=dt)
    st1("dtype U8 (valid)", dtype="U8", offs=(0, 9), data=bytes(range(9)), k=(3, 3))
    st1("dtype I64 huge values", dtype="I64", offs=(0, 72), data=struct.pack("<9q", *([2**62] * 9)), k=(3, 3))
    st1("shape [100000, 100000], offsets [0, 4e10]", shape=(100000, 100000), offs=(0, 40_000_000_000))
    st1("shape [-1, 3]", shape=(-1, 3))
    st(
        "shape as a string",
        st_raw({"w": {"dtype": "F32", "shape": "3x3", "data_offsets": [0, 36]}}, bytes(36)),
    )
    st1("shape [1, 2**62]: size overflows", shape=(1, 2**62), offs=(0, 36))
    st("only __metadata__", st_raw({"__metadata__": {"a": "b"}}))
    st("torch.save zip named .safetensors (pickle: touch PWNED)", torch_like_zip())
    st("raw pickle named .safetensors (touch PWNED)", b"\x80\x02" + PWN)
    st("empty file", b"")
    st1("NaN data", data=np.full(9, np.nan, "<f4").tobytes())
    st1("inf data", data=np.full(9, np.inf, "<f4").tobytes())
    st(
        "10 MB of __metadata__",
        st_raw({"__metadata__": {"x": "y" * (10 * MB)}, **json.loads(hjson)}, bytes(36)),
        (3, 3),
    )
    layer = st_of(
        {"weight": (rng.random((3, 1, 4, 4)) / 4).astype(np.float32), "bias": np.array([0.1, 0.2, 0.3], "<f4")}
    )
    st(
        "4-D layer + --bias file:bias (valid)",
        layer,
        (4, 4),
        name=":weight",
        cout=3,
        extra=["--bias", "{in}/k.safetensors:bias"],
    )
    layer_nan = st_of({"weight": np.ones((3, 1, 2, 2), np.float32), "bias": np.array([np.nan, 0, 0], "<f4")})
    st("4-D layer, NaN bias", layer_nan, name=":weight", extra=["--bias", "{in}/k.safetensors:bias"])
    layer_2 = st_of({"weight": np.ones((3, 1, 2, 2), np.float32), "bias": np.array([0, 0], "<f4")})
    st("4-D layer, bias of length 2", layer_2, name=":weight", extra=["--bias", "{in}/k.safetensors:bias"])
    st("4-D layer, --bias :missing", layer, name=":weight", extra=["--bias", "{in}/k.safetensors:missing"])

    # ---- .txt / .csv
    def txt(kind, data, k=None, ext="txt", **kw):
        add(ext, kind, "{in}/k." + ext, {"k." + ext: data if isinstance(data, bytes) else data.encode()}, k=k, **kw)

    txt("valid 3x3", text_rows(k3), (3, 3))
    txt("valid 3x3", "\n".join(",".join(str(v) for v in r) for r in k3) + "\n", (3, 3), ext="csv")
    for tok in (
        "nan",
        "inf",
        "-inf",
        "1e400",
        "1e-400",
        "1_0",
        "\u0661",
        "\uff11",
        "0x10",
        "0x1p-3",
        "infinity",
        "nan(123)",
    ):
        for ext in ("txt", "csv"):
            sep = " " if ext == "txt" else ","
            txt(f"token {tok!r}", f"1{sep}2{sep}1\n2{sep}{tok}{sep}2\n1{sep}2{sep}1\n", ext=ext)
    txt("1e308 everywhere", "1e308 1e308\n1e308 1e308\n", (2, 2))
    txt("+1 .5 5.", "+1 .5 5.\n1 1 1\n", (2, 3))
    txt("ragged rows", "1 2 3\n4 5\n6 7 8\n")
    txt("ragged rows", "1,2,3\n4,5\n6,7,8\n", ext="csv")
    txt("trailing commas", "1,2,\n3,4,\n", ext="csv")
    txt("empty cells 1,,2", "1,,2\n3,4,5\n", ext="csv")
    txt("header row a,b,c", "a,b,c\n1,2,3\n", ext="csv")
    txt("quoted numbers", '"1","2"\n"3","4"\n', ext="csv")
    txt("empty file", "")
    txt("only comments", "# nothing\n# here\n")
    txt("only blank lines", "\n\n   \n")
    txt("BOM first", b"\xef\xbb\xbf1 2\n3 4\n", (2, 2))
    txt("NUL bytes", b"1 2\x003\n4 5 6\n")
    txt("CRLF lines", "1 2\r\n3 4\r\n", (2, 2))
    txt("tabs and semicolons", "1\t2;3\n4\t5;6\n")
    txt("inline comments", "1 2 # first\n3 4 # second\n", (2, 2))
    txt("UTF-16", "1 2\n3 4\n".encode("utf-16"))
    txt("binary garbage", rng.bytes(2000))
    txt("5000-digit number", "9" * 5000 + " 1\n1 1\n")
    txt("single number", "0.5\n", (1, 1))
    txt("single line 1 2 1", "1 2 1\n")
    txt("2,000,000 rows x 1", "1\n" * 2_000_000, (2_000_000, 1), kbytes=16 * MB)
    txt("1 row x 1,000,000", " ".join(["1"] * 1_000_000) + "\n", (1, 1_000_000), kbytes=8 * MB)
    txt("300,000 rows x 3", "1,0,1\n" * 300_000, (300_000, 3), ext="csv", kbytes=8 * MB)

    # ---- .mat (libvips matrix)
    def mat(kind, data, k=None, **kw):
        add("mat", kind, "{in}/k.mat", {"k.mat": data.encode() if isinstance(data, str) else data}, k=k, **kw)

    rows3 = "1 2 1\n2 4 2\n1 2 1\n"
    mat("valid 3 3", "3 3\n" + rows3, (3, 3))
    mat("valid 3 3 16 0", "3 3 16 0\n" + rows3, (3, 3))
    for scale in ("0", "1e-320", "-0", "nan", "inf", "1e-300", "1e308", "-16"):
        mat(f"scale {scale}", f"3 3 {scale} 0\n" + rows3, (3, 3) if scale in ("1e308", "-16") else None)
    for offset in ("1e308", "nan", "1e30", "-inf"):
        mat(f"offset {offset}", f"3 3 1 {offset}\n" + rows3, (3, 3) if offset == "1e30" else None)
    mat("header 3 3, two rows", "3 3\n1 2 1\n2 4 2\n")
    mat("header 3 3, four rows", "3 3\n" + rows3 + "1 1 1\n")
    mat("header 0 0", "0 0\n")
    mat("header -3 3", "-3 3\n" + rows3)
    mat("header 100000 100000, no rows", "100000 100000\n")
    mat("header 1e9 1e9", "1e9 1e9\n" + rows3)
    mat("header 3.5 3", "3.5 3\n" + rows3)
    mat("header with 5 fields", "3 3 1 0 7\n" + rows3)
    mat("header one field", "3\n" + rows3)
    mat("rows of the wrong length", "3 3\n1 2\n2 4 2 9\n1 2 1\n")
    mat("quote and comma separators (valid)", '3 3\n"1","2","1"\n2,4,2\n1\t2\t1\n', (3, 3))
    mat("NaN in a row", "3 3\n1 nan 1\n2 4 2\n1 2 1\n")
    mat("header 99999999999999999999 1", "99999999999999999999 1\n1\n")
    mat("empty file", "")

    # ---- inline strings
    def inline(kind, spec, k=None, **kw):
        add("inline", kind, spec, k=k, **kw)

    inline("valid 3x3", "3x3:1,2,1,2,4,2,1,2,1", (3, 3))
    inline("valid 1-D list", "0.25,0.75,0.75,0.25", (4, 4))
    for spec in (
        "0x0:",
        "3x3:1,2",
        "2x2:1,2,3,4,5",
        "1x1:inf",
        "1x1:nan",
        "1x1:1_0",
        "1x1:\u0661",
        "1e3x1:1",
        "-1x1:1",
    ):
        inline(f"{spec!r}", spec)
    inline("'1x1:1e308' (inf as float32)", "1x1:1e308", (1, 1))
    inline("'1x1:-0'", "1x1:-0", (1, 1))
    inline("'100000x100000:1'", "100000x100000:1")
    inline("ImageMagick origin 3x3+1+1", "3x3+1+1:1,2,1,2,4,2,1,2,1")
    for spec in (",,,", "1,,2", "", "x:", "3X3:1,2,1,2,4,2,1,2,1", " 1x1:1 ", "1x1:", "1x1:1,", "1e308,1e308"):
        inline(f"{spec!r}", spec)
    inline("1x1: 5000 nines", "1x1:" + "9" * 5000)
    inline("5000-digit width", "9" * 5000 + "x1:1")
    inline("60000-value list (outer product 60000x60000)", ",".join(["0"] * 60000))

    # ---- built-ins
    def builtin(kind, spec, k=None, **kw):
        add("builtin", kind, spec, k=k, **kw)

    for spec in (
        "gaussian:sigma=1e-300",
        "gaussian:sigma=0",
        "gaussian:sigma=-1",
        "gaussian:sigma=nan",
        "gaussian:sigma=inf",
        "gaussian:sigma=1e308",
        "gaussian:sigma=1e6",
        "gaussian:sigma=1_0",
        "gaussian:sigma=\u0661",
        "gaussian:sigma",
        "gaussian:sigma=1,sigma=2",
        "gaussian:sigma=1e-5",
        "gaussian:sigma=100",
        "bicubic:a=1e308",
        "bicubic:a=nan",
        "bicubic:a=-inf",
        "lanczos3:a=1",
        "nearest:foo=1",
        "bilinear:",
        "bicubic",
        "lanczos2",
        "GAUSSIAN",
    ):
        builtin(repr(spec), spec)

    # ---- extreme parameters (size checked by the formula where it applies)
    def params(kind, kernel, extra, stride="2", image="small.png", k=None):
        add("params", kind, kernel, extra=extra, stride=stride, image=image, k=k)

    params("-s 1,100000000 on a 1x2 image", "1x1:1", [], stride="1,100000000", image="grey1x2.png", k=(1, 1))
    params(
        "-s 1,100000 --max-pixels 0 on a 1x2 image", "1x1:1", ["--max-pixels", "0"], "1,100000", "grey1x2.png", (1, 1)
    )
    params("-s 65536,65536 on a 1x2 image", "1x1:1", [], stride="65536,65536", image="grey1x2.png", k=(1, 1))
    for s in ("1_0", "0", "-1", "100000000", "2,2,2", "", "\u0661", "1e3", "99999999999999999999999", " 2", "2,"):
        params(f"-s {s!r}", "bilinear", [], stride=s)
    for opt, val in (
        ("-p", "100000000"),
        ("-p", "-1"),
        ("-p", "1_0"),
        ("-d", "100000000"),
        ("-d", "0"),
        ("--output-padding", "5"),
        ("--output-padding", "-1"),
        ("--crop", "100000"),
        ("--crop", "-1"),
        ("--crop", "1,2,3"),
        ("--groups", "2"),
        ("--max-pixels", "-1"),
        ("--compress", "10"),
        ("--depth", "7"),
    ):
        params(f"{opt} {val}", "3x3:1,2,1,2,4,2,1,2,1", [opt, val])
    params("--output-padding 1 (valid)", "3x3:1,2,1,2,4,2,1,2,1", ["--output-padding", "1"], k=None)
    params("--edge renormalize, zero kernel", "3x3:0,0,0,0,0,0,0,0,0", ["--edge", "renormalize"])
    params("--edge renormalize, kernel 1,-1", "1,-1", ["--edge", "renormalize"])
    params("--edge renormalize, 1e-300 kernel", "2x2:1e-300,1e-300,1e-300,1e-300", ["--edge", "renormalize"])
    params("--dtype float64 -k 1x1:1e308", "1x1:1e308", ["--dtype", "float64"], k=(1, 1))
    params("--two-pass, non-separable kernel", "3x3:0,1,0,1,1,1,0,1,0", ["--two-pass"])
    params("--crop auto, zero kernel", "3x3:0,0,0,0,0,0,0,0,0", ["--crop", "auto"])
    params("-p same with 1x1 kernel", "1x1:1", ["-p", "same"])

    # ---- special files
    def special(kind, kernel, files=None, extra=(), **kw):
        add("special", kind, kernel, files, extra=extra, **kw)

    dw = {"w.npy": npy_of(np.ones((3, 1, 2, 2), np.float32))}
    special("-k /dev/zero", "/dev/zero")
    special("-k /dev/null", "/dev/null")
    special("-k /dev/urandom", "/dev/urandom")
    special("--bias /dev/zero", "{in}/w.npy", dw, ["--bias", "/dev/zero"])
    special("-k FIFO named k.npy, no writer", "{in}/k.npy", {"k.npy": ("fifo",)})
    special("-k FIFO named k.txt, no writer", "{in}/k.txt", {"k.txt": ("fifo",)})
    special("-k FIFO with no extension", "{in}/kfifo", {"kfifo": ("fifo",)})
    special("--bias FIFO, no writer", "{in}/w.npy", {**dw, "b.npy": ("fifo",)}, ["--bias", "{in}/b.npy"])
    special("-k directory named k.npy", "{in}/k.npy", {"k.npy": ("dir",)})
    special("-k directory with no extension", "{in}/kdir", {"kdir": ("dir",)})
    special("--bias directory", "{in}/w.npy", {**dw, "b.npy": ("dir",)}, ["--bias", "{in}/b.npy"])
    special("-k /dev/zero:weight", "/dev/zero:weight")
    special("-k file with .pt extension (pickle)", "{in}/k.pt", {"k.pt": torch_like_zip()})
    special("-k symlink loop", "{in}/loop.npy", {"loop.npy": ("symlink", "loop.npy")})
    special("-k symlink to /dev/zero named .npy", "{in}/z.npy", {"z.npy": ("symlink", "/dev/zero")})

    # ---- --bias values
    def bias(kind, value, k=None):
        add("bias", kind, "{in}/w.npy", dw, extra=["--bias", value], k=k, cout=3 if k else None)

    bias("--bias 0.5 (valid)", "0.5", (2, 2))
    bias("--bias 0.1,0.2,0.3 (valid)", "0.1,0.2,0.3", (2, 2))
    for v in ("nan", "inf", "-inf", "1e308", "1,2", "", "1_0", "\u0661", "0.1,0.2,0.3,0.4", "1e400"):
        bias(f"--bias {v!r}", v)
    add("bias", "--bias with a 2-D kernel", "3x3:1,2,1,2,4,2,1,2,1", extra=["--bias", "0.5"])
    add("bias", "--bias file of 3 values (valid)", "{in}/w.npy", {**dw, "b.npy": npy_of(np.array([0.1, 0.2, 0.3]))})
    cat[-1].update(extra=["--bias", "{in}/b.npy"], k=(2, 2), cout=3)
    add(
        "bias",
        "--bias file (3, 3)",
        "{in}/w.npy",
        {**dw, "b.npy": npy_of(np.ones((3, 3)))},
        extra=["--bias", "{in}/b.npy"],
    )
    return cat


def mutate_kernel_file(entry: dict, rng: np.random.Generator) -> dict:
    """A further hostile kernel: a valid kernel file of the catalogue, truncated or with bytes flipped."""
    e = dict(entry)
    name, data = next(iter(entry["files"].items()))
    if rng.random() < 0.5:
        data, detail = m_truncate(data, rng, "")
        e["kind"] = f"{entry['kind']}, truncated ({detail})"
    else:
        data, detail = m_byteflip(data, rng, "")
        e["kind"] = f"{entry['kind']}, byteflip ({detail})"
    e.update(files={name: data}, k=None, cout=None)
    return e


def kernel_cases(rng: np.random.Generator, n: int | None, small: bytes, grey12: bytes) -> list[dict]:
    cat = kernel_catalogue(rng)
    if n is not None and n < len(cat):
        cat = [cat[i] for i in sorted(rng.choice(len(cat), size=n, replace=False))]
    elif n is not None:
        valid = [e for e in cat if e["k"] and e["files"] and isinstance(next(iter(e["files"].values())), bytes)]
        while len(cat) < n:
            cat.append(mutate_kernel_file(pick(rng, valid), rng))
    cases = []
    for i, e in enumerate(cat):
        files = {e["image"]: small if e["image"] == "small.png" else grey12, **e["files"]}
        args = ["upsample", "{in}/" + e["image"], "-k", e["kernel"], "-s", e["stride"], "-o", "OUT.npy", *e["extra"]]
        cases.append(
            {
                "id": f"krn-{i:04d}",
                "group": "kernel",
                "fmt": e["fmt"],
                "base": e["image"],
                "kind": e["kind"],
                "detail": e["kernel"][:120],
                "files": files,
                "args": args,
                "check": "kernel",
                "input": e["image"],
                "out": "OUT.npy",
                "expect": {"k": e["k"], "cout": e["cout"], "stride": e["stride"], "kbytes": e["kbytes"]},
            }
        )
    return cases


# ----------------------------------------------------------------------------------------------------------
# process-level cases


def process_cases(img: bytes, big: bytes) -> list[dict]:
    def case(i, kind, args, io_mode, files=None, check="none", out=None, **kw):
        c = {
            "id": f"prc-{i:02d}",
            "group": "process",
            "fmt": "process",
            "base": "img.png",
            "kind": kind,
            "detail": io_mode,
            "files": files if files is not None else {"img.png": img},
            "args": args,
            "io": io_mode,
            "check": check,
            "input": "img.png",
            "out": out,
        }
        c.update(kw)
        return c

    base = ["upsample", "{in}/img.png", "-k", "1x1:1", "-s", "1"]
    return [
        case(0, "stdout is /dev/full, -o -", [*base, "-o", "-"], "stdout_devfull"),
        case(1, "stdout closed, -o -", [*base, "-o", "-"], "stdout_closed"),
        case(
            2,
            "-o - | head -c 100 (large PNG)",
            ["upsample", "{in}/big.png", "-k", "nearest", "-s", "4", "-o", "-"],
            "head100",
            {"big.png": big},
        ),
        case(
            3,
            "-o - --format npy | head -c 100",
            ["upsample", "{in}/big.png", "-k", "nearest", "-s", "4", "-o", "-", "--format", "npy"],
            "head100",
            {"big.png": big},
        ),
        case(
            4,
            "stdin /dev/null as the image",
            ["upsample", "-", "-k", "1x1:1", "-s", "1", "-o", "OUT.png"],
            "stdin_null",
        ),
        case(
            5,
            "stdin random bytes as the image",
            ["upsample", "-", "-k", "1x1:1", "-s", "1", "-o", "OUT.png"],
            "stdin:junk.bin",
            {"junk.bin": bytes(range(256)) * 8},
        ),
        case(
            6,
            "stdin a valid PNG (accept)",
            ["upsample", "-", "-k", "1x1:1", "-s", "1", "--alpha", "separate", "-o", "OUT.png"],
            "stdin:img.png",
            check="identity",
            out="OUT.png",
        ),
        case(
            7, "stderr is /dev/full, missing input", ["upsample", "{in}/missing.png", "-o", "OUT.png"], "stderr_devfull"
        ),
        case(8, "-o into a missing directory", [*base, "-o", "nodir/OUT.png"], "plain"),
        case(
            9, "-o an existing file, no --overwrite", [*base, "-o", "OUT.png"], "plain", preexisting={"OUT.png": b"x"}
        ),
        case(10, "-o . (a directory)", [*base, "-o", "."], "plain"),
        case(11, "-o the input itself with --overwrite", [*base, "-o", "{in}/img.png", "--overwrite"], "plain"),
        case(
            12,
            "stdout /dev/full with --json",
            [*base, "-o", "OUT.png", "--json"],
            "stdout_devfull",
            allow_out=True,
            out="OUT.png",
        ),
        case(
            13,
            "input is a FIFO with no writer",
            ["upsample", "{in}/f.png", "-o", "OUT.png"],
            "plain",
            {"f.png": ("fifo",)},
        ),
        case(14, "input /dev/zero", ["upsample", "/dev/zero", "-o", "OUT.png"], "plain"),
        case(15, "input an empty directory", ["upsample", "{in}/empty", "-o", "OUT.png"], "plain", {"empty": ("dir",)}),
        case(16, "-o - to a terminal-less /dev/null (accept)", [*base, "-o", "-"], "stdout_null"),
        case(
            17,
            "stdout closed, refusal (bad kernel)",
            ["upsample", "{in}/img.png", "-k", "nope", "-o", "-"],
            "stdout_closed",
        ),
    ]


# ----------------------------------------------------------------------------------------------------------
# running one case (in a worker process)


def read_vips(path: Path) -> np.ndarray:
    """A libvips .v file as an (h, w, bands) array."""
    head = path.read_bytes()[:64]
    e = "<" if head[:4] == b"\xb6\xa6\xf2\x08" else ">"
    w, h, bands, _, fmt, coding = struct.unpack(e + "6i", head[4:28])
    if coding != 0:
        raise ValueError(f"coded vips image ({coding})")
    dt = np.dtype({0: "u1", 1: "i1", 2: "u2", 3: "i2", 4: "u4", 5: "i4", 6: "f4", 8: "f8"}[fmt]).newbyteorder(e)
    n = w * h * bands
    a = np.fromfile(path, dtype=dt, count=n, offset=64)
    return a.reshape(h, w, bands).astype(dt.newbyteorder("="))


def vips_decode(path: Path, scratch: Path, strict: bool = True, timeout: float = 120) -> tuple[np.ndarray | None, str]:
    """libvips' decode, orientation applied; strict: fail on any warning. (array, "") or (None, why)."""
    ref = scratch / ("ref.v" if strict else "ref-lenient.v")
    spec = f"{path}[fail_on=warning]" if strict else str(path)
    try:
        r = subprocess.run(["vips", "autorot", spec, str(ref)], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"vips timed out after {timeout:g} s"
    if r.returncode != 0 or not ref.exists():
        text = VIPS_NOISE.sub("", r.stderr.decode("utf-8", "replace"))
        lines = [x.strip() for x in text.splitlines() if x.strip()]
        return None, (" / ".join(lines[-2:]) if lines else f"vips exit {r.returncode}")[:300]
    try:
        return read_vips(ref), ""
    finally:
        ref.unlink()


def normalise(ref: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Drop an alpha band that is fully opaque on one side and absent on the other."""
    note = ""
    if ref.shape[2] in (2, 4) and out.shape[2] == ref.shape[2] - 1 and np.all(ref[..., -1] == np.iinfo(ref.dtype).max):
        ref, note = ref[..., :-1], "opaque alpha of the reference dropped"
    elif (
        out.shape[2] in (2, 4) and ref.shape[2] == out.shape[2] - 1 and np.all(out[..., -1] == np.iinfo(out.dtype).max)
    ):
        out, note = out[..., :-1], "opaque alpha of the output dropped"
    return ref, out, note


def reference_for(ref: np.ndarray, case: dict, src: Path) -> tuple[np.ndarray, str]:
    """libvips keeps a PPM/PGM's raw samples when maxval is not 255 or 65535; Pillow (and netpbm) scale them to
    the full range. Scale the reference: round(v * top / maxval), clipped to top (samples above maxval, which
    make the file invalid, are counted in the note)."""
    if case["fmt"] != "pnm":
        return ref, ""
    try:
        maxval = _pnm_split(src.read_bytes()[:64] + b" ")[3]
    except (AttributeError, ValueError):
        return ref, ""
    if maxval in (255, 65535) or not 0 < maxval < 65536:
        return ref, ""
    top = 255 if maxval < 256 else 65535
    above = int((ref > maxval).sum())
    scaled = np.clip(np.round(ref.astype(np.float64) * top / maxval), 0, top).astype(ref.dtype)
    return scaled, f"maxval {maxval} scaled to {top}" + (f"; {above} samples above maxval" if above else "")


def compare(ref: np.ndarray, out: np.ndarray, fmt: str = "") -> tuple[bool, str]:
    if ref.dtype != out.dtype:
        return False, f"sample type differs: vips {ref.dtype}, deconv {out.dtype} (shapes {ref.shape} {out.shape})"
    ref, out, note = normalise(ref, out)
    if ref.shape != out.shape:
        return False, f"shape differs: vips {ref.shape}, deconv {out.shape}"
    if fmt == "gif" and ref.shape[2] == 4:
        # libvips' GIF loader zeroes the colour of transparent pixels, Pillow keeps the palette's: not compared
        clear = (ref[..., 3] == 0) & (out[..., 3] == 0)
        ref, out = ref.copy(), out.copy()
        ref[clear], out[clear] = 0, 0
    d = np.abs(ref.astype(np.int64) - out.astype(np.int64))
    if d.any():
        return False, f"{int((d > 0).sum())} samples differ, max {int(d.max())} ({ref.shape} {ref.dtype})"
    return True, f"equal {ref.shape} {ref.dtype}" + (f"; {note}" if note else "")


def check_npy(path: Path, case: dict, in_hw: tuple[int, int], in_c: int) -> tuple[bool, str, int]:
    """An accepted kernel's .npy: finite, 3-D, and the size the formula gives. (ok, detail, bytes)."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - any failure to read the output is the finding
        return False, f"output .npy unreadable: {type(e).__name__}: {e}", 0
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        return False, f"output shape {a.shape}", a.nbytes
    step = max(1, (64 * MB) // max(1, a.shape[1] * a.shape[2] * a.itemsize))
    bad = sum(int((~np.isfinite(a[i : i + step])).sum()) for i in range(0, a.shape[0], step))
    if bad:
        return False, f"{bad} non-finite values in {a.shape} {a.dtype}", a.nbytes
    exp = case.get("expect") or {}
    try:
        s = [int(v) for v in exp.get("stride", "2").split(",")]
        sr, sc = (s[0], s[-1])
    except ValueError:
        return True, f"finite {a.shape} {a.dtype} (stride {exp.get('stride')!r} not checked)", a.nbytes
    implied = (a.shape[0] - (in_hw[0] - 1) * sr, a.shape[1] - (in_hw[1] - 1) * sc)
    detail = f"finite {a.shape} {a.dtype}, implied kernel {implied[0]}x{implied[1]}"
    if exp.get("k") is not None and tuple(exp["k"]) != implied:
        return False, f"size {a.shape[:2]} does not fit the {exp['k'][0]}x{exp['k'][1]} kernel ({detail})", a.nbytes
    want_c = exp.get("cout") or in_c
    if exp.get("k") is not None and a.shape[2] != want_c:
        return False, f"{a.shape[2]} channels, expected {want_c}", a.nbytes
    return True, detail, a.nbytes


def png_size(data: bytes) -> tuple[int, int, int]:
    """(h, w, channels) of a PNG written by png_encode."""
    w, h, _, ctype, *_ = struct.unpack(">IIBBBBB", data[16:29])
    return h, w, PNG_CHANNELS[ctype]


def materialise(files: dict, where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    for name, spec in files.items():
        p = where / name
        if isinstance(spec, bytes):
            p.write_bytes(spec)
        elif spec[0] == "fifo":
            os.mkfifo(p)
        elif spec[0] == "dir":
            p.mkdir()
        elif spec[0] == "symlink":
            p.symlink_to(spec[1])
        elif spec[0] == "zipbomb":
            write_zip_bomb(p, spec[1], spec[2])
        elif spec[0] == "path":
            shutil.copyfile(spec[1], p)


def copy_tree(src: Path, dst: Path, limit: int = 64 * MB) -> list[str]:
    """Copy files (FIFOs re-made, symlinks kept, files over ``limit`` skipped); returns what was skipped."""
    skipped = []
    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.iterdir()):
        q = dst / p.name
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            q.symlink_to(os.readlink(p))
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(q)
        elif stat.S_ISDIR(st.st_mode):
            skipped += copy_tree(p, q, limit)
        elif st.st_size > limit:
            skipped.append(f"{p.name} ({st.st_size} bytes)")
        else:
            shutil.copyfile(p, q)
    return skipped


def listing(d: Path) -> list[str]:
    if not d.exists():
        return []
    return sorted(str(p.relative_to(d)) + ("/" if p.is_dir() and not p.is_symlink() else "") for p in d.rglob("*"))


def system_temp_entries() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("deconv-*")}


def set_limits(mem_limit_mb: int):
    def fn():
        if mem_limit_mb:
            resource.setrlimit(resource.RLIMIT_AS, (mem_limit_mb * MB, mem_limit_mb * MB))

    return fn


def read_some(fd: int, n: int, deadline: float) -> bytes:
    """Up to n bytes from a pipe, as `head -c n` reads them, giving up at the deadline."""
    buf = b""
    while len(buf) < n:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def execute(case: dict, cfg: dict, root: Path) -> dict:
    """Run the case's command; returns exit, stdout/stderr (first 64 KiB), time, RSS, timeout."""
    ind, run, tmp = root / "in", root / "run", root / "tmp"
    run.mkdir()
    tmp.mkdir()
    for name, data in case.get("preexisting", {}).items():
        (run / name).write_bytes(data)
    argv = [cfg["deconv"]] + [a.replace("{in}", str(ind)) for a in case["args"]]
    timefile = root / "time.txt"
    use_time = cfg["gnu_time"]
    io_mode = case.get("io", "plain")
    # stdout closed by a shell that then becomes deconv: closing it before GNU time starts would hand fd 1 to
    # time's own -o file, and deconv would write into that
    cmd = ["/bin/sh", "-c", 'exec "$@" >&-', "sh", *argv] if io_mode == "stdout_closed" else list(argv)
    if use_time:
        cmd = ["/usr/bin/time", "-o", str(timefile), "-f", "%M %e", "--", *cmd]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECONV_")}
    env.update(TMPDIR=str(tmp), LC_ALL="C.UTF-8")
    out_f, err_f = root / "stdout", root / "stderr"
    stdin = subprocess.DEVNULL
    if io_mode.startswith("stdin:"):
        stdin = open(ind / io_mode[6:], "rb")  # noqa: SIM115 - closed below
    if io_mode == "stdout_devfull":
        stdout = open("/dev/full", "wb")  # noqa: SIM115
    elif io_mode == "stdout_null":
        stdout = open(os.devnull, "wb")  # noqa: SIM115
    elif io_mode == "head100":
        stdout = subprocess.PIPE
    else:
        stdout = open(out_f, "wb")  # noqa: SIM115
    stderr = open("/dev/full", "wb") if io_mode == "stderr_devfull" else open(err_f, "wb")  # noqa: SIM115
    before = system_temp_entries()
    t0 = time.monotonic()
    p = subprocess.Popen(
        cmd,
        cwd=run,
        env=env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=set_limits(cfg["mem_limit_mb"]),
    )
    timed_out, rusage, head = False, None, b""
    try:
        if io_mode == "head100":
            head = read_some(p.stdout.fileno(), 100, t0 + cfg["timeout"])
            p.stdout.close()
        if use_time:
            p.wait(timeout=max(0.1, cfg["timeout"] - (time.monotonic() - t0)))
        else:
            deadline = t0 + cfg["timeout"]
            while True:
                pid, status, rusage = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    p.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(cmd, cfg["timeout"])
                time.sleep(0.02)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    elapsed = time.monotonic() - t0
    for f in (stdin, stdout, stderr):
        if hasattr(f, "close"):
            f.close()
    new_tmp = sorted(system_temp_entries() - before)
    rss_kb, signum = None, None
    if use_time and timefile.exists():
        text = timefile.read_text(errors="replace")
        m = SIGNAL_RE.search(text)
        signum = int(m.group(1)) if m else None
        nums = text.strip().splitlines()[-1].split() if text.strip() else []
        if nums and nums[0].isdigit():
            rss_kb = int(nums[0])
    elif rusage is not None:
        rss_kb = rusage.ru_maxrss
    code = p.returncode
    if not use_time and code is not None and code < 0:
        signum = -code
    stdout_text = out_f.read_bytes()[: 64 * 1024] if out_f.exists() else b""
    stderr_text = err_f.read_bytes()[: 64 * 1024] if err_f.exists() else b""
    return {
        "argv": argv,
        "exit": None if timed_out else code,
        "signal": signum,
        "timed_out": timed_out,
        "time_s": round(elapsed, 3),
        "rss_mb": None if rss_kb is None else round(rss_kb / 1024, 1),
        "stdout": stdout_text.decode("utf-8", "replace"),
        "stderr": stderr_text.decode("utf-8", "replace"),
        "head": len(head),
        "new_system_temp": new_tmp,
    }


def classify(case: dict, res: dict, root: Path, cfg: dict) -> tuple[str, list[str], dict]:
    """The case's class, every class it earned with the reason, and details."""
    flags: list[tuple[str, str]] = []
    details: dict = {}
    run, tmp = root / "run", root / "tmp"
    stderr = res["stderr"]
    lines = [x for x in stderr.splitlines() if x.strip()]
    io_mode = case.get("io", "plain")
    code = res["exit"]
    out_name = case.get("out")
    raw = 0

    if res["timed_out"]:
        flags.append((HANG, f"no exit after {cfg['timeout']:g} s"))
    quiet_ok = io_mode in ("stdout_closed", "head100", "stderr_devfull")
    if res["signal"] == signal.SIGPIPE and quiet_ok:
        flags.append((QUIET_EXIT, "killed by SIGPIPE (as `head` expects)"))
    elif res["signal"]:
        flags.append((CRASH, f"killed by signal {res['signal']}"))
    if "Traceback" in stderr or "internal error" in stderr.lower():
        first = next((x for x in lines if "internal error" in x.lower() or "Error" in x), lines[0] if lines else "")
        flags.append((INTERNAL, first[:300]))
    if WARNING_RE.search(stderr):
        warn = next(x for x in lines if WARNING_RE.search(x))
        flags.append((STRAY_WARNING, warn[:300]))
    if ALLOC_RE.search(stderr):
        flags.append((MEMORY, "allocation failure: " + ALLOC_RE.search(stderr).group(0)))

    # leftovers: anything in the run directory but the output on success (and a pre-existing file), or any
    # file in the run's TMPDIR, or a new deconv-* entry in the system temp directory
    allowed = set(case.get("preexisting", {}))
    if code == 0 or case.get("allow_out"):
        allowed.add(out_name)
    left = [x for x in listing(run) if x not in allowed]
    if "PWNED" in left:
        flags.append((LEFTOVERS, "a pickle was loaded: PWNED exists"))
    if left:
        flags.append((LEFTOVERS, "in the directory: " + ", ".join(left[:8])))
    if listing(tmp):
        flags.append((LEFTOVERS, "in TMPDIR: " + ", ".join(listing(tmp)[:8])))
    if res["new_system_temp"]:
        flags.append((LEFTOVERS, SYSTEM_TEMP + ", ".join(res["new_system_temp"])))
    for name, data in case.get("preexisting", {}).items():
        if (run / name).exists() and (run / name).read_bytes() != data:
            flags.append((WRONG, f"pre-existing {name} was changed"))

    if code == 0 and not res["timed_out"]:
        if case["check"] == "identity":
            src = root / "in" / case["input"]
            scratch = root / "scratch"
            scratch.mkdir(exist_ok=True)
            out_path = run / out_name
            ref, why = vips_decode(src, scratch)
            details["vips"] = "decodes" if ref is not None else "refuses: " + why
            if not out_path.exists():
                flags.append((WRONG, f"exit 0 but no {out_name}"))
            else:
                got, why_out = vips_decode(out_path, scratch)
                if got is None:
                    flags.append((WRONG, f"{out_name} unreadable by vips: {why_out}"))
                elif ref is None:
                    lenient, why_l = vips_decode(src, scratch, strict=False)
                    if lenient is None:
                        details["vips_lenient"] = "refuses too: " + why_l
                    else:
                        lenient, _ = reference_for(lenient, case, src)
                        same, how = compare(lenient, got, case["fmt"])
                        details["vips_lenient"] = ("equal to deconv: " if same else "differs from deconv: ") + how
                    flags.append((DISPUTED, f"libvips refuses what deconv accepted: {why}"))
                    raw = got.nbytes * 2
                else:
                    ref, note = reference_for(ref, case, src)
                    same, how = compare(ref, got, case["fmt"])
                    details["compare"] = how + (f"; {note}" if note else "")
                    raw = ref.nbytes + got.nbytes
                    if not same:
                        flags.append((WRONG, how))
        elif case["check"] == "kernel":
            out_path = run / out_name
            if not out_path.exists():
                flags.append((WRONG, f"exit 0 but no {out_name}"))
            else:
                hw = (1, 2) if case["input"] == "grey1x2.png" else (8, 8)
                ok, how, nbytes = check_npy(out_path, case, hw, 1 if case["input"] == "grey1x2.png" else 3)
                details["check"] = how
                raw = nbytes + (case.get("expect") or {}).get("kbytes", 0)
                if not ok:
                    flags.append((WRONG, how))
        if io_mode == "head100":
            details["note"] = "exit 0 although the reader closed the pipe after 100 bytes"
    elif code is not None and not res["timed_out"] and not res["signal"]:
        one_line = len(lines) == 1 and lines[0].startswith("deconv: error:")
        if case.get("allow_out") and lines and lines[-1].startswith("deconv: error:"):
            one_line = sum(x.startswith("deconv:") for x in lines) == 1  # the report, then the one error
        produced = out_name and (run / out_name).exists() and out_name not in case.get("preexisting", {})
        if code in (1, 2) or (quiet_ok and code != 0):
            if one_line and not (produced and not case.get("allow_out")):
                flags.append((CLEAN_REFUSAL, ""))
            elif quiet_ok and not lines:
                flags.append((QUIET_EXIT, f"exit {code}, stderr empty"))
            else:
                why = f"{len(lines)} stderr lines" if not one_line else f"{out_name} was written"
                flags.append((UNCLEAN_REFUSAL, why + (f": {lines[0][:200]}" if lines else "")))
        else:
            flags.append((UNEXPECTED_EXIT, f"exit {code}"))
    elif res["exit"] is None and not res["timed_out"]:
        flags.append((FUZZER_ERROR, "no exit status"))

    if code == 0 and not any(f[0] in (WRONG, DISPUTED, UNCLEAN_REFUSAL) for f in flags):
        flags.append((CLEAN_ACCEPT, ""))

    budget = cfg["baseline_mb"] + raw / MB + 300
    details["budget_mb"] = round(budget, 1)
    if res["rss_mb"] is not None and res["rss_mb"] > budget:
        flags.append((MEMORY, f"peak RSS {res['rss_mb']:.0f} MB > budget {budget:.0f} MB"))

    classes = {c for c, _ in flags}
    primary = next(c for c in PRECEDENCE if c in classes)
    return primary, [f"{c}: {w}" if w else c for c, w in flags], details


def repro_command(case: dict, in_dir: str) -> str:
    argv = ["deconv"] + [a.replace("{in}", in_dir) for a in case["args"]]
    cmd = shlex.join(argv)
    io_mode = case.get("io", "plain")
    return {
        "stdout_devfull": cmd + " > /dev/full",
        "stdout_null": cmd + " > /dev/null",
        "stdout_closed": cmd + " >&-",
        "head100": cmd + " | head -c 100 > /dev/null",
        "stderr_devfull": cmd + " 2> /dev/full",
        "stdin_null": cmd + " < /dev/null",
    }.get(io_mode, cmd + (f" < {shlex.quote(in_dir + '/' + io_mode[6:])}" if io_mode.startswith("stdin:") else ""))


def run_case(case: dict, cfg: dict) -> dict:
    root = Path(cfg["work"]) / "cases" / case["id"]
    result = {k: case.get(k) for k in ("id", "group", "fmt", "base", "kind", "detail")}
    try:
        res = execute(case, cfg, root)
        cls, flags, details = classify(case, res, root, cfg)
    except Exception as e:  # noqa: BLE001 - a fuzzer bug is reported as one, not a dead pool
        res = {"argv": [], "exit": None, "time_s": None, "rss_mb": None, "stderr": "", "stdout": ""}
        cls, flags, details = FUZZER_ERROR, [f"{FUZZER_ERROR}: {type(e).__name__}: {e}"], {}
    first = next((x for x in res["stderr"].splitlines() if x.strip()), "")
    in_dir = str(root / "in")
    kept = None
    if cls not in CLEAN and cfg["keep"]:
        dest = Path(cfg["keep"]) / case["id"]
        shutil.rmtree(dest, ignore_errors=True)
        copy_tree(root / "in", dest / "in")
        skipped = copy_tree(root / "run", dest / "run-left") if (root / "run").exists() else []
        for name in ("stdout", "stderr"):
            if (root / name).exists():
                shutil.copyfile(root / name, dest / name)
        in_dir = str(dest / "in")
        kept = str(dest)
        (dest / "repro.sh").write_text(
            "#!/bin/sh\n# " + f"{case['id']}: {cls}: {case['kind']} ({case.get('detail', '')})\n"
            'cd "$(mktemp -d)" && ' + repro_command(case, in_dir) + "\n"
        )
        if skipped:
            (dest / "skipped.txt").write_text("\n".join(skipped) + "\n")
    command = repro_command(case, in_dir)
    result.update(
        command=command if len(command) <= 2000 else command[:2000] + " ... (see repro.sh)",
        exit=res["exit"],
        signal=res.get("signal"),
        **{"class": cls},
        flags=flags,
        stderr_first=first[:400],
        stderr_lines=len([x for x in res["stderr"].splitlines() if x.strip()]),
        time_s=res["time_s"],
        rss_mb=res["rss_mb"],
        details=details,
        kept=kept,
        system_temp=res.get("new_system_temp", []),
    )
    shutil.rmtree(root / "run", ignore_errors=True)
    shutil.rmtree(root / "tmp", ignore_errors=True)
    shutil.rmtree(root / "scratch", ignore_errors=True)
    return result


# ----------------------------------------------------------------------------------------------------------
# main


def find_deconv() -> str:
    here = Path(sys.executable).parent / "deconv"
    return str(here) if here.exists() else (shutil.which("deconv") or "deconv")


def measure_baseline(cfg: dict, tiny: bytes) -> float:
    """Peak RSS of a tiny valid run (the interpreter and its imports), the largest of three."""
    peaks = []
    for i in range(3):
        case = {"id": f"baseline-{i}", "args": ["upsample", "{in}/t.png", "-k", "1x1:1", "-s", "1", "-o", "OUT.png"]}
        root = Path(cfg["work"]) / "baseline" / str(i)
        materialise({"t.png": tiny}, root / "in")
        res = execute({**case, "check": "none"}, cfg, root)
        if res["exit"] != 0:
            sys.exit(f"fuzz: the baseline run failed (exit {res['exit']}): {res['stderr'].strip()[:500]}")
        if res["rss_mb"] is not None:
            peaks.append(res["rss_mb"])
    return max(peaks) if peaks else 0.0


def table(rows: dict[str, Counter], classes: list[str], title: str) -> str:
    cols = [c for c in classes if any(r[c] for r in rows.values())]
    w0 = max([len(title)] + [len(k) for k in rows])
    head = f"{title:<{w0}}  " + "  ".join(f"{c:>{max(5, len(c))}}" for c in cols) + "  total"
    out = [head, "-" * len(head)]
    for k in sorted(rows):
        r = rows[k]
        out.append(f"{k:<{w0}}  " + "  ".join(f"{r[c]:>{max(5, len(c))}}" for c in cols) + f"  {sum(r.values()):>5}")
    tot = Counter()
    for r in rows.values():
        tot.update(r)
    out.append(
        f"{'all':<{w0}}  " + "  ".join(f"{tot[c]:>{max(5, len(c))}}" for c in cols) + f"  {sum(tot.values()):>5}"
    )
    return "\n".join(out)


def summary(results: list[dict]) -> str:
    classes = PRECEDENCE[::-1]
    parts = []
    overall = {g: Counter() for g in ("image", "kernel", "process")}
    by_fmt: dict[str, Counter] = defaultdict(Counter)
    by_kind: dict[str, Counter] = defaultdict(Counter)
    by_kfmt: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        overall[r["group"]][r["class"]] += 1
        if r["group"] == "image":
            by_fmt[r["fmt"]][r["class"]] += 1
            by_kind[r["kind"]][r["class"]] += 1
        elif r["group"] == "kernel":
            by_kfmt[r["fmt"]][r["class"]] += 1
    parts.append(table({k: v for k, v in overall.items() if v}, classes, "group"))
    if by_fmt:
        parts.append(table(by_fmt, classes, "image format"))
        parts.append(table(by_kind, classes, "image mutation"))
    if by_kfmt:
        parts.append(table(by_kfmt, classes, "kernel format"))
    bad = [r for r in results if r["class"] not in CLEAN]
    if bad:
        lines = [f"non-clean cases: {len(bad)}"]
        groups: dict[str, list[dict]] = defaultdict(list)
        for r in bad:
            groups[r["class"]].append(r)
        for cls in PRECEDENCE:
            for r in groups.get(cls, []):
                lines.append(f"  [{cls}] {r['id']} {r['base']} {r['kind']} ({r['detail'][:80]})")
                lines.append(f"      exit {r['exit']}, {r['time_s']} s, {r['rss_mb']} MB; {r['stderr_first'][:160]}")
                if len(r["flags"]) > 1 or cls in (WRONG, DISPUTED, MEMORY, LEFTOVERS):
                    lines.append(f"      flags: {'; '.join(r['flags'])[:400]}")
                cmd = r["command"]
                lines.append(f"      $ {cmd if len(cmd) <= 300 else cmd[:300] + ' ...'}")
        parts.append("\n".join(x for x in lines if x))
    return "\n\n".join(parts)


def recheck_system_temp(results: list[dict]) -> None:
    """A deconv-* entry that appeared in the system temp dir while a case ran counts only if it is still there at
    the end: deconv's runs here have a TMPDIR of their own, so one that came and went was another process's
    (another case's would have been caught in that case's TMPDIR)."""
    tmp = Path(tempfile.gettempdir())
    for r in results:
        if not r["system_temp"]:
            continue
        still = [e for e in r["system_temp"] if (tmp / e).exists()]
        r["flags"] = [f for f in r["flags"] if SYSTEM_TEMP not in f]
        if still:
            r["flags"].append(f"{LEFTOVERS}: {SYSTEM_TEMP}" + ", ".join(still) + " (still there at the end)")
        earned = {f.split(":")[0] for f in r["flags"]}
        r["class"] = next(c for c in PRECEDENCE if c in earned)
        if r["class"] in CLEAN and r["kept"]:
            shutil.rmtree(r["kept"], ignore_errors=True)
            r["kept"] = None


def fuzz(args: argparse.Namespace, cfg: dict, work: Path) -> None:
    """Generate the cases, run them, write the report and print the summary."""
    version = subprocess.run([args.deconv, "--version"], capture_output=True, text=True).stdout.strip()
    vips_version = subprocess.run(["vips", "--version"], capture_output=True, text=True).stdout.strip()

    t0 = time.monotonic()
    rng = np.random.default_rng(args.seed)
    bases = make_bases(rng)
    small = png_encode(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), 8, 2)
    grey12 = png_encode(np.array([[10, 200]], np.uint8), 8, 0)
    big = png_encode(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), 8, 2, level=1)
    cases = image_cases(rng, bases, args.images)
    cases += kernel_cases(rng, args.kernels, small, grey12)
    if not args.no_process:
        cases += process_cases(bases["png_rgb8"]["data"], big)
    if args.only:
        cases = [c for c in cases if re.search(args.only, c["id"])]
    for c in cases:
        materialise(c["files"], work / "cases" / c["id"] / "in")
    gen_s = time.monotonic() - t0
    print(f"fuzz: seed {args.seed}: {len(cases)} cases generated in {gen_s:.1f} s under {work}", file=sys.stderr)

    cfg["baseline_mb"] = measure_baseline(cfg, png_encode(np.zeros((2, 2), np.uint8), 8, 0))
    print(f"fuzz: baseline peak RSS {cfg['baseline_mb']} MB; {version}; vips {vips_version}", file=sys.stderr)
    light = [{k: v for k, v in c.items() if k != "files"} for c in cases]
    results = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_case, c, cfg) for c in light]
        for n, f in enumerate(concurrent.futures.as_completed(futures), 1):
            r = f.result()
            results.append(r)
            if r["class"] not in CLEAN:
                print(f"fuzz: [{n}/{len(cases)}] {r['id']} {r['class']}: {r['kind']}", file=sys.stderr)
            elif n % 50 == 0:
                print(f"fuzz: [{n}/{len(cases)}]", file=sys.stderr)
    results.sort(key=lambda r: r["id"])
    recheck_system_temp(results)
    elapsed = time.monotonic() - t0

    report = {
        "seed": args.seed,
        "deconv": version,
        "vips": vips_version,
        "command": shlex.join([sys.executable, *sys.argv]),
        "timeout_s": args.timeout,
        "jobs": args.jobs,
        "mem_limit_mb": args.mem_limit_mb,
        "baseline_rss_mb": cfg["baseline_mb"],
        "rss_source": "/usr/bin/time %M" if cfg["gnu_time"] else "os.wait4 ru_maxrss",
        "elapsed_s": round(elapsed, 1),
        "bases": {k: {"fmt": v["fmt"], "note": v["note"], "bytes": len(v["data"])} for k, v in bases.items()},
        "counts": dict(Counter(r["class"] for r in results)),
        "cases": results,
    }
    Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(summary(results))
    print(f"\nseed {args.seed}, {len(results)} cases in {elapsed:.0f} s; report {args.out}; kept {args.keep or '-'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seed", type=int, required=True, help="everything generated derives from it")
    ap.add_argument("--images", type=int, default=520, help="image mutants, bases unmutated included (default 520)")
    ap.add_argument("--kernels", type=int, default=None, help="hostile kernels (default: the whole catalogue, 300+)")
    ap.add_argument("--no-process", action="store_true", help="skip the process-level cases")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per run (default 30)")
    ap.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    ap.add_argument("--out", default="/tmp/fuzz-report.json", help="JSON report (default /tmp/fuzz-report.json)")
    ap.add_argument("--keep", default="/tmp/fuzz-keep", help="files of non-clean cases go here ('' for none)")
    ap.add_argument("--work", default=None, help="work directory (default: a new one under the temp dir, removed)")
    ap.add_argument("--deconv", default=find_deconv(), help="the deconv executable (default: beside this Python)")
    ap.add_argument("--mem-limit-mb", type=int, default=8192, help="RLIMIT_AS of each run, MB (0: none; default 8192)")
    ap.add_argument("--only", default=None, help="run only the cases whose id matches this regular expression")
    args = ap.parse_args(argv)

    if not shutil.which("vips"):
        sys.exit("fuzz: the vips command is missing: apt-get install -y libvips-tools")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="fuzzwork-"))
    if args.work:
        shutil.rmtree(work / "cases", ignore_errors=True)
        shutil.rmtree(work / "baseline", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        Path(args.keep).mkdir(parents=True)
    cfg = {
        "work": str(work),
        "deconv": args.deconv,
        "timeout": args.timeout,
        "keep": args.keep,
        "gnu_time": os.access("/usr/bin/time", os.X_OK),
        "mem_limit_mb": args.mem_limit_mb,
        "baseline_mb": 0.0,
    }
    try:
        fuzz(args, cfg, work)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
