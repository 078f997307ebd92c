"""The feed-forward preview of a run's options: the styles' embeddings mixed by their blend weights, the style
given the photo's colours first under ``preserve_colors="histogram"``, the photo's chroma kept afterwards under
``"luminance"``, and ``style_strength`` (up to 1) as the embedding's interpolation from the photo's own style:
each option the preview honours, applied as the optimisation applies it. (``StyleOptions`` refuses, under
``mode="preview"``, every option it cannot honour.) With masks, each style is previewed on its own and laid over its
region, and the protect mask's regions show the photo. numpy and the ONNX networks: no TensorFlow, no flytekit."""

from __future__ import annotations

import numpy as np

from workflows.engine.colors import keep_photo_chroma, match_color_statistics
from workflows.engine.networks.arbitrary_stylization import PreviewModel
from workflows.engine.options import StyleOptions
from workflows.engine.regions import StyleRegions


def preview_result(
    model: PreviewModel,
    content: np.ndarray,
    styles: list[np.ndarray],
    options: StyleOptions,
    regions: StyleRegions | None = None,
) -> np.ndarray:
    """The preview of ``content`` in ``styles`` (``style_img`` first) under ``options``, within ``regions`` (the
    masks at the photo's size) where given."""
    regions = regions or StyleRegions()
    if options.preserve_colors == "histogram":
        styles = [match_color_statistics(style, content) for style in styles]
    strength = min(1.0, options.style_strength)
    if regions.per_style:
        layers = [model.transform(content, [style], weights=(1.0,), strength=strength) for style in styles]
    else:
        layers = [model.transform(content, styles, weights=options.blend_weights(len(styles)), strength=strength)]
    image = _laid_over(content, layers, regions.style_weights()) if regions else layers[0]
    if options.preserve_colors == "luminance":
        image = keep_photo_chroma(image, content)
    return image


def _laid_over(content: np.ndarray, layers: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Each of ``layers`` over its region (``weights``, (K, H, W)) of ``content``: where regions overlap they share
    the pixel; where they cover less than all of it, the photo shows through."""
    weights = weights[..., None]
    scale = 1.0 / np.maximum(1.0, weights.sum(axis=0))
    image = content * (1.0 - weights.sum(axis=0) * scale)
    for layer, weight in zip(layers, weights):
        image = image + layer * weight * scale
    return image.astype(np.float32)
