"""The one epoch chain: epochs run one after another in one process, from a ``RunState`` to a ``RunState``.

The workflow's optimisation task, the tests and the benchmarks all run epochs through ``run_epochs``. A
``RunState`` is where a run stands after some epochs; its bytes (``to_bytes``) are both the intratask checkpoint
and what one task hands the next, so resuming after a retry and continuing in another pod are the same code.

Within one call the engine (targets, traced step) is built once per size and precision, not once per epoch.
"""

from __future__ import annotations

import dataclasses
import io
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workflows.engine import pyramid
from workflows.engine.colors import keep_photo_chroma, match_color_statistics
from workflows.engine.options import OptionError, StyleOptions
from workflows.engine.regions import StyleRegions
from workflows.engine.resample import resize, resize_state
from workflows.engine.transfer import OptimizerState, StepCallback, StyleTransfer, bfloat16_is_native

#: Optimiser state that a single evaluation rebuilds: kept in memory between epochs, never shipped.
REBUILDABLE = ("lbfgs_loss", "lbfgs_grad")
_FORMAT = 1


@dataclass
class RunState:
    """A run after ``epochs_done`` epochs: the iterate at the size it last ran at, the optimiser state, the loss
    before every step so far, the optimisation seconds so far, and the image to show (the iterate average with
    ``ema``; None means the iterate)."""

    epochs_done: int
    image: np.ndarray
    optimizer_state: OptimizerState = field(default_factory=dict)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    shown: np.ndarray | None = None

    @classmethod
    def start(
        cls, content: np.ndarray, options: StyleOptions | None = None, init: np.ndarray | None = None
    ) -> RunState:
        """Before the first epoch: the image the options' ``init_image`` names (the photo by default; noise
        drawn from ``seed``; or ``init``, an image already at the photo's size: a URI's, or the preview)."""
        content = np.asarray(content, np.float32)
        choice = "content" if options is None else options.init_image
        if choice == "content":
            return cls(0, content)
        if choice == "noise":
            assert options is not None
            return cls(0, np.random.default_rng(options.seed).uniform(0.0, 1.0, content.shape).astype(np.float32))
        if init is None or init.shape != content.shape:
            found = "none" if init is None else str(init.shape)
            raise OptionError(
                f"init_image={choice!r}: its pixels must come at the photo's size {content.shape}, got {found}"
            )
        return cls(0, np.asarray(init, np.float32))

    @property
    def output(self) -> np.ndarray:
        return self.image if self.shown is None else self.shown

    def to_bytes(self) -> bytes:
        """The state as ``write`` stores it, in memory."""
        buffer = io.BytesIO()
        self.write(buffer)
        return buffer.getvalue()

    def write(self, target: Path | typing.BinaryIO) -> None:
        """An uncompressed npz of everything that cannot be rebuilt (pixels do not compress much), written array by
        array: no second copy of the L-BFGS history is made on the way to a file."""
        arrays = {f"state/{k}": v for k, v in self.optimizer_state.items() if k not in REBUILDABLE}
        arrays["image"] = self.image
        if self.shown is not None:
            arrays["shown"] = self.shown
        arrays["losses"] = np.asarray(self.losses, np.float64)
        arrays["meta"] = np.asarray([_FORMAT, self.epochs_done, self.seconds], np.float64)
        np.savez(target, allow_pickle=False, **arrays)

    def to_keep(self, epochs: int) -> RunState:
        """What a checkpoint or a hand-off keeps of this state in a run of ``epochs`` epochs: all of it, except once
        the run is over, when nothing continues from the optimiser state (the L-BFGS history, nearly all of a
        state's bytes: 95 MB at 512x384, which the last checkpoint and the hand-off would otherwise store)."""
        if self.epochs_done < epochs:
            return self
        return dataclasses.replace(self, optimizer_state={})

    @classmethod
    def from_bytes(cls, data: bytes) -> RunState:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = archive["meta"]
            if int(meta[0]) != _FORMAT:
                raise ValueError(f"run state format {int(meta[0])} is not {_FORMAT}: start the run afresh")
            state = {k.removeprefix("state/"): archive[k] for k in archive.files if k.startswith("state/")}
            return cls(
                epochs_done=int(meta[1]),
                image=archive["image"],
                optimizer_state=state,
                losses=archive["losses"].tolist(),
                seconds=float(meta[2]),
                shown=archive["shown"] if "shown" in archive.files else None,
            )


@dataclass(frozen=True)
class EpochDone:
    """What ``on_epoch`` learns after each epoch: its index (0-based), the new state, its size and precision."""

    epoch: int
    state: RunState
    height: int
    width: int
    precision: str


