"""Neural style transfer as a Flyte workflow.

    check_inputs -> preprocess (cached) -> stylize (@dynamic: one optimisation task per stage) -> finalize

Run it locally (offline, random weights, tiny sizes)::

    NST_VGG19_WEIGHTS=random pyflyte run workflows/neural_style_transfer.py neural_style_transfer_wf \\
        --content_img photo.jpg --style_img style.jpg --epochs 1 --steps_per_epoch 3 --max_dim 96

Every optimisation option travels as one ``StyleOptions`` (``workflows/engine/options.py``, where the defaults
live); the maths is the flytekit-free engine in ``workflows/engine/``. The tasks here only move data, checkpoint,
and show progress.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flytekit import Cache, Deck, Resources, current_context, dynamic, map_task, task, workflow
from flytekit.core.context_manager import FlyteContextManager
from flytekit.exceptions.user import FlyteDataNotFoundException, FlyteRecoverableException
from flytekit.extras.accelerators import GPUAccelerator
from flytekit.types.file import FlyteFile

from workflows import images
from workflows.engine import stages
from workflows.engine.options import (
    DEFAULTS,
    INIT_IMAGES,
    Mode,
    Optimizer,
    OptionError,
    Precision,
    PreserveColors,
    StyleOptions,
)
from workflows.engine.progress import RANDOM_WEIGHTS_WARNING, progress_html, progress_record
from workflows.engine.tiles import Tile

#: Bump when preprocessing changes what it produces, so cached pixels are not reused.
PREPROCESS_CACHE_VERSION = "1"

#: Optimisation-task CPUs (a Kubernetes quantity). Memory defaults to ``auto``: each task's request comes from
#: the memory model for its pixels (``workflows/engine/memory.py``). The workflow inputs of the same role override.
OPTIMIZE_CPU, OPTIMIZE_MEM = "2", "auto"
#: What the optimisation task declares before the dynamic sizes it (it never runs with these).
_OPTIMIZE_DEFAULT = Resources(cpu=OPTIMIZE_CPU, mem="3Gi")

if typing.TYPE_CHECKING:
    PngFile: typing.TypeAlias = FlyteFile
else:
    PngFile = FlyteFile[typing.TypeVar("png")]  # the blob format Flyte records for the output


class Pixels(typing.NamedTuple):
    content: np.ndarray
    styles: list[np.ndarray]  # style_img, then each of more_styles
    init: np.ndarray | None  # the start image at the photo's size when init_image is a URI


class Checked(typing.NamedTuple):
    options: StyleOptions
    digest: str  # every image's content hash: what the preprocessing cache keys on
    style_max_dim: int  # the long side the styles are kept at: style_scale may analyse them above max_dim


class Optimized(typing.NamedTuple):
    state: FlyteFile  # the run's state after this task's epochs (workflows/engine/chain.py RunState), for the next
    image: np.ndarray  # the image to show: the iterate, or its average with ema


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


@task(requests=Resources(cpu="250m", mem="256Mi"), limits=Resources(cpu="500m", mem="512Mi"), retries=3)
def check_inputs(
    content_img: FlyteFile,
    style_img: FlyteFile,
    epochs: int,
    steps_per_epoch: int,
    max_dim: int,
    style_weight: float,
    content_weight: float,
    total_variation_weight: float,
    optimizer: Optimizer,
    ema: float,
    pyramid: bool,
    precision: Precision,
    epochs_per_task: int,
    preserve_colors: PreserveColors,
    style_scale: float,
    more_styles: list[FlyteFile],
    style_blend_weights: list[float],
    init_image: str,
    seed: int,
    style_strength: float,
    upscale: bool,
    tile_concurrency: int,
    mode: Mode,
    output_uri: str,
    optimize_cpu: str,
    optimize_mem: str,
    optimize_gpu: str,
    gpu_accelerator: str,
) -> Checked:
    """The flat optimisation inputs become one ``StyleOptions``; it and every other input are checked first,
    before any download; then every image is hashed for the preprocessing cache key."""
    options = StyleOptions(
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        max_dim=max_dim,
        style_weight=style_weight,
        content_weight=content_weight,
        total_variation_weight=total_variation_weight,
        optimizer=optimizer.value,
        ema=ema,
        pyramid=pyramid,
        precision=precision.value,
        epochs_per_task=epochs_per_task,
        preserve_colors=preserve_colors.value,
        style_scale=style_scale,
        style_blend_weights=tuple(style_blend_weights),
        init_image=init_image,
        seed=seed,
        style_strength=style_strength,
        upscale=upscale,
        mode=mode.value,
    )
    options.blend_weights(1 + len(more_styles))
    if tile_concurrency < 0:
        raise OptionError(f"tile_concurrency={tile_concurrency}: must be 0 (no limit) or more")
    check_output_uri(output_uri)
    optimize_overrides(optimize_cpu, optimize_mem, optimize_gpu, gpu_accelerator)
    sources = _image_inputs(content_img, style_img, more_styles, init_image)
    digest = "-".join(images.file_digest(_fetch(source, role)) for source, role in sources)
    style_max_dim = min(images.MAX_DIM_RANGE[1], max(max_dim, options.style_long_side(max_dim)))
    return Checked(options=options, digest=digest, style_max_dim=style_max_dim)


@task(
    cache=Cache(version=PREPROCESS_CACHE_VERSION, ignored_inputs=("content_img", "style_img", "more_styles")),
    retries=3,
    requests=Resources(cpu="1", mem="1Gi"),
    limits=Resources(cpu="1", mem="2Gi"),
)
def preprocess(
    content_img: FlyteFile,
    style_img: FlyteFile,
    more_styles: list[FlyteFile],
    max_dim: int,
    style_max_dim: int,
    init_image: str,
    upscale: bool,
    input_digest: str,
) -> Pixels:
    """Decode, orient, convert to sRGB and resize every image; a bad image fails here, once, with its reason."""
    log.info("preprocess: content at max_dim=%d, styles at %d", max_dim, style_max_dim)
    images.validate_max_dim(max_dim)
    sources = _image_inputs(content_img, style_img, more_styles, init_image)
    loaded = [
        images.load_rgb(
            _fetch(source, role),
            role=role,
            max_dim=style_max_dim if role.startswith("style") else max_dim,
            source=_uri(source),
            upscale=upscale or role != "content",  # a style or init image may be resized up, the photo only if asked
        )
        for source, role in sources
    ]
    content, styles = loaded[0], loaded[1 : 2 + len(more_styles)]
    init = None
    if len(loaded) > len(styles) + 1:  # an init image, brought to the photo's exact size
        init = images.resize_to(loaded[-1], content.shape[0], content.shape[1])
    log.info(
        "preprocess: content %dx%d, %d style(s)%s",
        content.shape[1],
        content.shape[0],
        len(styles),
        ", an init image" if init is not None else "",
    )
    return Pixels(content=content, styles=styles, init=init)


@task(
    requests=Resources(cpu="1", mem="2Gi"),
    limits=Resources(cpu="1", mem="2Gi"),
    retries=2,
    enable_deck=True,
    deck_fields=(),
)
def preview(content: np.ndarray, styles: list[np.ndarray], options: StyleOptions, output_uri: str) -> np.ndarray | None:
    """The feed-forward preview (``workflows/preview.py``): within seconds of the start, in the "Preview" Deck
    and, with ``output_uri``, as ``<output_uri>.preview.png`` with a progress record. It is the result under
    ``mode="preview"`` and the start under ``init_image="preview"``; otherwise a preview that cannot be made
    (``NST_PREVIEW_MODEL=off``) is skipped, and None is returned."""
    from workflows import preview as feed_forward

    needed = options.mode == "preview" or options.init_image == "preview"
    began = time.perf_counter()
    try:
        model = feed_forward.get_model()
        image = model.stylize(content, styles[0])
        distances = {
            "photo": model.style_distance(content, styles[0]),
            "preview": model.style_distance(image, styles[0]),
        }
    except feed_forward.PreviewUnavailable as exc:
        if needed:
            raise OptionError(
                f"mode={options.mode!r}, init_image={options.init_image!r} need the preview: {exc}"
            ) from None
        log.info("no preview: %s", exc)
        return None
    seconds = time.perf_counter() - began
    log.info(
        "preview: %dx%d in %.2f s; style distance %.2f (the photo: %.2f)",
        image.shape[1],
        image.shape[0],
        seconds,
        distances["preview"],
        distances["photo"],
    )
    settings = {
        "style distance of the preview": f"{distances['preview']:.2f}",
        "style distance of the photo": f"{distances['photo']:.2f}",
    }
    page = progress_html(image, [], title="Feed-forward preview (Magenta arbitrary stylization)", settings=settings)
    Deck("Preview", page)
    if output_uri:
        record = {
            **progress_record(epoch=0, epochs=options.epochs, steps=0, loss=None, seconds=seconds, weights="preview"),
            "stage": "preview",
            "done": options.mode == "preview",
        }
        _write_beside(output_uri, ".preview.png", images.encode_png(image))
        _write_beside(output_uri, ".progress.json", json.dumps(record).encode())
    return image


@task(requests=_OPTIMIZE_DEFAULT, limits=_OPTIMIZE_DEFAULT, retries=2, enable_deck=True, deck_fields=())
def optimize(
    content: np.ndarray,
    styles: list[np.ndarray],
    init: np.ndarray | None,
    options: StyleOptions,
    first_epoch: int,
    stop_epoch: int,
    resume: FlyteFile | None,
    output_uri: str,
) -> Optimized:
    """Epochs ``first_epoch`` up to ``stop_epoch`` of the run, continuing from ``resume`` (the previous task's
    state; none for the first task). After every epoch: an intratask checkpoint (a retry resumes from the last
    finished epoch), the Progress Deck, published while the task runs, and with ``output_uri`` a progress record
    and preview beside it."""
    from workflows.engine.chain import RunState, result_image  # TensorFlow loads only in the tasks that need it

    if resume is not None:
        start = RunState.from_bytes(Path(resume.download()).read_bytes())
    else:
        start = RunState.start(content, options, init)
    state = _run_task_epochs(content, styles, options, start, first_epoch, stop_epoch, output_uri)
    path = Path(current_context().working_directory) / "run-state.npz"
    path.write_bytes(state.to_bytes())
    return Optimized(state=FlyteFile(str(path)), image=result_image(content, options, state))


@task(requests=Resources(cpu=OPTIMIZE_CPU, mem="3Gi"), limits=Resources(cpu=OPTIMIZE_CPU, mem="3Gi"), retries=2)
def style_targets(content: np.ndarray, styles: list[np.ndarray], options: StyleOptions, long_side: int) -> FlyteFile:
    """The style layers' Gram targets for a tiled result, computed once at its full scale (``style_scale`` times
    its long side) in bounded memory, and shared by every tile."""
    from workflows.engine import pyramid
    from workflows.engine.colors import match_color_statistics
    from workflows.engine.resample import resize
    from workflows.engine.transfer import gram_targets

    side = options.style_long_side(long_side)
    resized = [resize(style, pyramid.shape_for(style.shape, side)) for style in styles]
    if options.preserve_colors == "histogram":
        resized = [match_color_statistics(style, content) for style in resized]
    grams = gram_targets(resized, options, precision="float32")
    path = Path(current_context().working_directory) / "style-targets.npz"
    np.savez(path, *grams)
    log.info("style targets for %d style(s) at a long side of %d px", len(styles), side)
    return FlyteFile(str(path))


@dataclass(frozen=True)
class TileJob:
    """One tile of the full-size stage: its box, its own crop of the photo and of the upsampled coarse result
    (``pixels``: an npz with ``content`` and ``start``), the shared style targets, and the run's options."""

    tile: Tile
    pixels: FlyteFile
    targets: FlyteFile
    options: StyleOptions


