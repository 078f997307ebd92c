"""The feed-forward preview inside the workflow: first in the Deck and beside the output, the result under
mode="preview", the start under init_image="preview", and skipped (or refused when needed) when turned off."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.workflow.cli import pyflyte_run
from workflows import images
from workflows.engine.networks import arbitrary_stylization as feed_forward
from workflows.engine.options import PREVIEW_REFUSES, OptionError, StyleOptions, style_held_side
from workflows.engine.preview_result import preview_result
from workflows.engine.progress_view import FEED_FORWARD_MADE_IT
from workflows.neural_style_transfer import neural_style_transfer_wf


def pixels(path: str | Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image, np.float32) / 255.0


@pytest.fixture
def photos(write_image) -> tuple[Path, Path]:
    return write_image("photo.jpg", 96, 72, quality=95), write_image("style.png", 64, 64, style=True)


def test_mode_preview_returns_the_feed_forward_result_without_optimising(photos, tmp_path: Path) -> None:
    content, style = photos
    target = tmp_path / "out.png"
    result = neural_style_transfer_wf(
        content_img=str(content), style_img=str(style), mode="preview", output_uri=str(target)
    )
    photo = images.load_rgb(content, role="content", max_dim=512, upscale=False)
    expected = feed_forward.preview_of(photo, load_style(style, photo))
    assert Path(result.path).resolve() == target.resolve()
    assert np.abs(pixels(target) - expected).max() <= 1 / 255 + 1e-6, "the preview itself, 8-bit rounded"
    record = json.loads(Path(f"{target}.progress.json").read_text())
    assert record["state"] == record["stage"] == "preview" and record["done"] is True and record["steps"] == 0
    assert Path(f"{target}.preview.png").is_file()


def test_init_image_preview_starts_the_optimisation_from_the_preview(photos) -> None:
    """The workflow's result is exactly the engine's run started from the preview (to 8-bit rounding), and not
    the run started from the photo."""
    from workflows.engine.chain import stylize_in_process
    from workflows.engine.options import StyleOptions

    content, style = photos
    common = {"content_img": str(content), "style_img": str(style), "epochs": 1, "steps_per_epoch": 1, "max_dim": 96}
    started = np.round(pixels(neural_style_transfer_wf(init_image="preview", **common).path) * 255)
    photo, style_pixels = (
        images.load_rgb(path, role=role, max_dim=96) for path, role in ((content, "content"), (style, "style"))
    )
    options = StyleOptions(epochs=1, steps_per_epoch=1, max_dim=96, init_image="preview")
    from_preview = stylize_in_process(photo, style_pixels, options, init=feed_forward.preview_of(photo, style_pixels))
    from_photo = stylize_in_process(photo, style_pixels, dataclasses.replace(options, init_image="content"))
    assert np.abs(started - np.round(from_preview.output * 255)).max() <= 1
    assert np.abs(started - np.round(from_photo.output * 255)).max() > 8, "the start made a visible difference"


def test_turned_off_the_preview_is_skipped_or_refused_when_needed(photos, monkeypatch: pytest.MonkeyPatch) -> None:
    content, style = photos
    monkeypatch.setenv("NST_PREVIEW_MODEL", "off")
    common = {"content_img": str(content), "style_img": str(style), "epochs": 1, "steps_per_epoch": 1, "max_dim": 48}
    assert Path(neural_style_transfer_wf(**common).path).is_file(), "a full run does without it"
    with pytest.raises(Exception, match=r"mode='preview', init_image='content' need the preview: preview disabled"):
        neural_style_transfer_wf(mode="preview", **common)


def test_pyflyte_run_mode_preview_end_to_end(photos) -> None:
    content, style = photos
    result = pyflyte_run(
        "neural_style_transfer_wf", "--content_img", str(content), "--style_img", str(style), "--mode", "preview"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "epoch 1/" not in result.stderr, "no optimisation step ran"
    printed = [line.strip() for line in result.stdout.splitlines() if line.strip().endswith(".png")]
    with Image.open(io.BytesIO(Path(printed[-1]).read_bytes())) as image:
        assert image.size == (96, 72)


# --- preview mode honours every option it can, and refuses the others -------------------------------------------


def _non_default(name: str) -> object:
    """A valid value of option ``name`` other than its default."""
    return {
        "style_weight": 0.5,
        "content_weight": 1.0,
        "total_variation_weight": 1.0,
        "total_variation_smoothing": 1.0,
        "optimizer": "adam",
        "ema": 0.5,
        "pyramid": True,
        "precision": "float32",
        "epochs_per_task": 1,
        "lbfgs_history": 5,
        "style_scale": 2.0,
        "init_image": "noise",
        "network": "vgg16",
        "preserve_strength": 20.0,
    }[name]


@pytest.mark.parametrize("name", PREVIEW_REFUSES)
def test_preview_mode_refuses_an_option_it_cannot_honour_naming_it(name: str) -> None:
    changes = {name: _non_default(name)}
    if name == "ema":
        changes["optimizer"] = "adam"
    with pytest.raises(OptionError, match=rf"^mode='preview' cannot honour .*\b{name}=.*use mode='full'$"):
        StyleOptions(mode="preview", **changes)
    StyleOptions(mode="full", **changes)  # the same option is fine for the optimisation


def test_preview_mode_refuses_a_style_strength_above_one() -> None:
    with pytest.raises(OptionError, match=r"style_strength=1.5 \(above 1\)"):
        StyleOptions(mode="preview", style_strength=1.5)


@pytest.fixture
def two_styles(write_image) -> tuple[Path, Path, Path]:
    return (
        write_image("photo.jpg", 96, 72, quality=95),
        write_image("rings.png", 64, 64, style=True),
        Path(__file__).resolve().parents[2] / "samples" / "swirls.jpg",
    )


def _preview_run(paths: tuple[Path, ...], **inputs: object) -> np.ndarray:
    content, style, *more = paths
    result = neural_style_transfer_wf(
        content_img=str(content), style_img=str(style), more_styles=[str(p) for p in more], mode="preview", **inputs
    )
    return np.round(pixels(result.path) * 255)


def load_style(path: Path, photo: np.ndarray) -> np.ndarray:
    """A style as preprocessing keeps it: at its analysis size for the photo as decoded (style_scale 1)."""
    return images.load_rgb(path, role="style", max_dim=style_held_side(max(photo.shape[:2]), 1.0))


def _expected(paths: tuple[Path, ...], **options: object) -> np.ndarray:
    content, *styles = paths
    photo = images.load_rgb(content, role="content", max_dim=512, upscale=False)
    loaded = [load_style(path, photo) for path in styles]
    model = feed_forward.get_model()
    return np.round(preview_result(model, photo, loaded, StyleOptions(mode="preview", **options)) * 255)


@pytest.mark.parametrize(
    "options",
    [
        {"style_blend_weights": [0.7, 0.3]},
        {"preserve_colors": "luminance"},
        {"preserve_colors": "histogram"},
        {"style_strength": 0.4},
    ],
    ids=["blend", "luminance", "histogram", "strength"],
)
def test_preview_mode_honours_an_option_as_the_engine_applies_it(two_styles, options: dict) -> None:
    """The workflow's preview-mode PNG is the engine's preview under that option (to 8-bit rounding), and
    visibly not the plain preview: the option is honoured, not ignored."""
    paths = two_styles if "style_blend_weights" in options else two_styles[:2]
    got = _preview_run(paths, **options)
    engine_options = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    assert np.abs(got - _expected(paths, **engine_options)).max() <= 1
    plain = _expected(paths[:2])
    assert np.abs(got - plain).mean() > 2, "the option changed the picture"


def test_a_luminance_preview_keeps_the_photos_chroma(two_styles) -> None:
    from workflows.engine.colors import rgb_to_ycbcr

    got = _preview_run(two_styles[:2], preserve_colors="luminance") / 255
    photo = images.load_rgb(two_styles[0], role="content", max_dim=512, upscale=False)
    chroma_error = np.abs(rgb_to_ycbcr(got)[..., 1:] - rgb_to_ycbcr(photo)[..., 1:]).mean()
    plain_error = np.abs(rgb_to_ycbcr(_expected(two_styles[:2]) / 255)[..., 1:] - rgb_to_ycbcr(photo)[..., 1:]).mean()
    assert chroma_error < 0.25 * plain_error


def test_a_preview_mode_png_says_the_feed_forward_network_made_it(two_styles, monkeypatch) -> None:
    monkeypatch.setenv("NST_VGG19_WEIGHTS", "random")  # no VGG19 runs, so its weights are not the story
    content, style = two_styles[:2]
    result = neural_style_transfer_wf(content_img=str(content), style_img=str(style), mode="preview")
    with Image.open(result.path) as image:
        assert image.text["Comment"] == FEED_FORWARD_MADE_IT
