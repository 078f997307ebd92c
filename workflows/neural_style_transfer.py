"""Neural style transfer as a Flyte workflow.

    fingerprint_inputs -> preprocess (cached) -> stylize (@dynamic: epochs x optimize_epoch) -> finalize

Run it locally (offline, random weights, tiny sizes)::

    NST_VGG19_WEIGHTS=random pyflyte run workflows/neural_style_transfer.py neural_style_transfer_wf \\
        --content_img photo.jpg --style_img style.jpg --epochs 1 --steps_per_epoch 3 --max_dim 96

The style-transfer maths lives in plain TensorFlow modules beside this file
(``style_engine``, ``vgg19_features``, ``images``); the tasks only move data.
"""

from __future__ import annotations

import logging
import re
import sys
import typing
from pathlib import Path

import numpy as np
from flytekit import Cache, Deck, Resources, current_context, dynamic, task, workflow
from flytekit.core.context_manager import FlyteContextManager
from flytekit.exceptions.user import FlyteDataNotFoundException, FlyteRecoverableException
from flytekit.extras.accelerators import GPUAccelerator
from flytekit.types.file import FlyteFile

from workflows import images
from workflows.progress_deck import progress_html
from workflows.recipe import Tuning

#: Bump when preprocessing changes what it produces, so cached pixels are not reused.
PREPROCESS_CACHE_VERSION = "1"

#: Optimisation-task resources (Kubernetes quantities); the workflow inputs of the same role override them.
OPTIMIZE_CPU, OPTIMIZE_MEM = "2", "3Gi"

if typing.TYPE_CHECKING:
    PngFile: typing.TypeAlias = FlyteFile
else:
    PngFile = FlyteFile[typing.TypeVar("png")]  # the blob format Flyte records for the output


class Pixels(typing.NamedTuple):
    content: np.ndarray
    style: np.ndarray


EpochResult = typing.NamedTuple(
    "EpochResult",
    [
        ("image", np.ndarray),  # the iterate the next epoch resumes from
        ("optimizer_state", dict[str, np.ndarray]),
        ("losses", list[float]),
        ("output", np.ndarray),  # the image to show: the iterate, or its average with ema
    ],
)

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


@task(requests=Resources(cpu="250m", mem="256Mi"), limits=Resources(cpu="500m", mem="512Mi"), retries=3)
def fingerprint_inputs(content_img: FlyteFile, style_img: FlyteFile) -> str:
    """Content hashes of both images: what the preprocessing cache keys on, so a re-upload under the same name is seen."""
    return "-".join(
        images.file_digest(_fetch(image, role)) for image, role in ((content_img, "content"), (style_img, "style"))
    )


@task(
    cache=Cache(version=PREPROCESS_CACHE_VERSION, ignored_inputs=("content_img", "style_img")),
    retries=3,
    requests=Resources(cpu="1", mem="1Gi"),
    limits=Resources(cpu="1", mem="2Gi"),
)
def preprocess(content_img: FlyteFile, style_img: FlyteFile, max_dim: int, input_digest: str) -> Pixels:
    """Decode, orient, convert to sRGB and resize both images; a bad image fails here, once, with its reason."""
    log.info("preprocess: content and style at max_dim=%d", max_dim)
    images.validate_max_dim(max_dim)
    content, style = (
        images.load_rgb(_fetch(image, role), role=role, max_dim=max_dim, source=_uri(image))
        for image, role in ((content_img, "content"), (style_img, "style"))
    )
    log.info(
        "preprocess: content %dx%d, style %dx%d", content.shape[1], content.shape[0], style.shape[1], style.shape[0]
    )
    return Pixels(content=content, style=style)


