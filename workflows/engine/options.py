"""Every optimisation option of a run, in one frozen dataclass: the one source of their defaults.

``StyleOptions`` travels unchanged from the workflow (whose flat inputs take their defaults from it) through the
``@dynamic`` and every optimisation task to the engine. It is plain data (no TensorFlow, no flytekit), so the
workflow checks it before any download and the trigger's tests can compare their contract stub with it.

Bad values raise ``OptionError`` with one line that names the workflow input and the reason.
"""

from __future__ import annotations

import enum
import math
import typing
from dataclasses import dataclass, field, fields

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


class Network(enum.Enum):
    VGG19 = "vgg19"
    VGG16 = "vgg16"


OPTIMIZERS = tuple(o.value for o in Optimizer)
NETWORKS = tuple(n.value for n in Network)
PRECISIONS = tuple(p.value for p in Precision)
#: The long side an image is brought to: bounds of the ``max_dim`` input. Below 32 px the style is
#: unrecognisable; above 4096 a result is tiled (``stages``), and preprocessing bounds its decode by bytes.
MAX_DIM_RANGE = (32, 4096)
PRESERVE_COLORS = tuple(p.value for p in PreserveColors)
INIT_IMAGES = ("content", "noise", "preview")  # or the URI of an image to start from
MODES = tuple(m.value for m in Mode)
STYLE_SCALE_RANGE = (0.25, 4.0)
#: ``total_variation_smoothing``, in 8-bit levels: beyond a few levels the term no longer penalises the fine
#: noise it is there to remove.
TV_SMOOTHING_RANGE = (0.0, 8.0)
#: The options a feed-forward preview cannot honour (mode="preview" refuses them away from their defaults).
PREVIEW_REFUSES = (
    "style_weight",
    "content_weight",
    "total_variation_weight",
    "total_variation_smoothing",
    "optimizer",
    "ema",
    "pyramid",
    "precision",
    "epochs_per_task",
    "lbfgs_history",
    "style_scale",
    "init_image",
    "network",
)


def _option(
    default: typing.Any, meaning: str, choices: type[enum.Enum] | None = None, workflow_input: bool = True
) -> typing.Any:
    """A ``StyleOptions`` field: its default, its one description, the enum that lists its values (the
    workflow input's type, so ``pyflyte run`` offers and checks them), and whether the workflow takes it."""
    return field(default=default, metadata={"meaning": meaning, "choices": choices, "workflow_input": workflow_input})


class OptionError(InputError):
    """An option is out of range; the one-line message names the workflow input."""


