"""The feed-forward preview of a run's options: the styles' embeddings mixed by their blend weights, the style
given the photo's colours first under ``preserve_colors="histogram"``, the photo's chroma kept afterwards under
``"luminance"``, and ``style_strength`` (up to 1) as the embedding's interpolation from the photo's own style:
each option the preview honours, applied as the optimisation applies it. (``StyleOptions`` refuses, under
``mode="preview"``, every option it cannot honour.) numpy and the ONNX networks: no TensorFlow, no flytekit."""

from __future__ import annotations

import numpy as np

from workflows.engine.colors import keep_photo_chroma, match_color_statistics
from workflows.engine.networks.arbitrary_stylization import PreviewModel
from workflows.engine.options import StyleOptions


def preview_result(
    model: PreviewModel, content: np.ndarray, styles: list[np.ndarray], options: StyleOptions
) -> np.ndarray:
    """The preview of ``content`` in ``styles`` (``style_img`` first) under ``options``."""
    if options.preserve_colors == "histogram":
        styles = [match_color_statistics(style, content) for style in styles]
    image = model.transform(
        content, styles, weights=options.blend_weights(len(styles)), strength=min(1.0, options.style_strength)
    )
    if options.preserve_colors == "luminance":
        image = keep_photo_chroma(image, content)
    return image
