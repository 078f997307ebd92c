"""Neural style transfer as a Flyte workflow.

    check_inputs -> preprocess (cached) -> preview -> optimize_stages (@dynamic) -> finalize
                                                        |
                        one optimisation task per stage, or (too big for one task) a coarse stage,
                        then tiles fanned out with map_task and blended (tile_tasks.py)

Run it locally (offline, random weights, tiny sizes)::

    NST_VGG19_WEIGHTS=random pyflyte run workflows/neural_style_transfer.py neural_style_transfer_wf \\
        --content_img photo.jpg --style_img style.jpg --epochs 1 --steps_per_epoch 3 --max_dim 96

Every optimisation option travels as one ``StyleOptions`` (``workflows/engine/options.py``, where the defaults
live); the maths is the flytekit-free engine in ``workflows/engine/``. The tasks here only move data, checkpoint,
and show progress, with what they share in modules of one concern each (``input_files``, ``output_files``,
``checkpoints``, ``progress_records``, ``task_epochs``, ``task_resources``); the inputs are ``option_inputs.py``.
"""

from __future__ import annotations

import os
import time
import typing
from pathlib import Path

import numpy as np
from flytekit import Cache, Resources, current_context, dynamic, map_task, task, workflow
from flytekit.types.file import FlyteFile

from workflows import images
from workflows.engine import memory, stages
from workflows.engine.options import OptionError, StyleOptions, style_held_side
from workflows.engine.progress_view import PREVIEW, made_by, progress_html, progress_record
from workflows.engine.regions import StyleRegions
from workflows.failure_records import record_failure
from workflows.input_files import (
    INIT_ROLE,
    InputPolicy,
    check_source,
    fetch,
    image_inputs,
    mask_inputs,
    uri_of,
)
from workflows.option_inputs import STYLE_TRANSFER_INPUTS, options_from_inputs, shown_summary, takes_inputs
from workflows.output_files import ResultFile, check_output_uri, write_atomically
from workflows.progress_records import ProgressPublisher, latest_local_deck
from workflows.result_formats import PhotoMetadata, carried_profile, read_photo_metadata
from workflows.task_epochs import run_task_epochs
from workflows.task_log import log
from workflows.task_resources import OPTIMIZE_DEFAULT, optimize_overrides, planned_overrides
from workflows.tile_tasks import blend_tiles, cut_tiles, optimize_tile, style_targets

#: Bump when preprocessing changes what it produces, so cached pixels are not reused.
PREPROCESS_CACHE_VERSION = "4"


class Pixels(typing.NamedTuple):
    content: np.ndarray
    styles: list[np.ndarray]  # style_img, then each of more_styles
    init: np.ndarray | None  # the start image at the photo's size when init_image is a URI
    style_masks: list[np.ndarray]  # one (H, W) mask per style at the photo's size, or none
    preserve: np.ndarray | None  # the content-protect mask (H, W) at the photo's size
    photo: PhotoMetadata  # what the result keeps of the photo file: its ICC profile and EXIF


class Checked(typing.NamedTuple):
    options: StyleOptions
    digest: str  # every image's content hash: what the preprocessing cache keys on


class Optimized(typing.NamedTuple):
    state: FlyteFile  # the run's state after this task's epochs (workflows/engine/chain.py RunState), for the next
    image: np.ndarray  # the image to show: the iterate, or its average with ema


