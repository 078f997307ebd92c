"""The plain-TensorFlow engine: truncated VGG19, one forward+backward per step, resumable Adam, weights sources."""

from __future__ import annotations

import collections
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import smooth_pixels, striped_pixels
from workflows import pyramid, vgg19_features
from workflows.style_engine import (
    ADAM_SETTINGS,
    EpochPlan,
    LossWeights,
    Optimizer,
    StyleTransfer,
    gram_matrix,
    run_epoch,
    stylize,
)
from workflows.vgg19_features import WeightsSource, WeightsUnavailableError, feature_extractor, weights_from_env

RANDOM = WeightsSource("random")


@pytest.fixture(scope="module")
def engine() -> StyleTransfer:
    return StyleTransfer(smooth_pixels(32, 32), striped_pixels(32, 32), extractor_weights=RANDOM)


def test_engine_imports_no_flytekit() -> None:
    import subprocess
    import sys

    code = "import sys, workflows.style_engine; print('flytekit' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_extractor_is_truncated_after_block5_conv2() -> None:
    names = [layer.name for layer in feature_extractor(RANDOM).layers]
    assert names[-1] == "block5_conv2"
    assert not {"block5_conv3", "block5_conv4", "block5_pool"} & set(names)
    assert [o.shape[-1] for o in feature_extractor(RANDOM).outputs] == [64, 128, 256, 512, 512, 512]


def test_value_and_grad_is_also_one_forward_and_one_backward_pass(engine: StyleTransfer) -> None:
    """What L-BFGS evaluates per step."""
    live = _live_op_types(engine._value_and_grad.get_concrete_function(tf.TensorSpec((1, 32, 32, 3), tf.float32)))
    assert live["Conv2D"] == live["Conv2DBackpropInput"] == 14
    assert live["Conv2DBackpropFilter"] == 0


def test_gram_matrix_matches_definition() -> None:
    features = tf.random.stateless_normal((1, 3, 4, 5), seed=(1, 2))
    flat = tf.reshape(features, (12, 5)).numpy()
    np.testing.assert_allclose(gram_matrix(features).numpy()[0], flat.T @ flat / 12, rtol=1e-5)


def _live_op_types(function: tf.types.experimental.ConcreteFunction) -> collections.Counter:
    """Op types that the step's outputs and side effects depend on (what TF keeps when it prunes the body)."""
    ops = function.graph.get_operations()
    stack = [t.op for t in function.outputs] + [op for op in ops if op._is_stateful]
    seen: dict[str, str] = {}
    while stack:
        op = stack.pop()
        if op.name not in seen:
            seen[op.name] = op.type
            stack.extend(t.op for t in op.inputs)
            stack.extend(op.control_inputs)
    return collections.Counter(seen.values())


def test_one_step_is_one_forward_and_one_backward_pass(engine: StyleTransfer) -> None:
    variable = tf.Variable(engine.content)
    optimizer = keras.optimizers.Adam(**ADAM_SETTINGS)
    optimizer.build([variable])
    live = _live_op_types(engine._compiled_adam_step(variable, optimizer, None, 0.0).get_concrete_function())

    convolutions_through_block5_conv2 = 2 + 2 + 4 + 4 + 2
    assert live["Conv2D"] == convolutions_through_block5_conv2, "style/content targets must not be recomputed per step"
    assert live["Conv2DBackpropInput"] == convolutions_through_block5_conv2
    assert live["Conv2DBackpropFilter"] == 0, "the VGG weights need no gradient"
    assert live["MaxPool"] == live["MaxPoolGrad"] == 4


def test_loss_falls(engine: StyleTransfer) -> None:
    result = engine.run(30)
    assert len(result.losses) == 30
    assert float(engine.loss(result.image)) < 0.8 * float(engine.loss(engine.content))
    assert min(result.losses[-5:]) < result.losses[0]


def test_pixels_stay_in_unit_range(engine: StyleTransfer) -> None:
    image = engine.run(5).image
    assert image.shape == (32, 32, 3) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0


def test_resumed_run_equals_uninterrupted_run(engine: StyleTransfer) -> None:
    straight = engine.run(6)
    image, state, losses = None, None, []
    for _ in range(3):
        part = engine.run(2, image=image, optimizer_state=state)
        image, state, losses = part.image, part.optimizer_state, losses + part.losses

    np.testing.assert_allclose(image, straight.image, atol=1e-5)
    np.testing.assert_allclose(losses, straight.losses, rtol=1e-5)
    assert int(state["step"]) == 6, "Adam's iteration count carries over"
    for key in state:
        np.testing.assert_allclose(state[key], straight.optimizer_state[key], rtol=1e-4, atol=1e-8)


