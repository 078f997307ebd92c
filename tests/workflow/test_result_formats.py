"""Result files in every format, read back with Pillow and OpenCV: depth, pixels, colour profile, EXIF, text."""

from __future__ import annotations

import base64
import io
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, JpegImagePlugin, TiffImagePlugin
from PIL.TiffImagePlugin import ImageFileDirectory_v2

from tests.conftest import smooth_pixels
from workflows import images
from workflows import result_formats as rf
from workflows.engine.options import OUTPUT_FORMATS, OptionError

MAKE, MODEL, TAKEN = "Testmaker", "Model 7", "2024:05:06 07:08:09"
LATITUDE = (52.0, 31.0, 12.5)
TEXT = {"Software": "neural style transfer on Flyte", "Comment": "stylized by a test"}
WIDTH, HEIGHT = 300, 400  # a TIFF of three strips


def s15_fixed16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def xyz_tag(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + s15_fixed16(x) + s15_fixed16(y) + s15_fixed16(z)


def wide_gamut_icc(padding: int = 0) -> bytes:
    """A matrix/TRC RGB display profile (ICC v2) with Adobe RGB's primaries (D50-adapted) and gamma 2.2: an RGB
    profile that is not sRGB, so converting into it changes saturated colours. ``padding`` bytes of a private tag
    make it as large as a test needs."""
    name = b"Wide test RGB\0"
    description = b"desc" + bytes(4) + struct.pack(">I", len(name)) + name + bytes(4 + 4 + 2 + 1 + 67)
    gamma = b"curv" + bytes(4) + struct.pack(">IH", 1, 563) + bytes(2)  # one u8Fixed8 exponent: 563/256 = 2.2
    tags = [
        (b"desc", description),
        (b"cprt", b"text" + bytes(4) + b"none\0"),
        (b"wtpt", xyz_tag(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz_tag(0.6097, 0.3111, 0.0195)),
        (b"gXYZ", xyz_tag(0.2053, 0.6257, 0.0609)),
        (b"bXYZ", xyz_tag(0.1492, 0.0632, 0.7446)),
        (b"rTRC", gamma),
        (b"gTRC", gamma),
        (b"bTRC", gamma),
    ]
    if padding:
        tags.append((b"zzzz", b"zzzz" + bytes(padding)))
    start = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", start + len(data), len(body))
        data += body
    header = (
        struct.pack(">I4sI4s4s4s", start + len(data), b"lcms", 0x02100000, b"mntr", b"RGB ", b"XYZ ")
        + bytes(12)  # date
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8 + 4)  # platform, flags, manufacturer, model, attributes, intent
        + xyz_tag(0.9642, 1.0, 0.8249)[8:]  # the PCS illuminant, D50
        + bytes(4 + 16 + 28)  # creator, profile ID, reserved
    )
    return header + struct.pack(">I", len(tags)) + table + data


WIDE_ICC = wide_gamut_icc()
THUMBNAIL = b"\xff\xd8" + b"thumbnail of the unstylized photo" + b"\xff\xd9"


def camera_exif() -> bytes:
    """A camera's EXIF: Make, Model, Orientation 6, an Exif IFD (DateTimeOriginal, a MakerNote, the photo's pixel
    size), a GPS IFD with a latitude and, in IFD1, a thumbnail: as a JPEG's APP1 holds it (b"Exif\\0\\0" first)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = MAKE
    exif[ExifTags.Base.Model] = MODEL
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.YCbCrPositioning] = 2
    sub_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    sub_ifd[ExifTags.Base.DateTimeOriginal] = TAKEN
    sub_ifd[ExifTags.Base.MakerNote] = b"serial 1234567"
    sub_ifd[ExifTags.Base.ExifImageWidth], sub_ifd[ExifTags.Base.ExifImageHeight] = 6000, 4000
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = LATITUDE
    tiff = exif.tobytes()[6:]
    tiff += bytes(len(tiff) % 2)
    # IFD1 after everything Pillow wrote, the thumbnail after IFD1; IFD0's "next IFD" field points at IFD1.
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd0,) = struct.unpack(order + "I", tiff[4:8])
    (count,) = struct.unpack(order + "H", tiff[ifd0 : ifd0 + 2])
    next_field = ifd0 + 2 + 12 * count
    ifd1 = ImageFileDirectory_v2(prefix=tiff[:2])
    ifd1[ExifTags.Base.Compression] = 6  # old-style JPEG: a thumbnail
    ifd1[ExifTags.Base.JpegIFOffset] = 0
    ifd1[ExifTags.Base.JpegIFByteCount] = len(THUMBNAIL)
    ifd1[ExifTags.Base.JpegIFOffset] = len(tiff) + len(ifd1.tobytes(len(tiff)))
    tiff = tiff[:next_field] + struct.pack(order + "I", len(tiff)) + tiff[next_field + 4 :]
    return b"Exif\0\0" + tiff + ifd1.tobytes(len(tiff)) + THUMBNAIL


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    """A camera JPEG: the EXIF of ``camera_exif`` and the wide-gamut profile."""
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(path, exif=camera_exif(), icc_profile=WIDE_ICC, quality=90)
    return path


@pytest.fixture
def exif_only_photo(tmp_path: Path) -> Path:
    """A camera JPEG without an ICC profile."""
    path = tmp_path / "exif_only.jpg"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(path, exif=camera_exif(), quality=90)
    return path


@pytest.fixture
def plain_photo(tmp_path: Path) -> Path:
    """A PNG without any metadata."""
    path = tmp_path / "plain.png"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(path)
    return path


def result_pixels(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Smooth pixels between the 8-bit levels, a saturated red corner (where the wide profile differs most) and a
    few values outside [0, 1] that must be clipped."""
    pixels = smooth_pixels(width, height)
    pixels[:8, :8] = (1.0, 0.0, 0.0)
    pixels[-1, -1] = (-0.25, 1.5, 0.5)
    return pixels


def expected_16bit(pixels: np.ndarray) -> np.ndarray:
    return np.round(np.clip(pixels, 0.0, 1.0) * 65535.0).astype(np.uint16)


def read_16bit_rgb(data: bytes, suffix: str, tmp_path: Path) -> np.ndarray:
    """The file's pixels as OpenCV decodes them, without conversion, in RGB order."""
    path = tmp_path / f"result{suffix}"
    path.write_bytes(data)
    decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert decoded is not None and decoded.dtype == np.uint16
    return decoded[..., ::-1]


def profile_name(icc: bytes) -> str:
    return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()


def assert_result_exif(image: Image.Image, width: int, height: int, gps: bool = False) -> None:
    """The photo's EXIF as a result keeps it: camera and date, upright, the result's size, no MakerNote, no
    thumbnail, and the GPS IFD only when asked."""
    exif = image.getexif()
    assert exif[ExifTags.Base.Make] == MAKE and exif[ExifTags.Base.Model] == MODEL
    assert exif[ExifTags.Base.Orientation] == 1
    assert ExifTags.Base.YCbCrPositioning not in exif  # how the photo was stored, not the picture
    sub_ifd = exif.get_ifd(ExifTags.IFD.Exif)
    assert sub_ifd[ExifTags.Base.DateTimeOriginal] == TAKEN
    assert (sub_ifd[ExifTags.Base.ExifImageWidth], sub_ifd[ExifTags.Base.ExifImageHeight]) == (width, height)
    assert ExifTags.Base.MakerNote not in sub_ifd
    assert exif.get_ifd(ExifTags.IFD.IFD1) == {}
    if gps:
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] == LATITUDE
    else:
        assert ExifTags.IFD.GPSInfo not in exif and exif.get_ifd(ExifTags.IFD.GPSInfo) == {}