@task(requests=Resources(cpu="1", mem="2Gi"), limits=Resources(cpu="1", mem="3Gi"), retries=2)
def cut_tiles(
    content: np.ndarray, coarse: np.ndarray, tiles: list[Tile], targets: FlyteFile, options: StyleOptions
) -> list[TileJob]:
    """Upsample the coarse result to full size and cut it and the photo into the tiles' own files, so each tile
    task downloads only its pixels."""
    from workflows.engine.resample import resize

    start = resize(coarse, (content.shape[0], content.shape[1]))
    folder = Path(current_context().working_directory)
    jobs = []
    for tile in tiles:
        path = folder / f"{tile.name}.npz"
        np.savez(path, content=tile.crop(content), start=tile.crop(start))
        jobs.append(TileJob(tile=tile, pixels=FlyteFile(str(path)), targets=targets, options=options))
    return jobs


@task(requests=_OPTIMIZE_DEFAULT, limits=_OPTIMIZE_DEFAULT, retries=2, enable_deck=True, deck_fields=())
def optimize_tile(job: TileJob) -> FlyteFile:
    """One tile's whole schedule at full size, from the coarse result, against the shared style targets; it
    checkpoints after every epoch like ``optimize``, so a retried tile resumes. A failure names the tile."""
    from workflows.engine.chain import RunState, result_image

    tile = job.tile
    where = f"{tile.name} (rows {tile.top}-{tile.top + tile.height}, columns {tile.left}-{tile.left + tile.width})"
    try:
        with np.load(job.pixels.download()) as arrays:
            content, start = arrays["content"], arrays["start"]
        with np.load(job.targets.download()) as saved:
            targets = [saved[f"arr_{k}"] for k in range(len(saved.files))]
        options = stages.tile_options(job.options)
        log.info("%s: %dx%d px", where, tile.width, tile.height)
        state = _run_task_epochs(
            content, [], options, RunState(0, start), 0, options.epochs, "", style_targets=targets, title=tile.name
        )
        path = Path(current_context().working_directory) / f"{tile.name}.npy"
        np.save(path, result_image(content, options, state))
    except Exception as exc:
        raise RuntimeError(f"{where}: {exc}") from exc
    return FlyteFile(str(path))


