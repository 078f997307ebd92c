"""The whole workflow under flytekit's local execution: files in, PNG out, state carried between epoch tasks."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workflows.images import ImageInputError
from workflows.neural_style_transfer import neural_style_transfer_wf
from workflows.task_resources import optimize_overrides

TINY = {"epochs": 1, "steps_per_epoch": 2, "max_dim": 48}


def png_pixels(data: bytes | Path) -> np.ndarray:
    raw = data.read_bytes() if isinstance(data, Path) else data
    with Image.open(io.BytesIO(raw)) as image:
        assert (image.format, image.mode) == ("PNG", "RGB")
        return np.asarray(image)


@pytest.fixture
def photos(write_image) -> tuple[Path, Path]:
    return write_image("photo.jpg", 96, 72, quality=95), write_image("style.png", 64, 64, style=True)


def test_local_files_in_png_out(photos, tmp_path: Path) -> None:
    content, style = photos
    target = tmp_path / "results" / "stylized.png"

    result = neural_style_transfer_wf(content_img=str(content), style_img=str(style), output_uri=str(target), **TINY)

    assert Path(result.path).resolve() == target.resolve(), "the returned file is the one written to output_uri"
    pixels = png_pixels(target)
    assert pixels.shape == (36, 48, 3), "long side is max_dim, aspect ratio kept"
    assert content.exists() and style.exists(), "inputs are left alone"


def test_without_output_uri_returns_a_png(photos) -> None:
    content, style = photos
    result = neural_style_transfer_wf(content_img=str(content), style_img=str(style), **TINY)
    assert png_pixels(Path(result.path)).shape == (36, 48, 3)


def test_epochs_resume_exactly_across_tasks(photos, tmp_path: Path) -> None:
    """Three epoch tasks of two steps give the image one six-step task gives: image and L-BFGS state both carried."""
    content, style = photos
    chained = tmp_path / "chained.png"
    single = tmp_path / "single.png"
    common = {"content_img": str(content), "style_img": str(style), "max_dim": 48, "precision": "float32"}

    neural_style_transfer_wf(epochs=3, steps_per_epoch=2, epochs_per_task=1, output_uri=str(chained), **common)
    neural_style_transfer_wf(epochs=1, steps_per_epoch=6, output_uri=str(single), **common)

    difference = np.abs(png_pixels(chained).astype(int) - png_pixels(single).astype(int))
    assert difference.max() <= 1, "equal up to 8-bit rounding"
    untouched = png_pixels(Path(neural_style_transfer_wf(epochs=1, steps_per_epoch=1, **common).path))
    assert np.abs(png_pixels(single).astype(int) - untouched.astype(int)).max() > 1, "and the steps did change it"


def test_s3_in_and_out_with_awkward_keys(photos, flyte_s3) -> None:
    content, style = photos
    s3 = flyte_s3.client()
    s3.create_bucket(Bucket="nst-local")
    s3.upload_file(str(content), "nst-local", "uploads/My Photo+1 été.jpg")
    s3.upload_file(str(style), "nst-local", "styles/stripes.png")

    neural_style_transfer_wf(
        content_img="s3://nst-local/uploads/My Photo+1 été.jpg",
        style_img="s3://nst-local/styles/stripes.png",
        output_uri="s3://nst-local/stylized/My Photo+1 été.png",
        **TINY,
    )

    body = s3.get_object(Bucket="nst-local", Key="stylized/My Photo+1 été.png")["Body"].read()
    assert png_pixels(body).shape == (36, 48, 3)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="nst-local")["Contents"]}
    assert keys == {
        "uploads/My Photo+1 été.jpg",
        "styles/stripes.png",
        "stylized/My Photo+1 été.png",
        "stylized/My Photo+1 été.png.progress.json",  # overwritten after every epoch, next to the result
        "stylized/My Photo+1 été.png.preview.png",
    }


def test_preprocessing_cache_follows_content_not_path(write_image, tmp_path: Path) -> None:
    """Replacing a file under the same name must not serve the old, cached pixels."""
    style = write_image("style.png", 64, 64, style=True)
    content = tmp_path / "same-name.png"
    Image.new("RGB", (64, 48), (250, 10, 10)).save(content)
    first = png_pixels(Path(neural_style_transfer_wf(content_img=str(content), style_img=str(style), **TINY).path))
    Image.new("RGB", (64, 48), (10, 10, 250)).save(content)
    second = png_pixels(Path(neural_style_transfer_wf(content_img=str(content), style_img=str(style), **TINY).path))

    assert first[..., 0].mean() > first[..., 2].mean(), "first run saw the red photo"
    assert second[..., 2].mean() > second[..., 0].mean(), "second run saw the blue photo, not a stale cache entry"


@pytest.mark.parametrize("pyramid", [False, True])
def test_bad_content_fails_with_a_clear_reason(photos, tmp_path: Path, pyramid: bool) -> None:
    _, style = photos
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    with pytest.raises(ImageInputError, match=r"content image .*notes.jpg: not an image"):
        neural_style_transfer_wf(content_img=str(notes), style_img=str(style), pyramid=pyramid, **TINY)


def test_missing_style_on_s3_fails_with_a_clear_reason(photos, flyte_s3) -> None:
    content, _ = photos
    flyte_s3.client().create_bucket(Bucket="nst-missing")
    with pytest.raises(ImageInputError, match=r"style image s3://nst-missing/styles/nope.jpg: not found"):
        neural_style_transfer_wf(content_img=str(content), style_img="s3://nst-missing/styles/nope.jpg", **TINY)


def test_output_uri_must_be_a_file(photos, tmp_path: Path) -> None:
    content, style = photos
    with pytest.raises(ValueError, match=r"output_uri=.*: must name a file, not a folder"):
        neural_style_transfer_wf(content_img=str(content), style_img=str(style), output_uri=f"{tmp_path}/", **TINY)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("2", "lots", "0", ""), r"optimize_mem='lots' is not a Kubernetes quantity"),
        (("two", "3Gi", "0", ""), r"optimize_cpu='two' is not a Kubernetes quantity"),
        (("2", "3Gi", "0", "nvidia-tesla-t4"), r"gpu_accelerator='nvidia-tesla-t4' needs optimize_gpu of at least 1"),
    ],
)
def test_bad_resource_inputs_are_named(arguments: tuple[str, str, str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        optimize_overrides(*arguments)


def test_zero_epochs_is_refused(photos) -> None:
    content, style = photos
    with pytest.raises(ValueError, match="epochs=0: must be an integer from 1 to 1000000"):
        neural_style_transfer_wf(
            content_img=str(content), style_img=str(style), epochs=0, steps_per_epoch=2, max_dim=48
        )


def test_pyramid_lbfgs_through_tasks_equals_the_in_process_chain(photos, tmp_path: Path) -> None:
    """Pixels, L-BFGS history, pyramid sizes and the precision schedule survive the trip through task boundaries."""
    from workflows import images
    from workflows.engine.chain import stylize_in_process
    from workflows.engine.options import StyleOptions

    content, style = photos
    target = tmp_path / "pyramid.png"
    neural_style_transfer_wf(
        content_img=str(content),
        style_img=str(style),
        epochs=3,
        steps_per_epoch=2,
        max_dim=160,
        upscale=True,  # the 96 px photo is enlarged to 160 px only because this says so
        optimizer="lbfgs",
        pyramid=True,
        output_uri=str(target),
    )
    pixels = [images.load_rgb(path, role=role, max_dim=160) for path, role in ((content, "content"), (style, "style"))]
    options = StyleOptions(epochs=3, steps_per_epoch=2, max_dim=160, optimizer="lbfgs", pyramid=True, precision="auto")
    expected = stylize_in_process(*pixels, options)
    assert png_pixels(target).shape == (120, 160, 3)
    assert np.abs(png_pixels(target).astype(int) - np.round(expected.output * 255).astype(int)).max() <= 1


def test_unknown_optimizer_fails_before_any_epoch(photos) -> None:
    content, style = photos
    with pytest.raises(Exception, match="sgd"):  # flytekit refuses it converting the enum input
        neural_style_transfer_wf(content_img=str(content), style_img=str(style), optimizer="sgd", **TINY)


def test_a_small_photo_is_never_silently_enlarged(photos) -> None:
    content, style = photos  # 96 x 72
    kept = neural_style_transfer_wf(
        content_img=str(content), style_img=str(style), epochs=1, steps_per_epoch=1, max_dim=160
    )
    assert png_pixels(Path(kept.path)).shape == (72, 96, 3), "max_dim is an upper bound for the photo"
    enlarged = neural_style_transfer_wf(
        content_img=str(content), style_img=str(style), epochs=1, steps_per_epoch=1, max_dim=160, upscale=True
    )
    assert png_pixels(Path(enlarged.path)).shape == (120, 160, 3)
