"""The full-size stage of a result too big for one task: style targets computed once, the tiles cut from the photo
and the upsampled coarse result, one task per tile (the ``@dynamic`` maps them), and the feathered blend
(``workflows/engine/stages.py`` says when; ``workflows/engine/tile_grid.py`` how)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flytekit import Resources, current_context, task
from flytekit.types.file import FlyteFile

from workflows.engine import memory, stages
from workflows.engine.options import StyleOptions
from workflows.engine.regions import StyleRegions
from workflows.engine.tile_grid import Tile
from workflows.task_epochs import run_task_epochs
from workflows.task_log import log
from workflows.task_resources import OPTIMIZE_CPU, OPTIMIZE_DEFAULT

_STYLE_TARGETS_MEM = Resources(cpu=OPTIMIZE_CPU, mem=memory.quantity(memory.HOLDING_LIMITS["style_targets"]))


@task(requests=_STYLE_TARGETS_MEM, limits=_STYLE_TARGETS_MEM, retries=2)
def style_targets(
    content: np.ndarray, styles: list[np.ndarray], options: StyleOptions, long_side: int, per_style: bool = False
) -> FlyteFile:
    """The style layers' Gram targets for a tiled result, computed once at its full scale (``style_scale`` times
    its long side) in bounded memory, and shared by every tile: blended, or one per style (``per_style``: the
    styles have masks)."""
    from workflows.engine.tiled_stage import full_scale_targets

    grams = full_scale_targets(content, styles, options, long_side, per_style)
    path = Path(current_context().working_directory) / "style-targets.npz"
    np.savez(path, *grams)
    log.info("style targets for %d style(s) at a long side of %d px", len(styles), options.style_long_side(long_side))
    return FlyteFile(str(path))


@dataclass(frozen=True)
class TileJob:
    """One tile of the full-size stage: its box, its own crop of the photo, of the upsampled coarse result and of
    the masks (``pixels``: an npz with ``content``, ``start`` and, where the run has them, ``style_masks`` and
    ``preserve``), the shared style targets, and the run's options."""

    tile: Tile
    pixels: FlyteFile
    targets: FlyteFile
    options: StyleOptions


@task(requests=Resources(cpu="1", mem="2Gi"), limits=Resources(cpu="1", mem="3Gi"), retries=2)
def cut_tiles(
    content: np.ndarray,
    coarse: np.ndarray,
    tiles: list[Tile],
    targets: FlyteFile,
    options: StyleOptions,
    style_masks: list[np.ndarray] | None = None,
    preserve: np.ndarray | None = None,
) -> list[TileJob]:
    """Upsample the coarse result to full size and cut it, the photo and the masks into the tiles' own files, so
    each tile task downloads only its pixels."""
    from workflows.engine.tiled_stage import upsampled

    start = upsampled(coarse, content)
    regions = StyleRegions.of(style_masks, preserve)
    folder = Path(current_context().working_directory)
    jobs = []
    for tile in tiles:
        path = folder / f"{tile.name}.npz"
        masks = regions.crop(tile.top, tile.left, tile.height, tile.width)
        kept = {name: value for name, value in vars(masks).items() if value is not None}
        np.savez(path, content=tile.crop(content), start=tile.crop(start), **kept)
        jobs.append(TileJob(tile=tile, pixels=FlyteFile(str(path)), targets=targets, options=options))
    return jobs


@task(requests=OPTIMIZE_DEFAULT, limits=OPTIMIZE_DEFAULT, retries=2, enable_deck=True, deck_fields=())
def optimize_tile(job: TileJob) -> FlyteFile:
    """One tile's whole schedule at full size, from the coarse result, against the shared style targets; it
    checkpoints after every epoch like ``optimize``, so a retried tile resumes. A failure names the tile."""
    from workflows.engine.chain import RunState, result_image

    tile = job.tile
    where = f"{tile.name} (rows {tile.top}-{tile.top + tile.height}, columns {tile.left}-{tile.left + tile.width})"
    try:
        with np.load(job.pixels.download()) as arrays:
            content, start = arrays["content"], arrays["start"]
            regions = StyleRegions(
                arrays["style_masks"] if "style_masks" in arrays.files else None,
                arrays["preserve"] if "preserve" in arrays.files else None,
            )
        with np.load(job.targets.download()) as saved:
            targets = [saved[f"arr_{k}"] for k in range(len(saved.files))]
        options = stages.tile_options(job.options)
        log.info("%s: %dx%d px", where, tile.width, tile.height)
        state = run_task_epochs(
            content,
            [],
            options,
            RunState(0, start),
            0,
            options.epochs,
            "",
            style_targets=targets,
            title=tile.name,
            regions=regions,
        )
        path = Path(current_context().working_directory) / f"{tile.name}.npy"
        np.save(path, result_image(content, options, state))
    except Exception as exc:
        raise RuntimeError(f"{where}: {exc}") from exc
    return FlyteFile(str(path))


@task(requests=Resources(cpu="1", mem="2Gi"), limits=Resources(cpu="1", mem="3Gi"), retries=2)
def blend_tiles(results: list[FlyteFile], tiles: list[Tile], height: int, width: int, overlap: int) -> np.ndarray:
    """The full-size result: every tile's pixels, feathered across the ``overlap`` they were planned with (no
    tile may be missing)."""
    from workflows.engine.tile_grid import blend

    images_ = [np.load(result.download()) for result in results]
    return blend((height, width), tiles, images_, overlap)
