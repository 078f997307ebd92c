"""Pixels and optimiser state brought to another size: between pyramid levels, and from a coarse result up."""

from __future__ import annotations

import numpy as np

from workflows.engine.framework import tf


def resize(pixels: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Resize (H, W, C) or (N, H, W, C) pixels; antialiased when shrinking, bilinear when growing."""
    array = np.asarray(pixels, dtype=np.float32)
    if array.shape[-3:-1] == tuple(hw):
        return array
    batched = array if array.ndim == 4 else array[None]
    shrinking = hw[0] < batched.shape[1]
    out = tf.image.resize(batched, hw, method="bilinear", antialias=shrinking).numpy()
    return out if array.ndim == 4 else out[0]


def resize_state(state: dict[str, np.ndarray], hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """Optimiser state for a new image size.

    Adam's moments are resized and rescaled: with per-pixel normalised losses a pixel's gradient scales as
    1 / (number of pixels), so the first moment scales by r = old/new pixels and the second by r^2 (their
    ratio, the update, is unchanged). The iterate average is resized as an image. L-BFGS curvature pairs do
    not survive a change of size, so its history starts again; the step count carries on.
    """
    resized: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if key in ("adam_m", "adam_v", "ema"):
            old_pixels = value.shape[1] * value.shape[2]
            grown = resize(value, hw)
            ratio = old_pixels / float(hw[0] * hw[1])
            resized[key] = grown * (ratio if key == "adam_m" else ratio**2 if key == "adam_v" else 1.0)
        elif key in ("lbfgs_s", "lbfgs_y"):
            resized[key] = np.zeros((0, *hw, 3), np.float32)
        elif key in ("lbfgs_loss", "lbfgs_grad"):
            continue  # measured at the old size: the next run evaluates afresh
        else:
            resized[key] = value
    return resized