def run_epochs(
    content: np.ndarray,
    style: np.ndarray | Sequence[np.ndarray],
    options: StyleOptions,
    state: RunState,
    stop_epoch: int | None = None,
    on_epoch: Callable[[EpochDone], None] | None = None,
    on_step: StepCallback = None,
    style_targets: Sequence[np.ndarray] | None = None,
    regions: StyleRegions | None = None,
) -> RunState:
    """Run epochs ``state.epochs_done`` up to ``stop_epoch`` (default: the last) and return the new state.

    ``content`` is the full-size (max_dim) photo and ``style`` one style image or several (blended by the
    options' weights), each at least at the size ``style_scale`` asks for; the state's image may be at any size
    (an earlier pyramid level) and is brought to each epoch's size here. ``style_targets``, when given, are the
    style layers' Gram targets computed elsewhere (a tile of a bigger image optimises against the whole image's);
    ``style`` is then ignored. ``regions`` (at ``content``'s size) say where each style goes and what stays the
    photo; they are resized with every epoch.
    """
    stop = options.epochs if stop_epoch is None else stop_epoch
    if not 0 <= state.epochs_done <= stop <= options.epochs:
        raise ValueError(f"cannot run epochs {state.epochs_done}..{stop} of {options.epochs}")
    full_hw = (content.shape[0], content.shape[1])
    styles = [style] if isinstance(style, np.ndarray) else list(style)
    regions = regions or StyleRegions()
    if style_targets is None and not regions.per_style:
        options.blend_weights(len(styles))  # a count that does not match fails before any work
    if options.preserve_colors == "histogram" and style_targets is None:
        styles = [match_color_statistics(s, content) for s in styles]
    native = bfloat16_is_native()
    # Targets are computed once per size, in float32 wherever an epoch at that size computes in float32 (the
    # precision the run is finished in), and shared by the engines of both precisions at that size.
    first = state.epochs_done
    planned = [(options.epoch_shape(e, full_hw), options.compute_dtype(e, native)) for e in range(first, stop)]
    in_float32 = {hw for hw, precision in planned if precision == "float32"}
    targets_precision = {hw: "float32" if hw in in_float32 else precision for hw, precision in planned}
    targets: dict[tuple[int, int], tuple[list, list]] = {}
    engine: StyleTransfer | None = None
    engine_key: tuple[tuple[int, int], str] | None = None
    for epoch in range(first, stop):
        began = time.perf_counter()
        hw, precision = planned[epoch - first]
        if engine is None or engine_key != (hw, precision):
            style_side = options.style_long_side(max(hw))
            given = targets.get(hw, (style_targets, None))
            engine = StyleTransfer(
                resize(content, hw),
                [resize(s, pyramid.shape_for(s.shape, style_side)) for s in styles],
                options,
                precision=precision,
                reference_pixels=full_hw[0] * full_hw[1] if options.pyramid else None,
                style_targets=given[0],
                content_targets=given[1],
                targets_precision=targets_precision[hw],
                regions=regions.resized(hw),
            )
            targets[hw] = engine.targets
            engine_key = (hw, precision)
        image, optimizer_state = state.image, dict(state.optimizer_state)
        if epoch > 0 and options.compute_dtype(epoch - 1, native) != precision:
            # A loss and gradient measured at another precision would mislead the first line search.
            optimizer_state = {k: v for k, v in optimizer_state.items() if k not in REBUILDABLE}
        if image.shape[:2] != hw:
            image, optimizer_state = resize(image, hw), resize_state(optimizer_state, hw)
        result = engine.run(options.steps_per_epoch, image=image, optimizer_state=optimizer_state, on_step=on_step)
        seconds = time.perf_counter() - began
        state = RunState(
            epochs_done=epoch + 1,
            image=result.image,
            optimizer_state=result.optimizer_state,
            losses=state.losses + result.losses,
            seconds=state.seconds + seconds,
            shown=result.output,
        )
        if on_epoch is not None:
            on_epoch(EpochDone(epoch, state, hw[0], hw[1], precision))
    return state


def result_image(content: np.ndarray, options: StyleOptions, state: RunState) -> np.ndarray:
    """The image to show or save after ``state``: its output, with the photo's chroma under
    ``preserve_colors="luminance"`` (the photo brought to the output's size, e.g. at a pyramid level)."""
    output = state.output
    if options.preserve_colors != "luminance":
        return output
    return keep_photo_chroma(output, resize(content, output.shape[:2]))


def stylize_in_process(
    content: np.ndarray,
    style: np.ndarray | Sequence[np.ndarray],
    options: StyleOptions,
    on_epoch: Callable[[EpochDone], None] | None = None,
    init: np.ndarray | None = None,
    regions: StyleRegions | None = None,
) -> RunState:
    """A whole run in this process: every epoch from the start the options name."""
    return run_epochs(
        content, style, options, RunState.start(content, options, init), on_epoch=on_epoch, regions=regions
    )