# --- reading the photo --------------------------------------------------------------------------------------------


def test_the_test_photo_has_everything_to_remove(photo: Path) -> None:
    with Image.open(photo) as opened:
        exif = opened.getexif()
        assert opened.info["icc_profile"] == WIDE_ICC
        assert exif.get_ifd(ExifTags.IFD.IFD1)[ExifTags.Base.JpegIFByteCount] == len(THUMBNAIL)
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] == LATITUDE
        assert ExifTags.Base.MakerNote in exif.get_ifd(ExifTags.IFD.Exif)
    assert THUMBNAIL in photo.read_bytes()
    assert profile_name(WIDE_ICC) == "Wide test RGB"


def test_read_photo_metadata_keeps_the_profile_and_the_exif(photo: Path) -> None:
    metadata = rf.read_photo_metadata(photo)

    assert metadata.icc_bytes == WIDE_ICC
    assert metadata.exif_bytes is not None
    exif = Image.Exif()
    exif.load(metadata.exif_bytes)
    assert exif[ExifTags.Base.Make] == MAKE and exif[ExifTags.Base.Orientation] == 6
    assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] == LATITUDE  # keep_gps decides, later
    assert ExifTags.Base.MakerNote not in exif.get_ifd(ExifTags.IFD.Exif)
    assert THUMBNAIL not in metadata.exif_bytes


