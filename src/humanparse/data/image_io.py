"""Reading images and label maps robustly, and writing palette label PNGs.

Every failure is a :class:`DataError` that names the file and the problem.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..schemas.base import IGNORE_INDEX
from ..errors import DataError  # re-exported: its historic home


class PixelLimitError(DataError):
    """An image (or label map, video frame) whose declared size is over the pixel limit."""


# A truncated file must fail loudly, not decode into a half-grey image.
ImageFile.LOAD_TRUNCATED_IMAGES = False

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# Images (and label maps, video frames) over this many pixels are refused before they are
# decoded: a file of a few KB can declare 60000x60000 pixels (10.8 GB as RGB). 180 megapixels
# is above the largest camera sensors' photos (150 MP) and takes 540 MB as RGB.
DEFAULT_MAX_PIXELS = 180_000_000


def check_pixel_count(path: str | Path, height: int, width: int, max_pixels: int | None, what: str = "image") -> None:
    """A :class:`DataError` naming the file and its declared size when ``height x width`` is
    over ``max_pixels`` (None: no limit)."""
    if max_pixels is not None and height * width > max_pixels:
        raise PixelLimitError(
            path,
            f"{what} is {width}x{height} pixels (W x H, {height * width:,} in all), over the limit of "
            f"{max_pixels:,} (raise it with --max-pixels / max_pixels)",
        )


# Pillow's own decompression-bomb check (a warning above 89 MP, an error above 179 MP, from a
# process-wide setting) is off while this module reads a file: the limit is ``max_pixels``,
# checked above with the file's name. Reads in several threads share one switch-off.
_pil_check = threading.Lock()
_pil_check_users = 0
_pil_check_saved: int | None = None


@contextmanager
def _own_pixel_limit() -> Iterator[None]:
    global _pil_check_users, _pil_check_saved
    with _pil_check:
        if _pil_check_users == 0:
            _pil_check_saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        _pil_check_users += 1
    try:
        yield
    finally:
        with _pil_check:
            _pil_check_users -= 1
            if _pil_check_users == 0:
                Image.MAX_IMAGE_PIXELS = _pil_check_saved


def _open(path: str | Path, what: str, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    path = Path(path)
    try:
        exists = path.is_file()
    except OSError as e:  # a name too long for the file system, a folder that cannot be entered
        raise DataError(path, f"{what} file cannot be opened: {e.strerror or e}") from None
    if not exists:
        raise DataError(path, f"{what} file does not exist")
    with _own_pixel_limit():
        return _open_source(path, path, what, max_pixels)


def _open_source(source: Path | io.BytesIO, name: str | Path, what: str, max_pixels: int | None) -> Image.Image:
    """Open and decode ``source`` (a file, or bytes in memory) with the header's size checked
    first; ``name`` stands for it in errors."""
    try:
        img = Image.open(source)  # reads the header only
    except UnidentifiedImageError:
        raise DataError(name, f"unreadable {what}: not a known image format") from None
    except Image.DecompressionBombError as e:  # Pillow's own guard, where it is on
        raise PixelLimitError(name, f"{what} is over Pillow's decompression-bomb limit: {e}") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(name, f"unreadable or truncated {what}: {e}") from None
    try:
        check_pixel_count(name, img.height, img.width, max_pixels, what)
        img.load()
    except DataError:
        img.close()
        raise
    except Image.DecompressionBombError as e:
        img.close()
        raise PixelLimitError(name, f"{what} is over Pillow's decompression-bomb limit: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        img.close()
        raise DataError(name, f"unreadable or truncated {what}: {e}") from None
    return img


def _sixteen_to_eight(arr: np.ndarray) -> np.ndarray:
    return np.clip(np.round(arr.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


def read_image(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array, upright.

    EXIF orientation is applied; greyscale is replicated to three channels; alpha is
    composited onto white; palette images are expanded; 16-bit and 32-bit greyscale is
    scaled down to 8 bits. An image over ``max_pixels`` (None: no limit) is refused from its
    header, before it is decoded.
    """
    return _to_rgb(_open(path, "image", max_pixels), path)


