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
from workflows.engine.regions import StyleRegions
from workflows.engine.resample import resize
from workflows.engine.stages import RunPlan, tile_options
from workflows.engine.tile_grid import Tile, blend
from workflows.engine.transfer import gram_targets


def full_scale_targets(
    content: np.ndarray, styles: Sequence[np.ndarray], options: StyleOptions, long_side: int, per_style: bool = False
) -> list[np.ndarray]:
    """The style layers' Gram targets for a tiled result whose long side is ``long_side``, computed once at its
    full scale (``style_scale`` times that side) in bounded memory, and shared by every tile: blended, or with
    ``per_style`` (style masks) one per style."""
    side = options.style_long_side(long_side)
    resized = [resize(style, pyramid.shape_for(style.shape, side)) for style in styles]
    if options.preserve_colors == "histogram":
        resized = [match_color_statistics(style, content) for style in resized]
    grams = gram_targets(resized, options, precision="float32", per_style=per_style)
    del resized
    release_memory()  # a local run's next task starts from here, not from this one's peak
    return grams


def upsampled(coarse: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The coarse result at the photo's full size: where every tile starts."""
    return resize(coarse, (content.shape[0], content.shape[1]))


def stylize_planned(
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    options: StyleOptions,
    plan: RunPlan,
    regions: StyleRegions | None = None,
) -> np.ndarray:
    """The whole of ``plan`` in this process: one stage, or the coarse stage, then every tile in turn against the
    shared targets, blended. Only what the next part needs is kept between the parts. ``regions``: the masks, at
    ``content``'s size."""
    regions = regions or StyleRegions()
    if not plan.tiled:
        return result_image(content, options, stylize_in_process(content, list(styles), options, regions=regions))
    whole = resize(content, plan.whole_hw)
    coarse_run = stylize_in_process(whole, list(styles), options, regions=regions.resized(plan.whole_hw))
    coarse = result_image(whole, options, coarse_run)
    del whole, coarse_run
    targets = full_scale_targets(content, styles, options, max(plan.full_hw), per_style=regions.per_style)
    start = upsampled(coarse, content)
    del coarse
    per_tile = tile_options(options)
    results = []
    for tile in plan.tiles:
        results.append(tile_result(tile, content, start, targets, per_tile, regions))
        release_memory()
    return blend(plan.full_hw, plan.tiles, results, plan.overlap)


def tile_result(
    tile: Tile,
    content: np.ndarray,
    start: np.ndarray,
    targets: list[np.ndarray],
    options: StyleOptions,
    regions: StyleRegions,
) -> np.ndarray:
    """One tile's run from the full-size ``start`` against the shared ``targets``, with its crop of ``regions``."""
    crop = tile.crop(content)
    state = run_epochs(
        crop,
        [],
        options,
        RunState(0, tile.crop(start)),
        style_targets=targets,
        regions=regions.crop(tile.top, tile.left, tile.height, tile.width),
    )
    return result_image(crop, options, state)
