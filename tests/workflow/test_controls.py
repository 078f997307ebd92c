"""The creative controls: each one's effect, beyond "the output changed", and its checks."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import smooth_pixels, striped_pixels
from workflows.engine import chain
from workflows.engine.chain import RunState, result_image, run_epochs, stylize_in_process
from workflows.engine.colors import keep_photo_chroma, match_color_statistics, rgb_to_ycbcr
from workflows.engine.options import OptionError, StyleOptions
from workflows.engine.resample import resize
from workflows.engine.transfer import StyleTransfer
from workflows.neural_style_transfer import neural_style_transfer_wf

BASE = StyleOptions(epochs=1, steps_per_epoch=3, max_dim=40, optimizer="lbfgs", precision="float32")
PHOTO = 0.2 + 0.6 * smooth_pixels(40, 30)  # mid-range: no channel near the clipping bounds
STYLE, OTHER = striped_pixels(40, 40), striped_pixels(40, 40)[::-1, ::-1].copy()


def first_loss(options: StyleOptions, style: np.ndarray | list[np.ndarray] = STYLE) -> float:
    return run_epochs(PHOTO, style, dataclasses.replace(options, steps_per_epoch=1), RunState.start(PHOTO)).losses[0]


# --- colours -------------------------------------------------------------------------------------------


def test_luminance_preservation_keeps_the_photos_chroma() -> None:
    options = dataclasses.replace(BASE, preserve_colors="luminance", steps_per_epoch=5)
    state = stylize_in_process(PHOTO, STYLE, options)
    shown = result_image(PHOTO, options, state)
    chroma = np.abs(rgb_to_ycbcr(shown)[..., 1:] - rgb_to_ycbcr(PHOTO)[..., 1:])
    assert chroma.max() <= 1 / 255, "Cb and Cr are the photo's"
    assert np.allclose(rgb_to_ycbcr(shown)[..., 0], rgb_to_ycbcr(state.output)[..., 0], atol=1 / 255)
    assert np.abs(shown - PHOTO).max() > 1e-3, "and the luminance is the stylized one"
    plain = dataclasses.replace(options, preserve_colors="none")
    assert result_image(PHOTO, plain, state) is state.output, "the default leaves the result alone"


def test_luminance_transfer_needs_matching_shapes() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        keep_photo_chroma(PHOTO, STYLE)


def test_histogram_matching_gives_the_style_the_photos_colour_statistics() -> None:
    matched = match_color_statistics(STYLE, PHOTO)
    flat, photo = matched.reshape(-1, 3).astype(np.float64), PHOTO.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(flat.mean(axis=0), photo.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(np.cov(flat, rowvar=False), np.cov(photo, rowvar=False), atol=1e-5)
    assert matched.shape == STYLE.shape


def test_histogram_mode_optimises_against_the_matched_style() -> None:
    histogram = dataclasses.replace(BASE, preserve_colors="histogram")
    assert first_loss(histogram) == pytest.approx(first_loss(BASE, match_color_statistics(STYLE, PHOTO)), rel=1e-6)
    assert first_loss(histogram) != pytest.approx(first_loss(BASE), rel=1e-3)


# --- style scale, blending, strength -------------------------------------------------------------------


def test_style_scale_sets_the_size_the_style_targets_are_computed_at(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, ...]] = []
    original = StyleTransfer.__init__

    def record(self, content, style, *args, **kwargs):
        seen.extend(np.shape(s) for s in style)
        original(self, content, style, *args, **kwargs)

    monkeypatch.setattr(chain.StyleTransfer, "__init__", record)
    big_style = striped_pixels(160, 160)
    for scale in (0.5, 1.0, 2.0):
        run_epochs(
            PHOTO, big_style, dataclasses.replace(BASE, style_scale=scale, steps_per_epoch=1), RunState.start(PHOTO)
        )
    assert seen == [(20, 20, 3), (40, 40, 3), (80, 80, 3)], "the output's long side (40) times style_scale"
    assert BASE.style_long_side(512) == 512 and dataclasses.replace(BASE, style_scale=1.5).style_long_side(512) == 768


def test_style_scale_changes_the_loss_it_optimises() -> None:
    big_style = striped_pixels(160, 160)
    larger = dataclasses.replace(BASE, style_scale=2.0)
    expected = float(StyleTransfer(PHOTO, resize(big_style, (80, 80)), BASE).loss(PHOTO))  # style at 2 x 40 px
    assert first_loss(larger, big_style) == pytest.approx(expected, rel=1e-6)
    assert first_loss(larger, big_style) != pytest.approx(first_loss(BASE, big_style), rel=1e-3)


def test_blending_with_weights_one_and_zero_is_the_single_style() -> None:
    blended = dataclasses.replace(BASE, style_blend_weights=(1.0, 0.0))
    assert first_loss(blended, [STYLE, OTHER]) == first_loss(BASE, STYLE)
    equal = first_loss(BASE, [STYLE, OTHER])
    assert equal == pytest.approx(first_loss(dataclasses.replace(BASE, style_blend_weights=(3.0, 3.0)), [STYLE, OTHER]))
    assert equal != pytest.approx(first_loss(BASE, STYLE), rel=1e-3), "an even blend is a different target"


def test_blend_weights_are_checked() -> None:
    with pytest.raises(OptionError, match=r"style_blend_weights has 3 weights for 2 styles"):
        run_epochs(
            PHOTO, [STYLE, OTHER], dataclasses.replace(BASE, style_blend_weights=(1, 1, 1)), RunState.start(PHOTO)
        )
    with pytest.raises(OptionError, match=r"style_blend_weights=\[1.0, -0.5\]: every weight must be"):
        StyleOptions(style_blend_weights=(1.0, -0.5))
    with pytest.raises(OptionError, match="at least one weight must be above 0"):
        StyleOptions(style_blend_weights=(0.0, 0.0))


def test_style_strength_multiplies_the_style_weight() -> None:
    stronger = dataclasses.replace(BASE, style_strength=2.0)
    assert stronger.effective_style_weight == 2 * BASE.style_weight
    doubled = dataclasses.replace(BASE, style_weight=2 * BASE.style_weight)
    assert first_loss(stronger) == pytest.approx(first_loss(doubled), rel=1e-6)
    with pytest.raises(OptionError, match="^style_strength=-1.0: must be a number from 0 to 100$"):
        StyleOptions(style_strength=-1.0)


@pytest.mark.parametrize("scale", [0.1, 5.0, float("nan")])
def test_style_scale_out_of_range_is_refused(scale: float) -> None:
    with pytest.raises(OptionError, match=r"^style_scale=.*: must be a number from 0.25 to 4$"):
        StyleOptions(style_scale=scale)


# --- start image and seed ----------------------------------------------------------------------------------


def test_noise_start_comes_from_the_seed() -> None:
    noise = dataclasses.replace(BASE, init_image="noise", seed=7)
    first, again = RunState.start(PHOTO, noise).image, RunState.start(PHOTO, noise).image
    np.testing.assert_array_equal(first, again)
    other = RunState.start(PHOTO, dataclasses.replace(noise, seed=8)).image
    assert np.abs(first - other).mean() > 0.1
    assert first.min() >= 0.0 and first.max() <= 1.0 and first.shape == PHOTO.shape
    np.testing.assert_array_equal(RunState.start(PHOTO, BASE).image, PHOTO.astype(np.float32))


def png(path: str | Path) -> bytes:
    return Path(path).read_bytes()


@pytest.fixture
def photos(write_image) -> tuple[Path, Path]:
    return write_image("photo.jpg", 48, 36, quality=95), write_image("style.png", 32, 32, style=True)


def test_same_inputs_and_seed_give_byte_identical_pngs(photos) -> None:
    content, style = photos
    common = {"content_img": str(content), "style_img": str(style), "epochs": 1, "steps_per_epoch": 2, "max_dim": 48}
    runs = [png(neural_style_transfer_wf(init_image="noise", seed=seed, **common).path) for seed in (3, 3, 4)]
    assert runs[0] == runs[1], "same seed, same bytes"
    assert runs[0] != runs[2], "another seed, another noise start"


def test_an_init_image_uri_is_where_the_optimisation_starts(photos, write_image, tmp_path: Path) -> None:
    content, style = photos
    start = tmp_path / "start.png"
    Image.new("RGB", (96, 72), (20, 200, 40)).save(start)  # larger than the photo: brought to its size
    result = neural_style_transfer_wf(
        content_img=str(content), style_img=str(style), epochs=1, steps_per_epoch=1, max_dim=48, init_image=str(start)
    )
    with Image.open(io.BytesIO(png(result.path))) as image:
        pixels = np.asarray(image, np.float32)
    assert pixels.shape == (36, 48, 3) and pixels[..., 1].mean() > pixels[..., 0].mean() + 60, "still mostly green"


@pytest.mark.parametrize("size", [(480, 24), (16, 300), (3, 2)])
def test_an_init_image_of_another_aspect_ratio_is_resized_to_the_photo(photos, tmp_path: Path, size) -> None:
    """As documented: wide, tall or tiny, it is stretched to the photo (it was refused as "too small")."""
    content, style = photos
    start = tmp_path / "start.png"
    Image.new("RGB", size, (20, 200, 40)).save(start)
    result = neural_style_transfer_wf(
        content_img=str(content), style_img=str(style), epochs=1, steps_per_epoch=1, max_dim=48, init_image=str(start)
    )
    with Image.open(io.BytesIO(png(result.path))) as image:
        pixels = np.asarray(image, np.float32)
    assert pixels.shape == (36, 48, 3) and pixels[..., 1].mean() > pixels[..., 0].mean() + 60, "still mostly green"


def test_a_missing_init_image_is_named(photos) -> None:
    content, style = photos
    with pytest.raises(Exception, match=r"init image .*/nope.png: not found"):
        neural_style_transfer_wf(
            content_img=str(content), style_img=str(style), init_image="/nowhere/nope.png", epochs=1
        )


def test_more_styles_through_the_workflow(photos, write_image) -> None:
    content, style = photos
    second = write_image("second.png", 40, 24)
    common = {"content_img": str(content), "style_img": str(style), "epochs": 1, "steps_per_epoch": 2, "max_dim": 48}
    single = png(neural_style_transfer_wf(**common).path)
    weighted_away = png(
        neural_style_transfer_wf(more_styles=[str(second)], style_blend_weights=[1.0, 0.0], **common).path
    )
    assert weighted_away == single, "weights (1, 0) are the single style, through the whole workflow"
    with pytest.raises(Exception, match=r"style_blend_weights has 1 weights for 2 styles"):
        neural_style_transfer_wf(more_styles=[str(second)], style_blend_weights=[1.0], **common)