def test_read_photo_metadata_of_a_bare_png_or_a_non_image(plain_photo: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image")

    assert rf.read_photo_metadata(plain_photo) == rf.PhotoMetadata()
    assert rf.read_photo_metadata(text) == rf.PhotoMetadata()
    assert rf.PhotoMetadata().icc_bytes is None and rf.PhotoMetadata().exif_bytes is None


def test_an_exif_too_long_for_a_jpeg_is_not_kept(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = MAKE
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.UserComment] = bytes(rf.MAX_EXIF_BYTES)
    path = tmp_path / "long_exif.png"  # a PNG's eXIf chunk can hold it, a JPEG's APP1 segment cannot
    Image.new("RGB", (32, 32)).save(path, exif=exif)

    assert rf.read_photo_metadata(path).exif == ""


@pytest.mark.parametrize(
    "profile",
    [
        ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),  # not RGB
        wide_gamut_icc(padding=rf.MAX_PROFILE_BYTES),  # too large
        WIDE_ICC[:200],  # truncated
    ],
    ids=["lab", "too-large", "truncated"],
)
def test_an_unusable_profile_is_not_kept(profile: bytes, tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (32, 32), (10, 20, 30)).save(path, icc_profile=profile)

    assert rf.read_photo_metadata(path).icc_profile == ""


# --- png8 ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, TEXT])
def test_png8_without_photo_metadata_is_todays_png(text: dict[str, str] | None) -> None:
    pixels = result_pixels(64, 48)

    assert rf.encode_result(pixels, text=text) == images.encode_png(pixels, text=text)
    assert rf.encode_result(pixels[np.newaxis], "png8", rf.PhotoMetadata(), text=text) == images.encode_png(
        pixels, text=text
    )


def test_png8_keeps_the_exif_and_the_srgb_chunk(exif_only_photo: Path) -> None:
    pixels = result_pixels()

    data = rf.encode_result(pixels, "png8", rf.read_photo_metadata(exif_only_photo), text=TEXT)

    assert data[24] == 8  # IHDR bit depth
    image = Image.open(io.BytesIO(data))
    assert image.size == (WIDTH, HEIGHT)
    assert image.info["srgb"] == 0 and "icc_profile" not in image.info
    assert image.info["Comment"] == TEXT["Comment"] and image.info["Software"] == TEXT["Software"]
    np.testing.assert_array_equal(np.asarray(image), np.asarray(images.to_8bit_image(pixels)))
    assert_result_exif(image, WIDTH, HEIGHT)
    assert image.getexif().get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.ColorSpace] == 1  # sRGB


