"""Coarse-to-fine optimisation: which size each epoch runs at, and how pixels and optimiser state change size.

Most of a stylization's work is getting the large-scale arrangement right, which a small image does at a fraction
of the cost (a step at 128 px costs 1/16 of one at 512 px). Each epoch of a pyramid run is one level, growing by
about sqrt(2) per epoch and ending at ``max_dim``; the image and the optimiser state carry across sizes
(``resample``). Sizes only here, no TensorFlow: the stage planner sizes tasks from them.
"""

from __future__ import annotations

import math

#: Levels never start below this long side (VGG's deep layers need room) unless max_dim itself is smaller.
MIN_LEVEL = 128


def level_sizes(max_dim: int, epochs: int, min_dim: int = MIN_LEVEL) -> list[int]:
    """Long side of each epoch: ``max_dim`` last, each earlier one sqrt(2) smaller, floored at ``min_dim``."""
    floor = min(min_dim, max_dim)
    return [max(floor, round(max_dim / math.sqrt(2) ** (epochs - 1 - i))) for i in range(epochs)]


def shape_for(full_shape: tuple[int, ...], long_side: int) -> tuple[int, int]:
    """(height, width) of an image of ``full_shape`` (H, W[, C]) scaled so its long side is ``long_side``."""
    height, width = full_shape[0], full_shape[1]
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))
