"""The decoded image: its samples in their own units, and what is needed to save it faithfully."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine import Rows

#: Channel count -> layout.
CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


@dataclass
class ImageData:
    """Pixels and what is needed to save them faithfully.

    Attributes
    ----------
    pixels : (H, W) or (H, W, C) ndarray, or :class:`~deconv_cli.engine.Rows`
        uint8 (depth 8), uint16 (depth 16), int32 (depth 32) or float32
        (depth ``"float"``), channels last, EXIF orientation applied. Rows (the
        decoder's own image, read a range of rows at a time) when the caller
        asked :func:`~.read.decode` for ``rows`` and the image allowed it.
    channels : {'L', 'LA', 'RGB', 'RGBA'}
    depth : {8, 16, 32, 'float'}
    """

    pixels: np.ndarray | Rows
    channels: str
    depth: int | str
    format: str | None = None
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def array(self) -> np.ndarray:
        """The pixels as one array: rows are read in full here, once, and kept."""
        if isinstance(self.pixels, Rows):
            self.pixels = np.asarray(self.pixels)
        return self.pixels

    @property
    def alpha_channel(self) -> int | None:
        return self.pixels.shape[2] - 1 if self.channels in ("LA", "RGBA") else None

    @property
    def alpha_max(self) -> float:
        return float(depth_max(self.depth))

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)"""
        return self.pixels.shape[0], self.pixels.shape[1]


def depth_max(depth: int | str) -> float:
    """The value of a full-scale sample: 255 (8-bit), 65535 (16-bit), 2**31 - 1 (32-bit), 1 (float).

    >>> depth_max(8), depth_max("float")
    (255.0, 1.0)
    """
    return {8: 255.0, 16: 65535.0, 32: 2.0**31 - 1}.get(depth, 1.0) if isinstance(depth, int) else 1.0
