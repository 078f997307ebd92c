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
    expected = feed_forward.preview_of(
        images.load_rgb(content, role="content", max_dim=512, upscale=False),
        images.load_rgb(style, role="style", max_dim=512),
    )
    assert Path(result.path).resolve() == target.resolve()
    assert np.abs(pixels(target) - expected).max() <= 1 / 255 + 1e-6, "the preview itself, 8-bit rounded"
    record = json.loads(Path(f"{target}.progress.json").read_text())
    assert record["stage"] == "preview" and record["done"] is True and record["steps"] == 0
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
