"""The Gatys style-transfer optimisation: losses, one compiled step, and resumable optimisers.

A ``StyleTransfer`` holds what is fixed for a run at one size (the truncated VGG19, the content features and the
style Gram matrices, computed once). ``run`` performs ``steps`` optimisation steps with Adam (the tutorial's
recipe, optionally with iterate averaging) or L-BFGS, each step one forward and one backward pass of the
truncated network. The returned ``optimizer_state`` (plain numpy arrays) lets the next call, possibly in another
process or pod, continue as if the run had never stopped.

``run_epoch`` is one epoch of the workflow (one Flyte task), pyramid level included; ``stylize`` chains epochs in
one process, exactly as the workflow chains tasks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from workflows import lbfgs, pyramid
from workflows.recipe import ADAM_SETTINGS, PRECISIONS, EpochPlan, LossWeights, Optimizer
from workflows.vgg19_features import CONTENT_LAYERS, STYLE_LAYERS, WeightsSource, feature_extractor, to_vgg_input

#: Optimiser state as numpy arrays: ``step`` always; ``adam_m``, ``adam_v`` and ``ema`` (Adam); ``lbfgs_s``,
#: ``lbfgs_y`` (L-BFGS curvature pairs), ``lbfgs_loss``, ``lbfgs_grad`` (where it stopped). Image-shaped entries are
#: (1, H, W, 3) or (k, H, W, 3).
OptimizerState = dict[str, np.ndarray]


@dataclass
class RunResult:
    """Where a run ended: the iterate to resume from, the image to show, the state, the loss before each step."""

    image: np.ndarray
    optimizer_state: OptimizerState
    losses: list[float] = field(default_factory=list)
    output: np.ndarray | None = None  # None: the image itself

    @property
    def shown(self) -> np.ndarray:
        """The image to show: the iterate average where there is one, else the iterate."""
        return self.image if self.output is None else self.output


@dataclass
class _AdamParts:
    variable: tf.Variable
    slots: dict[str, tf.Variable]
    average: tf.Variable
    decay: tf.Variable
    step: Callable[[], tf.Tensor]


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Channel correlations averaged over positions: the style statistic, independent of layout."""
    shape = tf.shape(features)
    positions = tf.cast(shape[1] * shape[2], tf.float32)
    return tf.einsum("bijc,bijd->bcd", features, features) / positions


