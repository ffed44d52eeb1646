"""Hostile image files, generated here: damage is an error (never pixels made up), and every
size limit is applied from the header, before anything is decoded or allocated.

Each case was accepted with exit 0 or ran out of memory before: a PNG whose image data is
random (valid CRCs), ends early or runs long; a 16-bit PNG with fewer rows than its header
(whose missing rows came out as uninitialised memory); a JPEG whose header claims more
pixels than its data holds (grey made up by the decoder); headers forged to huge sizes; a
JPEG with thousands of scans; a TIFF with many pages; pipes and devices as inputs.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deconv_cli import DeconvError
from deconv_cli.imageio import load_image, probe
from deconv_cli.imageio.containers import MAX_JPEG_SCANS, check_png, png_data_length

from conftest import SAMPLES, pixels, run

# ---------------------------------------------------------------------------- PNG building blocks


def chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png(w: int, h: int, depth: int, colour: int, idat: bytes, *, interlace: int = 0, before=b"", after=b"") -> bytes:
    """A PNG with the given IHDR and IDAT payload, every CRC valid."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + before + chunk(b"IDAT", idat) + after + chunk(b"IEND", b"")


def rows(w: int, h: int, bytes_per_pixel: int, seed: int = 0) -> bytes:
    """Filtered image data: each row a filter byte 0 and random samples."""
    rng = np.random.default_rng(seed)
    return b"".join(b"\x00" + rng.integers(0, 256, w * bytes_per_pixel, dtype=np.uint8).tobytes() for _ in range(h))


