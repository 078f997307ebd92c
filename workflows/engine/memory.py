"""How much memory one optimisation task needs, from the pixels it optimises: the model the stage planner sizes
every task's request and limit with.

Peak resident memory of a fresh task process is close to linear in the pixels of its largest epoch:
``fixed`` (Python, TensorFlow, flytekit, VGG19's 80 MB of weights, traced graphs) plus ``per_pixel`` (VGG19's
activations for the forward and backward pass, the image, and the optimiser's image-sized state: Adam's two
moments, or two images per L-BFGS pair; with ``auto``, what the bfloat16 epochs leave under the float32 one). The
constants are fitted by least squares to peak RSS measured by

    NST_VGG19_WEIGHTS=random python -m benchmarks.bench_stages --skip tasks fixed run demo big

(sizes 128 to 1280 px; each task runs two epochs as a stage does, a checkpoint and a Deck after each, L-BFGS with
its whole history by the second) on a 2-core x86-64 CPU machine with AVX-512 and bfloat16 (benchmarks/results/
stages.json, BENCHMARKS.md section "Memory per stage"), rounded up; the benchmark checks that every measured peak
stays within the request this model gives. (An earlier fit, from two steps of one epoch, held neither the history
nor auto's second engine, and a 512 px auto task peaked above its request.)

The same tasks on a machine of the same kind without AVX-512 (section "The model where it was not fitted": 640 to
1152 px) held about 0.2 GiB more and, in float32 (``auto`` there), more per pixel: Adam 4,530 B against 3,460 fitted,
and a 1152 px Adam task peaked above the first model's request. Every entry takes the larger of the two machines'
figures, so a request holds on either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GIB = 2**30
MIB = 2**20

#: (optimizer, precision) -> (fixed bytes, bytes per pixel), fitted as described above. ``auto`` is its own entry:
#: a task that computes in both precisions holds more than either alone.
PEAK_RSS_MODEL: dict[tuple[str, str], tuple[float, float]] = {
    ("lbfgs", "float32"): (1.10 * GIB, 5600.0),
    ("lbfgs", "bfloat16"): (1.10 * GIB, 3900.0),
    ("lbfgs", "auto"): (1.10 * GIB, 5600.0),
    ("adam", "float32"): (1.10 * GIB, 4600.0),
    ("adam", "bfloat16"): (1.05 * GIB, 2300.0),
    ("adam", "auto"): (1.10 * GIB, 4600.0),
}
#: L-BFGS keeps two float32 RGB images per curvature pair; the model above was fitted with this many pairs.
FITTED_LBFGS_HISTORY = 20
#: Headroom over the modelled peak: allocator fragmentation and the spread between runs.
MARGIN = 1.2
#: Requests are whole multiples of this, and never below the smallest.
STEP, SMALLEST = 256 * MIB, 1 * GIB
#: The most one optimisation task may ask for: a stage whose pixels need more runs as a coarse stage and tiles.
#: 4 GiB fits the ordinary nodes of a cluster and a 2-core, 24 GiB machine several times over.
TASK_LIMIT = 4 * GIB


#: Every task receives and keeps an image as float32 RGB, and a mask as one float32 channel.
HELD_PIXEL_BYTES = 3 * 4
MASK_PIXEL_BYTES = 4
#: An optimisation task's copies of each mask, at its epoch's size: the task's input, the engine's, and the mask on
#: every style layer's grid (a third more). Measured (``python -m benchmarks.bench_masks --memory-only``, BENCHMARKS.md
#: section 10: 512 and 768 px, 4 style masks): no peak above the same task without masks, so the model counts only
#: these copies.
MASK_COPIES = 3.5


@dataclass(frozen=True)
class HeldImages:
    """The images a task receives and keeps while it runs, in pixels each: the photo, every style at its analysis
    size, and the init image (at the photo's size, or 0); and how many masks (style masks and the protect mask,
    each one channel at the photo's size)."""

    content: int
    styles: tuple[int, ...] = ()
    init: int = 0
    masks: int = 0

    @property
    def pixels(self) -> int:
        return self.content + sum(self.styles) + self.init


#: Tasks that do not optimise hold copies of their images: the decoded arrays, and flytekit's serialised ``.npy``
#: of each on its way in or out; the preview also resizes the photo in float32, channel by channel, to run its
#: network at 1024 px at most and back. task -> (fixed bytes, copies of the photo, copies of every other image),
#: fitted to peak RSS measured by ``python -m benchmarks.bench_stages --only held`` (BENCHMARKS.md, "Tasks that hold
#: many images": up to 8 styles, an init image, 512 to 4096 px), rounded up. The preview's fixed part includes
#: onnxruntime, both networks and their working set at 1024 px.
HOLDING_MODEL: dict[str, tuple[float, float, float]] = {
    "preprocess": (0.15 * GIB, 2.1, 2.1),
    "preview": (0.50 * GIB, 7.5, 1.2),
    # the analysis of 768 px tiles of the styles (transfer.STYLE_TILE_PIXELS) through the network: about 2 GB
    "style_targets": (2.00 * GIB, 2.2, 2.2),
}
#: An optimisation task keeps the images it was handed once more than they are: the task's input, and the
#: engine's own float32 copy of each.
OPTIMIZE_COPIES = 2.0
#: And each style beyond the first leaves this much more behind its analysis (measured: 2048 px with 4 styles and
#: an init image peaked 0.33 GB above the pixels' model, 512 px with 8 styles 0.27 GB).
PER_FURTHER_STYLE_BYTES = 0.15 * GIB
#: What the tasks that hold images may use (their request and limit): a run whose images would need more is
#: refused before any download (``stages.check_held_images``), naming how many styles fit.
HOLDING_LIMITS = {"preprocess": 2 * GIB, "preview": 3 * GIB, "style_targets": 4 * GIB}


def holding_peak_bytes(task: str, held: HeldImages) -> float:
    """Modelled peak RSS of the task ``task`` (preprocess, preview, style_targets) holding ``held``."""
    fixed, photo_copies, other_copies = HOLDING_MODEL[task]
    others = held.pixels - held.content
    masks = MASK_PIXEL_BYTES * held.masks * held.content
    return fixed + HELD_PIXEL_BYTES * (photo_copies * held.content + other_copies * others) + other_copies * masks


def peak_bytes(
    pixels: int,
    optimizer: str,
    precision: str,
    lbfgs_history: int = 20,
    styles: tuple[int, ...] = (),
    init: bool = False,
    masks: int = 0,
) -> float:
    """Modelled peak RSS of a task whose largest epoch has ``pixels`` (``precision``: float32, bfloat16, auto),
    handed ``styles`` (the pixels of each at its analysis size) and, with ``init``, an init image of its size, and
    ``masks`` masks of its size. The fits held one style no larger than the photo: every other style, the first
    one's excess, the init image and the masks come on top."""
    fixed, per_pixel = PEAK_RSS_MODEL[(optimizer, precision)]
    if optimizer == "lbfgs":
        per_pixel += 2 * 3 * 4 * (lbfgs_history - FITTED_LBFGS_HISTORY)
    beyond = (max(0, styles[0] - pixels) + sum(styles[1:]) if styles else 0) + (pixels if init else 0)
    further = PER_FURTHER_STYLE_BYTES * max(0, len(styles) - 1)
    held_masks = MASK_COPIES * MASK_PIXEL_BYTES * masks * pixels
    return fixed + per_pixel * pixels + OPTIMIZE_COPIES * HELD_PIXEL_BYTES * beyond + further + held_masks


def with_margin(peak: float) -> int:
    """The request (and limit) for a modelled ``peak``: headroom added, rounded up to a whole step."""
    return max(SMALLEST, math.ceil(peak * MARGIN / STEP) * STEP)


def request_bytes(
    pixels: int,
    optimizer: str,
    precision: str,
    lbfgs_history: int = 20,
    styles: tuple[int, ...] = (),
    init: bool = False,
    masks: int = 0,
) -> int:
    """The memory request (and limit) for such a task: the modelled peak with headroom, rounded up."""
    return with_margin(peak_bytes(pixels, optimizer, precision, lbfgs_history, styles, init, masks))


def quantity(size: int) -> str:
    """A Kubernetes memory quantity for ``size`` bytes (a multiple of 1 MiB)."""
    if size % GIB == 0:
        return f"{size // GIB}Gi"
    return f"{math.ceil(size / MIB)}Mi"


def max_pixels(
    optimizer: str,
    precision: str,
    lbfgs_history: int = 20,
    limit: int = TASK_LIMIT,
    styles: tuple[int, ...] = (),
    init: bool = False,
    masks: int = 0,
) -> int:
    """The most pixels one task may optimise within ``limit`` (its request, headroom included), handed ``styles``,
    ``init`` and ``masks`` as :func:`peak_bytes` counts them; 0 when the styles alone do not fit."""
    low, high = 0, 1 << 26
    while low < high:  # the request only grows with pixels
        middle = (low + high + 1) // 2
        if request_bytes(middle, optimizer, precision, lbfgs_history, styles, init, masks) <= limit:
            low = middle
        else:
            high = middle - 1
    return low