@task(requests=Resources(cpu="250m", mem="256Mi"), limits=Resources(cpu="500m", mem="512Mi"), retries=3)
@takes_inputs(STYLE_TRANSFER_INPUTS)
def check_inputs(**inputs: typing.Any) -> Checked:
    """The workflow's inputs, the optimisation options among them as one ``StyleOptions``, checked first,
    before any download; then every image is hashed for the preprocessing cache key."""
    options = options_from_inputs(inputs)
    more_styles, style_masks = inputs["more_styles"], inputs["style_masks"]
    options.blend_weights(1 + len(more_styles))
    check_mask_count(len(style_masks), 1 + len(more_styles), options)
    if inputs["tile_concurrency"] < 0:
        raise OptionError(f"tile_concurrency={inputs['tile_concurrency']}: must be 0 (no limit) or more")
    check_output_uri(inputs["output_uri"], options.output_format)
    optimize_overrides(
        inputs["optimize_cpu"], inputs["optimize_mem"], inputs["optimize_gpu"], inputs["gpu_accelerator"]
    )
    sources = image_inputs(inputs["content_img"], inputs["style_img"], more_styles, options.init_image)
    masks = mask_inputs(style_masks, inputs.get("preserve_mask"))
    policy = InputPolicy.from_env()
    for source, role in [*sources, *masks]:  # every input allowed before any is downloaded
        check_source(uri_of(source), role, policy)
    paths = [fetch(source, role) for source, role in sources]
    mask_paths = [fetch(source, role) for source, role in masks]
    width, height = images.held_size(paths[0], options.max_dim, inputs["upscale"])
    if width * height:  # else not a file Pillow opens: preprocessing refuses it with its reason, in one line
        check_memory((height, width), paths, [role for _, role in sources], options, len(masks))
        check_masks((height, width), mask_paths, masks)
    digest = "-".join(images.file_digest(path) for path in [*paths, *mask_paths])
    return Checked(options=options, digest=digest)


def check_mask_count(masks: int, styles: int, options: StyleOptions) -> None:
    """Style masks come one per style, and replace the blend: each style has its own region."""
    if masks and masks != styles:
        raise OptionError(
            f"style_masks: {masks} mask(s) for {styles} style(s) (style_img, then each of more_styles): give one "
            "mask per style"
        )
    if masks and options.style_blend_weights:
        raise OptionError(
            f"style_blend_weights={list(options.style_blend_weights)}: with style_masks each style has a region of "
            "its own instead of a blend; leave the weights out"
        )


def check_masks(photo_hw: tuple[int, int], paths: list[str], masks: list[tuple[FlyteFile, str]]) -> None:
    """Every mask must be an image of the aspect ratio of the photo, held at ``photo_hw`` (read from the headers; an
    all-black mask is refused when preprocessing decodes it)."""
    for path, (source, role) in zip(paths, masks):
        problem = images.mask_problem(path, role, photo_hw, uri_of(source))
        if problem:
            raise images.ImageInputError(problem)


def check_memory(
    photo_hw: tuple[int, int], paths: list[str], roles: list[str], options: StyleOptions, masks: int = 0
) -> None:
    """Every image at the size preprocessing will keep it (read from the files' headers; the photo's, ``photo_hw``,
    already read), counted by the memory model against the tasks that hold them all and against one optimisation
    task: a run that cannot fit is refused now, naming ``more_styles`` and how many fit."""
    height, width = photo_hw
    side = style_held_side(max(width, height), options.style_scale)
    styles = tuple(
        w * h
        for (w, h), role in ((images.held_size(p, side), r) for p, r in zip(paths[1:], roles[1:]))
        if role != INIT_ROLE
    )
    held = memory.HeldImages(width * height, styles, width * height if INIT_ROLE in roles else 0, masks)
    stages.check_run_fits((height, width), options, held, INIT_ROLE in roles or options.init_image == "preview")


