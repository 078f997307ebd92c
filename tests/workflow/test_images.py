"""Decoding user images: orientation, every colour mode, resizing, and one clear error per bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from tests.conftest import smooth_pixels, to_uint8
from workflows import images
from workflows.images import ImageInputError, load_rgb

EXIF_ORIENTATION = 0x0112


def halves(width: int, height: int, left: tuple[int, int, int], right: tuple[int, int, int]) -> Image.Image:
    array = np.zeros((height, width, 3), np.uint8)
    array[:, : width // 2] = left
    array[:, width // 2 :] = right
    return Image.fromarray(array, "RGB")


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored landscape, left red / right blue; orientation 6 means "rotate 90 degrees clockwise to display".
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    path = tmp_path / "rotated.jpg"
    halves(80, 40, (255, 0, 0), (0, 0, 255)).save(path, exif=exif, quality=95)

    pixels = load_rgb(path, role="content", max_dim=64)

    assert pixels.shape == (64, 32, 3)  # now portrait
    top, bottom = pixels[:24].mean(axis=(0, 1)), pixels[-24:].mean(axis=(0, 1))
    assert top[0] > 0.8 and top[2] < 0.2, "the stored left (red) edge must end up on top"
    assert bottom[2] > 0.8 and bottom[0] < 0.2


def test_resizes_long_side_to_max_dim_both_ways(write_image) -> None:
    assert load_rgb(write_image("big.png", 200, 100), role="content", max_dim=64).shape == (32, 64, 3)
    assert load_rgb(write_image("small.png", 30, 60), role="content", max_dim=96).shape == (96, 48, 3)


def test_output_is_float32_in_unit_range(write_image) -> None:
    pixels = load_rgb(write_image("a.png", 64, 48), role="content", max_dim=64)
    assert pixels.dtype == np.float32
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0
    expected = to_uint8(smooth_pixels(64, 48)) / 255.0
    np.testing.assert_allclose(pixels, expected, atol=1e-6)  # same size: a lossless PNG decodes exactly


def _mode_image(mode: str) -> tuple[Image.Image, dict]:
    """An image in ``mode`` with a known colour in its top-left pixel, and the save arguments it needs."""
    size = (40, 30)
    if mode == "1":
        return Image.new("1", size, 1), {}
    if mode == "L":
        return Image.new("L", size, 128), {}
    if mode == "LA":
        return Image.new("LA", size, (0, 0)), {}  # fully transparent black
    if mode == "P":
        return Image.new("RGB", size, (0, 128, 255)).convert("P", palette=Image.Palette.ADAPTIVE), {}
    if mode == "P+transparency":
        image = Image.new("P", size, 0)
        image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
        return image, {"transparency": 0}
    if mode == "RGBA":
        return Image.new("RGBA", size, (255, 0, 0, 0)), {}  # fully transparent red
    if mode == "CMYK":
        return Image.new("CMYK", size, (255, 0, 0, 0)), {}  # pure cyan
    if mode == "I;16":
        return Image.fromarray(np.full((30, 40), 32768, np.uint16)), {}
    if mode == "I":
        return Image.fromarray(np.full((30, 40), 65535, np.int32), "I"), {}
    if mode == "F":
        return Image.fromarray(np.full((30, 40), 0.25, np.float32), "F"), {}
    raise AssertionError(mode)


# (mode, file format, expected RGB of the top-left pixel in 0..255)
MODES = [
    ("1", "PNG", (255, 255, 255)),
    ("L", "PNG", (128, 128, 128)),
    ("LA", "PNG", (255, 255, 255)),  # transparent over white
    ("P", "PNG", (0, 128, 255)),
    ("P+transparency", "PNG", (255, 255, 255)),
    ("RGBA", "PNG", (255, 255, 255)),
    ("RGBA", "WEBP", (255, 255, 255)),
    ("CMYK", "JPEG", (0, 255, 255)),
    ("CMYK", "TIFF", (0, 255, 255)),
    ("I;16", "PNG", (128, 128, 128)),
    ("I", "TIFF", (255, 255, 255)),
    ("F", "TIFF", (64, 64, 64)),
]


@pytest.mark.parametrize(("mode", "fmt", "rgb"), MODES, ids=[f"{m}-{f}" for m, f, _ in MODES])
def test_every_mode_becomes_rgb(tmp_path: Path, mode: str, fmt: str, rgb: tuple[int, int, int]) -> None:
    image, save_args = _mode_image(mode)
    path = tmp_path / f"image.{fmt.lower()}"
    if fmt == "WEBP":
        save_args = {**save_args, "lossless": True}
    image.save(path, format=fmt, **save_args)
    assert Image.open(path).mode.split(";")[0] == mode.split("+")[0].split(";")[0] or fmt == "JPEG"

    pixels = load_rgb(path, role="style", max_dim=40)

    assert pixels.shape == (30, 40, 3)
    np.testing.assert_allclose(pixels[0, 0] * 255, rgb, atol=3)


def test_embedded_srgb_profile_is_honoured_and_broken_profile_is_ignored(tmp_path: Path, write_image) -> None:
    plain = write_image("plain.png", 48, 32)
    srgb_bytes = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with Image.open(plain) as image:
        image.save(tmp_path / "tagged.png", icc_profile=srgb_bytes)
        image.save(tmp_path / "broken.png", icc_profile=b"not an icc profile")

    reference = load_rgb(plain, role="content", max_dim=48)
    np.testing.assert_allclose(load_rgb(tmp_path / "tagged.png", role="content", max_dim=48), reference, atol=2 / 255)
    np.testing.assert_array_equal(load_rgb(tmp_path / "broken.png", role="content", max_dim=48), reference)


def test_lab_is_converted_through_colour_management(tmp_path: Path) -> None:
    """LAB pixels are converted to sRGB, not reinterpreted byte for byte."""
    path = tmp_path / "lab.tif"
    Image.new("LAB", (32, 32), (128, 128, 128)).save(path)  # L* = 50, a* = b* = 0: a neutral mid grey
    pixel = load_rgb(path, role="style", max_dim=32)[0, 0] * 255
    assert np.ptp(pixel) <= 2, "a neutral grey stays neutral"
    assert 110 <= pixel.mean() <= 130, "L* = 50 is about 119 in sRGB, not the raw byte 128 or 255"


# --- bad input: one clear line naming the input and the reason ------------------------------------


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is a shopping list, not a photo")
    with pytest.raises(ImageInputError, match=r"^content image s3://b/uploads/notes.jpg: not an image") as err:
        load_rgb(path, role="content", max_dim=64, source="s3://b/uploads/notes.jpg")
    assert "\n" not in str(err.value)


def test_truncated(tmp_path: Path, write_image) -> None:
    whole = write_image("whole.jpg", 256, 192, quality=95).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImageInputError, match=r"^style image .*cut.jpg: cannot be decoded, the file is truncated"):
        load_rgb(path, role="style", max_dim=64)


def test_too_many_pixels_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    Image.new("1", (10_000, 9_000)).save(path)  # 90 MP, yet a tiny file
    assert path.stat().st_size < 200_000
    with pytest.raises(
        ImageInputError, match=r"^content image .*: too many pixels \(90,000,000 pixels; the limit is 89,478,485\)$"
    ):
        load_rgb(path, role="content", max_dim=64)


def test_pixel_limit_is_configurable(write_image) -> None:
    with pytest.raises(ImageInputError, match=r"too many pixels \(3,072 pixels, 64 x 48; the limit is 1,000\)$"):
        load_rgb(write_image("a.png", 64, 48), role="content", max_dim=64, max_pixels=1000)


def test_too_small(write_image) -> None:
    with pytest.raises(ImageInputError, match=r"^style image .*: too small \(8 x 8; each side needs 16 px\)"):
        load_rgb(write_image("tiny.png", 8, 8), role="style", max_dim=64)


def test_too_narrow_after_resizing(write_image) -> None:
    with pytest.raises(ImageInputError, match=r"too small \(64 x 3 after resizing to max_dim=64"):
        load_rgb(write_image("strip.png", 400, 20), role="content", max_dim=64)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match=r"^content image .*gone.jpg: file not found$"):
        load_rgb(tmp_path / "gone.jpg", role="content", max_dim=64)


@pytest.mark.parametrize("max_dim", [0, 8, 10_000])
def test_max_dim_out_of_range(write_image, max_dim: int) -> None:
    with pytest.raises(ImageInputError, match=rf"^max_dim must be between 32 and 4096 pixels, got {max_dim}$"):
        load_rgb(write_image("a.png"), role="content", max_dim=max_dim)


# --- output ---------------------------------------------------------------------------------------


def test_png_is_8bit_rgb_tagged_srgb_and_rounds(tmp_path: Path) -> None:
    pixels = smooth_pixels(40, 30)
    pixels[0, 0] = (-0.5, 1.5, 0.5)  # out of range values are clipped
    path = images.save_png(pixels, tmp_path / "nested" / "out.png")
    with Image.open(path) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGB", (40, 30))
        assert image.info.get("srgb") == 0
        decoded = np.asarray(image)
    assert tuple(decoded[0, 0]) == (0, 255, 128)
    np.testing.assert_array_equal(decoded[1:], to_uint8(pixels)[1:])


def test_png_refuses_nan_and_wrong_shapes() -> None:
    bad = smooth_pixels(20, 20)
    bad[3, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        images.encode_png(bad)
    with pytest.raises(ValueError, match=r"expected pixels of shape \(H, W, 3\)"):
        images.encode_png(np.zeros((20, 20)))
    assert Image.open(io.BytesIO(images.encode_png(smooth_pixels(20, 20)[None]))).size == (20, 20)


def test_file_digest_tracks_content_not_name(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"same bytes")
    (tmp_path / "b").write_bytes(b"same bytes")
    (tmp_path / "c").write_bytes(b"other bytes")
    assert images.file_digest(tmp_path / "a") == images.file_digest(tmp_path / "b")
    assert images.file_digest(tmp_path / "a") != images.file_digest(tmp_path / "c")


# --- memory: bounded by bytes, not pixels (the peak itself is measured in benchmarks/bench_images.py) ---------


@pytest.mark.parametrize(("mode", "fmt", "rgb"), MODES, ids=[f"{m}-{f}" for m, f, _ in MODES])
def test_every_mode_survives_the_reduction_before_conversion(
    tmp_path: Path, mode: str, fmt: str, rgb: tuple[int, int, int]
) -> None:
    """A big image is box-reduced right after decoding, before any conversion: every mode still converts right."""
    small, save_args = _mode_image(mode)
    big = small.resize((400, 300), Image.Resampling.NEAREST)  # 400 // (3 * 32) = a 4x reduction first
    path = tmp_path / f"big.{fmt.lower()}"
    big.save(path, format=fmt, **save_args)
    pixels = load_rgb(path, role="content", max_dim=32)
    assert pixels.shape == (24, 32, 3)
    np.testing.assert_allclose(pixels[12, 16] * 255, rgb, atol=3)


@pytest.mark.parametrize(
    ("array", "mode"),
    [
        (np.arange(60 * 50, dtype=np.uint16).reshape(50, 60) * 21, "I;16"),
        (np.arange(60 * 50, dtype=np.int32).reshape(50, 60) * 21, "I"),
        (np.linspace(0, 3.0, 60 * 50, dtype=np.float32).reshape(50, 60), "F"),
    ],
)
def test_high_bit_depth_is_scaled_in_strips_exactly_as_at_once(monkeypatch, array: np.ndarray, mode: str) -> None:
    image = Image.fromarray(array) if mode == "I;16" else Image.fromarray(array, mode)
    assert image.mode == mode
    scale = 65535.0 if mode != "F" else float(array.max())
    expected = np.round(np.clip(array.astype(np.float64) / scale, 0, 1) * 255).astype(np.uint8)
    monkeypatch.setattr(images, "_STRIP_BYTES", 8 * 60 * 3)  # three rows a strip: 17 strips, the last one short
    np.testing.assert_array_equal(np.asarray(images._high_bit_depth_to_l(image)), expected)


def test_orientation_is_applied_after_the_reduction(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    path = tmp_path / "rotated.png"
    halves(800, 400, (255, 0, 0), (0, 0, 255)).save(path, exif=exif)  # reduced 4x, then rotated
    pixels = load_rgb(path, role="content", max_dim=64)
    assert pixels.shape == (64, 32, 3)
    assert pixels[:24].mean(axis=(0, 1))[0] > 0.8 and pixels[-24:].mean(axis=(0, 1))[2] > 0.8


@pytest.mark.parametrize("stored", [(4800, 960), (2400, 12), (9, 7)])
def test_an_image_of_any_aspect_ratio_is_brought_to_an_exact_size(tmp_path: Path, stored) -> None:
    """An init image: stored landscape, shown portrait (EXIF 6), stretched to a landscape photo's size; no side
    of it is "too small", and the reduction before the resize keeps the stored top (red) on top."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    path = tmp_path / "start.png"
    halves(*stored, (255, 0, 0), (0, 0, 255)).save(path, exif=exif)
    pixels = load_rgb(path, role="init", max_dim=48, size=(36, 48))
    assert pixels.shape == (36, 48, 3)
    top, bottom = pixels[:12].mean(axis=(0, 1)), pixels[-12:].mean(axis=(0, 1))
    assert top[0] > 0.8 and top[2] < 0.2 and bottom[2] > 0.8 and bottom[0] < 0.2


