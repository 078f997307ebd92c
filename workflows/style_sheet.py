"""A style sheet: one photo in many styles, or many photos in one style (or every pair), fanned out with
``map_task``, and a contact sheet PNG with the style names.

    NST_VGG19_WEIGHTS=random pyflyte run workflows/style_sheet.py style_sheet_wf \\
        --photos '["samples/landscape.jpg"]' --styles '["samples/swirls.jpg", "s3://b/styles/monet.jpg"]'

Each pair is one task of the map (the whole stylization of that pair: decode, optimise, encode), so pairs run in
parallel on a cluster, up to ``concurrency`` at a time. A pair is planned as the main workflow plans a run: above
one task's pixels, a coarse stage and tiles, run in turn inside the item's task (a map's item cannot chain tasks),
so an item never asks for more than ``memory.TASK_LIMIT``; ``min_success_ratio`` lets the sheet finish when some
items fail (a photo that is not an image, say): their tiles on the sheet say "failed", and their result is None.

When to use it: comparing styles or settings for a photo, or stylizing a fixed set in one go. The trigger keeps
launching one ``neural_style_transfer_wf`` execution per upload: each upload is then retried, reported and
watched on its own, and nothing measured here says one map over a batch of uploads would finish sooner (the
tasks are the same; a map only saves the per-execution overhead, which the trigger's batches do not pay twice).
"""

from __future__ import annotations

import json
import math
import posixpath
import tempfile
import textwrap
import typing
from dataclasses import dataclass
from pathlib import Path

from flytekit import Resources, current_context, dynamic, map_task, task, workflow
from flytekit.types.file import FlyteFile

from workflows import images
from workflows.engine import memory, stages
from workflows.engine.options import StyleOptions, style_held_side
from workflows.errors import InputError
from workflows.input_files import fetch, uri_of
from workflows.option_inputs import REQUIRED, FlatInput, inputs_named, options_from_inputs, shown_summary, takes_inputs
from workflows.output_files import PngFile
from workflows.task_log import log
from workflows.task_resources import OPTIMIZE_CPU

#: One sheet tile's long side, in pixels.
TILE = 256


@dataclass(frozen=True)
class SheetItem:
    """One pair of a sheet: the photo and the style (URIs or local paths), the style's name, where to write."""

    photo: str
    style: str
    style_name: str
    output_uri: str
    options: StyleOptions


@task(requests=Resources(cpu=OPTIMIZE_CPU, mem="3Gi"), limits=Resources(cpu=OPTIMIZE_CPU, mem="3Gi"), retries=2)
def stylize_item(item: SheetItem) -> PngFile:
    """The whole stylization of one pair in one task (a map's items cannot chain tasks)."""
    from workflows.engine.tiled_stage import stylize_planned

    options = item.options
    content = images.load_rgb(fetch(item.photo, "content"), role="content", max_dim=options.max_dim, source=item.photo)
    side = style_held_side(max(content.shape[:2]), options.style_scale)
    style = images.load_rgb(fetch(item.style, "style"), role="style", max_dim=side, source=item.style)
    plan = item_plan(content.shape[:2], options, style.shape[0] * style.shape[1])
    log.info(
        "sheet: %s in the style %s%s",
        item.photo,
        item.style_name,
        f", as a coarse stage and {len(plan.tiles)} tiles" if plan.tiled else "",
    )
    picture = stylize_planned(content, [style], options, plan)
    # A folder of its own: locally every item of the map shares one working directory, and a fixed name there made
    # every result (and every tile of the sheet) the last item's picture.
    path = Path(tempfile.mkdtemp(prefix="item-", dir=current_context().working_directory)) / "stylized.png"
    path.write_bytes(images.encode_png(picture))
    return PngFile(str(path), remote_path=item.output_uri) if item.output_uri else PngFile(str(path))


