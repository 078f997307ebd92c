"""The result's file: an 8-bit or 16-bit PNG, a 16-bit TIFF or a JPEG, with what it keeps of the photo.

Colour. The result's pixels are sRGB: preprocessing converts every photo to sRGB (``images.to_srgb``). When the
photo carried a usable RGB ICC profile (``read_photo_metadata`` keeps only those), the 8-bit formats (``png8``,
whose iCCP chunk then replaces the sRGB chunk, and ``jpeg``) are converted from sRGB into that profile with
LittleCMS (``PIL.ImageCms``, perceptual intent) and carry it, so the result fits the photo's colour workflow (an
Adobe RGB print chain stays Adobe RGB). The 16-bit formats cannot be converted that way: Pillow's LittleCMS binding
transforms 8-bit RGB only, and converting through 8 bits would throw away the bits these formats are for. They keep
their sRGB values and embed an sRGB ICC profile. Without a photo profile, ``png8`` keeps the sRGB chunk (byte for
byte today's ``images.encode_png``) and every other format embeds the sRGB profile. ``carried_profile`` says which.

EXIF. The photo's EXIF is kept in every format, with Orientation 1 (the pixels are already upright), the Exif
sub-IFD's pixel dimensions set to the result's size and its ColorSpace to what the result carries; the GPS IFD is
removed unless ``keep_gps``, and so are the thumbnail (it shows the unstylized photo), the MakerNote (opaque, may
hold location or serial data) and every IFD0 tag that describes how the photo was stored or its colour rather than
the picture (strip layout, YCbCr, white point, XMP).

Plain NumPy, Pillow and OpenCV: no TensorFlow and no flytekit, so the ``finalize`` task and tests import it cheaply.
"""

from __future__ import annotations

import base64
import io
import itertools
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageCms, PngImagePlugin
from PIL.TiffImagePlugin import ImageFileDirectory_v2

from workflows.engine.options import DEFAULTS, StyleOptions
from workflows.images import checked_pixels, encode_png, to_8bit_image

EXTENSIONS = {"png8": ".png", "png16": ".png", "tiff16": ".tiff", "jpeg": ".jpg"}
DEFAULT_JPEG_QUALITY = DEFAULTS.jpeg_quality
#: From this quality on the JPEG keeps full chroma resolution (4:4:4): at lower ones 4:2:0 saves more than it costs.
FULL_CHROMA_QUALITY = 90

#: Largest photo ICC profile kept: a display or print profile is a few kB to a few hundred; one larger than this
#: is a device link or a broken file, and it travels base64-encoded between tasks.
MAX_PROFILE_BYTES = 1 << 20
#: Largest photo EXIF kept (serialised, after what is never carried is dropped): a JPEG's APP1 segment holds at
#: most 65,533 bytes, and the result's EXIF can be a few entries longer than the photo's.
MAX_EXIF_BYTES = 60_000


def _dated(profile: bytes) -> bytes:
    """An ICC profile with a fixed creation date (2000-01-01) and no profile ID: LittleCMS stamps the time of
    serialisation into both, and the same inputs must give the same bytes in every process."""
    date = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)
    return profile[:24] + date + profile[36:84] + bytes(16) + profile[100:]


