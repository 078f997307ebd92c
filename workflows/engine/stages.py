"""How a run is split into stages and tasks, and what each task asks of the cluster.

A *stage* is one pass of the optimisation over the whole image: every epoch of the run, each at its size (the
full size, or its pyramid level). By default a stage is one task: its epochs run inside that task, which
checkpoints after each one, so a retried task resumes from its last finished epoch. ``epochs_per_task=k`` splits
a stage into tasks of k epochs (1 = one pod per epoch), e.g. for spot nodes: each task hands the next the run's
state.

Each task's memory request comes from ``memory``'s model of peak RSS against the pixels of its largest epoch.
No TensorFlow here: the ``@dynamic`` plans with it before any optimisation starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.engine import memory
from workflows.engine.options import StyleOptions


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


def plan(content_hw: tuple[int, int], options: StyleOptions) -> list[StageTask]:
    """The tasks of a run over an image of ``content_hw`` (height, width at max_dim), in order."""
    per_task = options.epochs_per_task or options.epochs
    tasks = []
    for first in range(0, options.epochs, per_task):
        stop = min(first + per_task, options.epochs)
        shapes = [options.epoch_shape(epoch, content_hw) for epoch in range(first, stop)]
        height, width = max(shapes, key=lambda hw: hw[0] * hw[1])
        # The planner does not know the node's hardware: size for every precision the task may compute in.
        precisions = ("float32", "bfloat16") if options.precision == "auto" else (options.precision,)
        request = memory.request_bytes(height * width, options.optimizer, precisions, options.lbfgs_history)
        tasks.append(StageTask("optimize", first, stop, options.epochs, height, width, request))
    return tasks