@task(requests=Resources(cpu="500m", mem="512Mi"), limits=Resources(cpu="500m", mem="1Gi"), retries=2)
def contact_sheet(results: list[PngFile | None], labels: list[str], items: list[SheetItem], output_uri: str) -> PngFile:
    """A grid of the results, each tile labelled; an item that failed is a grey tile that says so and why, and the
    PNG's ``Failures`` text holds every failed item's label and reason (one line each)."""
    from PIL import Image, ImageDraw, PngImagePlugin

    failures: dict[str, str] = {}
    columns = min(4, max(1, len(results)))
    rows = -(-len(results) // columns)
    label_height = 18
    sheet = Image.new("RGB", (columns * TILE, rows * (TILE + label_height)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (result, label) in enumerate(zip(results, labels)):
        x, y = (index % columns) * TILE, (index // columns) * (TILE + label_height)
        if result is None:
            reason = failure_reason(items[index])
            failures[label] = reason
            draw.rectangle([x + 4, y + 4, x + TILE - 4, y + TILE - 4], fill=(200, 200, 200))
            lines = ["failed:", *textwrap.wrap(reason, width=38)][:12]
            for row, text in enumerate(lines):
                draw.text((x + 10, y + 12 + 14 * row), text, fill="black")
        else:
            with Image.open(result.download()) as tile:
                tile.thumbnail((TILE, TILE))
                sheet.paste(tile, (x + (TILE - tile.width) // 2, y + (TILE - tile.height) // 2))
        draw.text((x + 4, y + TILE + 3), label[:40], fill="black")
    path = Path(current_context().working_directory) / "sheet.png"
    notes = PngImagePlugin.PngInfo()
    if failures:
        notes.add_text("Failures", json.dumps(failures))
        log.warning("sheet: %d item(s) failed: %s", len(failures), failures)
    sheet.save(path, format="PNG", pnginfo=notes)
    return PngFile(str(path), remote_path=output_uri) if output_uri else PngFile(str(path))


def failure_reason(item: SheetItem) -> str:
    """Why an item tolerated by ``min_success_ratio`` has no result, as far as its files' headers show it (not an
    image, too small, too many pixels, not found): the item's own error is in its task's log otherwise."""
    for uri, role in ((item.photo, "content"), (item.style, "style")):
        try:
            problem = images.header_problem(fetch(uri, role), role, uri)
        except InputError as exc:  # refused or unreachable: its own line
            problem = str(exc)
        if problem:
            return problem
    return "its task failed after its retries (its log says why)"


class Sheet(typing.NamedTuple):
    results: list[PngFile | None]  # one per pair (photo-major order); None where the item failed
    sheet: PngFile


@dynamic(requests=Resources(cpu="500m", mem="1Gi"), limits=Resources(cpu="500m", mem="1Gi"), retries=1)
def plan_sheet(
    photos: list[FlyteFile],
    styles: list[FlyteFile],
    style_names: list[str],
    options: StyleOptions,
    output_prefix: str,
    min_success_ratio: float,
    concurrency: int,
) -> Sheet:
    """Every (photo, style) pair as one item of a map, each sized by the memory model for the worst case at max_dim
    (a square photo and style): its one stage's request, or the task limit when it runs tiled."""
    if not photos or not styles:
        raise ValueError("photos and styles must each name at least one image")
    if style_names and len(style_names) != len(styles):
        raise ValueError(f"style_names has {len(style_names)} names for {len(styles)} styles")
    if not 0.0 < min_success_ratio <= 1.0:
        raise ValueError(f"min_success_ratio={min_success_ratio}: must be in (0, 1]")
    photo_uris, style_uris = [uri_of(photo) for photo in photos], [uri_of(style) for style in styles]
    names = style_names or [Path(uri).stem for uri in style_uris]
    outputs = sheet_output_names(photo_uris, names, output_prefix)
    items, labels = [], []
    for photo_uri in photo_uris:
        for style_uri, name in zip(style_uris, names):
            items.append(SheetItem(photo_uri, style_uri, name, outputs[photo_uri, name], options))
            labels.append(f"{file_name(photo_uri)} / {name}" if len(photos) > 1 else name)
    # The planner does not know the aspect ratios yet: the worst case, a square photo and a square style.
    side = style_held_side(options.max_dim, options.style_scale)
    worst = item_plan((options.max_dim, options.max_dim), options, side * side)
    request = memory.quantity(memory.TASK_LIMIT if worst.tiled else worst.whole[0].memory_bytes)
    resources = Resources(cpu=OPTIMIZE_CPU, mem=request)
    mapped = map_task(stylize_item, concurrency=concurrency or None, min_success_ratio=min_success_ratio)
    results = mapped(item=items).with_overrides(requests=resources, limits=resources)
    sheet = contact_sheet(results=results, labels=labels, items=items, output_uri=outputs["sheet"])
    return Sheet(results=results, sheet=sheet)


#: What a tiled item holds at full size beside its optimisation, all in one process: the photo, the upsampled coarse
#: result its tiles start from, the tiles' results and their blend.
TILED_ITEM_IMAGES = 4


def item_plan(hw: tuple[int, int], options: StyleOptions, style_pixels: int) -> stages.RunPlan:
    """How one item runs, planned as the main workflow plans a run: one stage where it fits a task, else a coarse
    stage and tiles, run in turn in the item's one task, each sized to leave room for the full-size images the
    item holds meanwhile, so the item never asks for more than ``memory.TASK_LIMIT``."""
    plan = stages.plan(hw, options, (style_pixels,))
    if not plan.tiled:
        return plan
    held = math.ceil(TILED_ITEM_IMAGES * memory.HELD_PIXEL_BYTES * hw[0] * hw[1] * memory.MARGIN)
    return stages.plan(hw, options, (style_pixels,), task_limit=memory.TASK_LIMIT - held)


def file_name(uri: str) -> str:
    """The last segment of a URI or path (``s3://b/a/x.jpg`` -> ``x.jpg``)."""
    return posixpath.basename(uri.rstrip("/"))


def sheet_output_names(photo_uris: list[str], style_names: list[str], output_prefix: str) -> dict:
    """Where each pair's result and the sheet go: ``<prefix><photo file name>/<style name>.png`` and
    ``<prefix>sheet.png`` (all "" without a prefix). A photo's file name keeps its extension and is a folder, and a
    style name is one path segment, so two pairs share an output only when two photos share a file name or two
    styles a name: refused here, in one line, before any item runs (the sheet itself has no folder, so no result
    is the sheet). Keys: ``(photo_uri, style_name)`` and ``"sheet"``."""
    for name in style_names:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"style name {name!r}: must be one path segment (not empty, no '/', not '.' or '..')")
    for what, values in (("style name", style_names), ("photo file name", [file_name(u) for u in photo_uris])):
        repeated = sorted({value for value in values if values.count(value) > 1})
        if repeated:
            raise ValueError(
                f"{what} {repeated[0]!r} appears more than once; each result is named by it, so one would overwrite "
                "the other (rename one, or give style_names)"
            )
    outputs: dict = {"sheet": f"{output_prefix}sheet.png" if output_prefix else ""}
    for photo_uri in photo_uris:
        for name in style_names:
            outputs[photo_uri, name] = f"{output_prefix}{file_name(photo_uri)}/{name}.png" if output_prefix else ""
    return outputs


#: The options a sheet takes (the others keep their defaults: a sheet item runs the whole optimisation in one task,
#: with no preview, tiles or init image).
SHEET_OPTIONS = (
    "epochs",
    "steps_per_epoch",
    "max_dim",
    "optimizer",
    "preserve_colors",
    "style_scale",
    "style_strength",
    "seed",
)
SHEET_INPUTS = [
    FlatInput(
        "photos",
        list[FlyteFile],
        REQUIRED,
        "the photos (`s3://`, `https://` where enabled, or local paths in a local run)",
    ),
    FlatInput("styles", list[FlyteFile], REQUIRED, "the style images"),
    FlatInput("style_names", list[str], [], "a name per style for the results and labels (default: file stems)"),
    *inputs_named(SHEET_OPTIONS),
    FlatInput("output_prefix", str, "", "`s3://…/` or a folder ending in `/` that receives every result and the sheet"),
    FlatInput("min_success_ratio", float, 0.5, "the share of items that must succeed for the sheet to finish"),
    FlatInput("concurrency", int, 0, "items running at once; `0` = no limit"),
]


@task(requests=Resources(cpu="100m", mem="256Mi"), limits=Resources(cpu="250m", mem="512Mi"))
@takes_inputs(inputs_named(SHEET_OPTIONS))
def sheet_options(**inputs: typing.Any) -> StyleOptions:
    """The sheet's options, checked before any image is read (the other options keep their defaults)."""
    return options_from_inputs(inputs)


@workflow
@takes_inputs(SHEET_INPUTS)
def style_sheet_wf(**inputs: typing.Any) -> Sheet:
    """Each photo in each style; ``output_prefix`` (s3:// or a folder ending in /) receives every result as
    ``<photo file name>/<style>.png`` and the contact sheet as ``sheet.png``. ``concurrency`` 0 means no limit."""
    options = sheet_options(**{name: inputs[name] for name in SHEET_OPTIONS})
    return plan_sheet(
        photos=inputs["photos"],
        styles=inputs["styles"],
        style_names=inputs["style_names"],
        options=options,
        output_prefix=inputs["output_prefix"],
        min_success_ratio=inputs["min_success_ratio"],
        concurrency=inputs["concurrency"],
    )


shown_summary(style_sheet_wf)