#: The sRGB profile the results without the photo's profile embed (LittleCMS's built-in sRGB).
SRGB_ICC = _dated(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
#: What ``carried_profile`` answers.
PHOTO_PROFILE = "the photo's ICC profile"
SRGB = "sRGB"

#: The formats with 8 bits per channel: the ones that can carry the photo's profile.
_EIGHT_BIT = ("png8", "jpeg")
_SRGB_PROFILE = ImageCms.createProfile("sRGB")
_MAX_16 = 65535.0
#: A TIFF strip holds about this many bytes of pixels before compression.
_STRIP_BYTES = 1 << 18
_DEFLATE_LEVEL = 6  # zlib's default, as the 8-bit PNG's

#: The IFD0 tags a result keeps: what the picture is, who made it with what and when. The others describe how the
#: photo was stored (strips, tiles, YCbCr, the thumbnail's JPEG) or its colour (white point, primaries, ICC), which
#: the result's own encoding replaces, or carry what the result removes (XMP may repeat the GPS position).
_KEPT_IFD0 = frozenset(
    {
        ExifTags.Base.ImageDescription,
        ExifTags.Base.Make,
        ExifTags.Base.Model,
        ExifTags.Base.Orientation,
        ExifTags.Base.XResolution,
        ExifTags.Base.YResolution,
        ExifTags.Base.ResolutionUnit,
        ExifTags.Base.Software,
        ExifTags.Base.DateTime,
        ExifTags.Base.Artist,
        ExifTags.Base.HostComputer,
        ExifTags.Base.Copyright,
        ExifTags.IFD.Exif,
        ExifTags.IFD.GPSInfo,
    }
)
#: Exif ColorSpace values: sRGB, or "uncalibrated" (the embedded ICC profile says what the values mean).
_COLOR_SPACE_SRGB = 1
_COLOR_SPACE_UNCALIBRATED = 0xFFFF
#: PNG's 8-byte signature, then IHDR: 4 bytes length, 4 type, 13 data, 4 CRC.
_AFTER_IHDR = 8 + 4 + 4 + 13 + 4


@dataclass(frozen=True)
class PhotoMetadata:
    """What the result keeps of the photo: its ICC profile and its EXIF, as base64 text (Flyte carries str
    fields of a dataclass without pickling); empty strings for none."""

    icc_profile: str = ""
    exif: str = ""

    @property
    def icc_bytes(self) -> bytes | None:
        """The ICC profile's bytes, or None."""
        return base64.b64decode(self.icc_profile) if self.icc_profile else None

    @property
    def exif_bytes(self) -> bytes | None:
        """The EXIF's bytes (as ``Image.Exif.tobytes`` writes them: "Exif\\0\\0", a TIFF header, IFD0 and its
        sub-IFDs), or None."""
        return base64.b64decode(self.exif) if self.exif else None


#: A photo with nothing to keep (a frozen instance: safe as a default argument).
NO_METADATA = PhotoMetadata()


def read_photo_metadata(path: str | os.PathLike[str]) -> PhotoMetadata:
    """The ICC profile and the EXIF of the photo at ``path``, from its header (nothing is decoded).

    The profile is kept only when it is RGB, at most ``MAX_PROFILE_BYTES`` and LittleCMS can convert sRGB into it
    (what the 8-bit formats do); the EXIF without what no result carries, when it is at most ``MAX_EXIF_BYTES``.
    A file that is not an image gives ``NO_METADATA``: preprocessing refuses it with the reason."""
    try:
        with Image.open(path) as image:
            icc = image.info.get("icc_profile")
            # Image's own getexif, not PngImageFile's: that one decodes the whole image to look for an eXIf chunk
            # after the pixels, where no writer puts it.
            exif = Image.Image.getexif(image)
            exif_bytes = _serialised(exif) if len(exif) else b""
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):  # UnidentifiedImageError is an OSError
        return NO_METADATA
    return PhotoMetadata(
        icc_profile=_base64(icc) if isinstance(icc, bytes) and _usable_profile(icc) else "",
        exif=_base64(exif_bytes) if len(exif_bytes) <= MAX_EXIF_BYTES else "",
    )


def carried_profile(output_format: str, metadata: PhotoMetadata = NO_METADATA) -> str:
    """Which colour profile the ``output_format`` result of a photo with ``metadata`` carries: ``PHOTO_PROFILE``
    or ``SRGB`` (an sRGB chunk for ``png8``, an embedded sRGB ICC profile for the others)."""
    check_output_format(output_format)
    return PHOTO_PROFILE if output_format in _EIGHT_BIT and metadata.icc_profile else SRGB


def check_output_format(output_format: str) -> None:
    """Refuse an unknown ``output_format`` with ``StyleOptions``' one line naming it and what is allowed."""
    StyleOptions(output_format=output_format)


def check_jpeg_quality(jpeg_quality: int) -> None:
    """Refuse a ``jpeg_quality`` outside its range with ``StyleOptions``' one line naming it and the range."""
    StyleOptions(jpeg_quality=jpeg_quality)


