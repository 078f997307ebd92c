"""``make gallery``: the README's pictures, made on this machine with the trained VGG16 stand-in.

    python -m devstack.gallery [--size 192] [--epochs 2] [--steps 50] [--out docs/gallery]

The photo, the style, the feed-forward preview, the full result, and one picture per creative control, each run
by the engine's own epoch chain (``stylize_in_process``) from ``samples/``. Every picture is a JPEG (the whole
gallery stays well under 2 MB) whose comment says what made it, and ``index.json`` lists each one's options and
its style distance by the trained yardstick, so the README's captions come from the run. The stand-in is VGG16
fine-tuned on MRI scans: a real stylization, not the production network.
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


from workflows import images  # noqa: E402
from workflows.engine.chain import result_image, stylize_in_process  # noqa: E402
from workflows.engine.networks import arbitrary_stylization as feed_forward  # noqa: E402
from workflows.engine.networks.vgg_features import weights_from_env  # noqa: E402
from workflows.engine.options import DEFAULTS, StyleOptions, style_held_side  # noqa: E402
from workflows.engine.progress_view import weights_warning  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
OUT = REPO / "docs" / "gallery"
NETWORK = "vgg16"


@dataclass(frozen=True)
class Picture:
    """One picture of the gallery: its file stem, its caption, and (for a stylization) its options and styles."""

    name: str
    caption: str
    changes: dict[str, object] = dataclasses.field(default_factory=dict)
    styles: Sequence[str] = ("swirls.jpg",)


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
    for picture in STYLIZED:
        options: StyleOptions = dataclasses.replace(base, **picture.changes)  # type: ignore[arg-type]
        styles = [
            images.load_rgb(
                SAMPLES / name, role="style", max_dim=style_held_side(max(photo.shape[:2]), options.style_scale)
            )
            for name in picture.styles
        ]
        began = time.perf_counter()
        state = stylize_in_process(photo, styles, options)
        seconds = time.perf_counter() - began
        judged_against = images.load_rgb(SAMPLES / picture.styles[0], role="style", max_dim=size)
        record(
            picture.name,
            picture.caption,
            result_image(photo, options, state),
            judged_against,
            options={key: list(v) if isinstance(v, tuple) else v for key, v in picture.changes.items()},
            seconds=round(seconds, 1),
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
        cells.append(f"![{picture['caption']}]({folder}/{picture['file']})<br>{picture['caption']}{measured}")
    rows = [cells[i : i + 3] + [""] * (3 - len(cells[i : i + 3])) for i in range(0, len(cells), 3)]
    lines = [
        BEGIN,
        f"*{str(index['label']).capitalize()}.* {index['size']} px, {index['epochs']} x {index['steps']} L-BFGS steps "
        "(every other option at its default). Style distance: the trained yardstick against the style image (for "
        "the second style and the blend, against the first style named), lower is nearer.",
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
