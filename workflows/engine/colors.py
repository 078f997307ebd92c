"""Colour controls (numpy only): keep the photo's colours while the style changes everything else.

* ``keep_photo_chroma``: the stylized image's luminance with the photo's chroma (jcjohnson/neural-style's
  ``-original_colors``), in full-range BT.601 YCbCr, the space JPEG uses.
* ``match_color_statistics``: a linear map of the style image's pixels that gives it the photo's colour mean and
  covariance before optimising (Gatys et al. 2017, "Controlling perceptual factors in neural style transfer").
"""

from __future__ import annotations

import numpy as np

_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_FROM_YCBCR = np.linalg.inv(_TO_YCBCR)
_CHROMA_OFFSET = np.array([0.0, 0.5, 0.5])


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] (..., 3) to Y, Cb, Cr in [0, 1]."""
    return np.asarray(rgb, np.float64) @ _TO_YCBCR.T + _CHROMA_OFFSET


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    return (np.asarray(ycbcr, np.float64) - _CHROMA_OFFSET) @ _FROM_YCBCR.T


def keep_photo_chroma(stylized: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """``stylized``'s luminance with ``photo``'s Cb and Cr (same shape), back in RGB, clipped to [0, 1]."""
    if stylized.shape != photo.shape:
        raise ValueError(f"the stylized image {stylized.shape} and the photo {photo.shape} differ in shape")
    mixed = rgb_to_ycbcr(photo)
    mixed[..., 0] = rgb_to_ycbcr(stylized)[..., 0]
    return np.clip(ycbcr_to_rgb(mixed), 0.0, 1.0).astype(np.float32)


def match_color_statistics(style: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """``style`` mapped linearly so its pixels have ``photo``'s per-channel mean and 3x3 colour covariance.

    x -> C_p^(1/2) C_s^(-1/2) (x - mu_s) + mu_p, with symmetric matrix square roots. Not clipped: a few pixels
    may leave [0, 1], which VGG's input takes as it is, and clipping would undo the match."""
    source = np.asarray(style, np.float64).reshape(-1, 3)
    target = np.asarray(photo, np.float64).reshape(-1, 3)
    mean_s, mean_p = source.mean(axis=0), target.mean(axis=0)
    transform = _sqrtm(np.cov(target, rowvar=False)) @ _sqrtm(np.cov(source, rowvar=False), inverse=True)
    matched = (source - mean_s) @ transform.T + mean_p
    return matched.reshape(np.shape(style)).astype(np.float32)


def _sqrtm(matrix: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Square root (or inverse square root) of a symmetric positive semi-definite matrix; a flat channel (zero
    variance) keeps a tiny floor so a one-colour image does not divide by zero."""
    values, vectors = np.linalg.eigh(matrix)
    values = np.maximum(values, 1e-10)
    roots = values**-0.5 if inverse else values**0.5
    return (vectors * roots) @ vectors.T
