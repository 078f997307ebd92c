"""Overlapping tiles for results too big for one task, and the feathered blend that joins them without seams.

A tile plan covers the image with a grid of equal, overlapping tiles, each within a pixel budget; the last tile
of a row or column is aligned to the image's border, so no tile is smaller than the others. Each tile is
optimised on its own (one task each), starting from the upsampled coarse result; ``blend`` then weighs every
tile's pixels by a linear ramp across each side it shares with a neighbour (1 at the image's own borders), so
two overlapping tiles cross-fade and a difference between them becomes a gradient, not a step.

numpy only: the planner and the blend run in light tasks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Pixels two neighbouring tiles share across their border: enough context that VGG's padding at a tile's edge
#: does not reach the blended result's middle (and a multiple of 16, VGG's deepest stride).
DEFAULT_OVERLAP = 64


@dataclass(frozen=True)
class Tile:
    """One tile: its place in the grid and its pixel box in the full image."""

    row: int
    column: int
    top: int
    left: int
    height: int
    width: int

    @property
    def name(self) -> str:
        return f"tile-r{self.row + 1}-c{self.column + 1}"

    @property
    def pixels(self) -> int:
        return self.height * self.width

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.top : self.top + self.height, self.left : self.left + self.width]


def plan_tiles(hw: tuple[int, int], max_tile_pixels: int, overlap: int = DEFAULT_OVERLAP) -> list[Tile]:
    """A grid of equal tiles covering ``hw`` (height, width), each at most ``max_tile_pixels``, neighbours
    sharing at least ``overlap`` pixels. Row-major order."""
    height, width = hw
    side = math.isqrt(max_tile_pixels)
    if side <= 2 * overlap:
        raise ValueError(f"tiles of {max_tile_pixels} pixels are too small for an overlap of {overlap} pixels")
    rows, tile_h = _split(height, side, overlap)
    columns, tile_w = _split(width, side, overlap)
    tops, lefts = _starts(height, tile_h, rows), _starts(width, tile_w, columns)
    return [Tile(r, c, top, left, tile_h, tile_w) for r, top in enumerate(tops) for c, left in enumerate(lefts)]


def feather(tile: Tile, tiles: list[Tile], overlap: int = DEFAULT_OVERLAP) -> np.ndarray:
    """The tile's blend weights (height, width): ramps from 1/(overlap+1) up to 1 over ``overlap`` pixels along
    each side that borders another tile, 1 elsewhere. Never 0, so every covered pixel has a weight."""
    rows = max(t.row for t in tiles) + 1
    columns = max(t.column for t in tiles) + 1
    vertical = _ramp(tile.height, overlap, tile.row > 0, tile.row < rows - 1)
    horizontal = _ramp(tile.width, overlap, tile.column > 0, tile.column < columns - 1)
    return np.outer(vertical, horizontal)


def blend(
    hw: tuple[int, int], tiles: list[Tile], images: list[np.ndarray], overlap: int = DEFAULT_OVERLAP
) -> np.ndarray:
    """The full image from every tile's pixels, feathered across the overlaps."""
    if len(images) != len(tiles):
        raise ValueError(f"{len(images)} tile images for {len(tiles)} tiles")
    total = np.zeros((*hw, 3), np.float64)
    weight = np.zeros(hw, np.float64)
    for tile, image in zip(tiles, images):
        if image.shape[:2] != (tile.height, tile.width):
            raise ValueError(f"{tile.name} is {image.shape[:2]}, its box is {(tile.height, tile.width)}")
        w = feather(tile, tiles, overlap)
        box = (slice(tile.top, tile.top + tile.height), slice(tile.left, tile.left + tile.width))
        total[box] += image * w[..., None]
        weight[box] += w
    if np.any(weight == 0):
        raise ValueError("the tiles do not cover the image")
    return (total / weight[..., None]).astype(np.float32)


def _split(length: int, side: int, overlap: int) -> tuple[int, int]:
    """How many tiles along an axis, and their (equal) length."""
    if length <= side:
        return 1, length
    count = math.ceil((length - overlap) / (side - overlap))
    return count, math.ceil((length + (count - 1) * overlap) / count)


def _starts(length: int, tile: int, count: int) -> list[int]:
    if count == 1:
        return [0]
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def _ramp(length: int, overlap: int, before: bool, after: bool) -> np.ndarray:
    ramp = np.ones(length, np.float64)
    steps = np.arange(1, min(overlap, length) + 1, dtype=np.float64) / (overlap + 1)
    if before:
        ramp[: len(steps)] = np.minimum(ramp[: len(steps)], steps)
    if after:
        ramp[length - len(steps) :] = np.minimum(ramp[length - len(steps) :], steps[::-1])
    return ramp
