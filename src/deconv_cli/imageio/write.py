"""Saving results: formats and what each can store, rounding and clipping into the storage
type, and a whole array or a plan's strips written atomically."""

from __future__ import annotations

import math
import os
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import DeconvError, one_line
from .atomic import atomic_write
from .image import CHANNELS, ImageData, depth_max
from .native import native_stderr
from .pngstream import PngStream, write_png

#: Output extension -> Pillow format name (``npy`` is the raw float array).
WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pnm": "PPM",
    ".tga": "TGA",
    ".npy": "NPY",
}

#: PNG compression without ``compress``: the run-length strategy (``Z_RLE``) over Up-filtered
#: rows. On upsampled photos it encodes a little faster than level 1 and 3-18% smaller (about
#: level 2's size); figures in bench/README.md. An explicit ``compress=N`` is deflate level N (zlib-ng's) with
#: the default strategy.
DEFAULT_PNG_COMPRESS = 1
DEFAULT_PNG_STRATEGY = zlib.Z_RLE
#: JPEG quality without --quality (WebP is lossless without it).
DEFAULT_JPEG_QUALITY = 95

#: Largest ICC profile copied into an output: Pillow's PNG reader refuses a larger iCCP chunk
#: (``PngImagePlugin.MAX_TEXT_CHUNK``), and an output deconv cannot read back is not written.
MAX_ICC_BYTES = 1 << 20

#: Largest resolution copied into an output: JPEG's JFIF header holds it in 16 bits.
MAX_DPI = 65535

#: What each format can store: depth -> channel layouts.
CAPS: dict[str, dict[object, tuple[str, ...]]] = {
    "PNG": {8: ("L", "LA", "RGB", "RGBA"), 16: ("L", "LA", "RGB", "RGBA")},
    "JPEG": {8: ("L", "RGB")},
    "TIFF": {8: ("L", "LA", "RGB", "RGBA"), 16: ("L",), 32: ("L",), "float": ("L",)},
    # Pillow writes RGBA as a 32-bit BMP whose fourth byte readers (Pillow included) take as padding.
    "BMP": {8: ("L", "RGB")},
    "WEBP": {8: ("RGB", "RGBA")},
    # alpha as GIF's one transparent palette entry: below GIF_ALPHA_THRESHOLD transparent, else opaque
    "GIF": {8: ("L", "LA", "RGB", "RGBA")},
    "PPM": {8: ("L", "RGB"), 16: ("L",)},
    "TGA": {8: ("L", "LA", "RGB", "RGBA")},
}


@dataclass
class SaveReport:
    """What :func:`save_image` wrote; clipped counts are samples, not pixels."""

    path: str
    format: str
    depth: int | str
    clipped_low: int = 0
    clipped_high: int = 0
    warnings: list[str] = field(default_factory=list)
    #: Time spent computing strips (and converting, and for PNG compressing them): see save_strips.
    strip_seconds: float = 0.0

    @property
    def clipped(self) -> int:
        return self.clipped_low + self.clipped_high


def output_format(path: str | os.PathLike) -> str:
    """Pillow format name (or ``"NPY"``) for an output path, from its extension."""
    suffix = Path(path).suffix.lower()
    try:
        return WRITE_FORMATS[suffix]
    except KeyError:
        exts = ", ".join(sorted(WRITE_FORMATS))
        raise DeconvError(
            f"{path}: cannot tell the output format from {suffix or 'a missing extension'!r}; use one of {exts}",
            usage=True,
        ) from None


def check_quality(p: Path, fmt: str, quality: int | None) -> None:
    """A ``quality`` is 1..100 and for a lossy format (JPEG, WebP)."""
    if quality is not None and not 1 <= quality <= 100:
        raise DeconvError(f"quality must be 1..100, got {quality}", usage=True)
    if quality is not None and fmt not in ("JPEG", "WEBP"):
        kind = "the raw float array" if fmt == "NPY" else "lossless"
        raise DeconvError(
            f"{p}: --quality is for JPEG and WebP outputs; {fmt} is {kind}"
            + (" (--compress sets its deflate level)" if fmt == "PNG" else ""),
            usage=True,
        )