def test_png8_is_converted_into_the_photo_profile_and_carries_it(photo: Path) -> None:
    pixels = result_pixels()
    metadata = rf.read_photo_metadata(photo)

    data = rf.encode_result(pixels, "png8", metadata, text=TEXT)

    image = Image.open(io.BytesIO(data))
    assert image.info["icc_profile"] == WIDE_ICC and "srgb" not in image.info
    assert rf.carried_profile("png8", metadata) == rf.PHOTO_PROFILE
    stored = np.asarray(image)
    srgb = ImageCms.createProfile("sRGB")
    wide = ImageCms.ImageCmsProfile(io.BytesIO(WIDE_ICC))
    expected = ImageCms.profileToProfile(
        images.to_8bit_image(pixels), srgb, wide, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
    )
    assert expected is not None
    np.testing.assert_array_equal(stored, np.asarray(expected))
    assert stored[0, 0, 0] < 235, "sRGB red is well inside the wide gamut: its red value must drop (about 219)"
    # Read the way a colour-managed viewer does (the carried profile back to sRGB), it is the sRGB result.
    shown = ImageCms.profileToProfile(image, wide, srgb, outputMode="RGB")
    assert shown is not None
    difference = np.abs(np.asarray(shown, np.int16) - np.asarray(images.to_8bit_image(pixels), np.int16))
    assert difference.mean() < 1.5 and difference.max() <= 8
    assert_result_exif(image, WIDTH, HEIGHT)
    assert image.getexif().get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.ColorSpace] == 0xFFFF  # the profile says


# --- png16 and tiff16 ---------------------------------------------------------------------------------------------


def test_png16_holds_16_bit_values_the_srgb_profile_exif_and_text(photo: Path, tmp_path: Path) -> None:
    pixels = result_pixels()
    metadata = rf.read_photo_metadata(photo)
    text = {**TEXT, "Software": "Stil Übertragung ✓"}  # not Latin-1: an iTXt chunk

    data = rf.encode_result(pixels, "png16", metadata, text=text)

    assert data[24] == 16 and data[25] == 2  # IHDR: bit depth 16, colour type RGB
    np.testing.assert_array_equal(read_16bit_rgb(data, ".png", tmp_path), expected_16bit(pixels))
    image = Image.open(io.BytesIO(data))
    assert image.size == (WIDTH, HEIGHT)
    assert image.info["icc_profile"] == rf.SRGB_ICC and profile_name(rf.SRGB_ICC).startswith("sRGB")
    assert rf.carried_profile("png16", metadata) == rf.SRGB
    assert image.info["Comment"] == text["Comment"] and image.info["Software"] == text["Software"]
    assert_result_exif(image, WIDTH, HEIGHT)
    assert image.getexif().get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.ColorSpace] == 1


def test_tiff16_holds_16_bit_values_the_srgb_profile_exif_and_text(photo: Path, tmp_path: Path) -> None:
    pixels = result_pixels()

    data = rf.encode_result(pixels, "tiff16", rf.read_photo_metadata(photo), text=TEXT)

    assert data[:4] == b"II*\x00"
    np.testing.assert_array_equal(read_16bit_rgb(data, ".tiff", tmp_path), expected_16bit(pixels))
    image = Image.open(io.BytesIO(data))
    assert isinstance(image, TiffImagePlugin.TiffImageFile)
    assert image.size == (WIDTH, HEIGHT)
    assert image.tag_v2[258] == (16, 16, 16)
    assert len(image.tag_v2[273]) > 1, "the test must cover more than one strip"
    assert image.info["icc_profile"] == rf.SRGB_ICC
    assert image.tag_v2[270] == TEXT["Comment"] and image.tag_v2[305] == TEXT["Software"]
    image.load()  # Pillow decodes it too (to 8 bits)
    np.testing.assert_array_equal(np.asarray(image), expected_16bit(pixels) >> 8)
    assert_result_exif(image, WIDTH, HEIGHT)


@pytest.mark.parametrize("output_format", ["png16", "tiff16"])
def test_16_bit_results_are_exact(output_format: str, tmp_path: Path) -> None:
    # Every 16-bit level a float32 in [0, 1] can round to, and the halves between them.
    levels = np.arange(0, 65536, dtype=np.float32)
    values = np.concatenate([levels / np.float32(65535.0), (levels[:-1] + np.float32(0.5)) / np.float32(65535.0)])
    pixels = np.resize(values, 256 * 384 * 3).reshape(256, 384, 3)

    data = rf.encode_result(pixels, output_format)

    decoded = read_16bit_rgb(data, rf.EXTENSIONS[output_format], tmp_path)
    np.testing.assert_array_equal(decoded, expected_16bit(pixels))
    # The nearest level, give or take float32's own rounding of p * 65535 (an ulp of 32768 is 0.004).
    assert np.abs(decoded.astype(np.float64) - pixels.astype(np.float64) * 65535.0).max() <= 0.51


