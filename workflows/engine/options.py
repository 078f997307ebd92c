"""Every optimisation option of a run, in one frozen dataclass: the one source of their defaults.

``StyleOptions`` travels unchanged from the workflow (whose flat inputs take their defaults from it) through the
``@dynamic`` and every optimisation task to the engine. It is plain data (no TensorFlow, no flytekit), so the
workflow checks it before any download and the trigger's tests can compare their contract stub with it.

Bad values raise ``OptionError`` with one line that names the workflow input and the reason.
"""

from __future__ import annotations

import enum
import math
import re
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


class OutputFormat(enum.Enum):
    PNG8 = "png8"
    PNG16 = "png16"
    TIFF16 = "tiff16"
    JPEG = "jpeg"


OPTIMIZERS = tuple(o.value for o in Optimizer)
NETWORKS = tuple(n.value for n in Network)
PRECISIONS = tuple(p.value for p in Precision)
PRESERVE_COLORS = tuple(p.value for p in PreserveColors)
INIT_IMAGES = ("content", "noise", "preview")  # or the URI of an image to start from
MODES = tuple(m.value for m in Mode)
OUTPUT_FORMATS = tuple(f.value for f in OutputFormat)

# --- the range of every numeric option ---------------------------------------------------------------------
# One closed range per field, here only: ``__post_init__`` checks each field against ``NUMERIC_RANGES``, the
# fields' meanings quote them (so ``pyflyte run --help`` and the README's table of inputs state them), and the
# trigger restates those an upload may set (``lambda_trigger/options.py``, compared by a test). (``ema`` is the
# half-open [0, 1), checked on its own.)
#: The long side an image is brought to: bounds of the ``max_dim`` input. Below 32 px the style is
#: unrecognisable; above 4096 a result is tiled (``stages``), and preprocessing bounds its decode by bytes.
MAX_DIM_RANGE = (32, 4096)
#: Counts: far beyond any real run, and small enough that their products (total steps) stay Flyte's int64.
EPOCHS_RANGE = (1, 1_000_000)
STEPS_PER_EPOCH_RANGE = (1, 1_000_000)
EPOCHS_PER_TASK_RANGE = (0, 1_000_000)
#: Each curvature pair holds two images, which the memory model counts.
LBFGS_HISTORY_RANGE = (1, 1000)
#: A Flyte integer is 64-bit: a larger seed would fail as "Integer value out of range" without naming ``seed``.
SEED_RANGE = (0, 2**63 - 1)
STYLE_SCALE_RANGE = (0.25, 4.0)
# The loss weights. The losses are float32 (at most 3.4e38), and L-BFGS forms dot products of gradients in float32,
# so a weighted term must stay below about sqrt(3.4e38) = 1.8e19 for the product of two such magnitudes to be
# finite. The unweighted terms are at most about: a style layer's mean squared Gram difference 2e13 (ImageNet
# VGG19's Gram entries reach 4e6 on its [-124, 152] input, the tutorial's printout), the content term's mean
# squared feature difference 1e8 (features up to about 1e4), and the total variation 1e8 (at most 6 per pixel,
# 4096 x 4096 pixels). Hence the effective style weight (style_weight x style_strength) at most 1e5, and the
# content and smoothness weights at most 1e10: every term under 1e18. Each bound is still 1e5 to 1e8 times its
# default, far beyond any picture worth having.
STYLE_WEIGHT_RANGE = (0.0, 1e3)
STYLE_STRENGTH_RANGE = (0.0, 100.0)
CONTENT_WEIGHT_RANGE = (0.0, 1e10)
TOTAL_VARIATION_WEIGHT_RANGE = (0.0, 1e10)
#: ``total_variation_smoothing``, in 8-bit levels: beyond a few levels the term no longer penalises the fine
#: noise it is there to remove.
TV_SMOOTHING_RANGE = (0.0, 8.0)
#: ``jpeg_quality``: libjpeg's scale; below 50 the blocks show at any size worth printing.
JPEG_QUALITY_RANGE = (50, 100)
#: ``preserve_strength``: the protect mask's hold on the photo, in multiples of ``content_weight``.
PRESERVE_STRENGTH_RANGE = (1.0, 1000.0)
#: Each of ``style_blend_weights``: they are only compared with each other, and any number of weights this size
#: sums to a finite total (two of 1e308 summed to inf, and normalising by it left no style at all).
BLEND_WEIGHT_RANGE = (0.0, 1e6)
#: The scalar numeric fields' ranges, by field (``style_blend_weights`` holds each weight to BLEND_WEIGHT_RANGE).
#: An integer range is an integer field's: a bool or a float there is refused.
NUMERIC_RANGES: dict[str, tuple[int, int] | tuple[float, float]] = {
    "epochs": EPOCHS_RANGE,
    "steps_per_epoch": STEPS_PER_EPOCH_RANGE,
    "max_dim": MAX_DIM_RANGE,
    "style_weight": STYLE_WEIGHT_RANGE,
    "content_weight": CONTENT_WEIGHT_RANGE,
    "total_variation_weight": TOTAL_VARIATION_WEIGHT_RANGE,
    "total_variation_smoothing": TV_SMOOTHING_RANGE,
    "epochs_per_task": EPOCHS_PER_TASK_RANGE,
    "lbfgs_history": LBFGS_HISTORY_RANGE,
    "style_scale": STYLE_SCALE_RANGE,
    "seed": SEED_RANGE,
    "style_strength": STYLE_STRENGTH_RANGE,
    "preserve_strength": PRESERVE_STRENGTH_RANGE,
    "jpeg_quality": JPEG_QUALITY_RANGE,
}