def test_resuming_without_state_differs(engine: StyleTransfer) -> None:
    """Guards the test above: dropping Adam's moments (a fresh optimiser per chunk) changes the result."""
    straight = engine.run(6)
    image = None
    for _ in range(3):
        image = engine.run(2, image=image).image
    assert np.abs(image - straight.image).max() > 1e-3


def test_mismatched_state_and_image_are_refused(engine: StyleTransfer) -> None:
    other = StyleTransfer(smooth_pixels(48, 32), striped_pixels(32, 32), extractor_weights=RANDOM).run(1)
    with pytest.raises(ValueError, match=r"optimizer state adam_m has shape \(32, 48, 3\), the image \(32, 32, 3\)"):
        engine.run(1, optimizer_state=other.optimizer_state)
    with pytest.raises(ValueError, match=r"image shape \(32, 48, 3\) does not match the content photo \(32, 32, 3\)"):
        engine.run(1, image=other.image)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        engine.run(0)


def test_loss_weights_change_the_balance(engine: StyleTransfer) -> None:
    content_only = StyleTransfer(engine.content[0], striped_pixels(32, 32), LossWeights(0.0, 1.0, 0.0), RANDOM)
    assert float(content_only.loss(engine.content)) == 0.0, "the content photo has zero content loss"
    style_only = StyleTransfer(engine.content[0], striped_pixels(32, 32), LossWeights(1.0, 0.0, 0.0), RANDOM)
    assert float(style_only.loss(engine.content)) > 0.0


# --- weights ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", WeightsSource("imagenet")),
        ("imagenet", WeightsSource("imagenet")),
        ("random", WeightsSource("random")),
        ("/models/vgg19_notop.h5", WeightsSource("file", "/models/vgg19_notop.h5")),
        ("s3://models/vgg19.h5", WeightsSource("file", "s3://models/vgg19.h5")),
    ],
)
def test_weights_setting_is_parsed(value: str, expected: WeightsSource) -> None:
    assert weights_from_env(value) == expected


def test_unknown_weights_setting_names_the_variable() -> None:
    with pytest.raises(WeightsUnavailableError, match=r"NST_VGG19_WEIGHTS='vgg16' is not understood"):
        weights_from_env("vgg16")


def test_default_is_imagenet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NST_VGG19_WEIGHTS", raising=False)
    assert weights_from_env() == WeightsSource("imagenet")