class StyleTransfer:
    """Stylizes toward one content photo and one style image at one size; see the module docstring.

    ``reference_pixels`` normalises the total-variation term per pixel, scaled so that at that pixel count the
    loss is exactly the tutorial's: a pyramid level then weighs smoothness as the full-size image does. (The
    content and style terms are already means, so independent of size.)
    """

    def __init__(
        self,
        content: np.ndarray,
        style: np.ndarray,
        weights: LossWeights = LossWeights(),
        extractor_weights: WeightsSource | None = None,
        precision: str = "float32",
        reference_pixels: int | None = None,
    ) -> None:
        if precision not in PRECISIONS or precision == "auto":
            raise ValueError(f"precision must be float32 or bfloat16, got {precision!r}")
        self.content = _as_batch(content, "content")
        self.weights = weights
        pixels = self.content.shape[1] * self.content.shape[2]
        self._variation_scale = 1.0 if reference_pixels is None else reference_pixels / pixels
        self._extractor = feature_extractor(extractor_weights, precision)
        style_features = self._features(_as_batch(style, "style"))
        content_features = self._features(self.content)
        self._style_targets = [gram_matrix(f) for f in style_features[: len(STYLE_LAYERS)]]
        self._content_targets = content_features[len(STYLE_LAYERS) :]
        # Traced for this engine's fixed image shape: known shapes let TensorFlow and oneDNN plan every layer.
        self._value_and_grad = tf.function(self._value_and_grad_eager)
        self._adam: _AdamParts | None = None

    def loss(self, image: tf.Tensor | np.ndarray) -> tf.Tensor:
        """Total weighted loss of an image (style + content + total variation)."""
        image = tf.convert_to_tensor(_as_batch(image, "image") if isinstance(image, np.ndarray) else image)
        outputs = self._features(image)
        style_outputs, content_outputs = outputs[: len(STYLE_LAYERS)], outputs[len(STYLE_LAYERS) :]
        style_loss = tf.add_n(
            [tf.reduce_mean(tf.square(gram_matrix(o) - t)) for o, t in zip(style_outputs, self._style_targets)]
        )
        content_loss = tf.add_n(
            [tf.reduce_mean(tf.square(o - t)) for o, t in zip(content_outputs, self._content_targets)]
        )
        variation = tf.reduce_sum(tf.image.total_variation(image)) * self._variation_scale
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
        optimizer: Optimizer = Optimizer(),
    ) -> RunResult:
        """Take ``steps`` steps from ``image`` (default: the content photo) and ``optimizer_state``."""
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        start = self.content if image is None else _as_batch(image, "image")
        if start.shape != self.content.shape:
            raise ValueError(f"image shape {start.shape[1:]} does not match the content photo {self.content.shape[1:]}")
        state = dict(optimizer_state or {})
        _check_state_shapes(state, self.content.shape)
        if optimizer.name == "lbfgs":
            return self._run_lbfgs(steps, start, state, on_step, optimizer)
        return self._run_adam(steps, start, state, on_step, optimizer)

    # --- optimisers ----------------------------------------------------------------------------------

    def _run_adam(
        self, steps: int, start: np.ndarray, state: OptimizerState, on_step, optimizer: Optimizer
    ) -> RunResult:
        parts = self._adam_parts()
        parts.variable.assign(start)
        parts.slots["iteration"].assign(int(state.get("step", 0)))
        parts.slots["momentum"].assign(state.get("adam_m", np.zeros_like(start)))
        parts.slots["velocity"].assign(state.get("adam_v", np.zeros_like(start)))
        parts.average.assign(state.get("ema", np.zeros_like(start)))
        parts.decay.assign(optimizer.ema)
        losses = _loop(parts.step, steps, on_step)
        iterations = int(parts.slots["iteration"].numpy())
        new_state = {
            "step": np.array(iterations, np.int64),
            "adam_m": parts.slots["momentum"].numpy(),
            "adam_v": parts.slots["velocity"].numpy(),
        }
        output = None
        if optimizer.ema:
            new_state["ema"] = parts.average.numpy()
            output = new_state["ema"][0] / (1.0 - optimizer.ema**iterations)  # debiased, as Adam debiases m
        return RunResult(parts.variable.numpy()[0], new_state, losses, output)

    def _adam_parts(self) -> _AdamParts:
        """The image variable, Adam and the compiled step: made once per engine, reset by every ``run``."""
        if self._adam is None:
            variable = tf.Variable(self.content, dtype=tf.float32, name="stylized")
            adam = keras.optimizers.Adam(**ADAM_SETTINGS)
            adam.build([variable])
            average = tf.Variable(tf.zeros_like(self.content), name="iterate_average")
            decay = tf.Variable(0.0, dtype=tf.float32, name="ema_decay")
            step = self._compiled_adam_step(variable, adam, average, decay)
            self._adam = _AdamParts(variable, _adam_slots(adam), average, decay, step)
        return self._adam

    def _compiled_adam_step(
        self,
        variable: tf.Variable,
        adam: keras.optimizers.Optimizer,
        average: tf.Variable | None,
        decay: tf.Variable | float,
    ) -> Callable[[], tf.Tensor]:
        @tf.function(jit_compile=False)
        def step() -> tf.Tensor:
            loss, gradient = self._value_and_grad_eager(variable)
            adam.apply_gradients([(gradient, variable)])
            variable.assign(tf.clip_by_value(variable, 0.0, 1.0))
            if average is not None:
                average.assign(decay * average + (1.0 - decay) * variable)
            return loss

        return step

    def _run_lbfgs(
        self, steps: int, start: np.ndarray, state: OptimizerState, on_step, optimizer: Optimizer
    ) -> RunResult:
        resumed = None
        if "lbfgs_grad" in state:  # the previous run ended here: its loss and gradient need no re-evaluation
            resumed = (tf.constant(state["lbfgs_loss"]), tf.constant(state["lbfgs_grad"]))
        result = lbfgs.minimize(
            self._value_and_grad,
            tf.constant(start),
            steps,
            lbfgs.unstack(state.get("lbfgs_s")),
            lbfgs.unstack(state.get("lbfgs_y")),
            history=optimizer.history,
            on_step=_checked(on_step),
            start=resumed,
        )
        hw = start.shape[1:3]
        new_state = {
            "step": np.array(int(state.get("step", 0)) + steps, np.int64),
            "lbfgs_s": lbfgs.stack(result.history_s, hw),
            "lbfgs_y": lbfgs.stack(result.history_y, hw),
            "lbfgs_loss": np.asarray(result.loss, np.float32),
            "lbfgs_grad": np.asarray(result.grad, np.float32),
        }
        return RunResult(np.asarray(result.image)[0], new_state, result.losses)

    def _value_and_grad_eager(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(image)
            loss = self.loss(image)
        return loss, tape.gradient(loss, image)

    def _features(self, image: tf.Tensor | np.ndarray) -> list[tf.Tensor]:
        outputs = self._extractor(to_vgg_input(tf.convert_to_tensor(image)), training=False)
        return [tf.cast(o, tf.float32) for o in outputs]  # Gram matrices and losses stay float32


# --- one epoch of the workflow, and the whole chain in one process ------------------------------------


def run_epoch(
    content: np.ndarray,
    style: np.ndarray,
    image: np.ndarray,
    state: OptimizerState,
    plan: EpochPlan,
    on_step: Callable[[int, float], None] | None = None,
) -> RunResult:
    """One epoch at its pyramid level (or full size): resize what it is given, then ``run``.

    ``content`` and ``style`` are always the full-size (max_dim) pixels; ``image`` and ``state`` are whatever
    the previous epoch returned, at whatever size it ran.
    """
    engine, image, state = prepare_epoch(content, style, image, state, plan)
    return engine.run(plan.steps, image=image, optimizer_state=state or None, on_step=on_step, optimizer=plan.optimizer)


def prepare_epoch(
    content: np.ndarray, style: np.ndarray, image: np.ndarray, state: OptimizerState, plan: EpochPlan
) -> tuple[StyleTransfer, np.ndarray, OptimizerState]:
    """The engine for the epoch's size, and the image and state brought to that size."""
    full_hw = content.shape[:2]
    hw = full_hw
    native = bfloat16_is_native()
    precision = plan.compute_dtype(native)
    if plan.epoch > 0 and plan.compute_dtype(native, plan.epoch - 1) != precision:
        # A loss and gradient measured at another precision would mislead the first line search.
        state = {k: v for k, v in state.items() if k not in ("lbfgs_loss", "lbfgs_grad")}
    if plan.pyramid:
        long_side = pyramid.level_sizes(max(full_hw), plan.epochs)[plan.epoch]
        hw = pyramid.shape_for(content.shape, long_side)
    engine = StyleTransfer(
        pyramid.resize(content, hw),
        pyramid.resize(style, pyramid.shape_for(style.shape, max(hw))),
        plan.weights,
        precision=precision,
        reference_pixels=full_hw[0] * full_hw[1] if plan.pyramid else None,
    )
    if image.shape[:2] != tuple(hw):
        image, state = pyramid.resize(image, hw), pyramid.resize_state(state, hw)
    return engine, image, state


def stylize(
    content: np.ndarray,
    style: np.ndarray,
    epochs: int,
    steps_per_epoch: int,
    on_epoch: Callable[[int, RunResult], None] | None = None,
    **plan: object,
) -> RunResult:
    """The workflow's epoch chain in one process (for benchmarks and tests): same sizes, same state hand-over."""
    image: np.ndarray = np.asarray(content, np.float32)
    state: OptimizerState = {}
    losses: list[float] = []
    result: RunResult | None = None
    for epoch in range(epochs):
        result = run_epoch(content, style, image, state, EpochPlan(epoch, epochs, steps_per_epoch, **plan))  # type: ignore[arg-type]
        image, state = result.image, result.optimizer_state
        losses += result.losses
        if on_epoch is not None:
            on_epoch(epoch, result)
    assert result is not None  # epochs >= 1 is checked by EpochPlan
    result.losses = losses
    return result


# --- helpers --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def bfloat16_is_native() -> bool:
    """Whether this machine computes bfloat16 convolutions in hardware: a GPU of compute capability 8.0 or later,
    or, without a GPU, a CPU with AVX512-BF16 or AMX (elsewhere bfloat16 is emulated, and slower than float32)."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return all(
            tf.config.experimental.get_device_details(g).get("compute_capability", (0, 0)) >= (8, 0) for g in gpus
        )
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _loop(step: Callable[[], tf.Tensor], steps: int, on_step) -> list[float]:
    checked = _checked(on_step)
    losses = []
    for index in range(steps):
        value = float(step())
        checked(index, value)
        losses.append(value)
    return losses


def _checked(on_step: Callable[[int, float], None] | None) -> Callable[[int, float], None]:
    def check(index: int, value: float) -> None:
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss became {value} at step {index + 1}; lower the loss weights")
        if on_step is not None:
            on_step(index, value)

    return check


def _adam_slots(adam: keras.optimizers.Optimizer) -> dict[str, tf.Variable]:
    """Adam's iteration counter and moment variables, found by name (Keras numbers them by creation order)."""
    slots = {}
    for variable in adam.variables:
        for role in ("iteration", "momentum", "velocity"):
            if variable.path.endswith(role):
                slots[role] = variable
    return slots


def _check_state_shapes(state: OptimizerState, shape: tuple[int, ...]) -> None:
    for key in ("adam_m", "adam_v", "ema", "lbfgs_s", "lbfgs_y", "lbfgs_grad"):
        if key in state and tuple(state[key].shape[1:]) != tuple(shape[1:]):
            raise ValueError(f"optimizer state {key} has shape {state[key].shape[1:]}, the image {tuple(shape[1:])}")


def _as_batch(pixels: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[0] != 1 or array.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {np.shape(pixels)}")
    return array
