"""How a run is split into stages and tasks, and what each task asks of the cluster.

A *stage* is one pass of the optimisation: every epoch of the run, each at its size (the full size, or its
pyramid level). By default a stage is one task: its epochs run inside that task, which checkpoints after each
one, so a retried task resumes from its last finished epoch. ``epochs_per_task=k`` splits a stage into tasks of
k epochs (1 = one pod per epoch), e.g. for spot nodes: each task hands the next the run's state.

An image whose stage would need more memory than one task may have (``memory.TASK_LIMIT``) runs in two stages:
a **coarse stage** over the whole image at the largest size that fits one task (it fixes the large-scale
arrangement), then the **tile stage** at full size: overlapping tiles (``tiles``), one task each, fanned out with
``map_task``, each starting from the upsampled coarse result and optimising against one set of style targets
computed once at the full scale; a blend feathers them together. Below the limit nothing of this happens.

Each task's memory request comes from ``memory``'s model of peak RSS against the pixels of its largest epoch and
every image it is handed (the styles at their analysis size, the init image); the tasks that only hold images
(preprocessing, the preview, the tiles' style targets) have fixed limits, and :func:`check_held_images` refuses,
before any download, a run whose images would not fit them. No TensorFlow here: the ``@dynamic`` plans with it
before any optimisation starts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from workflows.engine import memory, pyramid
from workflows.engine.options import OptionError, StyleOptions
from workflows.engine.tile_grid import DEFAULT_OVERLAP, Tile, plan_tiles


@dataclass(frozen=True)
class StageTask:
    """One optimisation task: epochs ``first_epoch`` (0-based) up to ``stop_epoch`` of ``epochs``, whose largest
    epoch is ``height`` x ``width``, with its memory request in bytes."""

    stage: str
    first_epoch: int
    stop_epoch: int
    epochs: int
    height: int
    width: int
    memory_bytes: int

    @property
    def node_name(self) -> str:
        """What the console shows: ``optimize-epochs-1-5-of-5``, or ``optimize-epoch-3-of-5`` for one epoch."""
        first, last = self.first_epoch + 1, self.stop_epoch
        span = f"epoch-{first}" if first == last else f"epochs-{first}-{last}"
        return f"{self.stage}-{span}-of-{self.epochs}"

    @property
    def memory(self) -> str:
        return memory.quantity(self.memory_bytes)


@dataclass(frozen=True)
class RunPlan:
    """The whole-image stage's tasks (at ``whole_hw``: the full size, or the coarse size when tiled), and, for a
    result too big for one task, the tiles of the full-size stage and what one tile task asks for."""

    whole: list[StageTask]
    whole_hw: tuple[int, int]
    full_hw: tuple[int, int]
    tiles: list[Tile]
    tile_memory_bytes: int = 0
    overlap: int = DEFAULT_OVERLAP  #: what the tiles were planned with, and so what their blend feathers across

    @property
    def tiled(self) -> bool:
        return bool(self.tiles)

    @property
    def tile_memory(self) -> str:
        return memory.quantity(self.tile_memory_bytes)


def task_request(
    pixels: int, options: StyleOptions, styles: tuple[int, ...] = (), init: bool = False, masks: int = 0
) -> int:
    """The memory request (bytes) of an optimisation task whose largest epoch has ``pixels``, handed ``styles``
    (pixels of each), with ``init`` an init image, and ``masks`` masks. The planner does not know the node's
    hardware: ``auto`` is sized as a run in both precisions (the memory model's own entry)."""
    return memory.request_bytes(
        pixels, options.optimizer, options.precision, options.lbfgs_history, styles, init, masks
    )


def single_task_pixels(
    options: StyleOptions,
    styles: tuple[int, ...] = (),
    init: bool = False,
    limit: int = memory.TASK_LIMIT,
    masks: int = 0,
) -> int:
    """The most pixels one optimisation task may hold within ``limit``, handed ``styles``, ``init`` and ``masks``."""
    return memory.max_pixels(options.optimizer, options.precision, options.lbfgs_history, limit, styles, init, masks)


def plan(
    content_hw: tuple[int, int],
    options: StyleOptions,
    styles: tuple[int, ...] = (),
    init: bool = False,
    task_limit: int = memory.TASK_LIMIT,
    masks: int = 0,
) -> RunPlan:
    """The stages and tasks of a run whose result is ``content_hw`` (height, width), whose whole-image tasks are
    handed ``styles`` (pixels of each at its analysis size), with ``init`` an init image, and ``masks`` masks,
    each task within ``task_limit``. Tiles are handed only their crops (of the photo and the masks) and the shared
    style targets."""
    limit = single_task_pixels(options, styles, init, task_limit, masks)
    # A coarse stage needs room for VGG's deep layers: refused where the styles took it.
    if limit < pyramid.MIN_LEVEL**2 <= single_task_pixels(options, (), False, task_limit):
        raise OptionError(
            f"more_styles: {len(styles)} style image(s) ({sum(styles):,} pixels at their analysis size) leave no "
            f"room for the photo in one optimisation task's {memory.quantity(memory.TASK_LIMIT)}: give fewer "
            "styles, or lower max_dim or style_scale"
        )
    full_hw = (int(content_hw[0]), int(content_hw[1]))
    whole_hw = full_hw
    if full_hw[0] * full_hw[1] > limit:
        scale = math.sqrt(limit / (full_hw[0] * full_hw[1]))
        whole_hw = pyramid.shape_for(full_hw, max(1, math.floor(max(full_hw) * scale)))
        while whole_hw[0] * whole_hw[1] > limit:  # rounding may land a pixel row above the limit
            whole_hw = pyramid.shape_for(full_hw, max(whole_hw) - 1)
    if whole_hw == full_hw:
        return RunPlan(_stage_tasks("optimize", whole_hw, options, styles, init, masks), whole_hw, full_hw, [])
    whole = _stage_tasks("coarse", whole_hw, options, styles, init, masks)
    tiles = plan_tiles(full_hw, single_task_pixels(options, (), False, task_limit, masks), DEFAULT_OVERLAP)
    request = task_request(max(t.pixels for t in tiles), options, masks=masks)
    return RunPlan(whole, whole_hw, full_hw, tiles, request, overlap=DEFAULT_OVERLAP)


def check_held_images(held: memory.HeldImages, tiled: bool = False) -> None:
    """Refuse, in one line naming ``more_styles``, a run whose images would not fit a task that holds them all:
    preprocessing (every image), the preview (the photo and the styles) and, for a tiled run, the style targets'
    task (the same). How many styles would fit every one of them is computed from their limits and the largest
    style."""
    held_by = {
        "preprocess": held,
        "preview": dataclasses.replace(held, init=0),
        **({"style_targets": dataclasses.replace(held, init=0)} if tiled else {}),
    }
    largest = max(held.styles, default=0)
    fitting = {task: _styles_fitting(task, images, largest) for task, images in held_by.items()}
    over = [task for task in held_by if fitting[task] < len(held.styles)]
    if not over:
        return
    task, allowed = over[0], min(fitting.values())
    images = held_by[task]
    advice = (
        f"at most {allowed - 1} more_styles fit at this max_dim and style_scale"
        if allowed
        else ("not even one style fits")
    )
    raise OptionError(
        f"more_styles: {len(images.styles)} style image(s) of up to {largest:,} pixels at their analysis size, "
        f"with the photo{' and the init image' if images.init else ''}, need about "
        f"{memory.holding_peak_bytes(task, images) / memory.GIB:.1f} GiB in the {task} task, above its "
        f"{memory.quantity(memory.HOLDING_LIMITS[task])} limit: {advice} (lower max_dim or style_scale for more)"
    )


def check_run_fits(hw: tuple[int, int], options: StyleOptions, held: memory.HeldImages, init: bool) -> None:
    """Refuse, in one line naming ``more_styles``, a run of ``hw`` (height, width) that holds ``held`` (``init``: it
    has an init image, a file or the preview) and could not fit its tasks: those that hold every image, then one
    optimisation task, which the styles may leave no room."""
    tiled = hw[0] * hw[1] > single_task_pixels(options, held.styles, init, masks=held.masks)
    check_held_images(held, tiled)
    plan(hw, options, held.styles, init, masks=held.masks)


def _styles_fitting(task: str, images: memory.HeldImages, largest: int) -> int:
    """How many styles of ``largest`` pixels ``task`` may hold with the other images of ``images``."""
    limit = memory.HOLDING_LIMITS[task]
    count = 0
    while (
        count < len(images.styles)
        and memory.with_margin(
            memory.holding_peak_bytes(task, dataclasses.replace(images, styles=(largest,) * (count + 1)))
        )
        <= limit
    ):
        count += 1
    return count


def tile_options(options: StyleOptions) -> StyleOptions:
    """A tile's run: the stage's schedule at full size from the coarse result (no pyramid, no init choice)."""
    return dataclasses.replace(options, pyramid=False, init_image="content", epochs_per_task=0)


def _stage_tasks(
    stage: str, hw: tuple[int, int], options: StyleOptions, styles: tuple[int, ...], init: bool, masks: int
) -> list[StageTask]:
    per_task = options.epochs_per_task or options.epochs
    tasks = []
    for first in range(0, options.epochs, per_task):
        stop = min(first + per_task, options.epochs)
        shapes = [options.epoch_shape(epoch, hw) for epoch in range(first, stop)]
        height, width = max(shapes, key=lambda s: s[0] * s[1])
        tasks.append(
            StageTask(
                stage,
                first,
                stop,
                options.epochs,
                height,
                width,
                task_request(height * width, options, styles, init, masks),
            )
        )
    return tasks
