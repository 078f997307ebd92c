"""What the Flyte tasks share: fetching inputs, the epochs of an optimisation task with their checkpoints, the
Progress Deck and progress record, resource overrides, and writing files atomically. Flyte code: the maths is in
``workflows/engine/``, the tasks in ``neural_style_transfer.py`` and ``tile_tasks.py``."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import typing
from pathlib import Path

import numpy as np
from flytekit import Deck, Resources, current_context
from flytekit.core.context_manager import FlyteContextManager
from flytekit.exceptions.user import FlyteDataNotFoundException, FlyteRecoverableException
from flytekit.extras.accelerators import GPUAccelerator
from flytekit.types.file import FlyteFile

from workflows import images
from workflows.engine.options import INIT_IMAGES, OptionError, StyleOptions
from workflows.engine.progress_view import RANDOM_WEIGHTS_WARNING, progress_html, progress_record

#: Optimisation-task CPUs (a Kubernetes quantity). Memory defaults to ``auto``: each task's request comes from
#: the memory model for its pixels (``workflows/engine/memory.py``). The workflow inputs of the same role override.
OPTIMIZE_CPU, OPTIMIZE_MEM = "2", "auto"
#: What an optimisation task declares before the dynamic sizes it (it never runs with these).
OPTIMIZE_DEFAULT = Resources(cpu=OPTIMIZE_CPU, mem="3Gi")
#: The one file an optimisation task's intratask checkpoint holds (always this name: a retry reads exactly one).
CHECKPOINT_FILE = "run-state.npz"

if typing.TYPE_CHECKING:
    PngFile: typing.TypeAlias = FlyteFile
else:
    PngFile = FlyteFile[typing.TypeVar("png")]  # the blob format Flyte records for the output


_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")


def _progress_log() -> logging.Logger:
    """A logger whose INFO lines reach the console under ``pyflyte run`` and in pod logs alike."""
    logger = logging.getLogger("nst")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[nst] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


log = _progress_log()
_UMASK = os.umask(0)
os.umask(_UMASK)


def latest_local_deck() -> Path | None:
    """In a local execution, the newest Deck page flytekit wrote (a random folder under its sandbox); else None."""
    context = FlyteContextManager.current_context()
    if not (context.execution_state and context.execution_state.is_local_execution()):
        return None
    pages = Path(context.file_access.local_sandbox_dir).rglob("deck.html")
    return max(pages, key=lambda page: page.stat().st_mtime_ns, default=None)


def check_output_uri(output_uri: str) -> None:
    if output_uri.endswith("/"):
        raise OptionError(f"output_uri={output_uri!r}: must name a file, not a folder")


def optimize_overrides(cpu: str, mem: str, gpu: str, accelerator: str) -> dict[str, typing.Any]:
    """The ``with_overrides`` arguments for optimisation tasks; a bad quantity fails with the input's name."""
    for name, value in (("optimize_cpu", cpu), ("optimize_mem", mem), ("optimize_gpu", gpu)):
        if not (_QUANTITY.match(value) or (name == "optimize_mem" and value == "auto")):
            raise OptionError(f"{name}={value!r} is not a Kubernetes quantity (e.g. '2', '500m', '3Gi')")
    wants_gpu = float(gpu) > 0
    if accelerator and not wants_gpu:
        raise OptionError(f"gpu_accelerator={accelerator!r} needs optimize_gpu of at least 1")
    if mem == "auto":
        return {}
    resources = Resources(cpu=cpu, mem=mem, gpu=gpu) if wants_gpu else Resources(cpu=cpu, mem=mem)
    overrides: dict[str, typing.Any] = {"requests": resources, "limits": resources}
    if accelerator:
        overrides["accelerator"] = GPUAccelerator(accelerator)
    return overrides


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
) -> typing.Any:
    """The epochs of one optimisation task: from the previous attempt's checkpoint if there is a usable one
    (else from ``start``), with a checkpoint, the published Deck and the progress record after every epoch."""
    from workflows.engine.chain import result_image, run_epochs
    from workflows.engine.networks.vgg_features import weights_from_env

    checkpoint = checkpoint_of(current_context())
    state = restored(checkpoint, first_epoch, stop_epoch) or start
    if not first_epoch <= state.epochs_done <= stop_epoch:
        raise ValueError(
            f"the state handed over is after {state.epochs_done} epochs, this task starts at {first_epoch}"
        )
    progress = Progress(
        options,
        output_uri,
        weights_from_env().kind,
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

    return run_epochs(
        content, styles, options, state, stop_epoch, on_epoch=on_epoch, on_step=on_step, style_targets=style_targets
    )


class Progress:
    """After each epoch: the Progress Deck, published while the task runs, and the progress record and preview
    next to ``output_uri`` (overwritten each time; a failure to write them is logged, never fatal)."""

    def __init__(
        self,
        options: StyleOptions,
        output_uri: str,
        weights: str,
        first_epoch: int,
        show: typing.Callable[[typing.Any], np.ndarray],
        title: str = "",
        style: np.ndarray | None = None,
    ) -> None:
        self.options, self.output_uri, self.weights, self.show = options, output_uri, weights, show
        self.title, self.style = title, style
        self.epoch = first_epoch
        self.epoch_ends: list[int] = []
        self._deck: Deck | None = None

    def epoch_done(self, done: typing.Any) -> None:
        state = done.state
        self.epoch = done.epoch + 1
        self.epoch_ends.append(len(state.losses))
        title = (
            f"{self.title + ': ' if self.title else ''}Epoch {done.epoch + 1} of {self.options.epochs} "
            f"({done.width}x{done.height}, {self.options.optimizer}, {done.precision})"
        )
        shown = self.show(state)
        yardstick = self._style_distance(shown)
        png = images.encode_png(shown, compress_level=images.PROGRESS_PNG_LEVEL)  # the Deck's and the preview's
        page = progress_html(
            png,
            state.losses,
            title=title,
            epoch_ends=self.epoch_ends,
            settings={**yardstick, **self.options.summary(), "weights": self.weights},
            warning=RANDOM_WEIGHTS_WARNING if self.weights == "random" else "",
        )
        self._publish_deck(page)
        if self.output_uri:
            record = progress_record(
                epoch=done.epoch + 1,
                epochs=self.options.epochs,
                steps=len(state.losses),
                loss=state.losses[-1] if state.losses else None,
                seconds=state.seconds,
                weights=self.weights,
                done=done.epoch + 1 == self.options.epochs,
            )
            write_beside(self.output_uri, ".preview.png", png)
            write_beside(self.output_uri, ".progress.json", json.dumps(record).encode())

    def _style_distance(self, image: np.ndarray) -> dict[str, str]:
        """The trained yardstick (``workflows/engine/networks/arbitrary_stylization.py``): how far the image's style is from the style image's,
        independent of VGG19 (so it shows honestly whether random weights stylized anything)."""
        if self.style is None:
            return {}
        from workflows.engine.networks import arbitrary_stylization as feed_forward

        try:
            return {"style distance (trained yardstick)": f"{feed_forward.style_distance(image, self.style):.2f}"}
        except feed_forward.PreviewError:
            return {}

    def _publish_deck(self, page: str) -> None:
        """Replace this task's Progress Deck with ``page`` and stream it to the console now."""
        decks = current_context().decks
        deck = Deck("Progress", page, auto_add_to_deck=False)
        if self._deck is not None and self._deck in decks:
            decks[decks.index(self._deck)] = deck
        else:
            decks.append(deck)
        self._deck = deck
        try:
            Deck.publish()
        except Exception as exc:  # a console that cannot be reached must not stop the optimisation
            log.warning("could not publish the Progress Deck: %s", exc)


def write_beside(output_uri: str, suffix: str, data: bytes) -> None:
    """Overwrite ``output_uri + suffix`` (a progress record or preview); a failure is logged, never fatal."""
    target = output_uri + suffix
    try:
        if "://" not in target:
            write_atomically(Path(target), data)
        else:
            store = FlyteContextManager.current_context().file_access.get_filesystem_for_path(target)
            store.pipe_file(target, data)
    except Exception as exc:
        log.warning("could not write %s: %s", target, exc)


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


def write_atomically(path: Path, data: bytes) -> Path:
    """Write under a temporary name in the same folder, then rename into place: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes the file private; the result is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def image_inputs(
    content_img: FlyteFile, style_img: FlyteFile, more_styles: list[FlyteFile], init_image: str
) -> list[tuple[FlyteFile | str, str]]:
    """Every image a run reads, with the role its error messages name: the photo, the styles, the init image."""
    sources: list[tuple[FlyteFile | str, str]] = [(content_img, "content"), (style_img, "style")]
    sources += [(image, f"style {index + 2} (more_styles[{index}])") for index, image in enumerate(more_styles)]
    if init_image not in INIT_IMAGES:
        sources.append((init_image, "init"))
    return sources


def uri_of(image: FlyteFile | str) -> str:
    return image if isinstance(image, str) else str(image.remote_source or image.path)


def fetch(image: FlyteFile | str, role: str) -> str:
    """Download an input image (a FlyteFile input, or a URI or local path given as a string); a missing one is the
    user's error, a failed transfer is retried."""
    uri = uri_of(image)
    try:
        if isinstance(image, FlyteFile):
            return image.download()
        if "://" not in uri:
            if not Path(uri).is_file():
                raise images.ImageInputError(f"{role} image {uri}: not found")
            return uri
        access = FlyteContextManager.current_context().file_access
        local = access.get_random_local_path(Path(uri).name)
        access.get_data(uri, local)
        return local
    except images.ImageInputError:
        raise
    except FlyteDataNotFoundException:
        # flytekit also reports an unreachable server as "not found"; ask the store itself which it is.
        if is_missing(uri):
            raise images.ImageInputError(f"{role} image {uri}: not found") from None
        raise FlyteRecoverableException(f"{role} image {uri}: cannot be reached, will retry") from None
    except Exception as exc:  # flytekit wraps every transport failure in one system exception
        raise FlyteRecoverableException(f"{role} image {uri}: download failed, will retry ({exc})") from exc


def is_missing(uri: str) -> bool:
    """True only when the store answers that nothing is at ``uri``; False when it cannot be asked."""
    store = FlyteContextManager.current_context().file_access.get_filesystem_for_path(uri)
    try:
        store.info(uri)
    except FileNotFoundError as exc:
        # fsspec's HTTP store turns every failure into FileNotFoundError; a transport error underneath means unreachable.
        return not any(isinstance(link, OSError) and not isinstance(link, FileNotFoundError) for link in causes(exc))
    except Exception:
        return False
    return False


def causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    link = exc.__cause__ or exc.__context__
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    return chain