# --- jpeg ---------------------------------------------------------------------------------------------------------


def test_jpeg_is_converted_into_the_photo_profile_with_exif_and_comment(photo: Path) -> None:
    pixels = result_pixels()
    metadata = rf.read_photo_metadata(photo)

    data = rf.encode_result(pixels, "jpeg", metadata, text=TEXT)

    image = Image.open(io.BytesIO(data))
    assert isinstance(image, JpegImagePlugin.JpegImageFile)
    assert image.bits == 8 and image.size == (WIDTH, HEIGHT)
    assert image.info["icc_profile"] == WIDE_ICC
    assert image.info["comment"] == TEXT["Comment"].encode()
    assert JpegImagePlugin.get_sampling(image) == 0  # 4:4:4 at the default quality
    assert np.asarray(image)[2:6, 2:6, 0].mean() < 235, "converted into the wide profile: red drops (about 219)"
    assert_result_exif(image, WIDTH, HEIGHT)


def test_jpeg_quality_trades_size_for_error() -> None:
    pixels = smooth_pixels(256, 192)

    low, high = (rf.encode_result(pixels, "jpeg", jpeg_quality=quality) for quality in (60, 95))

    assert len(low) < 0.8 * len(high)
    for data, bound in ((low, 8.0), (high, 4.0)):  # mean absolute error in 8-bit levels; measured 2.0 and 0.7
        image = Image.open(io.BytesIO(data))
        assert image.info["icc_profile"] == rf.SRGB_ICC
        error = np.abs(np.asarray(image, np.float64) - pixels.astype(np.float64) * 255.0).mean()
        assert error < bound
    assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(low))) == 2  # 4:2:0 below quality 90


# --- EXIF and profiles across formats ----------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", OUTPUT_FORMATS)
def test_keep_gps_keeps_the_position(output_format: str, photo: Path) -> None:
    data = rf.encode_result(result_pixels(64, 48), output_format, rf.read_photo_metadata(photo), keep_gps=True)

    assert_result_exif(Image.open(io.BytesIO(data)), 64, 48, gps=True)


@pytest.mark.parametrize("output_format", OUTPUT_FORMATS)
def test_the_thumbnail_never_reaches_the_result(output_format: str) -> None:
    metadata = rf.PhotoMetadata(exif=base64.b64encode(camera_exif()).decode())  # the APP1 as it is, IFD1 included

    data = rf.encode_result(result_pixels(64, 48), output_format, metadata)

    assert THUMBNAIL not in data
    assert_result_exif(Image.open(io.BytesIO(data)), 64, 48)


@pytest.mark.parametrize("output_format", OUTPUT_FORMATS)
def test_a_photo_without_metadata_gives_srgb_and_no_exif(output_format: str, plain_photo: Path) -> None:
    metadata = rf.read_photo_metadata(plain_photo)

    image = Image.open(io.BytesIO(rf.encode_result(result_pixels(64, 48), output_format, metadata)))

    assert rf.carried_profile(output_format, metadata) == rf.SRGB
    assert image.info.get("icc_profile") == (None if output_format == "png8" else rf.SRGB_ICC)
    exif = image.getexif()
    assert ExifTags.Base.Make not in exif and ExifTags.IFD.Exif not in exif


def test_carried_profile() -> None:
    with_profile = rf.PhotoMetadata(icc_profile=base64.b64encode(WIDE_ICC).decode())

    assert {f: rf.carried_profile(f, with_profile) for f in OUTPUT_FORMATS} == {
        "png8": rf.PHOTO_PROFILE,
        "png16": rf.SRGB,
        "tiff16": rf.SRGB,
        "jpeg": rf.PHOTO_PROFILE,
    }
    assert set(rf.EXTENSIONS) == set(OUTPUT_FORMATS)


