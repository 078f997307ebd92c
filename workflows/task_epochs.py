"""The epochs of one optimisation task (the whole-image task and each tile's): resumed from the previous
attempt's checkpoint when it is usable, with a checkpoint, the Deck and the progress record after every epoch."""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np
from flytekit import current_context

from workflows.checkpoints import CHECKPOINT_FILE, checkpoint_of, restored
from workflows.engine.options import StyleOptions
from workflows.engine.regions import StyleRegions
from workflows.progress_records import EpochProgress
from workflows.task_log import log


def run_task_epochs(
    content: np.ndarray,
    styles: list[np.ndarray],
    options: StyleOptions,
    start: typing.Any,
    first_epoch: int,
    stop_epoch: int,
    output_uri: str,
    style_targets: list[np.ndarray] | None = None,
    title: str = "",
    regions: StyleRegions | None = None,
) -> typing.Any:
    """The epochs of one optimisation task: from the previous attempt's checkpoint if there is a usable one
    (else from ``start``), with a checkpoint, the published Deck and the progress record after every epoch.
    ``regions``: the run's masks (``workflows/engine/regions.py``), at ``content``'s size."""
    from workflows.engine.chain import result_image, run_epochs
    from workflows.engine.framework import release_memory
    from workflows.engine.networks.vgg_features import weights_from_env

    checkpoint = checkpoint_of(current_context())
    state = restored(checkpoint, first_epoch, stop_epoch, content.shape[:2], options) or start
    if not first_epoch <= state.epochs_done <= stop_epoch:
        raise ValueError(
            f"the state handed over is after {state.epochs_done} epochs, this task starts at {first_epoch}"
        )
    progress = EpochProgress(
        options,
        output_uri,
        weights_from_env(network=options.network).kind,
        first_epoch=state.epochs_done,
        show=lambda s: result_image(content, options, s),
        title=title,
        style=styles[0] if styles else None,
    )
    steps = options.steps_per_epoch
    report_every = max(1, steps // 10)

    def on_step(index: int, loss: float) -> None:
        if (index + 1) % report_every == 0 or index + 1 == steps:
            prefix = f"{title}: " if title else ""
            log.info(
                "%sepoch %d/%d: step %d/%d, loss %.4g",
                prefix,
                progress.epoch + 1,
                options.epochs,
                index + 1,
                steps,
                loss,
            )

    def on_epoch(done: typing.Any) -> None:
        if checkpoint is not None:
            # Written straight to a file that the checkpoint uploads: one copy of the state on its way out.
            path = Path(current_context().working_directory) / "checkpoint" / CHECKPOINT_FILE
            path.parent.mkdir(exist_ok=True)
            done.state.to_keep(options.epochs).write(path)
            checkpoint.save(path)
        progress.epoch_done(done)

    try:
        return run_epochs(
            content,
            styles,
            options,
            state,
            stop_epoch,
            on_epoch=on_epoch,
            on_step=on_step,
            style_targets=style_targets,
            regions=regions,
        )
    finally:  # a local run's next task starts from here, not from this one's peak
        release_memory()
