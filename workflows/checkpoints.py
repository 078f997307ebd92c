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


def restored(
    checkpoint: typing.Any, first_epoch: int, stop_epoch: int, content_hw: tuple[int, int], options: typing.Any
) -> typing.Any:
    """The state a previous attempt of this task checkpointed, if it is usable here; else None (logged once, and
    the task starts from its input). ``content_hw`` and ``options`` (a ``StyleOptions``) give the size each epoch
    runs at, which a usable checkpoint's arrays must have."""
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
    mismatch = shape_mismatch(state, content_hw, options)
    if mismatch:
        log.warning("no usable checkpoint (%s); starting this task from its input", mismatch)
        return None
    log.info("resuming from the checkpoint after epoch %d of %d", state.epochs_done, stop_epoch)
    return state


def shape_mismatch(state: typing.Any, content_hw: tuple[int, int], options: typing.Any) -> str:
    """Why ``state`` (a ``RunState``) does not fit this task's images, or "" when it does: its image (and the
    image shown) must be (height, width, 3) at the size its last epoch ran at, and every per-pixel array of the
    optimiser state (Adam's moments, the L-BFGS pairs) must end in that shape. A checkpoint of another image size,
    or well-formed arrays of another shape, would otherwise resume silently or fail the attempt in the engine."""
    last = state.epochs_done - 1
    height, width = options.epoch_shape(last, content_hw) if last >= 0 else content_hw
    expected = (height, width, 3)
    arrays = {"image": state.image, "shown": state.shown}
    arrays.update({f"optimizer state {name}": value for name, value in state.optimizer_state.items()})
    for name, array in arrays.items():
        if array is None or (name.startswith("optimizer") and array.ndim < 3):
            continue  # no image shown; a scalar such as Adam's step count
        found = tuple(array.shape[-3:]) if name.startswith("optimizer") else tuple(array.shape)
        if found != expected:
            return f"its {name} has shape {tuple(array.shape)}, this task's images are {expected}"
    return ""
