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

Each task's memory request comes from ``memory``'s model of peak RSS against the pixels of its largest epoch.
No TensorFlow here: the ``@dynamic`` plans with it before any optimisation starts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from workflows.engine import memory, pyramid
from workflows.engine.options import StyleOptions
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


def task_request(pixels: int, options: StyleOptions) -> int:
    """The memory request (bytes) of an optimisation task whose largest epoch has ``pixels``. The planner does
    not know the node's hardware: ``auto`` is sized as a run in both precisions (the memory model's own entry)."""
    return memory.request_bytes(pixels, options.optimizer, options.precision, options.lbfgs_history)


def single_task_pixels(options: StyleOptions) -> int:
    """The most pixels one optimisation task may hold within ``memory.TASK_LIMIT``."""
    return memory.max_pixels(options.optimizer, options.precision, options.lbfgs_history)


def plan(content_hw: tuple[int, int], options: StyleOptions) -> RunPlan:
    """The stages and tasks of a run whose result is ``content_hw`` (height, width)."""
    limit = single_task_pixels(options)
    full_hw = (int(content_hw[0]), int(content_hw[1]))
    whole_hw = full_hw
    if full_hw[0] * full_hw[1] > limit:
        scale = math.sqrt(limit / (full_hw[0] * full_hw[1]))
        whole_hw = pyramid.shape_for(full_hw, max(1, math.floor(max(full_hw) * scale)))
        while whole_hw[0] * whole_hw[1] > limit:  # rounding may land a pixel row above the limit
            whole_hw = pyramid.shape_for(full_hw, max(whole_hw) - 1)
    if whole_hw == full_hw:
        return RunPlan(_stage_tasks("optimize", whole_hw, options), whole_hw, full_hw, [])
    whole = _stage_tasks("coarse", whole_hw, options)
    tiles = plan_tiles(full_hw, limit, DEFAULT_OVERLAP)
    request = task_request(max(t.pixels for t in tiles), options)
    return RunPlan(whole, whole_hw, full_hw, tiles, request, overlap=DEFAULT_OVERLAP)


def tile_options(options: StyleOptions) -> StyleOptions:
    """A tile's run: the stage's schedule at full size from the coarse result (no pyramid, no init choice)."""
    return dataclasses.replace(options, pyramid=False, init_image="content", epochs_per_task=0)


def _stage_tasks(stage: str, hw: tuple[int, int], options: StyleOptions) -> list[StageTask]:
    per_task = options.epochs_per_task or options.epochs
    tasks = []
    for first in range(0, options.epochs, per_task):
        stop = min(first + per_task, options.epochs)
        shapes = [options.epoch_shape(epoch, hw) for epoch in range(first, stop)]
        height, width = max(shapes, key=lambda s: s[0] * s[1])
        tasks.append(
            StageTask(stage, first, stop, options.epochs, height, width, task_request(height * width, options))
        )
    return tasks