@task(
    cache=Cache(
        version=PREPROCESS_CACHE_VERSION,
        ignored_inputs=("content_img", "style_img", "more_styles", "style_masks", "preserve_mask"),
    ),
    retries=3,
    requests=Resources(cpu="1", mem=memory.quantity(memory.HOLDING_LIMITS["preprocess"])),
    limits=Resources(cpu="1", mem=memory.quantity(memory.HOLDING_LIMITS["preprocess"])),
)
def preprocess(
    content_img: FlyteFile,
    style_img: FlyteFile,
    more_styles: list[FlyteFile],
    max_dim: int,
    style_scale: float,
    init_image: str,
    upscale: bool,
    input_digest: str,
    style_masks: list[FlyteFile] | None = None,
    preserve_mask: FlyteFile | None = None,
) -> Pixels:
    """Decode, orient, convert to sRGB and resize every image; a bad image fails here, once, with its reason. The
    styles are kept at their analysis size for the photo as decoded (``style_scale`` times its long side), the
    masks at the photo's size."""
    images.validate_max_dim(max_dim)
    (content_source, _), *others = image_inputs(content_img, style_img, more_styles, init_image)
    # the photo is resized up only if asked; a style or init image may be
    content_path = fetch(content_source, "content")
    content = images.load_rgb(
        content_path,
        role="content",
        max_dim=max_dim,
        source=uri_of(content_source),
        upscale=upscale,
    )
    style_side = style_held_side(max(content.shape[:2]), style_scale)
    log.info("preprocess: content %dx%d, styles at a long side of %d", content.shape[1], content.shape[0], style_side)
    styles: list[np.ndarray] = []
    init = None
    for source, role in others:
        path = fetch(source, role)
        if role == INIT_ROLE:  # brought to the photo's exact size, whatever its own aspect ratio (as documented)
            init = images.load_rgb(path, role=role, max_dim=max_dim, source=uri_of(source), size=content.shape[:2])
        else:
            styles.append(images.load_rgb(path, role=role, max_dim=style_side, source=uri_of(source)))
    masks = [
        images.load_mask(fetch(source, role), role=role, size=content.shape[:2], source=uri_of(source))
        for source, role in mask_inputs(style_masks or [], preserve_mask)
    ]
    preserve = masks.pop() if preserve_mask is not None else None
    log.info(
        "preprocess: content %dx%d, %d style(s)%s%s%s",
        content.shape[1],
        content.shape[0],
        len(styles),
        ", an init image" if init is not None else "",
        f", {len(masks)} style mask(s)" if masks else "",
        ", a preserve mask" if preserve is not None else "",
    )
    photo = read_photo_metadata(content_path)
    return Pixels(content=content, styles=styles, init=init, style_masks=masks, preserve=preserve, photo=photo)


@task(
    requests=Resources(cpu="1", mem=memory.quantity(memory.HOLDING_LIMITS["preview"])),
    limits=Resources(cpu="1", mem=memory.quantity(memory.HOLDING_LIMITS["preview"])),
    retries=2,
    enable_deck=True,
    deck_fields=(),
)
def preview(
    content: np.ndarray,
    styles: list[np.ndarray],
    options: StyleOptions,
    output_uri: str,
    style_masks: list[np.ndarray] | None = None,
    preserve: np.ndarray | None = None,
) -> np.ndarray | None:
    """The feed-forward preview (``workflows/engine/networks/arbitrary_stylization.py``): within seconds of the start, in the "Preview" Deck
    and, with ``output_uri``, as ``<output_uri>.preview.png`` with a progress record. It is the result under
    ``mode="preview"`` and the start under ``init_image="preview"``; otherwise a preview that cannot be made
    (``NST_PREVIEW_MODEL=off``) is skipped, and None is returned."""
    from workflows.engine.networks import arbitrary_stylization as feed_forward
    from workflows.engine.preview_result import preview_result

    needed = options.mode == "preview" or options.init_image == "preview"
    began = time.perf_counter()
    try:
        model = feed_forward.get_model()
        image = preview_result(model, content, styles, options, StyleRegions.of(style_masks, preserve))
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
    png = images.encode_png(image)  # the Deck's and, with output_uri, the preview file's
    page = progress_html(png, [], title="Feed-forward preview (Magenta arbitrary stylization)", settings=settings)
    record = {
        **progress_record(
            epoch=0,
            epochs=options.epochs,
            steps=0,
            loss=None,
            seconds=seconds,
            weights="trained feed-forward network",
        ),
        "state": PREVIEW,
        "stage": "preview",
        "done": options.mode == "preview",
    }
    ProgressPublisher("Preview", output_uri).publish(page, png, record)
    return image


