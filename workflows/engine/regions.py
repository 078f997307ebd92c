"""Where each style goes, and what stays the photo: style masks and the content-protect mask (numpy only).

``style_masks`` hold one soft mask per style (white: this style), ``preserve`` one mask of regions (faces, say)
kept close to the photo. Both are float32 in [0, 1] at the size of the image being optimised; they are resized
with it (pyramid levels, the coarse stage) and cropped with it (tiles).

How the loss uses them (``transfer.StyleTransfer``):

* Each style's Gram target is matched over its own region: at every style layer the region is resized to the
  layer's grid and weighs that layer's features, ``G_k = sum_p m_k(p) f(p) f(p)^T / sum_p m_k(p)``. A soft mask
  therefore gives a soft transition. The region of style k is its mask times ``1 - preserve``; with a protect mask
  and no style masks, the one (blended) style's region is ``1 - preserve``.
* Each region's term is weighted by its share of all regions' area (``region_shares``). A pixel's style gradient
  is then the same whatever the size of its region, and a tile that holds none of a region gives it no weight.
* Inside the protect mask the photo's features on the first style layer (its edges and colours) are held, with
  ``preserve_strength`` times the content weight. Pixels no region covers keep only the content and smoothness
  terms: they stay the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class StyleRegions:
    """The masks of a run at one size: ``style_masks`` (S, H, W), one per style, or None; ``preserve`` (H, W) or
    None."""

    style_masks: np.ndarray | None = None
    preserve: np.ndarray | None = None

    @classmethod
    def of(cls, style_masks: list[np.ndarray] | None = None, preserve: np.ndarray | None = None) -> StyleRegions:
        """From the workflow's values: a list of (H, W) masks (empty: none) and an optional (H, W) mask."""
        stacked = np.stack([np.asarray(m, np.float32) for m in style_masks]) if style_masks else None
        return cls(stacked, None if preserve is None else np.asarray(preserve, np.float32))

    def __bool__(self) -> bool:
        return self.style_masks is not None or self.preserve is not None

    @property
    def per_style(self) -> bool:
        """Whether each style has a region of its own (and so a Gram target of its own, not a blend)."""
        return self.style_masks is not None

    def resized(self, hw: tuple[int, int]) -> StyleRegions:
        """The masks at ``hw`` (height, width): box-filtered, so a region keeps its share of the area."""
        return StyleRegions(
            None if self.style_masks is None else np.stack([resize_mask(m, hw) for m in self.style_masks]),
            None if self.preserve is None else resize_mask(self.preserve, hw),
        )

    def crop(self, top: int, left: int, height: int, width: int) -> StyleRegions:
        """The masks of one tile's box."""
        rows, columns = slice(top, top + height), slice(left, left + width)
        return StyleRegions(
            None if self.style_masks is None else self.style_masks[:, rows, columns],
            None if self.preserve is None else self.preserve[rows, columns],
        )

    def style_weights(self) -> np.ndarray:
        """(K, H, W): where each style target applies, K = the styles (per-style) or 1 (the blend)."""
        if self.style_masks is not None:
            masks = self.style_masks
        else:
            assert self.preserve is not None, "no masks: the loss takes the unmasked path"
            masks = np.ones((1, *self.preserve.shape), np.float32)
        return (masks if self.preserve is None else masks * (1.0 - self.preserve)).astype(np.float32)


def resize_mask(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A float mask (H, W) resized to ``hw``: box filter (each output pixel the mean of the input pixels it covers),
    which keeps soft edges soft and a region's area share."""
    array = np.asarray(mask, np.float32)
    if array.shape == tuple(hw):
        return array
    image = Image.fromarray(array, "F").resize((hw[1], hw[0]), Image.Resampling.BOX)
    return np.clip(np.asarray(image, np.float32), 0.0, 1.0)


def region_shares(weights: np.ndarray) -> np.ndarray:
    """(K,) each region's share of all regions' area (0 for an empty region; all 0 when every region is)."""
    areas = weights.reshape(len(weights), -1).sum(axis=1, dtype=np.float64)
    total = areas.sum()
    return (areas / total if total > 0 else areas).astype(np.float32)


def layer_masks(weights: np.ndarray, hw: tuple[int, int], strides: tuple[int, ...]) -> list[np.ndarray]:
    """``weights`` (K, H, W) on each layer's grid: (K, h, w, 1) for a layer of ``stride`` (VGG's 2x2 pools floor
    each side: h = H // stride)."""
    return [
        np.stack([resize_mask(w, (max(1, hw[0] // s), max(1, hw[1] // s))) for w in weights])[..., None]
        for s in strides
    ]