@task(requests=Resources(cpu="1", mem="2Gi"), limits=Resources(cpu="1", mem="3Gi"), retries=2)
def blend_tiles(results: list[FlyteFile], tiles: list[Tile], height: int, width: int) -> np.ndarray:
    """The full-size result: every tile's pixels, feathered across the overlaps (no tile may be missing)."""
    from workflows.engine.tiles import blend

    images_ = [np.load(result.download()) for result in results]
    return blend((height, width), tiles, images_)


@dynamic(requests=Resources(cpu="500m", mem="2Gi"), limits=Resources(cpu="500m", mem="2Gi"), retries=1)
def stylize(
    content: np.ndarray,
    styles: list[np.ndarray],
    init: np.ndarray | None,
    preview_image: np.ndarray | None,
    options: StyleOptions,
    output_uri: str,
    optimize_cpu: str,
    optimize_mem: str,
    optimize_gpu: str,
    gpu_accelerator: str,
    tile_concurrency: int,
) -> np.ndarray:
    """Plan the run's stages (``workflows/engine/stages.py``) and chain one optimisation task per stage (or per
    ``epochs_per_task`` epochs), each sized for its pixels unless the resource inputs say otherwise."""
    if options.mode == "preview":  # the feed-forward result is the result
        assert preview_image is not None  # the preview task refuses to return None when it is needed
        return preview_image
    if options.init_image == "preview":
        init = preview_image
    plan = stages.plan((content.shape[0], content.shape[1]), options)
    whole, whole_init = content, init
    if plan.tiled:  # the coarse stage works on the whole image at the largest size one task holds
        whole = images.resize_to(content, *plan.whole_hw)
        whole_init = None if init is None else images.resize_to(init, *plan.whole_hw)
    resume: typing.Any = None
    result: typing.Any = None
    for part in plan.whole:
        result = optimize(
            content=whole,
            styles=styles,
            init=whole_init,
            options=options,
            first_epoch=part.first_epoch,
            stop_epoch=part.stop_epoch,
            resume=resume,
            output_uri=output_uri,
        ).with_overrides(
            node_name=part.node_name,
            **_resources(part.memory, optimize_cpu, optimize_mem, optimize_gpu, gpu_accelerator),
        )
        resume = result.state
    if not plan.tiled:
        return result.image
    targets = style_targets(content=whole, styles=styles, options=options, long_side=max(plan.full_hw))
    jobs = cut_tiles(content=content, coarse=result.image, tiles=plan.tiles, targets=targets, options=options)
    tiles = map_task(optimize_tile, concurrency=tile_concurrency or None)(job=jobs).with_overrides(
        node_name="tiles", **_resources(plan.tile_memory, optimize_cpu, optimize_mem, optimize_gpu, gpu_accelerator)
    )
    return blend_tiles(results=tiles, tiles=plan.tiles, height=plan.full_hw[0], width=plan.full_hw[1])