# --- refusals -----------------------------------------------------------------------------------------------------


def test_bad_format_or_quality_is_refused_naming_the_input() -> None:
    pixels = result_pixels(32, 32)

    with pytest.raises(OptionError, match=r"output_format='webp': must be one of png8, png16, tiff16, jpeg"):
        rf.encode_result(pixels, "webp")
    with pytest.raises(OptionError, match="output_format="):
        rf.carried_profile("PNG8")
    for quality in (49, 101):
        with pytest.raises(OptionError, match=rf"jpeg_quality={quality}: must be an integer from 50 to 100"):
            rf.encode_result(pixels, "jpeg", jpeg_quality=quality)


def test_bad_pixels_are_refused() -> None:
    pixels = result_pixels(32, 32)
    pixels[3, 4, 1] = np.nan

    for output_format in OUTPUT_FORMATS:
        with pytest.raises(ValueError, match="NaN or infinity"):
            rf.encode_result(pixels, output_format)
        with pytest.raises(ValueError, match=r"shape \(H, W, 3\)"):
            rf.encode_result(np.zeros((8, 8, 4), np.float32), output_format)


def test_imports_neither_flytekit_nor_tensorflow() -> None:
    code = (
        "import sys, workflows.result_formats; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'flytekit', 'tensorflow', 'keras'}))"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert done.stdout.strip() == "[]"


# --- through the workflow -----------------------------------------------------------------------------------------


def photo_with_exif(path: Path) -> Path:
    """A 96x72 JPEG photo with a camera's EXIF: make, a capture date, and a GPS position."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2026:12:01 10:00:00"
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    pixels = (smooth_pixels(96, 72) * 255).astype(np.uint8)
    Image.fromarray(pixels, "RGB").save(path, exif=exif, quality=95)
    return path


@pytest.mark.parametrize(
    ("output_format", "name", "keep_gps"), [("tiff16", "out.tiff", False), ("jpeg", "out.jpg", True)]
)
def test_the_workflow_writes_the_chosen_format_with_the_photos_exif(
    tmp_path: Path, write_image, output_format: str, name: str, keep_gps: bool
) -> None:
    from workflows.neural_style_transfer import neural_style_transfer_wf

    photo = photo_with_exif(tmp_path / "photo.jpg")
    style = write_image("style.png", 64, 64, style=True)
    target = tmp_path / name
    neural_style_transfer_wf(
        content_img=str(photo),
        style_img=str(style),
        epochs=1,
        steps_per_epoch=2,
        max_dim=48,
        output_format=output_format,
        keep_gps=keep_gps,
        output_uri=str(target),
    )
    with Image.open(target) as result:
        assert result.size == (48, 36)
        assert result.format == {"tiff16": "TIFF", "jpeg": "JPEG"}[output_format]
        exif = result.getexif()
        assert exif[ExifTags.Base.Make] == "TestCam"
        assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] == "2026:12:01 10:00:00"
        assert bool(exif.get_ifd(ExifTags.IFD.GPSInfo)) is keep_gps
        if output_format == "tiff16":
            assert result.tag_v2[258] == (16, 16, 16)
    if output_format == "tiff16":
        assert cv2.imread(str(target), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_an_output_uri_named_for_another_format_is_refused_before_any_work(tmp_path: Path, write_image) -> None:
    from workflows.neural_style_transfer import neural_style_transfer_wf

    photo, style = write_image("photo.jpg", 96, 72), write_image("style.png", 64, 64, style=True)
    with pytest.raises(OptionError, match=r"output_uri=.*out.png': ends in .png, but output_format='tiff16' writes"):
        neural_style_transfer_wf(
            content_img=str(photo), style_img=str(style), output_format="tiff16", output_uri=str(tmp_path / "out.png")
        )
    assert not (tmp_path / "out.png").exists()
