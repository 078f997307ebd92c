"""Every optimisation option of a run, in one frozen dataclass: the one source of their defaults.

``StyleOptions`` travels unchanged from the workflow (whose flat inputs take their defaults from it) through the
``@dynamic`` and every optimisation task to the engine. It is plain data (no TensorFlow, no flytekit), so the
workflow checks it before any download and the trigger's tests can compare their contract stub with it.

Bad values raise ``OptionError`` with one line that names the workflow input and the reason.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, fields

from workflows.engine.pyramid import level_sizes, shape_for
from workflows.errors import InputError

#: The TensorFlow tutorial's Adam settings: a large epsilon keeps early steps gentle.
ADAM_SETTINGS = {"learning_rate": 0.02, "beta_1": 0.99, "epsilon": 0.1}


# The workflow's inputs with a fixed set of values are these enums, so `pyflyte run --help` lists the values and
# click refuses any other at once; the options themselves hold the plain strings.
class Optimizer(enum.Enum):
    LBFGS = "lbfgs"
    ADAM = "adam"


class Precision(enum.Enum):
    AUTO = "auto"
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"


class Mode(enum.Enum):
    FULL = "full"
    PREVIEW = "preview"


class PreserveColors(enum.Enum):
    NONE = "none"
    LUMINANCE = "luminance"
    HISTOGRAM = "histogram"


OPTIMIZERS = tuple(o.value for o in Optimizer)
PRECISIONS = tuple(p.value for p in Precision)
#: The long side an image is brought to: bounds of the ``max_dim`` input. Below 32 px the style is
#: unrecognisable; above 4096 a result is tiled (``stages``), and preprocessing bounds its decode by bytes.
MAX_DIM_RANGE = (32, 4096)
PRESERVE_COLORS = tuple(p.value for p in PreserveColors)
INIT_IMAGES = ("content", "noise", "preview")  # or the URI of an image to start from
MODES = tuple(m.value for m in Mode)
STYLE_SCALE_RANGE = (0.25, 4.0)


class OptionError(InputError):
    """An option is out of range; the one-line message names the workflow input."""


@dataclass(frozen=True)
class StyleOptions:
    """What a stylization optimises and how. Field names are the workflow's input names.

    * ``epochs`` x ``steps_per_epoch``: the run's length. An epoch is the unit of progress: after each one the
      task checkpoints, publishes its Deck and (with an ``output_uri``) writes a progress record.
    * ``max_dim``: the long side of the result in pixels.
    * ``style_weight``, ``content_weight``, ``total_variation_weight``: the tutorial's loss weights.
    * ``optimizer``: ``lbfgs`` (20 curvature pairs, on the tutorial's loss with its total variation smoothed,
      ``transfer.TV_SMOOTHING``; of the configurations ``make bench`` compares, the soonest to the tutorial's
      quality) or ``adam`` (the tutorial's, on its exact loss). ``ema`` is Adam's iterate-averaging decay (0 = off).
    * ``pyramid``: run the epochs coarse to fine, each about sqrt(2) larger, the last at ``max_dim``.
    * ``precision``: ``auto`` (bfloat16 convolutions where the hardware computes them natively, float32 in the
      last epoch), ``float32`` or ``bfloat16``.
    * ``epochs_per_task``: 0 runs all epochs of a stage in one task; k splits a stage into tasks of k epochs
      (1 = one pod per epoch), e.g. for spot nodes.
    * ``lbfgs_history``: L-BFGS curvature pairs kept (memory grows with it: two images per pair).

    Creative controls (each default leaves the result unchanged):

    * ``preserve_colors``: ``none``; ``luminance`` transfers the style to the luminance only and keeps the photo's
      chroma (jcjohnson/neural-style's ``-original_colors``); ``histogram`` gives the style image the photo's
      colour mean and covariance before optimising (Gatys et al. 2017, "Controlling perceptual factors").
    * ``style_scale``: the size the style image is analysed at, relative to the output (0.25 to 4); bigger means
      bigger brush strokes.
    * ``style_blend_weights``: weights of ``style_img`` and then each of ``more_styles``, whose Gram targets are
      mixed (normalised; empty means equal weights).
    * ``init_image``: ``content`` (the photo), ``noise`` (uniform noise from ``seed``), ``preview`` (the
      feed-forward preview), or the URI of an image.
    * ``mode``: ``full`` (the preview first, then the VGG19 optimisation) or ``preview`` (the feed-forward
      preview is the result: instant, lower quality).
    * ``seed``: every random choice of a run comes from it: the same inputs and seed give the same PNG.
    * ``style_strength``: a multiplier on ``style_weight`` relative to ``content_weight`` (2 = twice the style).
    * ``upscale``: a photo smaller than ``max_dim`` keeps its own size unless this is set (no silent upscale).
    """

    epochs: int = 5
    steps_per_epoch: int = 100
    max_dim: int = 512
    style_weight: float = 1e-2
    content_weight: float = 1e4
    total_variation_weight: float = 30.0
    optimizer: str = "lbfgs"
    ema: float = 0.0
    pyramid: bool = False
    precision: str = "auto"
    epochs_per_task: int = 0
    lbfgs_history: int = 20
    preserve_colors: str = "none"
    style_scale: float = 1.0
    style_blend_weights: tuple[float, ...] = ()
    init_image: str = "content"
    seed: int = 0
    style_strength: float = 1.0
    upscale: bool = False
    mode: str = "full"

    def __post_init__(self) -> None:
        for name in ("epochs", "steps_per_epoch"):
            _at_least(name, getattr(self, name), 1)
        _at_least("epochs_per_task", self.epochs_per_task, 0)
        _at_least("lbfgs_history", self.lbfgs_history, 1)
        low, high = MAX_DIM_RANGE
        if not low <= self.max_dim <= high:
            raise OptionError(f"max_dim={self.max_dim}: must be between {low} and {high} pixels")
        for name in ("style_weight", "content_weight", "total_variation_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise OptionError(f"{name}={value}: must be a finite number of at least 0")
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("precision", self.precision, PRECISIONS)
        if not (math.isfinite(self.ema) and 0.0 <= self.ema < 1.0):
            raise OptionError(f"ema={self.ema}: must be in [0, 1)")
        if self.ema and self.optimizer != "adam":
            raise OptionError(f"ema={self.ema}: iterate averaging applies to optimizer='adam' only")
        _one_of("preserve_colors", self.preserve_colors, PRESERVE_COLORS)
        low_scale, high_scale = STYLE_SCALE_RANGE
        if not (math.isfinite(self.style_scale) and low_scale <= self.style_scale <= high_scale):
            raise OptionError(f"style_scale={self.style_scale}: must be between {low_scale} and {high_scale}")
        if not math.isfinite(self.style_strength) or self.style_strength < 0:
            raise OptionError(f"style_strength={self.style_strength}: must be a finite number of at least 0")
        weights = list(self.style_blend_weights)
        if any(not math.isfinite(w) or w < 0 for w in weights):
            raise OptionError(f"style_blend_weights={weights}: every weight must be a finite number of at least 0")
        if weights and sum(weights) == 0:
            raise OptionError(f"style_blend_weights={weights}: at least one weight must be above 0")
        if not self.init_image.strip():
            raise OptionError("init_image='': use 'content', 'noise' or the URI of an image")
        _at_least("seed", self.seed, 0)
        _one_of("mode", self.mode, MODES)

    # --- what each epoch does -----------------------------------------------------------------------------

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    @property
    def effective_style_weight(self) -> float:
        """The style term's weight: ``style_weight`` times ``style_strength``."""
        return self.style_weight * self.style_strength

    def blend_weights(self, styles: int) -> tuple[float, ...]:
        """Normalised weights of ``styles`` style images; a count that does not match is refused."""
        if not self.style_blend_weights:
            return tuple(1.0 / styles for _ in range(styles))
        if len(self.style_blend_weights) != styles:
            raise OptionError(
                f"style_blend_weights has {len(self.style_blend_weights)} weights for {styles} styles "
                "(style_img, then each of more_styles)"
            )
        total = sum(self.style_blend_weights)
        return tuple(w / total for w in self.style_blend_weights)

    def style_long_side(self, output_long_side: int) -> int:
        """The long side the style images are analysed at for an epoch whose result has ``output_long_side``."""
        return max(16, round(output_long_side * self.style_scale))

    @property
    def style_max_dim(self) -> int:
        """The long side preprocessing keeps the style images at: enough for the full-size epochs' analysis
        (``style_scale`` may ask for more than ``max_dim``), within ``max_dim``'s own bound."""
        return min(MAX_DIM_RANGE[1], max(self.max_dim, self.style_long_side(self.max_dim)))

    def compute_dtype(self, epoch: int, bfloat16_native: bool) -> str:
        """The convolutions' precision in ``epoch``.

        ``auto`` runs every epoch but the last in bfloat16 where the hardware computes it natively, and the last
        in float32: bfloat16 steps are faster, but their noise floor can sit above the tutorial's quality, which
        the float32 epoch then reaches. Without native bfloat16 it is float32 throughout.
        """
        if self.precision != "auto":
            return self.precision
        return "bfloat16" if bfloat16_native and epoch < self.epochs - 1 else "float32"

    def epoch_shape(self, epoch: int, full_hw: tuple[int, int]) -> tuple[int, int]:
        """(height, width) that ``epoch`` runs at, for a result of ``full_hw``: the full size or its pyramid level."""
        if not self.pyramid:
            return full_hw
        return shape_for(full_hw, level_sizes(max(full_hw), self.epochs)[epoch])

    def summary(self) -> dict[str, object]:
        """The options as a flat mapping, for the Deck and the progress record."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _at_least(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise OptionError(f"{name}={value!r}: must be an integer of at least {low}")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise OptionError(f"{name}={value!r}: must be one of {', '.join(allowed)}")


#: The defaults, for signatures that must spell them out (the workflow's inputs).
DEFAULTS = StyleOptions()