def check_writable(
    path: str | os.PathLike, *, overwrite: bool = False, depth=None, channels=None, quality: int | None = None
) -> str:
    """Refuse early what :func:`save_image` would refuse; return the format."""
    p = Path(path)
    if p.is_dir():
        raise DeconvError(f"{p}: is a directory; give a file name to write (or --out-dir {p} for a batch)", usage=True)
    fmt = output_format(p)
    check_quality(p, fmt, quality)
    if p.exists() and not overwrite:
        raise DeconvError(f"{p}: already exists; pass --overwrite to replace it")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise DeconvError(f"{p}: the directory {parent} does not exist")
    if depth is not None and channels is not None and fmt != "NPY":
        _check_caps(p, fmt, depth, channels)
    return fmt


#: The extension each format is written under, for messages that suggest one.
EXTENSION = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "TIFF": ".tif",
    "BMP": ".bmp",
    "WEBP": ".webp",
    "GIF": ".gif",
    "PPM": ".ppm",
}
#: A GIF pixel is transparent where its alpha is below this fraction of full (GIF has no partial alpha).
GIF_ALPHA_THRESHOLD = 0.5


def holders(depth, channels: str) -> list[str]:
    """The extensions whose format stores ``depth``-bit ``channels`` images (``.npy`` always).

    >>> holders(16, "RGB"), holders("float", "RGBA")
    (['.png', '.npy'], ['.npy'])
    """
    found = [EXTENSION[f] for f, caps in CAPS.items() if f in EXTENSION and channels in caps.get(depth, ())]
    return found + [".npy"]


def _way_out(p: Path, fmt: str, depth, channels: str) -> str:
    """What to do instead: the formats that can hold the data, and ``--depth 8`` where this one holds 8 bits."""
    exts = holders(depth, channels)
    listed = ", ".join(exts[:-1]) + f" or {exts[-1]}" if len(exts) > 1 else exts[0]
    eight = depth != 8 and channels in CAPS[fmt].get(8, ())
    return f"write {listed} instead" + (f", or keep {p.suffix} with --depth 8" if eight else "")


def _check_caps(p: Path, fmt: str, depth, channels: str) -> None:
    caps = CAPS[fmt]
    bits = "floating-point" if depth == "float" else f"{depth}-bit"
    if depth not in caps:
        stores = ", ".join("float" if d == "float" else f"{d}-bit" for d in caps)
        raise DeconvError(
            f"{p}: {fmt} cannot store {bits} {channels} data (it stores {stores}); {_way_out(p, fmt, depth, channels)}"
        )
    if channels not in caps[depth]:
        raise DeconvError(
            f"{p}: {fmt} cannot store {bits} {channels} images (only {', '.join(caps[depth])}); "
            f"{_way_out(p, fmt, depth, channels)}"
        )


_STORAGE = {8: np.uint8, 16: np.uint16, 32: np.int32, "float": np.float32}


def storage_dtype(depth: int | str) -> np.dtype:
    """The array dtype that holds samples of ``depth``."""
    return np.dtype(_STORAGE[depth])


def store(result: np.ndarray, depth: int | str, out: np.ndarray) -> tuple[int, int, int]:
    """Round half up, clip and write ``result`` into ``out`` (of :func:`storage_dtype`).

    ``result`` may be used as scratch: a float result is overwritten. Returns
    the samples clipped below 0 and above the maximum, and the NaN samples
    (stored as 0, counted in neither). Floats (``depth="float"``) are stored
    as float32 unclipped.
    """
    if depth == "float":
        with np.errstate(over="ignore"):  # beyond float32's range: +-inf, like any float writer
            np.copyto(out, result, casting="unsafe")
        return 0, 0, 0
    hi = depth_max(depth)
    lo = -(2.0**31) if depth == 32 else 0.0
    if result.dtype.kind != "f":  # integers: nothing to round
        low, high = int(np.count_nonzero(result < lo)), int(np.count_nonzero(result > hi))
        np.copyto(out, np.clip(result, lo, hi) if low or high else result, casting="unsafe")
        return low, high, 0
    # float32 cannot hold 2**31 - 1: round and clip 32-bit results in float64
    work = result.astype(np.float64) if depth == 32 and result.dtype.itemsize < 8 else result
    np.add(work, 0.5, out=work)
    np.floor(work, out=work)
    low = high = nans = 0
    if work.size and not (work.min() >= lo and work.max() <= hi):  # also taken when NaN is present
        low, high = int(np.count_nonzero(work < lo)), int(np.count_nonzero(work > hi))
        np.clip(work, lo, hi, out=work)
        nan = np.isnan(work)
        nans = int(np.count_nonzero(nan))
        if nans:
            work[nan] = 0
    np.copyto(out, work, casting="unsafe")
    return low, high, nans