def decode_image(data: bytes, name: str = "upload", max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """:func:`read_image` for the bytes of an encoded image (an upload); ``name`` stands for the
    file in errors. Pillow's decompression-bomb guard stays on beside ``max_pixels``; either
    refusal is a :class:`PixelLimitError`."""
    return _to_rgb(_open_source(io.BytesIO(data), name, "image", max_pixels), name)


def _to_rgb(img: Image.Image, path: str | Path) -> np.ndarray:
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as e:  # a corrupt EXIF block should not hide the pixels' problem
        raise DataError(path, f"bad EXIF data: {e}") from None
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        grey = np.asarray(img)
        grey = _sixteen_to_eight(grey) if grey.max(initial=0) > 255 else grey.astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "F":
        grey = np.clip(np.asarray(img), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def read_label(
    path: str | Path,
    num_classes: int | None = None,
    palette: Sequence[Sequence[int]] | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """An (H, W) uint8 map of class ids (255 = ignore).

    Label PNGs hold ids (single channel, or a palette PNG whose indices are the ids). An
    RGB label is decoded through ``palette`` when one is given. With ``num_classes``,
    values other than 0..num_classes-1 and 255 are an error. A label over ``max_pixels``
    (None: no limit) is refused before it is decoded.
    """
    img = _open(path, "label", max_pixels)
    if img.mode in ("P", "L"):
        label = np.asarray(img, dtype=np.uint8)
    elif img.mode in ("I;16", "I;16B", "I;16L", "I"):
        raw = np.asarray(img)
        if raw.max(initial=0) > 255 or raw.min(initial=0) < 0:
            raise DataError(path, f"label values {raw.min()}..{raw.max()} do not fit class ids 0..255")
        label = raw.astype(np.uint8)
    elif img.mode in ("RGB", "RGBA"):
        rgb = np.asarray(img.convert("RGB"))
        if palette is None:
            if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
                label = np.ascontiguousarray(rgb[..., 0])
            else:
                raise DataError(path, "label is a colour image; expected class ids (give a palette to decode colours)")
        else:
            label = colours_to_ids(rgb, palette, path)
    else:
        raise DataError(path, f"label image mode {img.mode!r} is not a class-id map")
    if num_classes is not None:
        check_label_values(label, num_classes, path)
    return label


def colours_to_ids(rgb: np.ndarray, palette: Sequence[Sequence[int]], path: str | Path = "") -> np.ndarray:
    """Decode a colour-coded label; colours not in the palette are an error."""
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    lut = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(palette)}
    out = np.full(codes.shape, IGNORE_INDEX, dtype=np.uint8)
    unknown = np.ones(codes.shape, dtype=bool)
    for code, idx in lut.items():
        m = codes == code
        out[m] = idx
        unknown &= ~m
    if unknown.any():
        c = int(codes[unknown][0])
        raise DataError(path, f"label colour {(c >> 16, (c >> 8) & 255, c & 255)} is not in the schema's palette")
    return out


def check_label_values(label: np.ndarray, num_classes: int, path: str | Path = "") -> None:
    """Raise if a label holds a value outside 0..num_classes-1 other than 255 (ignore)."""
    values = np.unique(label)
    bad = values[(values >= num_classes) & (values != IGNORE_INDEX)]
    if bad.size:
        raise DataError(
            path,
            f"label values {bad.tolist()} are outside the schema's 0..{num_classes - 1} (255 = ignore)",
        )


def write_label_png(path: str | Path | BinaryIO, label: np.ndarray, palette_flat: Sequence[int]) -> None:
    """Write class ids as a palette PNG: the pixels are ids, the palette shows them in colour."""
    img = Image.fromarray(np.asarray(label, dtype=np.uint8), mode="P")
    img.putpalette(list(palette_flat))
    img.save(path, format="PNG", optimize=False)  # a path or a binary file