def encode_result(
    pixels: np.ndarray,
    output_format: str = "png8",
    metadata: PhotoMetadata = NO_METADATA,
    keep_gps: bool = False,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    text: dict[str, str] | None = None,
) -> bytes:
    """The file's bytes for float sRGB pixels in [0, 1], shape (H, W, 3) or (1, H, W, 3), in ``output_format``,
    with the photo's profile and EXIF as the module docstring says.

    ``text`` (e.g. ``Comment``, ``Software``) becomes PNG text chunks; in a TIFF ``Comment`` is the
    ImageDescription and ``Software`` the Software tag; in a JPEG ``Comment`` is the COM marker. 16-bit values are
    ``round(clip(p, 0, 1) * 65535)``, computed in the pixels' own precision (float32), as the 8-bit ones.

    An unknown ``output_format`` or a ``jpeg_quality`` outside its range (whatever the format) raises
    ``OptionError``; pixels of another shape, NaN or infinity raise ``ValueError``."""
    check_output_format(output_format)
    check_jpeg_quality(jpeg_quality)
    array = checked_pixels(pixels)
    height, width = array.shape[:2]
    icc = metadata.icc_bytes if output_format in _EIGHT_BIT else None
    exif = _result_exif(metadata.exif_bytes, (width, height), keep_gps, photo_profile=icc is not None)
    notes = text or {}
    if output_format == "png8":
        return _png8(array, icc, exif, notes)
    if output_format == "png16":
        return _png16(array, exif, notes)
    if output_format == "tiff16":
        return _tiff16(array, exif, notes)
    return _jpeg(array, icc, exif, notes, jpeg_quality)


def _png8(array: np.ndarray, icc: bytes | None, exif: Image.Exif | None, text: dict[str, str]) -> bytes:
    """``images.encode_png``'s PNG, or the same converted into the photo's profile and carrying it; eXIf added."""
    if icc is None:
        data = encode_png(array, text=text)
    else:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
        buffer = io.BytesIO()
        _into_profile(to_8bit_image(array), icc).save(
            buffer, format="PNG", pnginfo=info, icc_profile=icc, optimize=False, compress_level=6
        )
        data = buffer.getvalue()
    if exif is None:
        return data
    return _after_ihdr(data, [_png_chunk(b"eXIf", _tiff_exif(exif))])


def _png16(array: np.ndarray, exif: Image.Exif | None, text: dict[str, str]) -> bytes:
    """A 16-bit RGB PNG (OpenCV) with the sRGB profile, the EXIF and the text chunks."""
    kinds, blobs = [cv2.IMAGE_METADATA_ICCP], [np.frombuffer(SRGB_ICC, np.uint8)]
    if exif is not None:
        # OpenCV writes the bytes as they are; a PNG eXIf chunk holds the TIFF data without the "Exif\0\0" of JPEG.
        kinds.append(cv2.IMAGE_METADATA_EXIF)
        blobs.append(np.frombuffer(_tiff_exif(exif), np.uint8))
    bgr = np.ascontiguousarray(_to_16bit(array)[..., ::-1])  # OpenCV's channel order
    ok, encoded = cv2.imencodeWithMetadata(".png", bgr, kinds, blobs, [cv2.IMWRITE_PNG_COMPRESSION, _DEFLATE_LEVEL])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {bgr.shape[1]}x{bgr.shape[0]} 16-bit PNG")
    # OpenCV writes no text chunks.
    return _after_ihdr(encoded.tobytes(), [_text_chunk(key, value) for key, value in text.items()])