def _resources(planned: str, cpu: str, mem: str, gpu: str, accelerator: str) -> dict[str, typing.Any]:
    """A task's overrides: the planned memory unless ``optimize_mem`` names a quantity."""
    return optimize_overrides(cpu, planned if mem == "auto" else mem, gpu, accelerator)


@task(requests=Resources(cpu="500m", mem="512Mi"), limits=Resources(cpu="500m", mem="1Gi"), retries=3)
def finalize(pixels: np.ndarray, output_uri: str) -> PngFile:
    """Encode the 8-bit sRGB PNG; with ``output_uri`` it is uploaded exactly there (s3:// or a local path).

    A local ``output_uri`` is written under a temporary name and renamed into place, so a kill never leaves a
    partial PNG there; an upload to S3 is atomic by itself."""
    from workflows.engine.features import weights_from_env

    check_output_uri(output_uri)
    notes = {"Software": "neural style transfer on Flyte"}
    if weights_from_env().kind == "random":
        notes["Comment"] = RANDOM_WEIGHTS_WARNING
    data = images.encode_png(pixels, text=notes)
    log.info("finalize: %dx%d PNG%s", pixels.shape[1], pixels.shape[0], f" -> {output_uri}" if output_uri else "")
    deck = latest_local_deck()
    if deck is not None:  # a local run: nothing else says where flytekit put the Decks
        log.info("Progress Deck of this run: file://%s (open it in a browser)", deck)
    if output_uri and "://" not in output_uri:
        return PngFile(str(_write_atomically(Path(output_uri), data)))
    path = Path(current_context().working_directory) / "stylized.png"
    path.write_bytes(data)
    return PngFile(str(path), remote_path=output_uri) if output_uri else PngFile(str(path))