def test_imagenet_offline_without_cache_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Keras download path runs; with no cached file and no network the error says what to set."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    for proxy in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")  # a closed port: the fetch fails at once, offline or not
    with pytest.raises(WeightsUnavailableError, match="NST_VGG19_WEIGHTS") as err:
        feature_extractor(WeightsSource("imagenet"))
    assert "not in the Keras cache" in str(err.value) and "'random'" in str(err.value)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A notop VGG19 weights file (random values) as Keras writes one."""
    vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    vgg19_features._he_normal_init(vgg, seed=7)
    path = tmp_path_factory.mktemp("weights") / "vgg19_notop.weights.h5"
    vgg.save_weights(path)
    return path


def _features(source: WeightsSource) -> list[np.ndarray]:
    batch = vgg19_features.to_vgg_input(tf.constant(smooth_pixels(32, 32)[None]))
    return [np.asarray(x) for x in feature_extractor(source)(batch)]


def test_weights_from_a_local_file(weights_file: Path) -> None:
    from_file = _features(WeightsSource("file", str(weights_file)))
    assert not np.allclose(from_file[0], _features(RANDOM)[0]), "the file's weights, not the default random ones"
    vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    vgg.load_weights(weights_file)
    assert np.allclose(
        vgg.get_layer("block1_conv1").get_weights()[0],
        feature_extractor(WeightsSource("file", str(weights_file))).get_layer("block1_conv1").get_weights()[0],
    )


def test_weights_from_s3(weights_file: Path, flyte_s3) -> None:
    client = flyte_s3.client()
    client.create_bucket(Bucket="models")
    client.upload_file(str(weights_file), "models", "vgg19/notop.weights.h5")
    from_s3 = _features(WeightsSource("file", "s3://models/vgg19/notop.weights.h5"))
    for a, b in zip(from_s3, _features(WeightsSource("file", str(weights_file)))):
        np.testing.assert_array_equal(a, b)


def test_missing_weights_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailableError, match=r"^NST_VGG19_WEIGHTS=.*absent.h5: no such file$"):
        feature_extractor(WeightsSource("file", str(tmp_path / "absent.h5")))


def test_not_a_weights_file_names_the_variable(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.h5"
    bogus.write_bytes(b"not hdf5")
    with pytest.raises(WeightsUnavailableError, match=r"NST_VGG19_WEIGHTS=.*bogus.h5: not a VGG19 notop weights file"):
        feature_extractor(WeightsSource("file", str(bogus)))


# --- faster paths: L-BFGS, iterate averaging, bfloat16, pyramid ------------------------------------------


def test_lbfgs_lowers_the_loss_faster_than_adam(engine: StyleTransfer) -> None:
    start = float(engine.loss(engine.content))
    adam = engine.run(15, optimizer=Optimizer("adam"))
    quasi_newton = engine.run(15, optimizer=Optimizer("lbfgs"))
    assert float(engine.loss(quasi_newton.image)) < 0.9 * start
    assert float(engine.loss(quasi_newton.image)) < float(engine.loss(adam.image))
    assert quasi_newton.image.min() >= 0.0 and quasi_newton.image.max() <= 1.0
    assert quasi_newton.losses == sorted(quasi_newton.losses, reverse=True), "the line search never accepts a rise"


def test_lbfgs_resumes_exactly(engine: StyleTransfer) -> None:
    straight = engine.run(8, optimizer=Optimizer("lbfgs", history=4))
    first = engine.run(5, optimizer=Optimizer("lbfgs", history=4))
    assert first.optimizer_state["lbfgs_s"].shape == (4, 32, 32, 3), "history is capped and carried"
    second = engine.run(
        3, image=first.image, optimizer_state=first.optimizer_state, optimizer=Optimizer("lbfgs", history=4)
    )
    np.testing.assert_allclose(second.image, straight.image, atol=1e-5)
    np.testing.assert_allclose(first.losses + second.losses, straight.losses, rtol=1e-5)
    assert int(second.optimizer_state["step"]) == 8


def test_ema_output_is_the_debiased_average_of_iterates(engine: StyleTransfer) -> None:
    decay = 0.5
    iterates, image, state = [], None, None
    for _ in range(4):
        result = engine.run(1, image=image, optimizer_state=state, optimizer=Optimizer("adam", ema=decay))
        image, state = result.image, result.optimizer_state
        iterates.append(result.image)
    weights = np.array([(1 - decay) * decay ** (3 - i) for i in range(4)])
    expected = np.tensordot(weights, np.stack(iterates), axes=1) / (1 - decay**4)
    np.testing.assert_allclose(result.shown, expected, atol=1e-5)
    plain = engine.run(4)
    np.testing.assert_allclose(result.image, plain.image, atol=1e-5), "averaging does not change the iterates"


def test_bfloat16_convolutions_keep_the_loss_close(engine: StyleTransfer) -> None:
    reduced = StyleTransfer(
        smooth_pixels(32, 32), striped_pixels(32, 32), extractor_weights=RANDOM, precision="bfloat16"
    )
    assert reduced._extractor.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert reduced._extractor.get_layer("block1_conv1").kernel.dtype == "float32"
    full, half = float(engine.loss(engine.content)), float(reduced.loss(engine.content))
    assert abs(half - full) / full < 0.02
    assert reduced.run(3).losses[-1] == pytest.approx(engine.run(3).losses[-1], rel=0.05)


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ValueError, match="optimizer must be one of adam, lbfgs, got 'sgd'"):
        Optimizer("sgd")
    with pytest.raises(ValueError, match="ema .* applies to the adam optimizer only"):
        Optimizer("lbfgs", ema=0.9)
    with pytest.raises(ValueError, match=r"precision must be float32 or bfloat16, got 'float16'"):
        StyleTransfer(smooth_pixels(32, 32), striped_pixels(32, 32), precision="float16")


def test_pyramid_levels() -> None:
    assert pyramid.level_sizes(512, 5) == [128, 181, 256, 362, 512]
    assert pyramid.level_sizes(512, 2) == [362, 512]
    assert pyramid.level_sizes(512, 8) == [128, 128, 128, 128, 181, 256, 362, 512]
    assert pyramid.level_sizes(96, 3) == [96, 96, 96], "never above max_dim"
    assert pyramid.shape_for((384, 512, 3), 256) == (192, 256)


def test_moments_are_rescaled_with_the_pixel_count() -> None:
    state = {
        "step": np.array(7),
        "adam_m": np.full((1, 8, 8, 3), 4.0, np.float32),
        "adam_v": np.full((1, 8, 8, 3), 16.0, np.float32),
        "lbfgs_s": np.ones((2, 8, 8, 3), np.float32),
    }
    grown = pyramid.resize_state(state, (16, 16))
    np.testing.assert_allclose(grown["adam_m"], 1.0)  # 4 x (64 / 256)
    np.testing.assert_allclose(grown["adam_v"], 1.0)  # 16 x (64 / 256)^2: m / sqrt(v), the update, is unchanged
    assert grown["lbfgs_s"].shape == (0, 16, 16, 3) and int(grown["step"]) == 7


def test_total_variation_is_normalised_per_pixel() -> None:
    """A level with a quarter of the pixels counts each pixel's roughness four times, as the full size would."""
    full = smooth_pixels(64, 64)
    small = pyramid.resize(full, (32, 32))
    variation_only = LossWeights(0.0, 0.0, 1.0)
    at_level = float(StyleTransfer(small, small, variation_only, RANDOM, reference_pixels=64 * 64).loss(small))
    plain_level = float(StyleTransfer(small, small, variation_only, RANDOM).loss(small))
    assert at_level == pytest.approx(4 * plain_level, rel=1e-6)
    at_full = StyleTransfer(full, full, variation_only, RANDOM)
    normalised_full = StyleTransfer(full, full, variation_only, RANDOM, reference_pixels=64 * 64)
    assert float(normalised_full.loss(full)) == float(at_full.loss(full)), "at full size it is the tutorial's loss"