@task(
    requests=Resources(cpu=OPTIMIZE_CPU, mem=OPTIMIZE_MEM),
    limits=Resources(cpu=OPTIMIZE_CPU, mem=OPTIMIZE_MEM),
    retries=2,
    enable_deck=True,
    deck_fields=(),
)
def optimize_epoch(
    content: np.ndarray,
    style: np.ndarray,
    image: np.ndarray,
    optimizer_state: dict[str, np.ndarray],
    losses: list[float],
    epoch: int,
    epochs: int,
    steps: int,
    tuning: Tuning,
) -> EpochResult:
    """One epoch of ``steps`` steps, resuming the image and the optimiser's state where the last epoch left them."""
    from workflows.style_engine import run_epoch  # TensorFlow loads only in the tasks that need it

    plan = tuning.plan(epoch, epochs, steps)
    report_every = max(1, steps // 10)

    def report(index: int, loss: float) -> None:
        if (index + 1) % report_every == 0 or index + 1 == steps:
            log.info("epoch %d/%d: step %d/%d, loss %.4g", epoch + 1, epochs, index + 1, steps, loss)

    result = run_epoch(content, style, image, optimizer_state, plan, on_step=report)
    history = list(losses) + result.losses
    size = f"{result.image.shape[1]}x{result.image.shape[0]}"
    Deck(
        "Progress",
        progress_html(result.shown, history, title=f"Epoch {epoch + 1} of {epochs} ({size}, {tuning.optimizer})"),
    )
    return EpochResult(image=result.image, optimizer_state=result.optimizer_state, losses=history, output=result.shown)


@dynamic(requests=Resources(cpu="500m", mem="1Gi"), limits=Resources(cpu="500m", mem="1Gi"), retries=1)
def stylize(
    content: np.ndarray,
    style: np.ndarray,
    epochs: int,
    steps_per_epoch: int,
    style_weight: float,
    content_weight: float,
    total_variation_weight: float,
    optimizer: str,
    ema: float,
    pyramid: bool,
    precision: str,
    optimize_cpu: str,
    optimize_mem: str,
    optimize_gpu: str,
    gpu_accelerator: str,
) -> np.ndarray:
    """Chain ``epochs`` optimisation tasks, each resuming from the last, with the caller's resources applied."""
    tuning = Tuning(style_weight, content_weight, total_variation_weight, optimizer, ema, pyramid, precision)
    tuning.plan(0, epochs, steps_per_epoch)  # every option is checked here, before a single task starts
    overrides = optimize_overrides(optimize_cpu, optimize_mem, optimize_gpu, gpu_accelerator)
    state: dict[str, np.ndarray] = {}
    losses: list[float] = []
    image, output = content, content
    for epoch in range(epochs):
        image, state, losses, output = optimize_epoch(
            content=content,
            style=style,
            image=image,
            optimizer_state=state,
            losses=losses,
            epoch=epoch,
            epochs=epochs,
            steps=steps_per_epoch,
            tuning=tuning,
        ).with_overrides(node_name=f"epoch-{epoch + 1}-of-{epochs}", **overrides)
    return output


@task(requests=Resources(cpu="500m", mem="512Mi"), limits=Resources(cpu="500m", mem="1Gi"), retries=3)
def finalize(pixels: np.ndarray, output_uri: str) -> PngFile:
    """Encode the 8-bit sRGB PNG; with ``output_uri`` it is uploaded exactly there (s3:// or a local path)."""
    if output_uri.endswith("/"):
        raise ValueError(f"output_uri must name a file, not a folder: {output_uri}")
    path = images.save_png(pixels, Path(current_context().working_directory) / "stylized.png")
    log.info("finalize: %dx%d PNG%s", pixels.shape[1], pixels.shape[0], f" -> {output_uri}" if output_uri else "")
    return PngFile(str(path), remote_path=output_uri) if output_uri else PngFile(str(path))


@workflow
def neural_style_transfer_wf(
    content_img: FlyteFile,
    style_img: FlyteFile,
    epochs: int = 5,
    steps_per_epoch: int = 100,
    max_dim: int = 512,
    style_weight: float = 1e-2,
    content_weight: float = 1e4,
    total_variation_weight: float = 30.0,
    output_uri: str = "",
    optimizer: str = "lbfgs",
    ema: float = 0.0,
    pyramid: bool = False,
    precision: str = "auto",
    optimize_cpu: str = OPTIMIZE_CPU,
    optimize_mem: str = OPTIMIZE_MEM,
    optimize_gpu: str = "0",
    gpu_accelerator: str = "",
) -> PngFile:
    """Stylize ``content_img`` with ``style_img``; inputs may be local paths, s3:// or https:// URIs."""
    digest = fingerprint_inputs(content_img=content_img, style_img=style_img)
    pixels = preprocess(content_img=content_img, style_img=style_img, max_dim=max_dim, input_digest=digest)
    stylized = stylize(
        content=pixels.content,
        style=pixels.style,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        style_weight=style_weight,
        content_weight=content_weight,
        total_variation_weight=total_variation_weight,
        optimizer=optimizer,
        ema=ema,
        pyramid=pyramid,
        precision=precision,
        optimize_cpu=optimize_cpu,
        optimize_mem=optimize_mem,
        optimize_gpu=optimize_gpu,
        gpu_accelerator=gpu_accelerator,
    )
    return finalize(pixels=stylized, output_uri=output_uri)


def optimize_overrides(cpu: str, mem: str, gpu: str, accelerator: str) -> dict[str, typing.Any]:
    """The ``with_overrides`` arguments for optimisation tasks; a bad quantity fails with the input's name."""
    for name, value in (("optimize_cpu", cpu), ("optimize_mem", mem), ("optimize_gpu", gpu)):
        if not _QUANTITY.match(value):
            raise ValueError(f"{name}={value!r} is not a Kubernetes quantity (e.g. '2', '500m', '3Gi')")
    wants_gpu = float(gpu) > 0
    if accelerator and not wants_gpu:
        raise ValueError(f"gpu_accelerator={accelerator!r} needs optimize_gpu of at least 1")
    resources = Resources(cpu=cpu, mem=mem, gpu=gpu) if wants_gpu else Resources(cpu=cpu, mem=mem)
    overrides: dict[str, typing.Any] = {"requests": resources, "limits": resources}
    if accelerator:
        overrides["accelerator"] = GPUAccelerator(accelerator)
    return overrides


def _uri(image: FlyteFile) -> str:
    return str(image.remote_source or image.path)


def _fetch(image: FlyteFile, role: str) -> str:
    """Download an input image; a missing one is the user's error, a failed transfer is retried."""
    uri = _uri(image)
    try:
        return image.download()
    except FlyteDataNotFoundException:
        # flytekit also reports an unreachable server as "not found"; ask the store itself which it is.
        if _is_missing(uri):
            raise images.ImageInputError(f"{role} image {uri}: not found") from None
        raise FlyteRecoverableException(f"{role} image {uri}: cannot be reached, will retry") from None
    except Exception as exc:  # flytekit wraps every transport failure in one system exception
        raise FlyteRecoverableException(f"{role} image {uri}: download failed, will retry ({exc})") from exc


def _is_missing(uri: str) -> bool:
    """True only when the store answers that nothing is at ``uri``; False when it cannot be asked."""
    store = FlyteContextManager.current_context().file_access.get_filesystem_for_path(uri)
    try:
        store.info(uri)
    except FileNotFoundError as exc:
        # fsspec's HTTP store turns every failure into FileNotFoundError; a transport error underneath means unreachable.
        return not any(isinstance(link, OSError) and not isinstance(link, FileNotFoundError) for link in _causes(exc))
    except Exception:
        return False
    return False


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    link = exc.__cause__ or exc.__context__
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    return chain