def test_the_reduced_path_matches_a_direct_resize(write_image) -> None:
    path = write_image("big.png", 960, 720)
    reduced = load_rgb(path, role="content", max_dim=80)  # reduced 4x, then Lanczos
    with Image.open(path) as image:
        direct = np.asarray(image.convert("RGB").resize((80, 60), Image.Resampling.LANCZOS), np.float32) / 255
    assert np.abs(reduced - direct).mean() < 0.01


def test_an_image_too_large_to_decode_within_memory_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "grey16.png"
    Image.fromarray(np.zeros((300, 400), np.uint16)).save(path)
    with pytest.raises(ImageInputError) as caught:
        load_rgb(path, role="style", max_dim=64, source="s3://b/styles/x.png", max_decode_bytes=200_000)
    assert str(caught.value) == (
        "style image s3://b/styles/x.png: too large to decode (400 x 300 I;16 needs 0.4 MB; the limit is 0.2 MB)"
    )


def test_progress_pngs_trade_bytes_for_speed_and_stay_lossless() -> None:
    pixels = smooth_pixels(64, 48)
    fast = images.encode_png(pixels, compress_level=images.PROGRESS_PNG_LEVEL)
    small = images.encode_png(pixels)
    assert len(fast) > len(small), "a lower zlib level: more bytes"
    for data in (fast, small):
        with Image.open(io.BytesIO(data)) as image:
            np.testing.assert_array_equal(np.asarray(image), to_uint8(pixels))
