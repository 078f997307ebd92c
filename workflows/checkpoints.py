"""An optimisation task's intratask checkpoint: where it is, and the state a previous attempt left in it."""

from __future__ import annotations

import typing

from workflows.task_log import log

#: The one file an optimisation task's intratask checkpoint holds (always this name: a retry reads exactly one).
CHECKPOINT_FILE = "run-state.npz"


def checkpoint_of(context: typing.Any) -> typing.Any:
    try:
        return context.checkpoint
    except NotImplementedError:  # a platform without intratask checkpoints
        return None


def restored(checkpoint: typing.Any, first_epoch: int, stop_epoch: int) -> typing.Any:
    """The state a previous attempt of this task checkpointed, if it is usable here; else None."""
    from workflows.engine.chain import RunState

    if checkpoint is None:
        return None
    try:
        data = checkpoint.read()
        if not data:
            return None
        state = RunState.from_bytes(data)
    except Exception as exc:  # nothing was written, the store cannot be read, or a kill cut the file short
        log.warning("no usable checkpoint (%s); starting this task from its input", exc)
        return None
    if not first_epoch <= state.epochs_done <= stop_epoch:
        log.warning(
            "ignoring a checkpoint after %d epochs: this task runs %d..%d", state.epochs_done, first_epoch, stop_epoch
        )
        return None
    log.info("resuming from the checkpoint after epoch %d of %d", state.epochs_done, stop_epoch)
    return state