@task(requests=OPTIMIZE_DEFAULT, limits=OPTIMIZE_DEFAULT, retries=2, enable_deck=True, deck_fields=())
def optimize(
    content: np.ndarray,
    styles: list[np.ndarray],
    init: np.ndarray | None,
    options: StyleOptions,
    first_epoch: int,
    stop_epoch: int,
    resume: FlyteFile | None,
    output_uri: str,
    style_masks: list[np.ndarray] | None = None,
    preserve: np.ndarray | None = None,
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
    regions = StyleRegions.of(style_masks, preserve)
    state = run_task_epochs(content, styles, options, start, first_epoch, stop_epoch, output_uri, regions=regions)
    path = Path(current_context().working_directory) / "run-state.npz"
    state.to_keep(options.epochs).write(path)
    return Optimized(state=FlyteFile(str(path)), image=result_image(content, options, state))


@dynamic(requests=Resources(cpu="500m", mem="2Gi"), limits=Resources(cpu="500m", mem="2Gi"), retries=1)
def optimize_stages(
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
    style_masks: list[np.ndarray],
    preserve: np.ndarray | None,
) -> np.ndarray:
    """Plan the run's stages (``workflows/engine/stages.py``) and chain one optimisation task per stage (or per
    ``epochs_per_task`` epochs), each sized for its pixels unless the resource inputs say otherwise."""
    if options.mode == "preview":  # the feed-forward result is the result
        assert preview_image is not None  # the preview task refuses to return None when it is needed
        return preview_image
    if options.init_image == "preview":
        init = preview_image
    held_styles = tuple(style.shape[0] * style.shape[1] for style in styles)
    masks = len(style_masks) + (preserve is not None)
    plan = stages.plan((content.shape[0], content.shape[1]), options, held_styles, init is not None, masks=masks)
    whole, whole_init, whole_masks, whole_preserve = content, init, style_masks, preserve
    if plan.tiled:  # the coarse stage works on the whole image at the largest size one task holds
        whole = images.resize_to(content, *plan.whole_hw)
        whole_init = None if init is None else images.resize_to(init, *plan.whole_hw)
        coarse_regions = StyleRegions.of(style_masks, preserve).resized(plan.whole_hw)
        whole_masks = [] if coarse_regions.style_masks is None else list(coarse_regions.style_masks)
        whole_preserve = coarse_regions.preserve
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
            style_masks=whole_masks,
            preserve=whole_preserve,
        ).with_overrides(
            node_name=part.node_name,
            **planned_overrides(part.memory, optimize_cpu, optimize_mem, optimize_gpu, gpu_accelerator),
        )
        resume = result.state
    if not plan.tiled:
        return result.image
    targets = style_targets(
        content=whole, styles=styles, options=options, long_side=max(plan.full_hw), per_style=bool(style_masks)
    )
    jobs = cut_tiles(
        content=content,
        coarse=result.image,
        tiles=plan.tiles,
        targets=targets,
        options=options,
        style_masks=style_masks,
        preserve=preserve,
    )
    tiles = map_task(optimize_tile, concurrency=tile_concurrency or None)(job=jobs).with_overrides(
        node_name="tiles",
        **planned_overrides(plan.tile_memory, optimize_cpu, optimize_mem, optimize_gpu, gpu_accelerator),
    )
    return blend_tiles(
        results=tiles, tiles=plan.tiles, height=plan.full_hw[0], width=plan.full_hw[1], overlap=plan.overlap
    )


#: The largest result (4096 x 4096) encoded in any format peaked at 1.41 GiB (16-bit; 1.32 GiB for png8) in a local
#: execution, which holds the caller's and flytekit's copies of the pixels besides the task's own: the request is
#: the limit, with room above that.
_FINALIZE = Resources(cpu="500m", mem="2Gi")


