"""The Gatys style-transfer optimisation at one size: losses, one compiled step, and resumable optimisers.

A ``StyleTransfer`` holds what is fixed for a run at one size and precision (the truncated VGG19, the content
features and the style Gram matrices, computed once). ``run`` performs ``steps`` optimisation steps with the
options' optimiser (L-BFGS, or the tutorial's Adam, optionally with iterate averaging), each step one forward and
one backward pass of the truncated network. The returned ``optimizer_state`` (plain numpy arrays) lets the next
call, possibly in another process or pod, continue as if the run had never stopped. ``chain`` strings epochs
(and pyramid levels) together.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workflows.engine import lbfgs
from workflows.engine.framework import keras, tf
from workflows.engine.networks.vgg_features import (
    CONTENT_LAYERS,
    STYLE_LAYERS,
    WeightsSource,
    feature_extractor,
    to_vgg_input,
    weights_from_env,
)
from workflows.engine.options import ADAM_SETTINGS, DEFAULTS, StyleOptions
from workflows.engine.regions import StyleRegions, layer_masks, region_shares

#: Optimiser state as numpy arrays: ``step`` always; ``adam_m``, ``adam_v`` and ``ema`` (Adam); ``lbfgs_s``,
#: ``lbfgs_y`` (L-BFGS curvature pairs), ``lbfgs_loss``, ``lbfgs_grad`` (where it stopped). Image-shaped entries are
#: (1, H, W, 3) or (k, H, W, 3).
OptimizerState = dict[str, np.ndarray]
#: Called after every step with the step's index in this run and the loss before it.
StepCallback = Callable[[int, float], None] | None


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


#: How much each style layer's output is downsampled: block1_conv1 .. block5_conv1.
STYLE_STRIDES = (1, 2, 4, 8, 16)
#: A style image above this many pixels is analysed in tiles (forward passes only), so its targets cost bounded
#: memory at any size; the margin of context around each tile's core keeps the Gram matrices those of the whole.
STYLE_TILE_PIXELS = 768 * 768
STYLE_TILE_MARGIN = 64


def gram_targets(
    style: np.ndarray | Sequence[np.ndarray],
    options: StyleOptions = DEFAULTS,
    precision: str = "float32",
    extractor_weights: WeightsSource | None = None,
    max_pixels: int = STYLE_TILE_PIXELS,
    per_style: bool = False,
) -> list[np.ndarray]:
    """The style layers' target Gram matrices: each style image's, mixed with the options' blend weights; or, with
    ``per_style`` (each style has a region of its own), each layer's targets stacked, one per style (S, C, C)."""
    extractor = feature_extractor(network_weights(options, extractor_weights), precision)
    styles = [style] if isinstance(style, np.ndarray) else list(style)
    if per_style:
        each = [_style_grams(extractor, np.asarray(pixels, np.float32), max_pixels) for pixels in styles]
        return [np.stack(layer) for layer in zip(*each)]
    mixed = [np.zeros((0,))] * len(STYLE_LAYERS)
    for index, (weight, pixels) in enumerate(zip(options.blend_weights(len(styles)), styles)):
        grams = _style_grams(extractor, np.asarray(pixels, np.float32), max_pixels)
        mixed = [weight * g if index == 0 else m + weight * g for m, g in zip(mixed, grams)]
    return mixed


def network_weights(options: StyleOptions, given: WeightsSource | None = None) -> WeightsSource:
    """The weights of ``options.network``: ``given`` (which must be that network's), else its environment's."""
    if given is None:
        return weights_from_env(network=options.network)
    if given.network != options.network:
        raise ValueError(f"weights for {given.network} given to a run with network={options.network!r}")
    return given