def refused(tmp_path: Path, src: Path, *words: str, args=("-k", "1x1:1", "-s", "1")) -> str:
    """Run the CLI on ``src``: exit 1, one line on stderr naming the file and ``words``, no output file."""
    dst = tmp_path / "out.png"
    r = run("upsample", src, "-o", dst, "-q", *args)
    assert r.exit_code == 1, (r.exit_code, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("deconv: error: ") and str(src) in lines[0], r.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert r.stdout == "" and not dst.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    return lines[0]


# ---------------------------------------------------------------------------- wrong pixels with exit 0 before


@pytest.mark.parametrize("exif_after", [False, True], ids=["plain", "eXIf-after-IDAT"])
def test_png_with_random_image_data_is_refused(tmp_path, exif_after):
    """300 random bytes of IDAT with a valid CRC: Pillow's EXIF lookup decoded the image, its error
    was swallowed as an EXIF warning, and an all-black output came out with exit 0."""
    rng = np.random.default_rng(1)
    exif = chunk(b"eXIf", b"MM\x00*\x00\x00\x00\x08\x00\x00") if exif_after else b""
    src = tmp_path / "random.png"
    src.write_bytes(png(64, 64, 8, 2, rng.integers(0, 256, 300, dtype=np.uint8).tobytes(), after=exif))
    refused(tmp_path, src, "corrupt PNG")


@pytest.mark.parametrize("depth", [8, 16])
def test_png_whose_image_data_ends_early_is_refused_at_every_bit_depth(tmp_path, depth):
    """A valid zlib stream holding half the rows: Pillow filled the rest with black (8-bit) and
    pypng left uninitialised memory (16-bit), both with exit 0."""
    data = rows(64, 64, 3 * depth // 8)
    src = tmp_path / f"short{depth}.png"
    src.write_bytes(png(64, 64, depth, 2, zlib.compress(data[: len(data) // 2])))
    msg = refused(tmp_path, src, "truncated PNG", "IDAT")
    assert f"of the {len(data)} bytes a 64x64 image needs" in msg


def test_png_with_more_image_data_than_its_header_is_refused(tmp_path):
    data = rows(32, 32, 3)
    src = tmp_path / "long.png"
    src.write_bytes(png(32, 32, 8, 2, zlib.compress(data + data[:500])))
    refused(tmp_path, src, "corrupt PNG", "more image data")


def test_png_with_an_unknown_interlace_method_is_refused(tmp_path):
    src = tmp_path / "interlace2.png"
    src.write_bytes(png(32, 32, 8, 2, zlib.compress(rows(32, 32, 3)), interlace=2))
    refused(tmp_path, src, "corrupt PNG", "interlace")


def test_idat_bit_flips_with_valid_crcs_never_give_other_pixels(tmp_path):
    """Every single-bit flip of a real PNG's image data (CRC recomputed) is refused, or gives the
    very pixels of the clean file (a flip in a byte zlib does not use): never others."""
    clean = tmp_path / "clean.png"
    with Image.open(SAMPLES / "astronaut.png") as im:
        im.crop((200, 200, 248, 232)).save(clean)
    blob = clean.read_bytes()
    i = blob.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", blob[i : i + 4])
    good = load_image(clean).array
    rng = np.random.default_rng(7)
    outcomes = {"refused": 0, "same": 0}
    for n in range(60):
        data = bytearray(blob[i + 8 : i + 8 + length])
        k = int(rng.integers(0, len(data)))
        data[k] ^= 1 << int(rng.integers(0, 8))
        mutant = tmp_path / f"flip{n}.png"
        mutant.write_bytes(blob[:i] + chunk(b"IDAT", bytes(data)) + blob[i + 12 + length :])
        try:
            got = load_image(mutant).array
        except DeconvError as e:
            assert "PNG" in str(e)
            outcomes["refused"] += 1
            continue
        np.testing.assert_array_equal(got, good)
        outcomes["same"] += 1
    assert outcomes["refused"] >= 50, outcomes


def test_png_data_length_counts_filter_bytes_and_interlace_passes():
    assert png_data_length(1, 1, 16, 6, 0) == 1 + 8
    assert png_data_length(8, 8, 8, 0, 1) == sum(
        h * (1 + w) for w, h in [(1, 1), (1, 1), (2, 1), (2, 2), (4, 2), (4, 4), (8, 4)]
    )


def test_check_png_accepts_what_it_should(tmp_path):
    for depth, colour, bpp in ((8, 2, 3), (16, 0, 2), (8, 6, 4)):
        src = tmp_path / f"ok{depth}{colour}.png"
        src.write_bytes(png(17, 9, depth, colour, zlib.compress(rows(17, 9, bpp))))
        layout = check_png(src)
        assert (layout.width, layout.height, layout.bit_depth) == (17, 9, depth)
        assert load_image(src).size == (9, 17)


def jpeg_bytes(size=(60, 40), **options) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "JPEG", **options)
    return buf.getvalue()


def test_jpeg_whose_header_claims_more_pixels_than_its_data_is_refused(tmp_path):
    """The SOF patched to 8000x8000 in a 2 KB file: libjpeg made up grey for 64 M pixels, exit 0."""
    data = bytearray(jpeg_bytes())
    i = data.index(b"\xff\xc0")
    data[i + 5 : i + 9] = struct.pack(">HH", 8000, 8000)
    src = tmp_path / "sof.jpg"
    src.write_bytes(bytes(data))
    refused(tmp_path, src, "JPEG", "premature end", args=("-k", "1x1:1", "-s", "1", "--max-pixels", "0"))


def test_truncated_jpeg_is_refused(tmp_path):
    data = jpeg_bytes()
    src = tmp_path / "cut.jpg"
    src.write_bytes(data[: len(data) * 2 // 3])
    refused(tmp_path, src)


def test_jpeg_decodes_as_pillow_does(tmp_path):
    for name, options in (("base.jpg", {}), ("prog.jpg", {"progressive": True}), ("sub.jpg", {"subsampling": 2})):
        src = tmp_path / name
        src.write_bytes(jpeg_bytes((61, 37), **options))
        np.testing.assert_array_equal(load_image(src).array, pixels(src))
    grey = tmp_path / "grey.jpg"
    Image.fromarray(np.arange(600, dtype=np.uint8).reshape(20, 30)).save(grey, quality=90)
    im = load_image(grey)
    assert im.channels == "L"
    np.testing.assert_array_equal(im.array, pixels(grey))


def test_jpeg_with_too_many_scans_is_refused_from_its_markers(tmp_path):
    """A progressive JPEG's scans each cost a pass over the image: 20,000 of them took 78 s."""
    data = jpeg_bytes(progressive=True)
    last = data.rindex(b"\xff\xda")  # the last scan, up to EOI
    scan = data[last:-2]
    src = tmp_path / "scans.jpg"
    src.write_bytes(data[:last] + scan * (MAX_JPEG_SCANS + 10) + b"\xff\xd9")
    msg = refused(tmp_path, src, "scans")
    assert str(MAX_JPEG_SCANS) in msg


def test_tiff_pages_are_counted_only_up_to_a_bound(tmp_path):
    """A TIFF with 200,000 pages took minutes, all spent counting pages for a note."""
    src = tmp_path / "pages.tif"
    pages = [Image.new("L", (2, 2), v) for v in range(130)]
    pages[0].save(src, save_all=True, append_images=pages[1:])
    im = load_image(src)
    assert any("more than 100 frames" in w for w in im.warnings)
    np.testing.assert_array_equal(im.array, np.zeros((2, 2), np.uint8))


# ---------------------------------------------------------------------------- limits from the header


def forged_png(path: Path, w: int, h: int, depth: int = 8) -> Path:
    """A small PNG whose IHDR claims w x h (its data holds a few rows)."""
    path.write_bytes(png(w, h, depth, 2, zlib.compress(rows(4, 4, 3 * depth // 8))))
    return path


@pytest.mark.parametrize("depth", [8, 16])
def test_output_limit_is_applied_from_the_header_before_decoding(tmp_path, monkeypatch, depth):
    """A 657 KB PNG claiming 13000x13000 was decoded (2.6 GB) before its 26002x26002 output was refused."""
    import deconv_cli.pipeline.upsample as pipeline

    def never(*a, **k):
        raise AssertionError("decoded before the limits were checked")

    monkeypatch.setattr(pipeline, "decode", never)
    src = forged_png(tmp_path / "big.png", 13000, 13000, depth)
    msg = refused(tmp_path, src, "the output would be 26002x26002", args=("-k", "bilinear", "-s", "2"))
    assert "over the limit of 268435456" in msg


def test_gif_logical_screen_counts_towards_the_limits(tmp_path, monkeypatch):
    import deconv_cli.pipeline.upsample as pipeline

    monkeypatch.setattr(pipeline, "decode", lambda *a, **k: pytest.fail("decoded"))
    data = gif_with(screen=(4000, 4000), frame=(0, 0, 4000, 4000))  # 64 MB as RGBA: under the bomb check
    src = tmp_path / "screen.gif"
    src.write_bytes(bytes(data))
    msg = refused(tmp_path, src, "the output would be", args=("-k", "bilinear", "-s", "2", "--max-pixels", "20000000"))
    assert "8002x8002 = 64032004 pixels" in msg


def test_max_pixels_is_the_only_pixel_limit(tmp_path):
    """Pillow's own bomb limit (89 M pixels warned, 179 M refused) no longer applies on top of
    --max-pixels: 200 M pixels pass the header check with the limit off, and a header over the
    default is refused by deconv's limit, named as such."""
    src = forged_png(tmp_path / "huge.png", 20000, 10000)
    assert probe(src, max_pixels=0).size == (10000, 20000)
    with pytest.raises(DeconvError, match="20000x10000 = 200000000 pixels, over the limit of 100000000"):
        probe(src, max_pixels=100_000_000)
    over = forged_png(tmp_path / "over.png", 20000, 20000)
    with pytest.raises(DeconvError, match="over the limit of 268435456"):
        probe(over)


def test_inspect_refuses_what_it_could_not_hold(tmp_path):
    """inspect --size 4096x4096 -s 8 raised MemoryError (8 GiB) as an internal error."""
    r = run("inspect", "--size", "4096x4096", "-s", "8")
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.startswith("deconv: error: the output would be 32776x32776") and r.stderr.count("\n") == 1


# ---------------------------------------------------------------------------- inputs that are not files


def test_pipes_and_devices_are_named_as_such(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for src, words in ((fifo, "is a pipe (FIFO)"), (Path("/dev/zero"), "is a device"), (tmp_path, "is a directory")):
        with pytest.raises(DeconvError, match=words.replace("(", r"\(").replace(")", r"\)")):
            load_image(src)
    r = run("upsample", fifo, "-o", tmp_path / "o.png")
    assert r.exit_code == 1 and "is a pipe (FIFO), not a file; give - to read an image from standard input" in r.stderr


# ---------------------------------------------------------------------------- outputs that read back


def test_an_oversized_icc_profile_is_dropped_so_the_output_reads_back(tmp_path):
    """A JPEG carrying a 2 MB ICC profile became a PNG that Pillow (and deconv) refused to read."""
    src = tmp_path / "icc.jpg"
    profile = b"\x00" * (2 << 20)
    Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(src, quality=95, icc_profile=profile)
    assert load_image(src).icc_profile == profile
    dst = tmp_path / "out.png"
    r = run("upsample", src, "-o", dst, "-k", "1x1:1", "-s", "1")
    assert r.exit_code == 0, r.stderr
    assert "ICC profile (2097152 bytes) is larger than" in r.stderr and "written without it" in r.stderr
    back = load_image(dst)
    assert back.icc_profile is None and back.size == (8, 8)


def test_a_small_icc_profile_is_kept(tmp_path):
    src = tmp_path / "icc.png"
    Image.fromarray(np.full((4, 4, 3), 9, np.uint8)).save(src, icc_profile=b"profile bytes")
    dst = tmp_path / "out.png"
    assert run("upsample", src, "-o", dst, "-k", "1x1:1", "-s", "1", "-q").exit_code == 0
    assert load_image(dst).icc_profile == b"profile bytes"


def test_pillows_log_lines_do_not_reach_stderr_and_the_reason_is_kept(tmp_path):
    """A TIFF of 7 samples per pixel: Pillow logged "More samples per pixel than can be decoded"
    on stderr beside deconv's own error line."""
    w = h = spp = 2
    spp = 7
    data = bytes(range(w * h * spp))
    bps_at = 8 + 2 + 12 * 11 + 4
    data_at = bps_at + 2 * spp + 8
    entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, spp, bps_at), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, data_at), (277, 3, 1, spp), (278, 3, 1, h), (279, 4, 1, len(data)), (284, 3, 1, 1),
               (338, 3, 4, bps_at + 2 * spp)]  # fmt: skip
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        short = kind == 3 and count == 1
        ifd += (
            struct.pack("<HHIHH", tag, kind, count, value, 0)
            if short
            else struct.pack("<HHII", tag, kind, count, value)
        )
    src = tmp_path / "seven.tif"
    src.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + struct.pack("<7H", *[8] * 7)
                    + bytes(8) + data)  # fmt: skip
    msg = refused(tmp_path, src, "More samples per pixel than can be decoded: 7")
    assert "not an image deconv can read" in msg


# ---------------------------------------------------------------------------- found by fuzzing


def test_palette_indices_beyond_the_palette_are_refused(tmp_path):
    """A GIF whose LZW data was damaged decoded to a few indices beyond its 64-colour palette:
    Pillow painted them black, libvips transparent. Such pixels are made up: refused."""
    src = tmp_path / "palette.gif"
    im = Image.fromarray(np.arange(64 * 48, dtype=np.uint32).reshape(48, 64).__mod__(64).astype(np.uint8), "P")
    im.putpalette([v for i in range(64) for v in (i * 4, 255 - i * 4, 128)])
    im.save(src)
    assert load_image(src).size == (48, 64)
    bad = tmp_path / "beyond.png"  # the same damage, made on purpose: PLTE holds 16 colours, pixels use 64
    plte = chunk(b"PLTE", bytes(v for i in range(16) for v in (i * 16, 0, 0)))
    data = b"".join(b"\x00" + bytes(range(64)) for _ in range(8))
    bad.write_bytes(png(64, 8, 8, 3, zlib.compress(data), before=plte))
    refused(tmp_path, bad, "corrupt PNG", "beyond its 16-colour palette")


def tiff_with(tmp_path: Path, name: str, tags: dict[int, int]) -> Path:
    """A 16-bit grey 64x48 TIFF whose header tags are then patched (ImageLength, BitsPerSample)."""
    src = tmp_path / name
    Image.fromarray(np.arange(64 * 48, dtype=np.uint16).reshape(48, 64)).save(src)
    data = bytearray(src.read_bytes())
    (ifd,) = struct.unpack("<I", data[4:8])
    (n,) = struct.unpack("<H", data[ifd : ifd + 2])
    for k in range(n):
        at = ifd + 2 + 12 * k
        tag = struct.unpack("<H", data[at : at + 2])[0]
        if tag in tags:
            data[at + 8 : at + 12] = struct.pack("<I", tags[tag])
    src.write_bytes(bytes(data))
    return src


def test_tiff_whose_strips_do_not_cover_its_header_is_refused(tmp_path):
    """Height forged to 100000 over one strip of 48 rows: 99,952 rows of zeros came out, exit 0."""
    src = tiff_with(tmp_path, "tall.tif", {257: 100000})
    refused(tmp_path, src, "truncated TIFF", "3072 of the 6400000 pixels")


def test_tiff_with_12_bit_samples_is_refused(tmp_path):
    """Read as 16-bit values 0..4095, the output was 16 times too dark."""
    src = tiff_with(tmp_path, "twelve.tif", {258: 12})
    refused(tmp_path, src, "12-bit samples")


@pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="GNU time measures the peak memory of a command")
def test_a_large_forged_png_is_refused_before_its_canvas_is_allocated(tmp_path):
    """A 12000x12000 PNG header over 10 rows of data: within the pixel limit, so it was decoded
    into a 432 MB canvas of black (896 MB peak) and written out, exit 0."""
    import subprocess

    from conftest import DECONV

    src = tmp_path / "forged.png"
    src.write_bytes(png(12000, 12000, 8, 2, zlib.compress(b"\x00" * (3 * 12000 + 1) * 10)))
    r = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%M",
            *DECONV,
            "upsample",
            str(src),
            "-k",
            "1x1:1",
            "-s",
            "1",
            "-o",
            str(tmp_path / "o.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    *lines, peak_kb = r.stderr.strip().splitlines()
    assert r.returncode == 1 and "truncated PNG" in lines[0] and lines[0].startswith("deconv: error:")
    assert int(peak_kb) < 200_000, f"peak {int(peak_kb) // 1024} MB"


def test_libtiff_lines_on_a_full_disk_become_the_one_error_line(tmp_path):
    """A TIFF written to a full disk: libtiff printed its own two lines on stderr beside
    "write failed (encoder error -2 ...)". A file-size limit stands in for the full disk."""
    import subprocess

    from conftest import DECONV

    limited = (
        "import resource, signal, sys, runpy; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); "
        "sys.argv = ['deconv'] + sys.argv[1:]; runpy.run_module('deconv_cli', run_name='__main__')"
    )
    dst = tmp_path / "out.tif"
    src = SAMPLES / "camera.png"
    r = subprocess.run(
        [DECONV[0], "-c", limited, "upsample", str(src), "-o", str(dst), "-q"], capture_output=True, text=True
    )
    assert r.returncode == 1, r.stderr
    (line,) = r.stderr.splitlines()  # one line: libtiff's own are part of it
    assert line.startswith(f"deconv: error: {dst}: write failed (libtiff: ") and "Write error" in line
    assert list(tmp_path.iterdir()) == []


def gif_bytes() -> bytes:
    """A valid 64x48 GIF of 16 colours (a valid one: the frame covers the screen, every index is in the palette)."""
    im = Image.fromarray(np.arange(48 * 64, dtype=np.uint8).reshape(48, 64) % 16, "P")
    im.putpalette([5 * v for v in range(48)])
    buf = io.BytesIO()
    im.save(buf, "GIF")
    return buf.getvalue()


def test_the_gif_the_hostile_ones_start_from_is_read(tmp_path):
    src = tmp_path / "plain.gif"
    src.write_bytes(gif_bytes())
    image = load_image(src)
    assert image.array.shape[:2] == (48, 64)


def gif_with(screen: tuple[int, int], frame: tuple[int, int, int, int]) -> bytearray:
    """:func:`gif_bytes` with its logical screen and first frame's box (left, top, width, height) patched."""
    data = bytearray(gif_bytes())
    data[6:10] = struct.pack("<HH", *screen)
    at = data.index(b",", 13 + (3 << ((data[10] & 7) + 1)) if data[10] & 0x80 else 13)
    data[at + 1 : at + 9] = struct.pack("<HHHH", *frame)
    return data


@pytest.mark.parametrize(
    "screen, frame",
    [
        ((300, 300), (0, 0, 64, 48)),  # Pillow: background colour around it; libvips: black
        ((640, 480), (0, 0, 64, 48)),  # libvips takes 640x480 for an encoder's default: 64x48
        ((64, 13000), (0, 0, 64, 48)),  # libvips ignores screens over 2048: 64x48
        ((128, 96), (64, 48, 64, 48)),  # offset into the screen
    ],
)
def test_gif_whose_first_frame_does_not_cover_its_screen_is_refused(tmp_path, screen, frame):
    """Readers disagree on the rest of the screen (Pillow filled it with the background colour,
    libvips with black or dropped it): a fuzzed 64x13000 screen over a 64x48 frame came out
    64x13000 here and 64x48 from libvips."""
    src = tmp_path / "partial.gif"
    src.write_bytes(bytes(gif_with(screen, frame)))
    w, h, x, y = frame[2], frame[3], frame[0], frame[1]
    refused(tmp_path, src, f"first frame ({w}x{h} at {x},{y}) does not cover its {screen[0]}x{screen[1]} logical")


def test_gif_whose_first_frame_lies_outside_its_screen_is_refused(tmp_path):
    """A frame moved to x = 65535: Pillow grew the canvas to 65599x48 of background, exit 0."""
    data = bytearray(gif_bytes())
    at = data.index(b",", 13 + (3 << ((data[10] & 7) + 1)) if data[10] & 0x80 else 13)
    data[at + 1 : at + 3] = struct.pack("<H", 65535)
    src = tmp_path / "offset.gif"
    src.write_bytes(bytes(data))
    refused(tmp_path, src, "corrupt GIF", "64x48 at 65535,0", "outside its 64x48 logical screen")


@pytest.mark.parametrize("fmt", ["WEBP", "JPEG", "GIF"])
def test_a_header_claiming_far_more_pixels_than_its_data_can_hold_is_refused_unread(tmp_path, fmt):
    """A 6 KB WebP claiming 16384x16384: its decoder allocated the 1 GiB canvas (peak 1077 MB)
    before finding the data short; a 200-byte GIF whose logical screen is 13000x13000 took
    2150 MB of background. Over 1000:1 (past 64 MiB) is refused from the header; a baseline
    JPEG cannot exceed 256:1, so no valid JPEG is refused."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(buf, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    data = bytearray(buf.getvalue())
    if fmt == "WEBP":  # VP8L: 14-bit width-1 and height-1 after the signature byte 0x2f
        at = data.index(b"VP8L") + 8
        bits = int.from_bytes(data[at + 1 : at + 5], "little")
        bits = (bits & ~((1 << 28) - 1)) | (16383 << 14) | 16383
        data[at + 1 : at + 5] = bits.to_bytes(4, "little")
    elif fmt == "GIF":
        data = gif_with(screen=(13000, 13000), frame=(0, 0, 13000, 13000))
    else:
        i = data.index(b"\xff\xc0")
        data[i + 5 : i + 9] = struct.pack(">HH", 16000, 16000)
    src = tmp_path / f"bomb.{fmt.lower()}"
    src.write_bytes(bytes(data))
    refused(tmp_path, src, "possible decompression bomb", "more than 1000 times as much")


def _bmp(tmp_path, name, mode="RGB") -> Path:
    p = tmp_path / name
    rng = np.random.default_rng(len(name))
    Image.fromarray((rng.random((12, 16, 3)) * 255).astype(np.uint8)).convert(mode).save(p)
    return p


@pytest.mark.parametrize(("field", "value", "end"), [("bpp", 1, 62), ("offbits", 14, 54)])
def test_a_bmp_whose_pixel_offset_lies_inside_its_header_or_palette_is_refused(tmp_path, field, value, end):
    """Pillow reads such pixels after the palette, libvips at the offset: two different pictures, exit 0
    from either; deconv refuses the file instead of picking one (found by the fuzzer)."""
    p = _bmp(tmp_path, "m.bmp")
    data = bytearray(p.read_bytes())
    struct.pack_into("<H" if field == "bpp" else "<I", data, 28 if field == "bpp" else 10, value)
    p.write_bytes(bytes(data))
    r = run("upsample", p, "-o", tmp_path / "o.png")
    assert r.exit_code == 1 and not (tmp_path / "o.png").exists()
    assert (
        f"corrupt BMP: its pixel data offset ({54 if field == 'bpp' else 14}) lies inside its headers and palette, "
        f"which end at byte {end}" in r.stderr
    )


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB"])
def test_well_formed_bmps_of_every_kind_are_read_as_pillow_reads_them(tmp_path, mode):
    p = _bmp(tmp_path, f"ok_{mode}.bmp", mode)
    r = run("upsample", p, "-k", "1x1:1", "-s", 1, "-o", tmp_path / "o.png", "-q")
    assert r.exit_code == 0, r.stderr
    with Image.open(p) as want, Image.open(tmp_path / "o.png") as got:
        np.testing.assert_array_equal(np.asarray(got.convert("RGB")), np.asarray(want.convert("RGB")))
