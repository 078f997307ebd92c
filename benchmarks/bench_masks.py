"""Style masks on trained features: does each region take its own style, and does the protect mask keep its region
near the photo?

    python -m benchmarks.bench_masks [--sizes 128 256] [--epochs 2] [--steps 50] [--steps-at 256=30]
        [--out benchmarks/results/masks.json]

Every run optimises on trained features (``network="vgg16"``; ``NST_VGG16_WEIGHTS``, by default the offline
stand-in) through the engine's own epoch chain (``stylize_in_process``), from ``samples/landscape.jpg`` with
``samples/swirls.jpg`` and ``samples/mosaic.jpg`` loaded as the quality gates load them, and is judged by the
trained yardstick (the feed-forward model's style embedding, ``arbitrary_stylization.style_distance``; lower is
nearer the style), which is independent of VGG.

* **Two regions:** the left half to swirls and the right half to mosaic, with a hard edge and with a feathered
  one (a linear ramp over ``FEATHER`` of the width, centred on the middle), then the same with the masks swapped.
  Each half of each result is scored against both styles, and so are the photo's own halves.
* **The protect mask:** the middle quarter (a centred rectangle of half the width and half the height) protected,
  one style (swirls), at ``preserve_strength`` 1, 10 (the default) and 100, and the same run without a mask: the
  mean absolute change from the photo (pixels in [0, 1], the mean over the channels) inside and outside that
  rectangle, and the whole result's style distance.

Each run's seconds are the whole ``stylize_in_process`` call (networks, targets and every step). Everything is
measured in one sitting on this machine, and ``--out`` is rewritten whole. No
assertion here, and none of this runs in the test suite; ``benchmarks/report.py`` renders it into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("NST_VGG16_WEIGHTS", "stand-in")  # before the engine reads it; a real file or imagenet wins

from benchmarks.common import RESULTS, SAMPLES, log, machine, run_fresh  # noqa: E402
from workflows import images  # noqa: E402
from workflows.engine.chain import result_image, stylize_in_process  # noqa: E402
from workflows.engine.networks import arbitrary_stylization as feed_forward  # noqa: E402
from workflows.engine.networks.vgg_features import weights_from_env  # noqa: E402
from workflows.engine.options import DEFAULTS, StyleOptions  # noqa: E402
from workflows.engine.regions import StyleRegions  # noqa: E402

NETWORK = "vgg16"
PHOTO = "landscape.jpg"
#: The two styles: the first goes left as drawn (and is the protect runs' one style), the second right.
STYLES = ("swirls", "mosaic")
#: The feathered edge's ramp, as a fraction of the width.
FEATHER = 1 / 8
#: The protect runs' strengths (None: the same run without a mask); 10 is the default.
STRENGTHS: tuple[float | None, ...] = (None, 1.0, DEFAULTS.preserve_strength, 100.0)


# --- the masks (the gallery draws the same ones) -----------------------------------------------------------------


def left_mask(hw: tuple[int, int], feather: float = 0.0) -> np.ndarray:
    """(H, W) float32: 1 on the left half, 0 on the right; with ``feather`` > 0 a linear ramp from 1 to 0 over that
    fraction of the width, centred on the middle (measured at pixel centres)."""
    height, width = hw
    x = np.arange(width, dtype=np.float64) + 0.5
    ramp = feather * width
    row = (x < width / 2).astype(np.float64) if ramp <= 0 else np.clip((width / 2 + ramp / 2 - x) / ramp, 0.0, 1.0)
    return np.repeat(row[None, :], height, axis=0).astype(np.float32)


def middle_mask(hw: tuple[int, int]) -> np.ndarray:
    """(H, W) float32: 1 on the centred rectangle of half the width and half the height (the quality gate's)."""
    height, width = hw
    mask = np.zeros(hw, np.float32)
    mask[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 1.0
    return mask


# --- the runs ----------------------------------------------------------------------------------------------------


def sample(name: str, size: int, role: str = "style") -> np.ndarray:
    return images.load_rgb(SAMPLES / name, role=role, max_dim=size)


def timed_run(
    photo: np.ndarray, styles: list[np.ndarray], options: StyleOptions, regions: StyleRegions | None
) -> tuple[np.ndarray, float]:
    """The result image of one whole run, and its seconds."""
    began = time.perf_counter()
    state = stylize_in_process(photo, styles, options, regions=regions)
    seconds = time.perf_counter() - began
    return result_image(photo, options, state), seconds


def halves_distances(image: np.ndarray, styles: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Each half's (left: the first ``width // 2`` columns) style distance to each style."""
    half = image.shape[1] // 2
    parts = {"left": image[:, :half], "right": image[:, half:]}
    return {
        side: {name: feed_forward.style_distance(part, style) for name, style in styles.items()}
        for side, part in parts.items()
    }


def mean_change(result: np.ndarray, photo: np.ndarray, where: np.ndarray) -> dict[str, float]:
    """The mean absolute change from the photo (the mean over the channels, then over the pixels) inside and
    outside ``where`` (a boolean (H, W))."""
    change = np.abs(result.astype(np.float64) - photo.astype(np.float64)).mean(axis=-1)
    return {"inside": float(change[where].mean()), "outside": float(change[~where].mean())}


def measure_size(size: int, epochs: int, steps: int) -> dict[str, object]:
    photo = sample(PHOTO, size, role="content")
    styles = {name: sample(f"{name}.jpg", size) for name in STYLES}
    first, second = STYLES
    hw = (photo.shape[0], photo.shape[1])
    options = dataclasses.replace(DEFAULTS, network=NETWORK, max_dim=size, epochs=epochs, steps_per_epoch=steps)
    shown = f"{hw[1]}x{hw[0]}"
    log(f"{shown}: {epochs} x {steps} L-BFGS steps a run")

    regions = []
    for edge, feather in (("hard", 0.0), ("feathered", FEATHER)):
        left = left_mask(hw, feather)
        for swapped in (False, True):
            on_left, on_right = (second, first) if swapped else (first, second)
            masks = [1.0 - left, left] if swapped else [left, 1.0 - left]  # one per style, in STYLES' order
            result, seconds = timed_run(photo, list(styles.values()), options, StyleRegions.of(masks, None))
            run = {
                "edge": edge,
                "left": on_left,
                "right": on_right,
                "seconds": seconds,
                "halves": halves_distances(result, styles),
            }
            log(f"{shown}: {edge} edge, {on_left} left / {on_right} right: {seconds:.0f} s, {run['halves']}")
            regions.append(run)

    keep = middle_mask(hw)
    inside = keep > 0.5
    protect = []
    for strength in STRENGTHS:
        if strength is None:
            run_options, masks_given = options, None
        else:
            run_options = dataclasses.replace(options, preserve_strength=strength)
            masks_given = StyleRegions.of([], keep)
        result, seconds = timed_run(photo, [styles[first]], run_options, masks_given)
        run = {
            "preserve_strength": strength,
            "seconds": seconds,
            "change": mean_change(result, photo, inside),
            "distance": feed_forward.style_distance(result, styles[first]),
        }
        log(f"{shown}: protect, strength {strength}: {seconds:.0f} s, {run['change']}, distance {run['distance']:.2f}")
        protect.append(run)

    return {
        "size": shown,
        "max_dim": size,
        "epochs": epochs,
        "steps_per_epoch": steps,
        "feather_fraction": FEATHER,
        "feather_px": FEATHER * hw[1],
        "photo_halves": halves_distances(photo, styles),
        "regions": regions,
        "protect": {
            "style": first,
            "default_strength": DEFAULTS.preserve_strength,
            "area": f"{hw[1] // 2}x{hw[0] // 2} of {shown}",
            "area_fraction": float(inside.mean()),
            "photo_distance": feed_forward.style_distance(photo, styles[first]),
            "runs": protect,
        },
    }


def memory_rows(cases: list[str]) -> list[dict[str, object]]:
    """Each ``SIDE:STYLES`` case run twice in a fresh process (``benchmarks.fresh.masked_run``), without masks and
    with one mask per style: both peaks, and the memory model's request for the masked task."""
    from workflows.engine import memory, stages

    rows = []
    for case in cases:
        side, styles = (int(part) for part in case.split(":"))
        pixels = side * (side * 3 // 4)
        peaks = {}
        for masks in (0, styles):
            with tempfile.TemporaryDirectory(prefix="bench-masks-") as scratch:
                reported, seconds, _ = run_fresh(
                    "masked_run", side, styles, masks, scratch=scratch, NST_VGG19_WEIGHTS="random"
                )
            peaks[masks] = reported["peak_rss_bytes"]
            log(
                f"memory {side} px, {styles} styles, {masks} masks: {peaks[masks] / memory.GIB:.2f} GiB, {seconds:.0f} s"
            )
        request = stages.task_request(pixels, StyleOptions(), (pixels,) * styles, masks=styles)
        rows.append(
            {
                "side": side,
                "pixels": pixels,
                "styles": styles,
                "peak_without_masks_bytes": peaks[0],
                "peak_with_masks_bytes": peaks[styles],
                "request_with_masks_bytes": request,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50, help="L-BFGS steps per epoch")
    parser.add_argument(
        "--steps-at",
        nargs="*",
        default=[],
        metavar="SIZE=STEPS",
        help="fewer (or more) steps per epoch at these sizes, e.g. 256=30; each size records its own",
    )
    parser.add_argument(
        "--memory",
        nargs="*",
        default=["512:4", "768:4"],
        metavar="SIDE:STYLES",
        help="peak memory of an optimisation task with that many styles, unmasked and masked (fresh processes)",
    )
    parser.add_argument(
        "--memory-only", action="store_true", help="measure only the memory rows, keeping --out's other figures"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "masks.json")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.bench_masks " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.memory_only:
        kept = json.loads(args.out.read_text())
        kept.update(memory=memory_rows(args.memory), memory_command=command)
        args.out.write_text(json.dumps(kept, indent=2) + "\n")
        log(f"wrote the memory rows into {args.out}")
        return 0
    steps_at = {int(size): int(steps) for size, steps in (item.split("=", 1) for item in args.steps_at)}
    weights = weights_from_env(network=NETWORK)
    results: dict[str, object] = {
        "machine": machine(NETWORK),
        "network": NETWORK,
        "weights": weights.kind,
        "photo": f"samples/{PHOTO}",
        "styles": [f"samples/{name}.jpg" for name in STYLES],
        "command": command,
    }
    log(f"machine: {results['machine']}")
    began = time.perf_counter()
    measured = [measure_size(size, args.epochs, steps_at.get(size, args.steps)) for size in args.sizes]
    results["sizes"] = measured
    results["memory"], results["memory_command"] = memory_rows(args.memory), command
    results["wall_s"] = time.perf_counter() - began
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