def _style_grams(extractor: keras.Model, style: np.ndarray, max_pixels: int) -> list[np.ndarray]:
    """Gram matrices of one style image: in one pass, or summed over tiles' cores (exact but for context beyond
    the margin) when the image is bigger than ``max_pixels``."""
    height, width = style.shape[:2]
    if height * width <= max_pixels:
        return [gram_matrix(f).numpy()[0] for f in _features(extractor, style[None])[: len(STYLE_LAYERS)]]
    margin = STYLE_TILE_MARGIN
    core = max(16, (math.isqrt(max_pixels) - 2 * margin) // 16 * 16)
    sums = [np.zeros((0,))] * len(STYLE_LAYERS)
    counts = [0] * len(STYLE_LAYERS)
    for top in range(0, height, core):
        for left in range(0, width, core):
            y0, x0 = max(0, top - margin), max(0, left - margin)  # multiples of 16: crops align at every stride
            y1, x1 = min(height, top + core + margin), min(width, left + core + margin)
            outputs = _features(extractor, style[None, y0:y1, x0:x1])[: len(STYLE_LAYERS)]
            for k, (output, stride) in enumerate(zip(outputs, STYLE_STRIDES)):
                rows = slice((top - y0) // stride, -(-(min(top + core, height) - y0) // stride))
                cols = slice((left - x0) // stride, -(-(min(left + core, width) - x0) // stride))
                flat = output.numpy()[0, rows, cols].reshape(-1, output.shape[-1]).astype(np.float64)
                sums[k] = flat.T @ flat if counts[k] == 0 else sums[k] + flat.T @ flat
                counts[k] += flat.shape[0]
    return [(total / count).astype(np.float32) for total, count in zip(sums, counts)]


def _features(extractor: keras.Model, image: tf.Tensor | np.ndarray) -> list[tf.Tensor]:
    outputs = extractor(to_vgg_input(tf.convert_to_tensor(image)), training=False)
    return [tf.cast(o, tf.float32) for o in outputs]  # Gram matrices and losses stay float32


def total_variation(image: tf.Tensor, smoothing: float = 0.0) -> tf.Tensor:
    """The sum over the batch of ``tf.image.total_variation`` (absolute neighbour differences), or with
    ``smoothing`` > 0 of sqrt(d^2 + smoothing^2) - smoothing for each difference d: within ``smoothing`` of |d|,
    and differentiable everywhere."""
    if smoothing <= 0.0:
        return tf.reduce_sum(tf.image.total_variation(image))
    down = image[:, 1:, :, :] - image[:, :-1, :, :]
    across = image[:, :, 1:, :] - image[:, :, :-1, :]
    eps2 = smoothing * smoothing
    smoothed = [tf.reduce_sum(tf.sqrt(d * d + eps2) - smoothing) for d in (down, across)]
    return smoothed[0] + smoothed[1]


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Channel correlations averaged over positions: the style statistic, independent of layout."""
    shape = tf.shape(features)
    positions = tf.cast(shape[1] * shape[2], tf.float32)
    return tf.einsum("bijc,bijd->bcd", features, features) / positions


def regional_style_loss(features: tf.Tensor, targets: tf.Tensor, masks: tf.Tensor, shares: tf.Tensor) -> tf.Tensor:
    """One style layer's loss over regions: ``features`` (1, h, w, C), ``targets`` (K, C, C), ``masks`` (K, h, w, 1)
    on the layer's grid, ``shares`` (K,). Each region's Gram matrix weighs the features by its mask; a region with
    no area here has share 0 (and a Gram of 0, not 0/0)."""
    areas = tf.reduce_sum(masks, axis=[1, 2, 3])
    grams = tf.einsum("kij,ijc,ijd->kcd", masks[..., 0], features[0], features[0])
    grams = grams / tf.maximum(areas, 1e-12)[:, None, None]
    return tf.reduce_sum(shares * tf.reduce_mean(tf.square(grams - targets), axis=[1, 2]))


class StyleTransfer:
    """Stylizes toward one content photo and one or more style images (blended) at one size; see the module
    docstring.

    ``options`` gives the loss weights and the optimiser; ``precision`` is the convolutions' dtype here (default:
    the options', float32 for ``auto``). ``reference_pixels`` normalises the total-variation term per pixel,
    scaled so that at that pixel count the loss is exactly the tutorial's: a pyramid level then weighs
    smoothness as the full-size image does. (The content and style terms are already means, so independent of
    size.)

    The targets are computed here in ``targets_precision`` (default: ``precision``) unless given:
    ``style_targets`` (e.g. a whole image's, for one of its tiles) and ``content_targets``; ``targets`` gives
    both to another engine at the same size, which then skips their forward passes.

    ``regions`` (at the content's size) say where each style goes and what stays the photo (``regions.py``): with
    style masks the style targets are one per style (``gram_targets(per_style=True)``), else the blend.
    """

    def __init__(
        self,
        content: np.ndarray,
        style: np.ndarray | Sequence[np.ndarray],
        options: StyleOptions = DEFAULTS,
        precision: str | None = None,
        reference_pixels: int | None = None,
        extractor_weights: WeightsSource | None = None,
        style_targets: Sequence[np.ndarray | tf.Tensor] | None = None,
        content_targets: Sequence[np.ndarray | tf.Tensor] | None = None,
        targets_precision: str | None = None,
        regions: StyleRegions | None = None,
    ) -> None:
        if precision is None:
            precision = "float32" if options.precision == "auto" else options.precision
        if precision not in ("float32", "bfloat16"):
            raise ValueError(f"precision must be float32 or bfloat16, got {precision!r}")
        self.content = _as_batch(content, "content")
        self.options = options
        self.precision = precision
        pixels = self.content.shape[1] * self.content.shape[2]
        self._variation_scale = 1.0 if reference_pixels is None else reference_pixels / pixels
        # The same loss whichever optimiser minimises it: the smoothing is an option (in 8-bit levels), not a trait
        # of L-BFGS, so a benchmark compares optimisers on one loss and scores them all on the exact one.
        self._tv_smoothing = options.total_variation_smoothing / 255.0
        extractor_weights = network_weights(options, extractor_weights)
        self._extractor = feature_extractor(extractor_weights, precision)
        targets_precision = targets_precision or precision
        regions = regions or StyleRegions()
        if style_targets is None:
            style_targets = gram_targets(
                style, options, targets_precision, extractor_weights, per_style=regions.per_style
            )
        self._style_targets = [tf.cast(t, tf.float32) for t in style_targets]
        self._regions = self._region_constants(regions)
        # Inside the protect mask the photo's features on the first style layer (stride 1: its edges and colours) are
        # held. Not the deep content layer: it sees the whole picture at these sizes, so weighting it more inside the
        # mask held down the style everywhere (benchmarks/bench_masks.py, 256 px: the mean change outside the mask
        # fell from 0.170 to 0.105), while the first layer alone protects the region better.
        photo_features = None
        if content_targets is None or regions.preserve is not None:  # one forward pass serves both
            photo_features = _features(feature_extractor(extractor_weights, targets_precision), self.content)
        self._kept: tuple[tf.Tensor, tf.Tensor] | None = None
        if regions.preserve is not None:
            assert photo_features is not None
            self._kept = (tf.constant(regions.preserve[None, ..., None]), photo_features[0])
        if content_targets is None:
            assert photo_features is not None
            content_targets = photo_features[len(STYLE_LAYERS) :]
        self._content_targets = [tf.cast(t, tf.float32) for t in content_targets]
        # Traced for this engine's fixed image shape: known shapes let TensorFlow and oneDNN plan every layer.
        # Without autograph: the loss has no Python control flow on tensors, and converting it (Keras' layers
        # with it) took 0.2 s of a fresh task's first trace at 512 px, two thirds of that trace.
        # Through a partial of its own: TensorFlow counts traces per code object, and the method's code is the same
        # for every engine, so a local run's tiles (each its own engine and shape, each traced once, by design)
        # drew "triggered tf.function retracing" warnings as if one function were retraced. A partial has no code
        # object, so each engine's function is counted on its own.
        self._value_and_grad = tf.function(
            functools.partial(StyleTransfer._value_and_grad_eager, self), autograph=False
        )
        self._adam: _AdamParts | None = None

    def _region_constants(self, regions: StyleRegions) -> tuple[list[tf.Tensor], tf.Tensor] | None:
        """Each style layer's region masks (K, h, w, 1) and the regions' shares (K,); None: the unmasked loss."""
        if not regions:
            return None
        hw = tuple(self.content.shape[1:3])
        weights = regions.style_weights()
        if weights.shape[1:] != hw:
            raise ValueError(f"masks of {weights.shape[1:]} for a content photo of {hw}")
        if not regions.per_style:  # the blend, over one region (targets another engine handed over are already so)
            self._style_targets = [t[None] if t.shape.rank == 2 else t for t in self._style_targets]
        elif any(t.shape.rank != 3 or t.shape[0] != len(weights) for t in self._style_targets):
            raise ValueError(f"{len(weights)} style masks need one style target per style")
        masks = [tf.constant(m) for m in layer_masks(weights, hw, STYLE_STRIDES)]
        return masks, tf.constant(region_shares(weights))

    @property
    def targets(self) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
        """The style and content targets, for another engine at this size (``style_targets``, ``content_targets``)."""
        return list(self._style_targets), list(self._content_targets)

    def loss(self, image: tf.Tensor | np.ndarray) -> tf.Tensor:
        """The weighted loss every optimiser minimises (style + content + total variation): the tutorial's, with
        the total variation's absolute values smoothed by ``options.total_variation_smoothing`` (0: exact)."""
        return tf.add_n(list(self.loss_terms(image).values()))

    def loss_terms(self, image: tf.Tensor | np.ndarray) -> dict[str, tf.Tensor]:
        """The weighted terms of ``loss``, which sum to it: ``style <layer>`` for each style layer, ``content``,
        ``preserve`` (with a protect mask) and ``total variation``."""
        image = tf.convert_to_tensor(_as_batch(image, "image") if isinstance(image, np.ndarray) else image)
        outputs = self._features(image)
        style_outputs, content_outputs = outputs[: len(STYLE_LAYERS)], outputs[len(STYLE_LAYERS) :]
        style_weight = self.options.effective_style_weight / len(STYLE_LAYERS)
        if self._regions is None:
            terms = {
                f"style {name}": tf.reduce_mean(tf.square(gram_matrix(o) - t)) * style_weight
                for name, o, t in zip(STYLE_LAYERS, style_outputs, self._style_targets)
            }
        else:
            masks, shares = self._regions
            terms = {
                f"style {name}": regional_style_loss(o, t, m, shares) * style_weight
                for name, o, t, m in zip(STYLE_LAYERS, style_outputs, self._style_targets, masks)
            }
        content_loss = tf.add_n(
            [tf.reduce_mean(tf.square(o - t)) for o, t in zip(content_outputs, self._content_targets)]
        )
        terms["content"] = content_loss * (self.options.content_weight / len(CONTENT_LAYERS))
        if self._kept is not None:
            mask, photo_features = self._kept
            held = tf.reduce_mean(mask * tf.square(style_outputs[0] - photo_features))
            terms["preserve"] = held * (self.options.content_weight * self.options.preserve_strength)
        variation = total_variation(image, self._tv_smoothing) * self._variation_scale
        terms["total variation"] = variation * self.options.total_variation_weight
        return terms

    def run(
        self,
        steps: int,
        image: np.ndarray | None = None,
        optimizer_state: OptimizerState | None = None,
        on_step: Callable[[int, float], None] | None = None,
    ) -> RunResult:
        """Take ``steps`` steps from ``image`` (default: the content photo) and ``optimizer_state``."""
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        start = self.content if image is None else _as_batch(image, "image")
        if start.shape != self.content.shape:
            raise ValueError(f"image shape {start.shape[1:]} does not match the content photo {self.content.shape[1:]}")
        state = dict(optimizer_state or {})
        _check_state_shapes(state, self.content.shape)
        if self.options.optimizer == "lbfgs":
            return self._run_lbfgs(steps, start, state, on_step)
        return self._run_adam(steps, start, state, on_step)

    # --- optimisers ----------------------------------------------------------------------------------

    def _run_adam(self, steps: int, start: np.ndarray, state: OptimizerState, on_step: StepCallback) -> RunResult:
        parts = self._adam_parts()
        parts.variable.assign(start)
        parts.slots["iteration"].assign(int(state.get("step", 0)))
        parts.slots["momentum"].assign(state.get("adam_m", np.zeros_like(start)))
        parts.slots["velocity"].assign(state.get("adam_v", np.zeros_like(start)))
        parts.average.assign(state.get("ema", np.zeros_like(start)))
        ema = self.options.ema
        parts.decay.assign(ema)
        losses = _loop(parts.step, steps, on_step)
        iterations = int(parts.slots["iteration"].numpy())
        new_state = {
            "step": np.array(iterations, np.int64),
            "adam_m": parts.slots["momentum"].numpy(),
            "adam_v": parts.slots["velocity"].numpy(),
        }
        output = None
        if ema:
            new_state["ema"] = parts.average.numpy()
            output = new_state["ema"][0] / (1.0 - ema**iterations)  # debiased, as Adam debiases m
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

    def _run_lbfgs(self, steps: int, start: np.ndarray, state: OptimizerState, on_step: StepCallback) -> RunResult:
        resumed = None
        if "lbfgs_grad" in state:  # the previous run ended here: its loss and gradient need no re-evaluation
            resumed = (tf.constant(state["lbfgs_loss"]), tf.constant(state["lbfgs_grad"]))
        result = lbfgs.minimize(
            self._value_and_grad,
            tf.constant(start),
            steps,
            state.get("lbfgs_s"),
            state.get("lbfgs_y"),
            history=self.options.lbfgs_history,
            on_step=_checked(on_step),
            start=resumed,
        )
        # np.asarray gives read-only views of the tensors' buffers; .numpy() would copy the history, up to 2 x 47 MB
        # at 512x384, into freshly faulted-in pages at every epoch's end (0.3 s of a default task)
        new_state = {
            "step": np.array(int(state.get("step", 0)) + steps, np.int64),
            "lbfgs_s": np.asarray(result.history_s),
            "lbfgs_y": np.asarray(result.history_y),
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
        return _features(self._extractor, image)


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


def _loop(step: Callable[[], tf.Tensor], steps: int, on_step: StepCallback) -> list[float]:
    checked = _checked(on_step)
    losses = []
    for index in range(steps):
        value = float(step())
        checked(index, value)
        losses.append(value)
    return losses


def _checked(on_step: StepCallback) -> Callable[[int, float], None]:
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