@task(requests=_FINALIZE, limits=_FINALIZE, retries=3)
def finalize(pixels: np.ndarray, options: StyleOptions, output_uri: str, photo: PhotoMetadata) -> ResultFile:
    """Encode the result in ``options.output_format`` (``workflows/result_formats.py``) with the photo's EXIF and
    colour profile, its comment saying what made it unless that is the production network's optimisation; with
    ``output_uri`` it is uploaded exactly there (s3:// or a local path).

    A local ``output_uri`` is written under a temporary name and renamed into place, so a kill never leaves a
    partial file there; an upload to S3 is atomic by itself."""
    from workflows.engine.networks.vgg_features import weights_from_env
    from workflows.result_formats import EXTENSIONS, encode_result

    check_output_uri(output_uri, options.output_format)
    notes = {"Software": "neural style transfer on Flyte"}
    comment = made_by(options.mode, weights_from_env(network=options.network).kind)
    if comment:
        notes["Comment"] = comment
    data = encode_result(pixels, options.output_format, photo, options.keep_gps, options.jpeg_quality, text=notes)
    log.info(
        "finalize: %dx%d %s (%s)%s",
        pixels.shape[1],
        pixels.shape[0],
        options.output_format,
        carried_profile(options.output_format, photo),
        f" -> {output_uri}" if output_uri else "",
    )
    deck = latest_local_deck()
    if deck is not None and os.environ.get("NST_PRINT_LOCAL_DECK", "1") != "0":  # nothing else says where it is
        log.info("Progress Deck of this run: file://%s (open it in a browser)", deck)
    if output_uri and "://" not in output_uri:
        return ResultFile(str(write_atomically(Path(output_uri), data)))
    path = Path(current_context().working_directory) / f"stylized{EXTENSIONS[options.output_format]}"
    path.write_bytes(data)
    return ResultFile(str(path), remote_path=output_uri) if output_uri else ResultFile(str(path))


@workflow(on_failure=record_failure)
@takes_inputs(STYLE_TRANSFER_INPUTS)
def neural_style_transfer_wf(**inputs: typing.Any) -> ResultFile:
    """Stylize ``content_img`` with ``style_img``; inputs are s3:// URIs, https:// where
    enabled, or local paths in a local run (``workflows/input_files.py``)."""
    checked = check_inputs(**inputs)
    pixels = preprocess(
        content_img=inputs["content_img"],
        style_img=inputs["style_img"],
        more_styles=inputs["more_styles"],
        max_dim=inputs["max_dim"],
        style_scale=inputs["style_scale"],
        init_image=inputs["init_image"],
        upscale=inputs["upscale"],
        input_digest=checked.digest,
        style_masks=inputs["style_masks"],
        preserve_mask=inputs.get("preserve_mask"),
    )
    output_uri = inputs["output_uri"]
    quick = preview(
        content=pixels.content,
        styles=pixels.styles,
        options=checked.options,
        output_uri=output_uri,
        style_masks=pixels.style_masks,
        preserve=pixels.preserve,
    )
    stylized = optimize_stages(
        content=pixels.content,
        styles=pixels.styles,
        init=pixels.init,
        preview_image=quick,
        options=checked.options,
        output_uri=output_uri,
        optimize_cpu=inputs["optimize_cpu"],
        optimize_mem=inputs["optimize_mem"],
        optimize_gpu=inputs["optimize_gpu"],
        gpu_accelerator=inputs["gpu_accelerator"],
        tile_concurrency=inputs["tile_concurrency"],
        style_masks=pixels.style_masks,
        preserve=pixels.preserve,
    )
    return finalize(pixels=stylized, options=checked.options, output_uri=output_uri, photo=pixels.photo)


shown_summary(neural_style_transfer_wf)
