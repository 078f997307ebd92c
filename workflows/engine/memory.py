"""How much memory one optimisation task needs, from the pixels it optimises: the model the stage planner sizes
every task's request and limit with.

Peak resident memory of a fresh task process is close to linear in the pixels of its largest epoch:
``fixed`` (Python, TensorFlow, flytekit, VGG19's 80 MB of weights, traced graphs) plus ``per_pixel`` (VGG19's
activations for the forward and backward pass, the image, and the optimiser's image-sized state: Adam's two
moments, or two images per L-BFGS pair; with ``auto``, what the bfloat16 epochs leave under the float32 one). The
constants are fitted by least squares to peak RSS measured by

    NST_VGG19_WEIGHTS=random python -m benchmarks.bench_stages --skip tasks fixed run demo big

(sizes 128 to 1280 px; each task runs two epochs as a stage does, a checkpoint and a Deck after each, L-BFGS with
its whole history by the second) on a 2-core x86-64 CPU machine (benchmarks/results/stages.json, BENCHMARKS.md
section "Memory per stage"), rounded up; the benchmark checks that every measured peak stays within the request
this model gives. (An earlier fit, from two steps of one epoch, held neither the history nor auto's second
engine, and a 512 px auto task peaked above its request.)
"""

from __future__ import annotations

import math

GIB = 2**30
MIB = 2**20

#: (optimizer, precision) -> (fixed bytes, bytes per pixel), fitted as described above. ``auto`` is its own entry:
#: a task that computes in both precisions holds more than either alone.
PEAK_RSS_MODEL: dict[tuple[str, str], tuple[float, float]] = {
    ("lbfgs", "float32"): (0.85 * GIB, 5100.0),
    ("lbfgs", "bfloat16"): (0.90 * GIB, 3900.0),
    ("lbfgs", "auto"): (0.90 * GIB, 5500.0),
    ("adam", "float32"): (0.80 * GIB, 3700.0),
    ("adam", "bfloat16"): (0.85 * GIB, 2300.0),
    ("adam", "auto"): (0.90 * GIB, 3700.0),
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


def peak_bytes(pixels: int, optimizer: str, precision: str, lbfgs_history: int = 20) -> float:
    """Modelled peak RSS of a task whose largest epoch has ``pixels`` (``precision``: float32, bfloat16, auto)."""
    fixed, per_pixel = PEAK_RSS_MODEL[(optimizer, precision)]
    if optimizer == "lbfgs":
        per_pixel += 2 * 3 * 4 * (lbfgs_history - FITTED_LBFGS_HISTORY)
    return fixed + per_pixel * pixels


def request_bytes(pixels: int, optimizer: str, precision: str, lbfgs_history: int = 20) -> int:
    """The memory request (and limit) for such a task: the modelled peak with headroom, rounded up."""
    wanted = peak_bytes(pixels, optimizer, precision, lbfgs_history) * MARGIN
    return max(SMALLEST, math.ceil(wanted / STEP) * STEP)


def quantity(size: int) -> str:
    """A Kubernetes memory quantity for ``size`` bytes (a multiple of 1 MiB)."""
    if size % GIB == 0:
        return f"{size // GIB}Gi"
    return f"{math.ceil(size / MIB)}Mi"


def max_pixels(optimizer: str, precision: str, lbfgs_history: int = 20, limit: int = TASK_LIMIT) -> int:
    """The most pixels one task may optimise within ``limit`` (its request, headroom included)."""
    low, high = 1, 1 << 26
    while low < high:  # the request only grows with pixels
        middle = (low + high + 1) // 2
        if request_bytes(middle, optimizer, precision, lbfgs_history) <= limit:
            low = middle
        else:
            high = middle - 1
    return low