def _tiff16(array: np.ndarray, exif: Image.Exif | None, text: dict[str, str]) -> bytes:
    """A little-endian RGB TIFF, 16 bits per sample, deflate with horizontal differencing, in strips.

    Written here because Pillow holds no 16-bit RGB image and OpenCV's TIFF writer drops ICC and EXIF. The IFD is
    Pillow's (``ImageFileDirectory_v2``, which serialises the Exif and GPS sub-IFDs from dicts and moves the strip
    offsets past itself): header, IFD, then the strips."""
    values = _to_16bit(array)
    height, width = values.shape[:2]
    # Predictor 2: each sample stored as its difference from the same channel's left neighbour, modulo 2**16,
    # which leaves deflate runs of small numbers in smooth areas.
    differences = values.copy()
    differences[:, 1:] -= values[:, :-1]
    rows = max(1, _STRIP_BYTES // (width * 6))
    strips = [
        zlib.compress(differences[top : top + rows].astype("<u2", copy=False).tobytes(), _DEFLATE_LEVEL)
        for top in range(0, height, rows)
    ]
    ifd = ImageFileDirectory_v2(prefix=b"II")
    if exif is not None:
        for tag, value in _exif_tree(exif).items():
            ifd[tag] = value
    if "Comment" in text:
        ifd[ExifTags.Base.ImageDescription] = text["Comment"]
    if "Software" in text:
        ifd[ExifTags.Base.Software] = text["Software"]
    ifd[ExifTags.Base.ImageWidth] = width
    ifd[ExifTags.Base.ImageLength] = height
    ifd[ExifTags.Base.BitsPerSample] = (16, 16, 16)
    ifd[ExifTags.Base.Compression] = 8  # deflate ("Adobe")
    ifd[ExifTags.Base.PhotometricInterpretation] = 2  # RGB
    ifd[ExifTags.Base.SamplesPerPixel] = 3
    ifd[ExifTags.Base.RowsPerStrip] = rows
    ifd[ExifTags.Base.PlanarConfiguration] = 1  # RGBRGB...
    ifd[ExifTags.Base.Predictor] = 2  # horizontal differencing
    ifd[ExifTags.Base.InterColorProfile] = SRGB_ICC
    # Relative to the end of the IFD: Pillow adds where that is.
    ifd[ExifTags.Base.StripOffsets] = tuple(itertools.accumulate((len(strip) for strip in strips[:-1]), initial=0))
    ifd[ExifTags.Base.StripByteCounts] = tuple(len(strip) for strip in strips)
    first_ifd = 8
    return b"II*\x00" + struct.pack("<I", first_ifd) + ifd.tobytes(first_ifd) + b"".join(strips)


def _jpeg(
    array: np.ndarray, icc: bytes | None, exif: Image.Exif | None, text: dict[str, str], jpeg_quality: int
) -> bytes:
    """A JPEG (Pillow) in the photo's profile or sRGB, with the EXIF and ``Comment`` as its COM marker."""
    image = to_8bit_image(array)
    # Not optimize=True: libjpeg then holds the whole file in one buffer, which Pillow guesses at one byte per pixel,
    # and a detailed 4:4:4 result above that fails to save ("Suspension not allowed here"; measured at 4096 x 3072).
    options: dict[str, Any] = {"quality": jpeg_quality, "icc_profile": icc or SRGB_ICC}
    if icc is not None:
        image = _into_profile(image, icc)
    if jpeg_quality >= FULL_CHROMA_QUALITY:
        options["subsampling"] = "4:4:4"
    if exif is not None:
        options["exif"] = exif.tobytes()
    if "Comment" in text:
        options["comment"] = text["Comment"]
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def _to_16bit(array: np.ndarray) -> np.ndarray:
    """Each value as the nearest of 65536 levels, as ``images.to_8bit_image`` does with 256."""
    return np.round(np.clip(array, 0.0, 1.0) * _MAX_16).astype(np.uint16)


def _into_profile(image: Image.Image, icc: bytes) -> Image.Image:
    """8-bit sRGB ``image`` converted into the photo's profile (perceptual intent)."""
    target = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    converted = ImageCms.profileToProfile(
        image, _SRGB_PROFILE, target, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
    )
    assert converted is not None  # None only for an in-place conversion
    return converted


def _usable_profile(icc: bytes) -> bool:
    """Whether the 8-bit formats can carry ``icc``: RGB, not too large, and sRGB converts into it."""
    if not 0 < len(icc) <= MAX_PROFILE_BYTES:
        return False
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if profile.profile.xcolor_space.strip() != "RGB":
            return False
        ImageCms.buildTransform(_SRGB_PROFILE, profile, "RGB", "RGB", ImageCms.Intent.PERCEPTUAL)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False
    return True


def _serialised(exif: Image.Exif) -> bytes:
    """The photo's EXIF without what no result carries, as bytes; empty when it cannot be read."""
    try:
        _drop_never_carried(exif)
        return exif.tobytes()
    except (OSError, SyntaxError, ValueError, TypeError, KeyError, struct.error):  # a corrupt EXIF: none kept
        return b""


def _drop_never_carried(exif: Image.Exif) -> None:
    """Remove, in place, the IFD0 tags outside ``_KEPT_IFD0`` and the MakerNote. The thumbnail (IFD1) goes by
    itself: ``Image.Exif.tobytes`` writes IFD0 and its sub-IFDs only."""
    for tag in [tag for tag in exif if tag not in _KEPT_IFD0]:
        del exif[tag]
    if ExifTags.IFD.Exif in exif:
        exif.get_ifd(ExifTags.IFD.Exif).pop(ExifTags.Base.MakerNote, None)


def _result_exif(
    photo_exif: bytes | None, size: tuple[int, int], keep_gps: bool, photo_profile: bool
) -> Image.Exif | None:
    """The result's EXIF (module docstring) from the photo's, for a result of ``size`` (width, height) that carries
    the photo's ICC profile or sRGB; None when the photo had none."""
    if not photo_exif:
        return None
    exif = Image.Exif()
    exif.load(photo_exif)
    _drop_never_carried(exif)
    exif[ExifTags.Base.Orientation] = 1
    if not keep_gps and ExifTags.IFD.GPSInfo in exif:
        del exif[ExifTags.IFD.GPSInfo]
    if ExifTags.IFD.Exif in exif:  # get_ifd would add an empty one otherwise
        sub_ifd = exif.get_ifd(ExifTags.IFD.Exif)
        sub_ifd[ExifTags.Base.ExifImageWidth], sub_ifd[ExifTags.Base.ExifImageHeight] = size
        sub_ifd[ExifTags.Base.ColorSpace] = _COLOR_SPACE_UNCALIBRATED if photo_profile else _COLOR_SPACE_SRGB
    return exif


def _tiff_exif(exif: Image.Exif) -> bytes:
    """The EXIF as TIFF data, without the "Exif\\0\\0" that JPEG's APP1 puts before it (what PNG's eXIf holds)."""
    return exif.tobytes()[len(b"Exif\0\0") :]


def _exif_tree(exif: Image.Exif) -> dict[int, Any]:
    """IFD0 with its Exif (and that one's Interop) and GPS sub-IFDs as dicts, as ``ImageFileDirectory_v2`` writes
    nested IFDs."""
    tree: dict[int, Any] = dict(exif.items())
    for pointer in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
        if pointer in tree:
            tree[pointer] = dict(exif.get_ifd(pointer))
    sub_ifd = tree.get(ExifTags.IFD.Exif)
    if sub_ifd and ExifTags.IFD.Interop in sub_ifd:
        sub_ifd[ExifTags.IFD.Interop] = exif.get_ifd(ExifTags.IFD.Interop)
    return tree


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data, and the CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _text_chunk(key: str, value: str) -> bytes:
    """A tEXt chunk, or an iTXt one (UTF-8) when the value is not Latin-1, as Pillow's ``PngInfo.add_text``."""
    keyword = key.encode("latin-1")
    try:
        return _png_chunk(b"tEXt", keyword + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        # keyword, NUL, compression flag and method (none), empty language tag and translated keyword, each NUL-ended
        return _png_chunk(b"iTXt", keyword + b"\0\0\0\0\0" + value.encode("utf-8"))


def _after_ihdr(png: bytes, chunks: list[bytes]) -> bytes:
    """``png`` with ``chunks`` inserted right after IHDR: before the pixels, where every reader looks."""
    return png[:_AFTER_IHDR] + b"".join(chunks) + png[_AFTER_IHDR:]


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
