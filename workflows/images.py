"""User photos in, model-ready pixels out, and back to a PNG at the end.

Everything a phone, scanner or editor can hand us is normalised here: EXIF
orientation, colour profiles, palette/alpha/CMYK/16-bit modes. Bad input is
rejected with an ``ImageInputError`` whose one-line message names the input
(content or style) and the reason, so a user can fix it without reading a
traceback. No TensorFlow and no flytekit here, so this is cheap to test.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageCms, PngImagePlugin, UnidentifiedImageError

from workflows.engine.options import MAX_DIM_RANGE
from workflows.errors import InputError

#: Largest accepted image, in pixels (about 89 MP). Pillow only *warns* at
#: this size and refuses at twice it; we refuse at the warning threshold. That
#: admits a 50 MP camera frame and refuses a 108 MP one.
MAX_PIXELS = 89_478_485

#: Smallest side accepted, before and after resizing. VGG19 pools four times
#: before ``block5``, so a side below 16 px leaves the deepest layers empty.
MIN_SIDE = 16


#: Memory bound of one decode, in bytes: the decoded image as Pillow stores it plus what converting it before the
#: first reduction needs. The ``preprocess`` task's limit is 2 GiB and it holds the content and the style image
#: one after the other, so this leaves room for the interpreter, NumPy, Pillow and the other (small) result.
#: At the pixel limit every accepted mode needs at most 4 bytes per pixel (358 MB, 0.45 GB for a palette image
#: with transparency), so this refuses only what no camera produces.
MAX_DECODE_BYTES = 1_200_000_000

#: Pillow's bytes per stored pixel: multi-band 8-bit modes use four (RGB is stored as RGBX).
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 4, "La": 4, "PA": 4, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
#: What converting a mode before the reduction adds per pixel: palettes become RGB(A), 16-bit and float become L.
_CONVERSION_BYTES = {"1": 1, "P": 4, "PA": 4, "I;16": 1, "I;16B": 1, "I;16L": 1, "I;16N": 1, "I": 1, "F": 1}
#: High-bit-depth images are scaled to 8 bits in strips of about this many bytes of float64 work.
_STRIP_BYTES = 16 << 20
#: The reduction before colour conversion keeps at least this many times ``max_dim`` (as Pillow's ``reducing_gap``),
#: so the final Lanczos resize still sees three source pixels per output pixel.
_REDUCING_GAP = 3
#: EXIF orientation -> the transpose that displays the image upright (what ImageOps.exif_transpose applies).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

#: The orientations whose transpose swaps width and height.
_SWAPS_SIDES = {
    Image.Transpose.TRANSPOSE,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSVERSE,
    Image.Transpose.ROTATE_90,
}

_SRGB_PROFILE = ImageCms.createProfile("sRGB")
_LAB_TO_SRGB = ImageCms.buildTransform(ImageCms.createProfile("LAB"), _SRGB_PROFILE, "LAB", "RGB")
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_EXIF_ORIENTATION = 0x0112


class ImageInputError(InputError):
    """A user-supplied image cannot be used. The message is one line, names the input and says why."""


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes: the identity that caches key on, whatever the URI was."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def validate_max_dim(max_dim: int) -> None:
    """Reject a ``max_dim`` outside the supported range before any download or decode."""
    low, high = MAX_DIM_RANGE
    if not low <= max_dim <= high:
        raise ImageInputError(f"max_dim must be between {low} and {high} pixels, got {max_dim}")


def load_rgb(
    path: str | os.PathLike[str],
    *,
    role: str,
    max_dim: int,
    source: str | None = None,
    max_pixels: int = MAX_PIXELS,
    max_decode_bytes: int = MAX_DECODE_BYTES,
    upscale: bool = True,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode an image file into float32 sRGB pixels in [0, 1], shape (H, W, 3), long side ``max_dim``.

    With ``upscale=False`` an image smaller than ``max_dim`` keeps its own size (the workflow's content photo:
    nobody asked for invented pixels); a larger one is still brought down to ``max_dim``.

    With ``size`` (height, width) the result is exactly that size whatever the image's aspect ratio (an init
    image, brought to the photo's size), so no side of it is too small: its own sides are not checked.

    ``role`` ("content" or "style") and ``source`` (the URI the user gave) only
    shape error messages; ``path`` is the local file to read.

    Memory is bounded by bytes, not only pixels: the decoded size is checked against ``max_decode_bytes`` before
    decoding; JPEGs decode at a reduced scale; a big image is reduced (box filter, integer factor) right after
    decoding, before any orientation or colour conversion copies it; 16-bit and float images are scaled to 8 bits
    in strips. The peak is then about the decoded image itself (see ``benchmarks/bench_images.py``).
    """
    validate_max_dim(max_dim)
    where = f"{role} image {source or path}"
    try:
        with _open_checked(path, where, max_pixels, max_decode_bytes, check_min_side=size is None) as opened:
            orientation = opened.getexif().get(_EXIF_ORIENTATION)
            # What the decode must keep, (width, height) as stored: before the EXIF rotation, which may swap
            # the sides of an exact ``size``.
            keep = (max_dim, max_dim) if size is None else _stored_size(size, orientation)
            opened.draft("RGB", (2 * keep[0], 2 * keep[1]))  # JPEG only: decode at a reduced scale
            opened.load()
            image = _before_reduction(opened)
            factor = max(image.size) // (_REDUCING_GAP * max_dim)
            if size is not None:  # each side keeps _REDUCING_GAP x its own target, however stretched
                factor = min(side // (_REDUCING_GAP * target) for side, target in zip(image.size, keep))
            image = _reduce(image, factor)
    except _REFUSED_ON_OPEN as exc:
        raise ImageInputError(_refusal(exc, where, max_pixels)) from None

    if orientation in _ORIENTATION:
        image = image.transpose(_ORIENTATION[orientation])
    rgb = to_srgb(image, where)
    del image
    if size is not None:
        height, width = size
        resized = rgb if rgb.size == (width, height) else rgb.resize((width, height), Image.Resampling.LANCZOS)
        return np.asarray(resized, dtype=np.float32) / np.float32(255.0)
    resized = _resize_long_side(rgb, max_dim if upscale else min(max_dim, max(rgb.size)))
    _check_min_side(resized.size, where, f" after resizing to max_dim={max_dim}")
    return np.asarray(resized, dtype=np.float32) / np.float32(255.0)


#: How far a mask's aspect ratio may differ from the photo's: a mask drawn on the photo at another size rounds its
#: sides to whole pixels, which moves the ratio by at most a pixel's worth.
MASK_ASPECT_TOLERANCE = 0.01


def load_mask(
    path: str | os.PathLike[str], *, role: str, size: tuple[int, int], source: str | None = None
) -> np.ndarray:
    """Decode a mask file into float32 weights in [0, 1], shape ``size`` (the photo's height, width): its luminance
    (white: 1), times its alpha where it has one (transparent: 0), EXIF orientation honoured, resized with Lanczos so
    a feathered edge stays soft. Refused in one line naming ``role``: not an image, too big, an aspect ratio other
    than the photo's, or all black (it would select nothing)."""
    where = f"{role} {source or path}"
    try:
        with _open_checked(path, where, MAX_PIXELS, MAX_DECODE_BYTES, check_min_side=False) as opened:
            orientation = opened.getexif().get(_EXIF_ORIENTATION)
            _check_mask_aspect(_displayed_size(opened.size, orientation), size, where)
            opened.draft("L", (2 * size[1], 2 * size[0]))  # JPEG only: decode at a reduced scale
            opened.load()
            image = _before_reduction(opened)
            image = _reduce(
                image, min(side // (_REDUCING_GAP * target) for side, target in zip(image.size, size[::-1]))
            )
    except _REFUSED_ON_OPEN as exc:
        raise ImageInputError(_refusal(exc, where, MAX_PIXELS)) from None
    if orientation in _ORIENTATION:
        image = image.transpose(_ORIENTATION[orientation])
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA", "PA") else None
    luminance = image.convert("L") if image.mode != "L" else image
    if alpha is not None:
        luminance = ImageChops.multiply(luminance, alpha)
    height, width = size
    if luminance.size != (width, height):
        luminance = luminance.resize((width, height), Image.Resampling.LANCZOS)
    weights = np.asarray(luminance, dtype=np.float32) / np.float32(255.0)
    if not weights.any():
        raise ImageInputError(f"{where}: all black, so it selects no pixels (white marks where it applies)")
    return weights


def mask_problem(
    path: str | os.PathLike[str], role: str, photo_size: tuple[int, int], source: str | None = None
) -> str | None:
    """The one line ``load_mask`` would refuse the file with where its header alone shows it (not an image, too big,
    another aspect ratio than the photo's ``photo_size`` (height, width)), or None."""
    where = f"{role} {source or path}"
    try:
        with _open_checked(path, where, MAX_PIXELS, MAX_DECODE_BYTES, check_min_side=False) as opened:
            size = _displayed_size(opened.size, opened.getexif().get(_EXIF_ORIENTATION))
            _check_mask_aspect(size, photo_size, where)
    except _REFUSED_ON_OPEN as exc:
        return _refusal(exc, where, MAX_PIXELS)
    return None


def _displayed_size(stored: tuple[int, int], orientation: int | None) -> tuple[int, int]:
    """(width, height) as stored -> as displayed after the EXIF rotation."""
    width, height = stored
    return (height, width) if _ORIENTATION.get(orientation or 1) in _SWAPS_SIDES else (width, height)


def _check_mask_aspect(mask_size: tuple[int, int], photo_size: tuple[int, int], where: str) -> None:
    """A mask (width, height) must have the photo's (height, width) aspect ratio, within a pixel's rounding."""
    width, height = mask_size
    photo_height, photo_width = photo_size
    expected = height * photo_width / width  # the mask's height once its width is the photo's
    if abs(expected - photo_height) > max(1.0, MASK_ASPECT_TOLERANCE * photo_height):
        raise ImageInputError(
            f"{where}: {width} x {height} does not have the photo's aspect ratio ({photo_width} x {photo_height}); "
            "draw the mask on the photo, or crop it to the photo's shape"
        )


def to_srgb(image: Image.Image, where: str = "image") -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB in sRGB: alpha over white, ICC profiles honoured."""
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        image = _high_bit_depth_to_l(image)
    if image.mode == "LAB":
        converted = ImageCms.applyTransform(image, _LAB_TO_SRGB)
        assert converted is not None  # None only for an in-place transform
        return converted
    if image.mode in ("P", "PA") and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        image = _flatten_alpha(image)
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "CMYK", "L"):
        converted = _apply_icc(image, icc)
        if converted is not None:
            return converted
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise ImageInputError(f"{where}: unsupported colour mode {image.mode} ({exc})") from None


def save_png(pixels: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write float pixels in [0, 1] (H, W, 3) as an 8-bit PNG tagged sRGB; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(pixels))
    return path


#: The zlib level of images replaced after every epoch (the Progress Deck's, the preview beside the output): at
#: 512x384 it encodes in 12 ms instead of the default level's 65 ms, for 15 % more bytes. Results keep level 6.
PROGRESS_PNG_LEVEL = 1


def to_8bit_image(pixels: np.ndarray) -> Image.Image:
    """Float RGB pixels in [0, 1] (H, W, 3) as an 8-bit Pillow image, each value rounded to the nearest level."""
    return Image.fromarray(np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8), "RGB")


def checked_pixels(pixels: np.ndarray) -> np.ndarray:
    """A result's float pixels as (H, W, 3), a leading batch axis of 1 removed; ``ValueError`` for another shape,
    NaN or infinity (what a diverged optimisation leaves), which no encoder may write."""
    array = np.asarray(pixels)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected pixels of shape (H, W, 3), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("pixels contain NaN or infinity; the optimisation diverged")
    return array


def encode_png(pixels: np.ndarray, text: dict[str, str] | None = None, compress_level: int = 6) -> bytes:
    """The PNG bytes for float pixels in [0, 1]; also accepts a leading batch axis of 1. ``text`` becomes tEXt
    chunks (e.g. ``Comment``), which image viewers and ``identify -verbose`` show; ``compress_level`` is zlib's
    (0-9: every level is lossless, higher is smaller and slower)."""
    array = checked_pixels(pixels)
    info = PngImagePlugin.PngInfo()
    info.add(b"sRGB", b"\x00")  # rendering intent: perceptual
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    to_8bit_image(array).save(buffer, format="PNG", pnginfo=info, optimize=False, compress_level=compress_level)
    return buffer.getvalue()


def resize_to(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Float pixels in [0, 1] resized to exactly ``height`` x ``width`` (Lanczos, through 8 bits as decoded)."""
    image = to_8bit_image(pixels)
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float32) / np.float32(255.0)


def _check_pixel_count(size: tuple[int, int], max_pixels: int, where: str) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageInputError(
            f"{where}: too many pixels ({width * height:,} pixels, {width} x {height}; the limit is {max_pixels:,})"
        )


def _check_min_side(size: tuple[int, int], where: str, when: str) -> None:
    width, height = size
    if min(width, height) < MIN_SIDE:
        raise ImageInputError(f"{where}: too small ({width} x {height}{when}; each side needs {MIN_SIDE} px)")


def _check_decode_bytes(image: Image.Image, max_bytes: int, where: str) -> None:
    """Refuse, before decoding, an image whose decode and first conversion would need more than ``max_bytes``."""
    width, height = image.size
    per_pixel = _STORED_BYTES.get(image.mode, 4) + _CONVERSION_BYTES.get(image.mode, 0)
    needed = width * height * per_pixel
    if needed > max_bytes:
        raise ImageInputError(
            f"{where}: too large to decode ({width} x {height} {image.mode} needs {needed / 1e6:,.1f} MB; "
            f"the limit is {max_bytes / 1e6:,.1f} MB)"
        )


def _before_reduction(image: Image.Image) -> Image.Image:
    """The modes a box reduction cannot average: palettes (indices) and bilevel become RGB(A) / L, and 16-bit and
    float images become 8-bit L (in strips)."""
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        return _high_bit_depth_to_l(image)
    if image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        converted = image.convert("RGBA" if has_alpha else "RGB")
        if "icc_profile" in image.info:
            converted.info["icc_profile"] = image.info["icc_profile"]
        return converted
    if image.mode == "1":
        return image.convert("L")
    return image


def _stored_size(size: tuple[int, int], orientation: int | None) -> tuple[int, int]:
    """(height, width) as displayed -> (width, height) as the file stores it, before its EXIF rotation."""
    height, width = size
    return (height, width) if _ORIENTATION.get(orientation or 1) in _SWAPS_SIDES else (width, height)


def _reduce(image: Image.Image, factor: int) -> Image.Image:
    """Shrink by an integer factor (box filter): the caller's, which keeps ``_REDUCING_GAP`` x the target size."""
    if factor < 2:
        return image
    try:
        reduced = image.reduce(factor)
    except ValueError:  # a mode Pillow cannot reduce: convert it whole instead
        return image
    reduced.info = dict(image.info)
    return reduced


def _high_bit_depth_to_l(image: Image.Image) -> Image.Image:
    """16-bit and float greyscale to 8-bit L, scaled by the format's range rather than clipped.

    Converted in strips of rows, so the float work is a few MB, not 8 bytes for every pixel of the image.
    """
    width, height = image.size
    extrema = image.getextrema() if width and height else (0, 0)
    high = float(extrema[1])  # type: ignore[arg-type]  # one band: (min, max) numbers
    if image.mode == "F":
        scale = 1.0 if high <= 1.0 else high
    else:
        scale = 65535.0 if image.mode != "I" or high > 255 else 255.0
    eight_bit = np.empty((height, width), np.uint8)
    rows = max(1, _STRIP_BYTES // max(1, 8 * width))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        strip = np.asarray(image.crop((0, top, width, bottom)), dtype=np.float64)
        eight_bit[top:bottom] = np.round(np.clip(strip / scale, 0.0, 1.0) * 255.0)
    converted = Image.fromarray(eight_bit, "L")
    converted.info = dict(image.info)
    return converted


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite over white: what viewers show for a transparent background."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    flattened = Image.alpha_composite(background, rgba).convert("RGB")
    if "icc_profile" in image.info:
        flattened.info["icc_profile"] = image.info["icc_profile"]
    return flattened


def _apply_icc(image: Image.Image, icc: bytes) -> Image.Image | None:
    """Convert from the embedded profile to sRGB; None when the profile is unusable (we then fall back)."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(image, source, _SRGB_PROFILE, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def held_size(path: str | os.PathLike[str], max_dim: int, upscale: bool = True) -> tuple[int, int]:
    """(width, height) of the array ``load_rgb(path, max_dim=max_dim, upscale=upscale)`` returns, from the file's
    header alone (no decoding): what the memory model counts before any task holds the image. Orientation does
    not change the pixel count. A file Pillow cannot open is left to ``load_rgb`` to refuse: (0, 0)."""
    try:
        with Image.open(path) as opened:
            size = opened.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return (0, 0)
    return _long_side_size(size, max_dim if upscale else min(max_dim, max(size)))


@contextlib.contextmanager
def _open_checked(
    path: str | os.PathLike[str], where: str, max_pixels: int, max_decode_bytes: int, check_min_side: bool = True
) -> Iterator[Image.Image]:
    """The file opened (not decoded) once its header passed every check, with Pillow's decompression-bomb
    *warning* treated as the error it hints at for as long as the caller decodes inside."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as opened:
            _check_pixel_count(opened.size, max_pixels, where)
            _check_decode_bytes(opened, max_decode_bytes, where)
            if check_min_side:
                _check_min_side(opened.size, where, "")
            yield opened


def header_problem(path: str | os.PathLike[str], role: str, source: str | None = None) -> str | None:
    """The one line ``load_rgb`` would refuse the file with, where its header alone shows it (not an image, too
    many pixels, too large to decode, too small), or None: what a step that holds no decoded image (the style
    sheet's contact sheet, telling why an item failed) can say without decoding it."""
    where = f"{role} image {source or path}"
    try:
        with _open_checked(path, where, MAX_PIXELS, MAX_DECODE_BYTES):
            pass
    except _REFUSED_ON_OPEN as exc:
        return _refusal(exc, where, MAX_PIXELS)
    return None


#: What opening, checking and decoding an image file may raise for a file that is not a usable image.
_REFUSED_ON_OPEN = (
    FileNotFoundError,
    UnidentifiedImageError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
    ImageInputError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
)


def _refusal(exc: BaseException, where: str, max_pixels: int) -> str:
    """The one line for what opening or decoding ``where`` raised (one of ``_REFUSED_ON_OPEN``)."""
    if isinstance(exc, ImageInputError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"{where}: file not found"
    if isinstance(exc, UnidentifiedImageError):
        return f"{where}: not an image (no decoder recognises the file)"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        # Pillow refused in Image.open, before the size reached us; its message carries the count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(found.group(1)):,} pixels; " if found else ""
        limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
        return f"{where}: too many pixels ({count}the limit is {limit:,})"
    return f"{where}: cannot be decoded, the file is truncated or corrupt ({exc})"


def _long_side_size(size: tuple[int, int], max_dim: int) -> tuple[int, int]:
    width, height = size
    scale = max_dim / max(width, height)
    return (max(1, round(width * scale)), max(1, round(height * scale)))


def _resize_long_side(image: Image.Image, max_dim: int) -> Image.Image:
    size = _long_side_size(image.size, max_dim)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