@workflow
def neural_style_transfer_wf(
    content_img: FlyteFile,
    style_img: FlyteFile,
    epochs: int = DEFAULTS.epochs,
    steps_per_epoch: int = DEFAULTS.steps_per_epoch,
    max_dim: int = DEFAULTS.max_dim,
    style_weight: float = DEFAULTS.style_weight,
    content_weight: float = DEFAULTS.content_weight,
    total_variation_weight: float = DEFAULTS.total_variation_weight,
    output_uri: str = "",
    optimizer: Optimizer = Optimizer(DEFAULTS.optimizer),
    ema: float = DEFAULTS.ema,
    pyramid: bool = DEFAULTS.pyramid,
    precision: Precision = Precision(DEFAULTS.precision),
    epochs_per_task: int = DEFAULTS.epochs_per_task,
    preserve_colors: PreserveColors = PreserveColors(DEFAULTS.preserve_colors),
    style_scale: float = DEFAULTS.style_scale,
    more_styles: list[FlyteFile] = [],  # noqa: B006  (flytekit stores the default as a literal; never mutated)
    style_blend_weights: list[float] = [],  # noqa: B006
    init_image: str = DEFAULTS.init_image,
    seed: int = DEFAULTS.seed,
    style_strength: float = DEFAULTS.style_strength,
    upscale: bool = DEFAULTS.upscale,
    tile_concurrency: int = 0,
    mode: Mode = Mode(DEFAULTS.mode),
    optimize_cpu: str = OPTIMIZE_CPU,
    optimize_mem: str = OPTIMIZE_MEM,
    optimize_gpu: str = "0",
    gpu_accelerator: str = "",
) -> PngFile:
    """Stylize ``content_img`` with ``style_img``; inputs may be local paths, s3:// or https:// URIs.

    The optimisation inputs are documented on ``StyleOptions`` (workflows/engine/options.py)."""
    checked = check_inputs(
        content_img=content_img,
        style_img=style_img,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        max_dim=max_dim,
        style_weight=style_weight,
        content_weight=content_weight,
        total_variation_weight=total_variation_weight,
        optimizer=optimizer,
        ema=ema,
        pyramid=pyramid,
        precision=precision,
        epochs_per_task=epochs_per_task,
        preserve_colors=preserve_colors,
        style_scale=style_scale,
        more_styles=more_styles,
        style_blend_weights=style_blend_weights,
        init_image=init_image,
        seed=seed,
        style_strength=style_strength,
        upscale=upscale,
        tile_concurrency=tile_concurrency,
        mode=mode,
        output_uri=output_uri,
        optimize_cpu=optimize_cpu,
        optimize_mem=optimize_mem,
        optimize_gpu=optimize_gpu,
        gpu_accelerator=gpu_accelerator,
    )
    pixels = preprocess(
        content_img=content_img,
        style_img=style_img,
        more_styles=more_styles,
        max_dim=max_dim,
        style_max_dim=checked.style_max_dim,
        init_image=init_image,
        upscale=upscale,
        input_digest=checked.digest,
    )
    quick = preview(content=pixels.content, styles=pixels.styles, options=checked.options, output_uri=output_uri)
    stylized = stylize(
        content=pixels.content,
        styles=pixels.styles,
        init=pixels.init,
        preview_image=quick,
        options=checked.options,
        output_uri=output_uri,
        optimize_cpu=optimize_cpu,
        optimize_mem=optimize_mem,
        optimize_gpu=optimize_gpu,
        gpu_accelerator=gpu_accelerator,
        tile_concurrency=tile_concurrency,
    )
    return finalize(pixels=stylized, output_uri=output_uri)