def test_pyramid_chain_grows_to_full_size_and_equals_its_epochs_run_one_by_one() -> None:
    content, style = smooth_pixels(160, 120), striped_pixels(128, 128)
    plan = {"optimizer": Optimizer("adam", ema=0.5), "pyramid": True}
    sizes = []
    chained = stylize(content, style, 3, 2, on_epoch=lambda e, r: sizes.append(r.image.shape), **plan)
    assert sizes == [(96, 128, 3), (96, 128, 3), (120, 160, 3)], "levels 80 -> 128 (floor), 113 -> 128, 160"
    image, state = content, {}
    for epoch in range(3):
        result = run_epoch(content, style, image, state, EpochPlan(epoch, 3, 2, **plan))
        image, state = result.image, result.optimizer_state
    np.testing.assert_allclose(result.shown, chained.shown, atol=1e-5)
    assert chained.output.shape == (120, 160, 3)


def test_resumed_lbfgs_spends_no_evaluation_on_where_it_stopped(engine: StyleTransfer) -> None:
    """The next epoch starts from the carried loss and gradient: no extra forward and backward pass per task."""
    from workflows import lbfgs

    calls = []

    def counted(image):
        calls.append(1)
        return engine._value_and_grad(image)

    start = tf.constant(engine.content)
    lbfgs.minimize(counted, start, 8, [], [])
    straight_calls = len(calls)
    calls.clear()
    first = lbfgs.minimize(counted, start, 5, [], [])
    first_calls = len(calls)
    calls.clear()
    lbfgs.minimize(counted, first.image, 3, first.history_s, first.history_y, start=(first.loss, first.grad))
    assert len(calls) == straight_calls - first_calls


def test_auto_precision_polishes_the_last_epoch_in_float32() -> None:
    plan = EpochPlan(0, 3, 5, precision="auto")
    assert [plan.compute_dtype(True, epoch) for epoch in range(3)] == ["bfloat16", "bfloat16", "float32"]
    assert [plan.compute_dtype(False, epoch) for epoch in range(3)] == ["float32"] * 3, "emulated bfloat16 is slower"
    assert EpochPlan(0, 3, 5, precision="bfloat16").compute_dtype(True, 2) == "bfloat16", "an explicit choice stands"


def test_switching_precision_re_evaluates_where_lbfgs_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The float32 epoch must not trust a loss and gradient measured with bfloat16 convolutions."""
    from workflows import style_engine

    monkeypatch.setattr(style_engine, "bfloat16_is_native", lambda: True)
    content, style = smooth_pixels(48, 32), striped_pixels(48, 48)  # style already at the content's long side
    first = run_epoch(content, style, content, {}, EpochPlan(0, 2, 3, optimizer=Optimizer("lbfgs"), precision="auto"))
    second = run_epoch(
        content,
        style,
        first.image,
        first.optimizer_state,
        EpochPlan(1, 2, 3, optimizer=Optimizer("lbfgs"), precision="auto"),
    )
    float32_loss = float(StyleTransfer(content, style, extractor_weights=RANDOM).loss(first.image))
    assert second.losses[0] == pytest.approx(float32_loss, rel=1e-6)
    assert first.losses[-1] != pytest.approx(float32_loss, rel=1e-6), "epoch 1 really ran in bfloat16"
