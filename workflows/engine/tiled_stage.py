"""The full-size stage of a result too big for one task (``stages.plan`` says when), as plain functions: the style
targets at the full scale, the upsampled coarse result the tiles start from, and a tile's run. The Flyte tasks of
``workflows/tile_tasks.py`` run each part as tasks of their own, fanned out; a style-sheet item, which cannot chain
tasks, runs :func:`stylize_planned` in one process. Either way the same functions make the picture."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workflows.engine import pyramid
from workflows.engine.chain import RunState, result_image, run_epochs, stylize_in_process
from workflows.engine.colors import match_color_statistics
from workflows.engine.framework import release_memory
from workflows.engine.options import StyleOptions
from workflows.engine.resample import resize
from workflows.engine.stages import RunPlan, tile_options
from workflows.engine.tile_grid import Tile, blend
from workflows.engine.transfer import gram_targets


def full_scale_targets(
    content: np.ndarray, styles: Sequence[np.ndarray], options: StyleOptions, long_side: int
) -> list[np.ndarray]:
    """The style layers' Gram targets for a tiled result whose long side is ``long_side``, computed once at its
    full scale (``style_scale`` times that side) in bounded memory, and shared by every tile."""
    side = options.style_long_side(long_side)
    resized = [resize(style, pyramid.shape_for(style.shape, side)) for style in styles]
    if options.preserve_colors == "histogram":
        resized = [match_color_statistics(style, content) for style in resized]
    grams = gram_targets(resized, options, precision="float32")
    del resized
    release_memory()  # a local run's next task starts from here, not from this one's peak
    return grams


def upsampled(coarse: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The coarse result at the photo's full size: where every tile starts."""
    return resize(coarse, (content.shape[0], content.shape[1]))


def stylize_planned(
    content: np.ndarray, styles: Sequence[np.ndarray], options: StyleOptions, plan: RunPlan
) -> np.ndarray:
    """The whole of ``plan`` in this process: one stage, or the coarse stage, then every tile in turn against the
    shared targets, blended. Only what the next part needs is kept between the parts."""
    if not plan.tiled:
        return result_image(content, options, stylize_in_process(content, list(styles), options))
    whole = resize(content, plan.whole_hw)
    coarse = result_image(whole, options, stylize_in_process(whole, list(styles), options))
    del whole
    targets = full_scale_targets(content, styles, options, max(plan.full_hw))
    start = upsampled(coarse, content)
    del coarse
    per_tile = tile_options(options)
    results = []
    for tile in plan.tiles:
        results.append(_tile_result(tile, content, start, targets, per_tile))
        release_memory()
    return blend(plan.full_hw, plan.tiles, results, plan.overlap)


def _tile_result(
    tile: Tile, content: np.ndarray, start: np.ndarray, targets: list[np.ndarray], options: StyleOptions
) -> np.ndarray:
    crop = tile.crop(content)
    state = run_epochs(crop, [], options, RunState(0, tile.crop(start)), style_targets=targets)
    return result_image(crop, options, state)