# --- helpers -----------------------------------------------------------------------------------------------


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


def _run_task_epochs(
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
    from workflows.engine.features import weights_from_env

    checkpoint = _checkpoint_of(current_context())
    state = _restored(checkpoint, first_epoch, stop_epoch) or start
    if not first_epoch <= state.epochs_done <= stop_epoch:
        raise ValueError(
            f"the state handed over is after {state.epochs_done} epochs, this task starts at {first_epoch}"
        )
    progress = _Progress(
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
            checkpoint.write(done.state.to_bytes())
        progress.epoch_done(done)

    return run_epochs(
        content, styles, options, state, stop_epoch, on_epoch=on_epoch, on_step=on_step, style_targets=style_targets
    )


class _Progress:
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
        page = progress_html(
            shown,
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
            self._write_beside_output(".preview.png", images.encode_png(shown))
            self._write_beside_output(".progress.json", json.dumps(record).encode())

    def _style_distance(self, image: np.ndarray) -> dict[str, str]:
        """The trained yardstick (``workflows/preview.py``): how far the image's style is from the style image's,
        independent of VGG19 (so it shows honestly whether random weights stylized anything)."""
        if self.style is None:
            return {}
        from workflows import preview as feed_forward

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

    def _write_beside_output(self, suffix: str, data: bytes) -> None:
        _write_beside(self.output_uri, suffix, data)


def _write_beside(output_uri: str, suffix: str, data: bytes) -> None:
    """Overwrite ``output_uri + suffix`` (a progress record or preview); a failure is logged, never fatal."""
    target = output_uri + suffix
    try:
        if "://" not in target:
            _write_atomically(Path(target), data)
        else:
            store = FlyteContextManager.current_context().file_access.get_filesystem_for_path(target)
            store.pipe_file(target, data)
    except Exception as exc:
        log.warning("could not write %s: %s", target, exc)


def _checkpoint_of(context: typing.Any) -> typing.Any:
    try:
        return context.checkpoint
    except NotImplementedError:  # a platform without intratask checkpoints
        return None


def _restored(checkpoint: typing.Any, first_epoch: int, stop_epoch: int) -> typing.Any:
    """The state a previous attempt of this task checkpointed, if it is usable here; else None."""
    from workflows.engine.chain import RunState

    if checkpoint is None:
        return None
    try:
        data = checkpoint.read()
    except Exception as exc:  # nothing was written, or the store cannot be read: start from the hand-off
        log.warning("no usable checkpoint (%s); starting this task from its input", exc)
        return None
    if not data:
        return None
    state = RunState.from_bytes(data)
    if not first_epoch <= state.epochs_done <= stop_epoch:
        log.warning(
            "ignoring a checkpoint after %d epochs: this task runs %d..%d", state.epochs_done, first_epoch, stop_epoch
        )
        return None
    log.info("resuming from the checkpoint after epoch %d of %d", state.epochs_done, stop_epoch)
    return state


def _write_atomically(path: Path, data: bytes) -> Path:
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


def _image_inputs(
    content_img: FlyteFile, style_img: FlyteFile, more_styles: list[FlyteFile], init_image: str
) -> list[tuple[FlyteFile | str, str]]:
    """Every image a run reads, with the role its error messages name: the photo, the styles, the init image."""
    sources: list[tuple[FlyteFile | str, str]] = [(content_img, "content"), (style_img, "style")]
    sources += [(image, f"style {index + 2} (more_styles[{index}])") for index, image in enumerate(more_styles)]
    if init_image not in INIT_IMAGES:
        sources.append((init_image, "init"))
    return sources


def _uri(image: FlyteFile | str) -> str:
    return image if isinstance(image, str) else str(image.remote_source or image.path)


def _fetch(image: FlyteFile | str, role: str) -> str:
    """Download an input image (a FlyteFile input, or a URI or local path given as a string); a missing one is the
    user's error, a failed transfer is retried."""
    uri = _uri(image)
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
