"""``make gallery``: the README's pictures, made on this machine with the trained VGG16 stand-in.

    python -m devstack.gallery [--size 192] [--epochs 2] [--steps 50] [--out docs/gallery]

The photo, the style, the feed-forward preview, the full result, and one picture per creative control, each run
by the engine's own epoch chain (``stylize_in_process``) from ``samples/``; then the masks (``MASKED``): the two
style masks and their result, and the protect mask and its result, drawn as ``benchmarks/bench_masks.py`` draws
them. Every picture is a JPEG (the whole gallery stays well under 2 MB) whose comment says what made it, and
``index.json`` lists each one's options and its style distance by the trained yardstick (for the two regions each
half's distance to both styles, for the protect mask the mean change from the photo inside and outside it), so
the README's captions come from the run. The stand-in is VGG16 fine-tuned on MRI scans: a real stylization, not
the production network.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("NST_VGG16_WEIGHTS", "stand-in")  # before the engine reads it; a real file or imagenet wins


from benchmarks.bench_masks import FEATHER, halves_distances, left_mask, mean_change, middle_mask  # noqa: E402
from workflows import images  # noqa: E402
from workflows.engine.chain import result_image, stylize_in_process  # noqa: E402
from workflows.engine.networks import arbitrary_stylization as feed_forward  # noqa: E402
from workflows.engine.networks.vgg_features import weights_from_env  # noqa: E402
from workflows.engine.options import DEFAULTS, StyleOptions, style_held_side  # noqa: E402
from workflows.engine.progress_view import weights_warning  # noqa: E402
from workflows.engine.regions import StyleRegions  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
OUT = REPO / "docs" / "gallery"
NETWORK = "vgg16"


@dataclass(frozen=True)
class Picture:
    """One picture of the gallery: its file stem, its caption, and (for a stylization) its options and styles;
    ``masks`` names the masks of a masked one (``MASKS``), whose picture goes before it."""

    name: str
    caption: str
    changes: dict[str, object] = dataclasses.field(default_factory=dict)
    styles: Sequence[str] = ("swirls.jpg",)
    masks: str | None = None


#: The stylizations, each the defaults with ``changes``: the result, then one per creative control.
STYLIZED = (
    Picture("result", "the full result (defaults)"),
    Picture("preserve-colors-luminance", "preserve_colors=luminance", {"preserve_colors": "luminance"}),
    Picture("preserve-colors-histogram", "preserve_colors=histogram", {"preserve_colors": "histogram"}),
    Picture("style-scale-0.5", "style_scale=0.5 (smaller strokes)", {"style_scale": 0.5}),
    Picture("style-scale-2", "style_scale=2 (bigger strokes)", {"style_scale": 2.0}),
    Picture("style-strength-0.3", "style_strength=0.3", {"style_strength": 0.3}),
    Picture("mosaic", "another style: samples/mosaic.jpg", styles=("mosaic.jpg",)),
    Picture(
        "blend-swirls-mosaic",
        "two styles blended 0.5 / 0.5 (more_styles, style_blend_weights)",
        {"style_blend_weights": (0.5, 0.5)},
        ("swirls.jpg", "mosaic.jpg"),
    ),
)


#: The masked stylizations, after ``STYLIZED``: each preceded by a picture of its masks (white: the first style, or
#: the protected region).
MASKED = (
    Picture(
        "style-masks-swirls-mosaic",
        "style_masks: swirls on the left, mosaic on the right, feathered edge",
        styles=("swirls.jpg", "mosaic.jpg"),
        masks="two regions",
    ),
    Picture(
        "preserve-mask-middle",
        f"preserve_mask: the middle quarter kept near the photo (preserve_strength {DEFAULTS.preserve_strength:g})",
        masks="protect",
    ),
)
#: Each masks' picture: its file stem and caption.
MASKS = {
    "two regions": (
        "mask-swirls-mosaic",
        f"the style masks: swirls where white, mosaic where black (a ramp over {FEATHER:.3g} of the width)",
    ),
    "protect": ("mask-preserve-middle", "the protect mask: white is kept near the photo"),
}


def regions_of(masks: str, hw: tuple[int, int]) -> tuple[StyleRegions, np.ndarray]:
    """The regions of ``masks`` at ``hw``, and the mask to show (the first style's, or the protected region)."""
    if masks == "two regions":
        left = left_mask(hw, FEATHER)
        return StyleRegions.of([left, 1.0 - left], None), left
    keep = middle_mask(hw)
    return StyleRegions.of([], keep), keep


def mask_figures(
    picture: Picture, result: np.ndarray, photo: np.ndarray, shown: np.ndarray, size: int
) -> dict[str, object]:
    """A masked result's figures, as ``bench_masks`` measures them: for two regions each half's style distance to
    each style (no one distance says it), for the protect mask the mean change from the photo inside and outside."""
    if picture.masks == "two regions":
        styles = {
            Path(name).stem: images.load_rgb(SAMPLES / name, role="style", max_dim=size) for name in picture.styles
        }
        halves = halves_distances(result, styles)
        return {"halves": {side: {name: round(d, 2) for name, d in by.items()} for side, by in halves.items()}}
    change = mean_change(result, photo, shown > 0.5)
    return {"mean_change": {where: round(value, 3) for where, value in change.items()}}


def save(pixels: np.ndarray, path: Path, comment: str) -> None:
    images.to_8bit_image(pixels).save(path, quality=88, optimize=True, comment=comment.encode())


def make(size: int, epochs: int, steps: int, out: Path) -> list[dict[str, object]]:
    out.mkdir(parents=True, exist_ok=True)
    weights = weights_from_env(network=NETWORK).kind
    label = weights_warning(weights) or f"made with {NETWORK} ({weights} weights)"
    photo = images.load_rgb(SAMPLES / "landscape.jpg", role="content", max_dim=size)
    base = dataclasses.replace(DEFAULTS, network=NETWORK, max_dim=size, epochs=epochs, steps_per_epoch=steps)
    index: list[dict[str, object]] = []

    def record(name: str, caption: str, pixels: np.ndarray, style: np.ndarray | None, **extra: object) -> None:
        save(pixels, out / f"{name}.jpg", f"{caption}; {label}")
        distance = None if style is None else round(feed_forward.style_distance(pixels, style), 2)
        index.append({"file": f"{name}.jpg", "caption": caption, "style_distance": distance, **extra})
        print(f"[gallery] {name}.jpg: {caption}" + ("" if distance is None else f", style distance {distance}"))

    swirls = images.load_rgb(SAMPLES / "swirls.jpg", role="style", max_dim=size)
    record("photo", "the photo: samples/landscape.jpg", photo, swirls)
    record("style", "the style: samples/swirls.jpg", swirls, None)
    record("preview", "the instant feed-forward preview (mode=preview)", feed_forward.preview_of(photo, swirls), swirls)
    for picture in (*STYLIZED, *MASKED):
        options: StyleOptions = dataclasses.replace(base, **picture.changes)  # type: ignore[arg-type]
        styles = [
            images.load_rgb(
                SAMPLES / name, role="style", max_dim=style_held_side(max(photo.shape[:2]), options.style_scale)
            )
            for name in picture.styles
        ]
        regions: StyleRegions | None = None
        shown: np.ndarray | None = None
        extra: dict[str, object] = {}
        if picture.masks is not None:
            regions, shown = regions_of(picture.masks, (photo.shape[0], photo.shape[1]))
            record(*MASKS[picture.masks], np.repeat(shown[..., None], 3, axis=-1), None)
        began = time.perf_counter()
        state = stylize_in_process(photo, styles, options, regions=regions)
        seconds = time.perf_counter() - began
        result = result_image(photo, options, state)
        judged_against = images.load_rgb(SAMPLES / picture.styles[0], role="style", max_dim=size)
        if picture.masks is not None and shown is not None:
            extra = {"masks": picture.masks, **mask_figures(picture, result, photo, shown, size)}
        record(
            picture.name,
            picture.caption,
            result,
            None if "halves" in extra else judged_against,  # two regions: each half against both styles instead
            options={key: list(v) if isinstance(v, tuple) else v for key, v in picture.changes.items()},
            seconds=round(seconds, 1),
            **extra,
        )
    (out / "index.json").write_text(
        json.dumps(
            {"weights": weights, "label": label, "size": size, "epochs": epochs, "steps": steps, "pictures": index},
            indent=2,
        )
        + "\n"
    )
    return index


#: The README's gallery lies between these two lines; ``make gallery`` rewrites what is between them.
BEGIN, END = "<!-- gallery: made by make gallery (devstack/gallery.py) -->", "<!-- /gallery -->"


def markdown(index: dict[str, object], folder: str = "docs/gallery") -> str:
    """The gallery as the README shows it: a table of pictures, three a row, each captioned with its style
    distance by the trained yardstick, under the label that says what made them."""
    pictures = typing.cast(list[dict[str, object]], index["pictures"])
    cells = []
    for picture in pictures:
        distance = picture["style_distance"]
        measured = "" if distance is None else f"<br>style distance {distance}"
        halves = typing.cast(dict[str, dict[str, float]] | None, picture.get("halves"))
        if halves:
            measured += "".join(
                f"<br>{side} half to " + ", ".join(f"{name} {value}" for name, value in distances.items())
                for side, distances in halves.items()
            )
        change = typing.cast(dict[str, float] | None, picture.get("mean_change"))
        if change:
            measured += f"<br>mean change inside the mask {change['inside']}, outside {change['outside']}"
        cells.append(f"![{picture['caption']}]({folder}/{picture['file']})<br>{picture['caption']}{measured}")
    rows = [cells[i : i + 3] + [""] * (3 - len(cells[i : i + 3])) for i in range(0, len(cells), 3)]
    lines = [
        BEGIN,
        f"*{str(index['label']).capitalize()}.* {index['size']} px, {index['epochs']} x {index['steps']} L-BFGS steps "
        "(every other option at its default). Style distance: the trained yardstick against the style image (for "
        "the second style and the blend, against the first style named), lower is nearer; for the style masks, "
        "each half's distance to both styles. Mean change: the mean absolute change from the photo (of 1, over R, G "
        "and B) inside and outside the protect mask.",
        "",
        "| | | |",
        "| --- | --- | --- |",
        *("| " + " | ".join(row) + " |" for row in rows),
        END,
    ]
    return "\n".join(lines)


def update_readme(readme: Path, index: dict[str, object]) -> None:
    """Rewrite the README's gallery block (between ``BEGIN`` and ``END``) from ``index``."""
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme} has no gallery block ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    readme.write_text(head + markdown(index) + rest.split(END, 1)[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--readme", type=Path, default=REPO / "README.md", help="whose gallery block to rewrite")
    args = parser.parse_args(argv)
    make(args.size, args.epochs, args.steps, args.out)
    update_readme(args.readme, json.loads((args.out / "index.json").read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