def range_text(bounds: tuple[int, int] | tuple[float, float]) -> str:
    """A range as the input table, ``--help`` and the refusals state it: ``0 to 1e10``, ``1 to 1000000``."""
    return " to ".join(
        str(bound) if isinstance(bound, int) else re.sub(r"e\+0*", "e", f"{bound:g}") for bound in bounds
    )


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
    "preserve_strength",
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
        5,
        f"epochs ({range_text(EPOCHS_RANGE)}): after each one the run checkpoints, publishes its Deck and writes its "
        "progress record",
    )
    steps_per_epoch: int = _option(100, f"optimisation steps in each epoch ({range_text(STEPS_PER_EPOCH_RANGE)})")
    max_dim: int = _option(512, f"long side of the images, in pixels ({range_text(MAX_DIM_RANGE)})")
    style_weight: float = _option(1e-2, f"weight of the style (Gram matrix) loss ({range_text(STYLE_WEIGHT_RANGE)})")
    content_weight: float = _option(1e4, f"weight of the content (feature) loss ({range_text(CONTENT_WEIGHT_RANGE)})")
    total_variation_weight: float = _option(
        30.0, f"weight of the smoothness term ({range_text(TOTAL_VARIATION_WEIGHT_RANGE)})"
    )
    total_variation_smoothing: float = _option(
        0.0,
        "each neighbour difference d of the smoothness term counts as sqrt(d^2 + e^2) - e instead of |d|, e this "
        f"many 8-bit levels ({range_text(TV_SMOOTHING_RANGE)}; `0`: the tutorial's exact term). It gives the term "
        "a derivative where d = 0, which a photo's flat areas hold by the thousand; every optimiser minimises the "
        "same loss",
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
        f"the size the style image is analysed at, relative to the output ({range_text(STYLE_SCALE_RANGE)}): bigger "
        "means bigger brush strokes",
    )
    style_blend_weights: tuple[float, ...] = _option(
        (),
        "weights of `style_img` then each of `more_styles`, normalised; empty means equal weights; each "
        f"{range_text(BLEND_WEIGHT_RANGE)}, not all 0, one per style",
    )
    init_image: str = _option(
        "content",
        "where the optimisation starts: `content` (the photo), `noise` (uniform noise from `seed`), `preview` (the "
        "feed-forward preview), or the URI of an image (resized to the photo)",
    )
    seed: int = _option(
        0,
        f"every random choice of a run (the noise start) comes from it ({range_text(SEED_RANGE)}): the same inputs "
        "and seed give byte-identical PNGs on the same machine",
    )
    style_strength: float = _option(
        1.0,
        f"a multiplier on `style_weight` relative to `content_weight` ({range_text(STYLE_STRENGTH_RANGE)}): `2` is "
        "twice the style, `0.5` half",
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
    preserve_strength: float = _option(
        10.0,
        "with `preserve_mask`: how strongly its white regions hold the photo: their edges and colours (the first "
        f"VGG layer's features) are matched with this many times `content_weight` ({range_text(PRESERVE_STRENGTH_RANGE)}); "
        "no style is matched there either",
    )
    output_format: str = _option(
        "png8",
        "the result's file: `png8` (8-bit sRGB PNG), `png16` (16 bits per channel), `tiff16` (16-bit TIFF) or `jpeg`; "
        "each keeps the photo's EXIF (orientation made upright, GPS dropped unless `keep_gps`) and its colour profile "
        '(see "Output formats")',
        choices=OutputFormat,
    )
    jpeg_quality: int = _option(92, f"`output_format=jpeg` only: its quality ({range_text(JPEG_QUALITY_RANGE)})")
    keep_gps: bool = _option(False, "keep the photo's GPS position in the result's EXIF (dropped by default)")
    network: str = _option(
        "vgg19",
        "the feature network whose layers define the loss: `vgg19` (the tutorial's) or `vgg16` (the same layer "
        "names; its weights come from `NST_VGG16_WEIGHTS`: `imagenet`, a file, or `stand-in`, the offline trained "
        "VGG16 fine-tuned on MRI scans)",
        choices=Network,
    )

    def __post_init__(self) -> None:
        for name, bounds in NUMERIC_RANGES.items():
            _in_range(name, getattr(self, name), bounds)
        _one_of("optimizer", self.optimizer, OPTIMIZERS)
        _one_of("precision", self.precision, PRECISIONS)
        if not (math.isfinite(self.ema) and 0.0 <= self.ema < 1.0):
            raise OptionError(f"ema={self.ema}: must be in [0, 1)")
        if self.ema and self.optimizer != "adam":
            raise OptionError(f"ema={self.ema}: iterate averaging applies to optimizer='adam' only")
        _one_of("preserve_colors", self.preserve_colors, PRESERVE_COLORS)
        weights = list(self.style_blend_weights)
        low_weight, high_weight = BLEND_WEIGHT_RANGE
        if not all(_is_number(w) and low_weight <= w <= high_weight for w in weights):
            raise OptionError(
                f"style_blend_weights={weights}: every weight must be a number from {range_text(BLEND_WEIGHT_RANGE)}"
            )
        if weights and sum(weights) == 0:
            raise OptionError(f"style_blend_weights={weights}: at least one weight must be above 0")
        if not self.init_image.strip():
            raise OptionError("init_image='': use 'content', 'noise' or the URI of an image")
        _one_of("mode", self.mode, MODES)
        _one_of("network", self.network, NETWORKS)
        _one_of("output_format", self.output_format, OUTPUT_FORMATS)
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
        return _scaled_side(output_long_side, self.style_scale)

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


def _in_range(name: str, value: object, bounds: tuple[int, int] | tuple[float, float]) -> None:
    """Refuses ``value`` outside the field's closed range in one line; an integer range takes integers only."""
    low, high = bounds
    integer = isinstance(low, int)
    kind = "an integer" if integer else "a number"
    fits = _is_integer(value) if integer else _is_number(value)
    if not (fits and low <= value <= high):  # type: ignore[operator]  # fits: value is a number
        raise OptionError(f"{name}={value!r}: must be {kind} from {range_text(bounds)}")


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    """A finite int or float (NaN fails every comparison, so it is refused by name here, not by accident)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise OptionError(f"{name}={value!r}: must be one of {', '.join(allowed)}")


#: The defaults, for signatures that must spell them out (the workflow's inputs).
DEFAULTS = StyleOptions()


def _scaled_side(long_side: int, scale: float) -> int:
    return max(16, round(long_side * scale))


def style_held_side(content_long_side: int, style_scale: float) -> int:
    """The long side the style images are kept at for a photo whose long side is ``content_long_side``: their
    analysis size at full size (``style_scale`` times the photo's), within ``max_dim``'s own bound. Never more:
    a small photo under a large ``max_dim`` holds styles of its own size, not enlarged to ``max_dim``."""
    return min(MAX_DIM_RANGE[1], _scaled_side(content_long_side, style_scale))