@dataclass(frozen=True)
class StyleOptions:
    """What a stylization optimises and how. Field names are the workflow's input names, and each field's
    ``meaning`` (:func:`meaning`) is the one description of that input: ``pyflyte run --help``, the workflow's
    docstring and the README's table of inputs all come from it (``workflows/option_inputs.py``).

    Creative controls (``preserve_colors`` to ``mode``) leave the result unchanged at their defaults.
    """

    epochs: int = _option(
        5, "epochs (1 or more): after each one the run checkpoints, publishes its Deck and writes its progress record"
    )
    steps_per_epoch: int = _option(100, "optimisation steps in each epoch (1 or more)")
    max_dim: int = _option(512, "long side of the images, in pixels (32 to 4096)")
    style_weight: float = _option(1e-2, "weight of the style (Gram matrix) loss (a finite number, 0 or more)")
    content_weight: float = _option(1e4, "weight of the content (feature) loss (a finite number, 0 or more)")
    total_variation_weight: float = _option(30.0, "weight of the smoothness term (a finite number, 0 or more)")
    total_variation_smoothing: float = _option(
        0.25,
        "each neighbour difference d of the smoothness term counts as sqrt(d^2 + e^2) - e instead of |d|, e this "
        "many 8-bit levels (0 to 8; `0`: the tutorial's exact term). It gives the term a derivative where d = 0, "
        "which a photo's flat areas hold by the thousand; every optimiser minimises the same loss",
    )
    optimizer: str = _option(
        "lbfgs",
        "`lbfgs` (20 curvature pairs) or `adam` (the tutorial's recipe); both minimise the same loss",
        choices=Optimizer,
    )
    ema: float = _option(
        0.0, "Adam only: iterate-averaging decay in [0, 1) (e.g. `0.95`); the output is the debiased average"
    )
    pyramid: bool = _option(
        False, "coarse to fine: epoch *i* runs at `max_dim / sqrt(2)^(epochs-1-i)` (at least 128 px)"
    )
    precision: str = _option(
        "auto",
        "`auto`: bfloat16 convolutions in every epoch but the last where the hardware has native bfloat16 "
        "(AVX512-BF16/AMX CPUs, GPUs of compute capability 8.0+), float32 otherwise and in the last epoch; or "
        "`float32` / `bfloat16` throughout. Gram matrices and losses are always float32",
        choices=Precision,
    )
    epochs_per_task: int = _option(
        0,
        "`0`: every epoch of a stage in one task; `1`: one task (pod) per epoch; `k`: k epochs per task (e.g. for spot nodes)",
    )
    lbfgs_history: int = _option(20, "L-BFGS curvature pairs kept (two images each)", workflow_input=False)
    preserve_colors: str = _option(
        "none",
        "`luminance`: the style changes the luminance only and the photo keeps its chroma (jcjohnson's "
        "`-original_colors`); `histogram`: the style image is given the photo's colour mean and covariance before "
        "optimising (Gatys et al. 2017)",
        choices=PreserveColors,
    )
    style_scale: float = _option(
        1.0,
        "the size the style image is analysed at, relative to the output (0.25 to 4): bigger means bigger brush "
        "strokes",
    )
    style_blend_weights: tuple[float, ...] = _option(
        (),
        "weights of `style_img` then each of `more_styles`, normalised; empty means equal weights; a length that "
        "does not match or a negative weight is refused",
    )
    init_image: str = _option(
        "content",
        "where the optimisation starts: `content` (the photo), `noise` (uniform noise from `seed`), `preview` (the "
        "feed-forward preview), or the URI of an image (resized to the photo)",
    )
    seed: int = _option(
        0,
        "every random choice of a run (the noise start) comes from it: the same inputs and seed give "
        "byte-identical PNGs on the same machine",
    )
    style_strength: float = _option(
        1.0, "a multiplier on `style_weight` relative to `content_weight`: `2` is twice the style, `0.5` half"
    )
    upscale: bool = _option(
        False,
        "a photo smaller than `max_dim` keeps its own size; `true` enlarges it to `max_dim` (the only input that "
        "invents pixels)",
    )
    mode: str = _option(
        "full",
        '`full`: the feed-forward preview first (in the "Preview" Deck and beside `output_uri` within seconds), '
        "then the VGG19 optimisation; `preview`: the preview is the result (instant, lower quality)",
        choices=Mode,
    )
    network: str = _option(
        "vgg19",
        "the feature network whose layers define the loss: `vgg19` (the tutorial's) or `vgg16` (the same layer "
        "names; its weights come from `NST_VGG16_WEIGHTS`: `imagenet`, a file, or `stand-in`, the offline trained "
        "VGG16 fine-tuned on MRI scans)",
        choices=Network,
    )

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
        low_smoothing, high_smoothing = TV_SMOOTHING_RANGE
        if not (
            math.isfinite(self.total_variation_smoothing)
            and low_smoothing <= self.total_variation_smoothing <= high_smoothing
        ):
            raise OptionError(
                f"total_variation_smoothing={self.total_variation_smoothing}: must be between {low_smoothing} and "
                f"{high_smoothing} (8-bit levels)"
            )
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
        _one_of("network", self.network, NETWORKS)
        if self.mode == "preview":
            self._check_a_preview_honours_every_option()

    def _check_a_preview_honours_every_option(self) -> None:
        """``mode="preview"`` makes the feed-forward network's result the result: it honours the styles and their
        blend, ``preserve_colors``, ``style_strength`` up to 1, ``max_dim`` and ``upscale``; every option that
        shapes only the optimisation, set away from its default, is refused rather than silently ignored.
        (``epochs`` and ``steps_per_epoch`` are a deployment's settings, sent with every upload: they are
        accepted, and a preview runs no step.)"""
        defaults = {option.name: option.default for option in fields(self)}
        refused = [
            f"{name}={getattr(self, name)!r}" for name in PREVIEW_REFUSES if getattr(self, name) != defaults[name]
        ]
        if self.style_strength > 1.0:
            refused.append(f"style_strength={self.style_strength!r} (above 1)")
        if refused:
            raise OptionError(
                f"mode='preview' cannot honour {', '.join(refused)}: the feed-forward preview takes the styles and "
                "their blend, preserve_colors, style_strength up to 1, max_dim and upscale; use mode='full'"
            )

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