def to_storage(result: np.ndarray, depth: int | str) -> tuple[np.ndarray, int, int]:
    """Round half up and clip a float result into the integer type of ``depth``.

    Returns the stored array and how many samples were clipped below 0 and
    above the maximum (floats are stored as float32 unclipped). NaN samples
    are stored as 0 and counted in neither.

    >>> to_storage(np.array([-3.0, 0.5, 254.49, 300.0]), 8)
    (array([  0,   1, 254, 255], dtype=uint8), 1, 1)
    """
    result = np.asarray(result)
    out = np.empty(result.shape, storage_dtype(depth))
    work = result.copy() if result.dtype.kind == "f" else result
    low, high, _ = store(work, depth, out)
    return out, low, high


def _save_options(
    p: Path, fmt: str, depth, channels: str, like: ImageData | None, compress: int | None, quality: int | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Pillow's save options for a format, and warnings."""
    _check_caps(p, fmt, depth, channels)
    if compress is not None and not 0 <= compress <= 9:
        raise DeconvError(f"compress must be 0..9, got {compress}", usage=True)
    check_quality(p, fmt, quality)
    opts: dict[str, Any] = {}
    notes: list[str] = []
    if like is not None and like.icc_profile and fmt in ("PNG", "JPEG", "TIFF", "WEBP"):
        if len(like.icc_profile) <= MAX_ICC_BYTES:
            opts["icc_profile"] = like.icc_profile
        else:
            notes.append(
                f"{p}: the input's ICC profile ({len(like.icc_profile)} bytes) is larger than the "
                f"{MAX_ICC_BYTES} bytes a PNG reader accepts; written without it"
            )
    if like is not None and like.dpi and fmt in ("PNG", "JPEG", "TIFF", "BMP"):
        if all(math.isfinite(d) and 0 < d <= MAX_DPI for d in like.dpi):
            opts["dpi"] = like.dpi
        else:
            notes.append(
                f"{p}: the input's resolution {like.dpi[0]:g}x{like.dpi[1]:g} DPI is not storable; written without it"
            )
    if fmt == "PNG":
        opts["compress_level"] = DEFAULT_PNG_COMPRESS if compress is None else compress
        opts["strategy"] = DEFAULT_PNG_STRATEGY if compress is None else zlib.Z_DEFAULT_STRATEGY
    elif fmt == "JPEG":
        opts["quality"] = DEFAULT_JPEG_QUALITY if quality is None else quality
    elif fmt == "WEBP":
        opts["lossless"] = quality is None  # lossless unless a quality is asked for
        if quality is not None:
            opts["quality"] = quality
        opts["exact"] = True  # else libwebp rewrites the colour of fully transparent pixels
    elif fmt == "GIF" and channels == "L":
        opts["optimize"] = False  # keep the identity grey palette, which Pillow reads back as L
    elif fmt == "TIFF":
        opts["compression"] = "tiff_deflate" if depth != "float" else None
    if fmt == "GIF" and channels != "L":
        alpha = "; alpha below 50% became transparent, the rest opaque" if channels in ("LA", "RGBA") else ""
        notes.append(f"{p}: GIF stores at most 256 colours; the result was quantised{alpha}")
    return opts, notes


def _write_stored(f: IO[bytes], fmt: str, stored: np.ndarray, channels: str, depth, opts: dict[str, Any]) -> None:
    """Write samples already in their storage dtype."""
    if fmt == "PNG":
        write_png(f, stored, channels, depth, int(opts["compress_level"]), opts)
        return
    from PIL import Image

    if fmt == "GIF" and channels in ("LA", "RGBA"):
        _write_gif_alpha(f, stored, opts)
        return
    # uint8 -> L/LA/RGB/RGBA, uint16 -> I;16, int32 -> I, float32 -> F
    image = Image.fromarray(np.ascontiguousarray(stored))
    if fmt != "TIFF":
        image.save(f, format=fmt, **opts)
        return
    said: list[str] = []  # libtiff reports a full disk on stderr, then Pillow says "encoder error"
    try:
        with native_stderr(said):
            image.save(f, format=fmt, **opts)
    except OSError as e:  # atomic_write names the file and removes the temporary one
        raise OSError(f"libtiff: {one_line(said[0])}" if said else one_line(e)) from None


def _write_gif_alpha(f: IO[bytes], stored: np.ndarray, opts: dict[str, Any]) -> None:
    """An 8-bit LA/RGBA image as a GIF: the colours in an adaptive palette of at most 255 entries,
    and entry 255 transparent, for every pixel whose alpha is below :data:`GIF_ALPHA_THRESHOLD`."""
    from PIL import Image

    colour = stored[..., :-1]
    rgb = np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else colour
    indexed = Image.fromarray(np.ascontiguousarray(rgb)).convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
    index = np.asarray(indexed).copy()
    index[stored[..., -1] < round(255 * GIF_ALPHA_THRESHOLD)] = 255
    palette = (indexed.getpalette() or [])[: 255 * 3]
    palette += [0] * (256 * 3 - len(palette))
    out = Image.fromarray(index, mode="P")
    out.putpalette(palette)
    out.save(f, format="GIF", transparency=255, optimize=False, **opts)


def _nan_warning(p: Path, nans: int) -> list[str]:
    return [f"{p}: {nans} samples were NaN (not a number); stored as 0"] if nans else []


def save_image(
    path: str | os.PathLike,
    result: np.ndarray,
    *,
    channels: str,
    depth: int | str,
    like: ImageData | None = None,
    compress: int | None = None,
    overwrite: bool = False,
    quality: int | None = None,
) -> SaveReport:
    """Save a float result atomically, in the format its extension names.

    Parameters
    ----------
    path : str or path
        ``.png .jpg .tif .bmp .webp .gif .ppm/.pgm .tga`` or ``.npy`` (the raw
        float array, no rounding or clipping).
    result : (H, W) or (H, W, C) ndarray
        Values in the units of ``depth`` (0..255 for 8-bit, 0..65535 for 16-bit).
    channels : {'L', 'LA', 'RGB', 'RGBA'}
    depth : {8, 16, 32, 'float'}

    Other parameters
    ----------------
    like : ImageData, optional
        Source of the ICC profile and DPI to keep where the format allows.
    compress : int 0..9, optional
        PNG deflate level (zlib-ng's); without it, :data:`DEFAULT_PNG_STRATEGY` (the run-length strategy).
    quality : int 1..100, optional
        JPEG quality (default :data:`DEFAULT_JPEG_QUALITY`), or lossy WebP at this quality
        (default lossless); refused for the other formats.
    overwrite : bool
        Replace an existing file (otherwise :class:`DeconvError`).

    Returns
    -------
    SaveReport
        Format, depth and the number of clipped samples.

    Notes
    -----
    Integer outputs are rounded half up (as Pillow rounds) and clipped to the
    depth's range; the clipped samples are counted (NaN samples are stored
    as 0, with a warning). JPEG is written at quality 95 and WebP losslessly unless ``quality`` says otherwise,
    keeping the colour of fully transparent pixels. PNGs are written by
    :class:`PngStream`. A ``result`` whose shape does not fit ``channels`` is
    refused.
    """
    p = Path(path)
    fmt = output_format(p)
    result = np.asarray(result)
    report = SaveReport(str(p), fmt, "float" if fmt == "NPY" else depth)
    if fmt == "NPY":
        atomic_write(p, lambda f: np.save(f, result, allow_pickle=False), overwrite=overwrite)
        return report
    opts, report.warnings = _save_options(p, fmt, depth, channels, like, compress, quality)
    result = _check_layout(p, result, channels)
    stored = np.empty(result.shape, storage_dtype(depth))
    work = result.copy() if result.dtype.kind == "f" else result
    report.clipped_low, report.clipped_high, nans = store(work, depth, stored)
    report.warnings += _nan_warning(p, nans if depth != "float" else 0)
    atomic_write(p, lambda f: _write_stored(f, fmt, stored, channels, depth, opts), overwrite=overwrite)
    return report


def save_strips(
    path: str | os.PathLike,
    plan,
    *,
    channels: str,
    depth: int | str,
    like: ImageData | None = None,
    compress: int | None = None,
    overwrite: bool = False,
    scale: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
    quality: int | None = None,
) -> SaveReport:
    """Compute a :class:`~deconv_cli.engine.Plan` strip by strip straight into the file.

    As :func:`save_image`, with the float result never held whole: each strip
    is multiplied by ``scale`` (a depth change), rounded and clipped into the
    storage dtype as soon as it is computed. A PNG is filtered and compressed
    strip by strip too, so only the input, the compressed output and a few
    strips are in memory; other formats hold the stored samples (what Pillow
    needs to encode them); ``.npy`` holds the float result, which is the file.
    """
    p = Path(path)
    fmt = output_format(p)
    h, w, c = plan.shape
    shape = (h, w) if c == 1 else (h, w, c)
    report = SaveReport(str(p), fmt, "float" if fmt == "NPY" else depth)
    if fmt == "NPY":
        t0 = time.perf_counter()
        out = np.empty(plan.shape, plan.dtype)
        sink = (lambda o0, strip: strip.__imul__(scale)) if scale != 1.0 else None
        for done, _ in enumerate(plan.run(out=out, sink=sink), 1):
            _tell(progress, done, plan)
        result = out[:, :, 0] if plan.squeeze else out  # a learned layer's one channel stays (H, W, 1)
        report.strip_seconds = time.perf_counter() - t0
        atomic_write(p, lambda f: np.save(f, result, allow_pickle=False), overwrite=overwrite)
        return report
    opts, report.warnings = _save_options(p, fmt, depth, channels, like, compress, quality)
    if len(channels) != c:
        raise DeconvError(f"{p}: cannot save an image of {c} channel(s) as {channels}")
    dtype = storage_dtype(depth)
    counts = [0, 0, 0]  # clipped low, clipped high, NaN: summed on the calling thread only

    def convert(strip: np.ndarray, out: np.ndarray) -> tuple[int, int, int]:
        if scale != 1.0:
            strip *= scale
        return store(strip if c > 1 else strip[:, :, 0], depth, out)

    if fmt == "PNG":
        level = int(opts["compress_level"])
        local = threading.local()

        def write_png(f: IO[bytes]) -> None:
            t0 = time.perf_counter()
            png = PngStream(
                f,
                w,
                h,
                channels,
                int(depth),
                level,
                icc_profile=opts.get("icc_profile"),
                dpi=opts.get("dpi"),
                strategy=opts.get("strategy"),
            )
            png.start()

            def sink(o0: int, strip: np.ndarray):
                buf = getattr(local, "buf", None)  # this thread's stored rows
                if buf is None or buf.shape[0] < strip.shape[0]:
                    buf = local.buf = np.empty((strip.shape[0],) + shape[1:], dtype)
                part = buf[: strip.shape[0]]
                found = convert(strip, part)
                return png.encode(part), found, len(part)

            for done, (piece, found, rows) in enumerate(plan.run(sink=sink), 1):
                png.write(piece, rows)
                counts[:] = [a + b for a, b in zip(counts, found, strict=True)]
                _tell(progress, done, plan)
            png.finish()
            report.strip_seconds = time.perf_counter() - t0

        atomic_write(p, write_png, overwrite=overwrite)
    else:
        stored = np.empty(shape, dtype)
        t0 = time.perf_counter()
        for done, found in enumerate(
            plan.run(sink=lambda o0, strip: convert(strip, stored[o0 : o0 + strip.shape[0]])), 1
        ):
            counts[:] = [a + b for a, b in zip(counts, found, strict=True)]
            _tell(progress, done, plan)
        report.strip_seconds = time.perf_counter() - t0
        atomic_write(p, lambda f: _write_stored(f, fmt, stored, channels, depth, opts), overwrite=overwrite)
    report.clipped_low, report.clipped_high = counts[0], counts[1]
    report.warnings += _nan_warning(p, counts[2] if depth != "float" else 0)
    return report


def _tell(progress: Callable[[int, int], None] | None, done: int, plan) -> None:
    """``progress(strips done, strips in all)``, if someone asked."""
    if progress is not None:
        progress(done, len(plan.strips()))


def _check_layout(p: Path, result: np.ndarray, channels: str) -> np.ndarray:
    """The result as (H, W) for L and (H, W, C) otherwise, or DeconvError if it does not fit ``channels``."""
    n = len(channels) if channels in CHANNELS.values() else 0
    if n == 0:
        raise DeconvError(f"{p}: unknown channel layout {channels!r}; use L, LA, RGB or RGBA")
    if result.ndim == 3 and result.shape[2] == n:
        return result[:, :, 0] if n == 1 else result
    if result.ndim == 2 and n == 1:
        return result
    raise DeconvError(f"{p}: cannot save an array of shape {result.shape} as {channels} ({n} channel(s))")
