"""The Gatys style-transfer optimisation: losses, one compiled step, and resumable Adam.

A ``StyleTransfer`` holds what is fixed for a run (the truncated VGG19, the
content features and the style Gram matrices, computed once). ``run`` creates
the optimiser once, optionally restores its state, and performs ``steps``
compiled steps, each exactly one forward and one backward pass of the
truncated network. The returned ``optimizer_state`` (plain numpy arrays) lets
the next call, possibly in another process or pod, continue as if the run had
never stopped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from workflows.vgg19_features import CONTENT_LAYERS, STYLE_LAYERS, WeightsSource, feature_extractor, to_vgg_input

#: The TensorFlow tutorial's optimiser settings: a large epsilon keeps early steps gentle.
ADAM_SETTINGS = {"learning_rate": 0.02, "beta_1": 0.99, "epsilon": 0.1}

#: Optimiser state as numpy arrays, keyed as Keras' own ``save_own_variables`` keys them.
OptimizerState = dict[str, np.ndarray]


@dataclass(frozen=True)
class LossWeights:
    """How much each term of the loss counts (the tutorial's defaults)."""

    style: float = 1e-2
    content: float = 1e4
    total_variation: float = 30.0


@dataclass
class RunResult:
    """Where an optimisation run ended: the image, the optimiser state to resume from, the loss per step."""

    image: np.ndarray
    optimizer_state: OptimizerState
    losses: list[float] = field(default_factory=list)


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Channel correlations averaged over positions: the style statistic, independent of layout."""
    shape = tf.shape(features)
    positions = tf.cast(shape[1] * shape[2], tf.float32)
    return tf.einsum("bijc,bijd->bcd", features, features) / positions


class StyleTransfer:
    """Stylizes toward one content photo and one style image; see the module docstring."""

    def __init__(
        self,
        content: np.ndarray,
        style: np.ndarray,
        weights: LossWeights = LossWeights(),
        extractor_weights: WeightsSource | None = None,
    ) -> None:
        self.content = _as_batch(content, "content")
        self.weights = weights
        self._extractor = feature_extractor(extractor_weights)
        style_features = self._features(_as_batch(style, "style"))
        content_features = self._features(self.content)
        self._style_targets = [gram_matrix(f) for f in style_features[: len(STYLE_LAYERS)]]
        self._content_targets = content_features[len(STYLE_LAYERS) :]

    def loss(self, image: tf.Tensor | np.ndarray) -> tf.Tensor:
        """Total weighted loss of a batch-of-one image (style + content + total variation)."""
        image = tf.convert_to_tensor(_as_batch(np.asarray(image), "image") if isinstance(image, np.ndarray) else image)
        outputs = self._features(image)
        style_outputs, content_outputs = outputs[: len(STYLE_LAYERS)], outputs[len(STYLE_LAYERS) :]
        style_loss = tf.add_n(
            [tf.reduce_mean(tf.square(gram_matrix(o) - t)) for o, t in zip(style_outputs, self._style_targets)]
        )
        content_loss = tf.add_n(
            [tf.reduce_mean(tf.square(o - t)) for o, t in zip(content_outputs, self._content_targets)]
        )
        variation = tf.reduce_sum(tf.image.total_variation(image))
        return (
            style_loss * (self.weights.style / len(STYLE_LAYERS))
            + content_loss * (self.weights.content / len(CONTENT_LAYERS))
            + variation * self.weights.total_variation
        )

    def run(
        self,
        steps: int,
        image: np.ndarray | None = None,
        optimizer_state: OptimizerState | None = None,
        on_step: Callable[[int, float], None] | None = None,
    ) -> RunResult:
        """Take ``steps`` Adam steps from ``image`` (default: the content photo) and ``optimizer_state``."""
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        start = self.content if image is None else _as_batch(image, "image")
        if start.shape != self.content.shape:
            raise ValueError(f"image shape {start.shape[1:]} does not match the content photo {self.content.shape[1:]}")
        variable = tf.Variable(start, dtype=tf.float32, name="stylized")
        optimizer = keras.optimizers.Adam(**ADAM_SETTINGS)
        optimizer.build([variable])
        if optimizer_state:
            _restore(optimizer, optimizer_state)
        step = self._compiled_step(variable, optimizer)
        losses: list[float] = []
        for index in range(steps):
            value = float(step())
            if not math.isfinite(value):
                raise FloatingPointError(f"the loss became {value} at step {index + 1}; lower the loss weights")
            losses.append(value)
            if on_step is not None:
                on_step(index, value)
        return RunResult(image=variable.numpy()[0], optimizer_state=_snapshot(optimizer), losses=losses)

    def _features(self, image: tf.Tensor | np.ndarray) -> list[tf.Tensor]:
        return list(self._extractor(to_vgg_input(tf.convert_to_tensor(image)), training=False))

    def _compiled_step(self, variable: tf.Variable, optimizer: keras.optimizers.Optimizer) -> Callable[[], tf.Tensor]:
        @tf.function(jit_compile=False)
        def step() -> tf.Tensor:
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(variable)
                loss = self.loss(variable)
            gradient = tape.gradient(loss, variable)
            optimizer.apply_gradients([(gradient, variable)])
            variable.assign(tf.clip_by_value(variable, 0.0, 1.0))
            return loss

        return step


def _as_batch(pixels: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[0] != 1 or array.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {np.shape(pixels)}")
    return array


def _snapshot(optimizer: keras.optimizers.Optimizer) -> OptimizerState:
    store: dict[str, object] = {}
    optimizer.save_own_variables(store)
    return {key: np.array(value) for key, value in store.items()}


def _restore(optimizer: keras.optimizers.Optimizer, state: OptimizerState) -> None:
    expected = {str(i): tuple(v.shape) for i, v in enumerate(optimizer.variables)}
    given = {key: tuple(np.shape(value)) for key, value in state.items()}
    if given != expected:
        raise ValueError(f"optimizer state does not fit this image: expected slots {expected}, got {given}")
    optimizer.load_own_variables(state)
