"""Images in and out: reading (:mod:`.read`), the decoded image (:mod:`.image`), saving
(:mod:`.write`) through atomic files (:mod:`.atomic`) and a threaded PNG encoder
(:mod:`.pngstream`)."""

from .atomic import atomic_write
from .image import CHANNELS, ImageData, depth_max
from .pngstream import PngStream, png_pieces
from .read import READ_FORMATS, Header, decode, image_size, load_image, probe
from .write import (
    CAPS,
    DEFAULT_PNG_COMPRESS,
    DEFAULT_PNG_STRATEGY,
    WRITE_FORMATS,
    SaveReport,
    check_writable,
    output_format,
    save_image,
    save_strips,
    storage_dtype,
    store,
    to_storage,
)

__all__ = [
    "CAPS",
    "Header",
    "decode",
    "probe",
    "CHANNELS",
    "DEFAULT_PNG_COMPRESS",
    "DEFAULT_PNG_STRATEGY",
    "READ_FORMATS",
    "WRITE_FORMATS",
    "ImageData",
    "PngStream",
    "SaveReport",
    "atomic_write",
    "check_writable",
    "depth_max",
    "image_size",
    "load_image",
    "output_format",
    "png_pieces",
    "save_image",
    "save_strips",
    "storage_dtype",
    "store",
    "to_storage",
]
