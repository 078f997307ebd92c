"""Time to the tutorial's quality on trained features, for each optimiser configuration, the default as it runs.

    python -m benchmarks.bench_quality --sizes 256 512 --out benchmarks/results/quality.json

Every configuration optimises on trained features (``network="vgg16"``; ``NST_VGG16_WEIGHTS``, by default the
offline stand-in) and is scored by one evaluator: the tutorial's exact loss (float32, full size, the total
variation unsmoothed) on the same network, with the clock stopped while it scores. The target at each size is
the exact loss that ``--reference-steps`` steps of the tutorial recipe (Adam, exact loss, from the photo) reach;
a configuration's time runs from building its engine (networks and targets, at every pyramid level) to the
first scored point at or below the target. The trained yardstick (the feed-forward model's style embedding,
independent of VGG) scores every point too: the style distance reached per second.

Everything is measured in one run on this machine, so the ratios compare like with like. No assertion here, and
none of this runs in the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

os.environ.setdefault("NST_VGG16_WEIGHTS", "stand-in")  # before the engine reads it; a real file or imagenet wins

from benchmarks.common import RESULTS, SAMPLES, log, machine  # noqa: E402
from workflows import images  # noqa: E402
from workflows.engine.chain import EpochDone, RunState, run_epochs  # noqa: E402
from workflows.engine.networks import arbitrary_stylization as feed_forward  # noqa: E402
from workflows.engine.networks.vgg_features import weights_from_env  # noqa: E402
from workflows.engine.options import DEFAULTS, StyleOptions  # noqa: E402
from workflows.engine.resample import resize  # noqa: E402
from workflows.engine.transfer import StyleTransfer, bfloat16_is_native  # noqa: E402

NETWORK = "vgg16"
#: The tutorial's recipe and its exact loss: the reference, and (float32, full size) the one evaluator.
TUTORIAL = StyleOptions(network=NETWORK, optimizer="adam", precision="float32", total_variation_smoothing=0.0)
#: The defaults on the trained network: what a run that names no option optimises.
DEFAULT = dataclasses.replace(DEFAULTS, network=NETWORK)
LBFGS = dataclasses.replace(DEFAULT, precision="float32")
#: Steps between two scored points of a configuration that is not run on its own schedule.
CHUNK = {"lbfgs": 10, "adam": 25}


@dataclass(frozen=True)
class Contender:
    """One configuration: its options, and whether it runs on its own epochs x steps schedule (the default, a
    pyramid) or in chunks of ``CHUNK`` steps for as long as it needs."""

    name: str
    options: StyleOptions
    own_schedule: bool = False


def contenders(smoothing: float, full_set: bool) -> list[Contender]:
    """The configurations measured at one size: all of them, or (``full_set`` false, at the larger sizes) those
    that decide a default, leaving out the ones that cannot reach the target within the budget at the smaller."""
    other = dataclasses.replace(LBFGS, total_variation_smoothing=smoothing)
    if bfloat16_is_native():
        chosen = [
            Contender("the default, as it runs (5 x 100, auto)", DEFAULT, own_schedule=True),
            Contender("L-BFGS, float32", LBFGS),
        ]
    else:
        # auto is float32 throughout without native bfloat16, and an L-BFGS run split into shorter epochs takes
        # the same steps (a resumed run equals the uninterrupted one): the default, scored every 10 steps.
        chosen = [Contender("the default (L-BFGS; auto: float32 on this machine)", DEFAULT)]
    chosen += [
        Contender(f"L-BFGS, float32, total variation smoothed ({smoothing:g} levels)", other),
        Contender("L-BFGS, pyramid (5 x 100)", dataclasses.replace(DEFAULT, pyramid=True), own_schedule=True),
        Contender("L-BFGS from the preview", dataclasses.replace(DEFAULT, init_image="preview")),
    ]
    if full_set:
        chosen += [
            Contender("L-BFGS, bfloat16", dataclasses.replace(DEFAULT, precision="bfloat16")),
            Contender("Adam (the tutorial's optimiser and loss)", TUTORIAL),
        ]
    return chosen


@dataclass
class Curve:
    """Scored points of one configuration: (optimisation seconds, exact loss, style distance) each."""

    name: str
    options: dict[str, object] = field(default_factory=dict)  #: the contender's options away from the defaults
    points: list[tuple[float, float, float]] = field(default_factory=list)
    reached_at_s: float | None = None
    steps_at_target: int | None = None
    distance_at_target: float | None = None
    steps: int = 0


class Scorer:
    """The one evaluator (the tutorial's exact loss on trained features) and the yardstick, on the clock's behalf:
    ``score`` adds a point to a curve and says whether the target is reached."""

    def __init__(self, content: np.ndarray, style: np.ndarray) -> None:
        self.content, self.style = content, style
        self.evaluator = StyleTransfer(content, style, TUTORIAL)
        self.target = math.inf

    def score(self, curve: Curve, seconds: float, image: np.ndarray, steps: int) -> bool:
        image = resize(image, self.content.shape[:2])
        loss = float(self.evaluator.loss(image))
        distance = feed_forward.style_distance(image, self.style)
        curve.points.append((seconds, loss, distance))
        curve.steps = steps
        if loss <= self.target and curve.reached_at_s is None:
            curve.reached_at_s, curve.steps_at_target, curve.distance_at_target = seconds, steps, distance
            return True
        return False


class _Stop(Exception):
    """Ends a chase from inside the epoch callback: the target is reached or the budget is spent."""


def changed_options(options: StyleOptions) -> dict[str, object]:
    """The options that differ from the workflow's defaults (``max_dim`` aside: the image says it)."""
    return {
        key: value for key, value in options.summary().items() if key != "max_dim" and value != getattr(DEFAULTS, key)
    }


def reference_run(scorer: Scorer, steps: int) -> Curve:
    """The tutorial recipe: Adam on the exact loss from the photo, ``steps`` compiled steps, scored every 50."""
    curve = Curve(f"the tutorial: Adam, exact loss, {steps} steps", changed_options(TUTORIAL))
    clock = 0.0
    began = time.perf_counter()
    engine = StyleTransfer(scorer.content, scorer.style, TUTORIAL)
    clock += time.perf_counter() - began
    image, state, done = scorer.content, None, 0
    while done < steps:
        chunk = min(50, steps - done)
        began = time.perf_counter()
        result = engine.run(chunk, image=image, optimizer_state=state)
        clock += time.perf_counter() - began
        image, state, done = result.image, result.optimizer_state, done + chunk
        scorer.score(curve, clock, image, done)
    curve.reached_at_s, curve.steps_at_target, curve.distance_at_target = clock, steps, curve.points[-1][2]
    return curve


def chase(scorer: Scorer, contender: Contender, budget_s: float) -> Curve:
    """Run the workflow's own epoch chain until the exact loss reaches the target or ``budget_s`` is spent,
    scoring after every epoch with the clock stopped. Its time includes the preview where it starts from one."""
    options = contender.options
    curve = Curve(contender.name, changed_options(options))
    if not contender.own_schedule:
        options = dataclasses.replace(options, epochs=100_000, steps_per_epoch=CHUNK[options.optimizer])
    scoring = 0.0
    began = time.perf_counter()
    init = feed_forward.preview_of(scorer.content, scorer.style) if options.init_image == "preview" else None
    start = RunState.start(scorer.content, options, init)

    def on_epoch(done: EpochDone) -> None:
        nonlocal scoring
        elapsed = time.perf_counter() - began - scoring
        scored = time.perf_counter()
        reached = scorer.score(curve, elapsed, done.state.output, len(done.state.losses))
        scoring += time.perf_counter() - scored
        log(f"  {curve.name}: {curve.steps} steps, {elapsed:.0f} s, loss {curve.points[-1][1]:.4g}")
        if reached or elapsed >= budget_s:
            raise _Stop

    with contextlib.suppress(_Stop):
        run_epochs(scorer.content, scorer.style, options, start, on_epoch=on_epoch)
    return curve


def measure_size(
    size: int, reference_steps: int, budget: float, smoothing: float, full_set: bool, without: Sequence[str] = ()
) -> dict[str, object]:
    content = images.load_rgb(SAMPLES / "landscape.jpg", role="content", max_dim=size)
    style = images.load_rgb(SAMPLES / "swirls.jpg", role="style", max_dim=size)
    scorer = Scorer(content, style)
    log(f"{size} px: the tutorial, {reference_steps} steps")
    reference = reference_run(scorer, reference_steps)
    scorer.target = reference.points[-1][1]
    budget_s = budget * (reference.reached_at_s or 0.0)
    log(f"{size} px: target {scorer.target:.5g} in {reference.reached_at_s:.0f} s; budget {budget_s:.0f} s each")
    curves = [reference]
    for contender in contenders(smoothing, full_set):
        if any(word in contender.name for word in without):
            continue
        log(f"{size} px: {contender.name}")
        curves.append(chase(scorer, contender, budget_s))
    return {
        "size": f"{content.shape[1]}x{content.shape[0]}",
        "target_loss": scorer.target,
        "budget_s": budget_s,
        "bfloat16_native": bfloat16_is_native(),
        "photo_distance": feed_forward.style_distance(content, style),
        "preview_distance": feed_forward.style_distance(feed_forward.preview_of(content, style), style),
        "curves": [asdict(curve) for curve in curves],
    }


# --- the plot ----------------------------------------------------------------------------------------------------


def plot(sizes: list[dict], path: Path) -> None:
    """The style distance against seconds, one panel per size, drawn with Pillow: no plotting dependency."""
    from PIL import Image, ImageDraw

    panel_w, height, left, top, bottom, legend = 520, 420, 60, 40, 50, 400
    image = Image.new("RGB", (panel_w * len(sizes) + legend, height), "white")
    draw = ImageDraw.Draw(image)
    palette = [(0, 0, 0), (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]
    palette += [(140, 86, 75), (227, 119, 194)]
    for panel, result in enumerate(sizes):
        x0 = panel * panel_w + left
        width = panel_w - left - 20
        curves = result["curves"]
        t_max = max(p[0] for c in curves for p in c["points"]) * 1.02
        d_hi = max(result["photo_distance"], max(p[2] for c in curves for p in c["points"])) * 1.02
        d_lo = min(p[2] for c in curves for p in c["points"]) * 0.95

        def x(t: float, x0: int = x0, width: int = width, t_max: float = t_max) -> float:
            return x0 + width * t / t_max

        def y(d: float, d_lo: float = d_lo, d_hi: float = d_hi) -> float:
            return top + (height - top - bottom) * (d_hi - d) / (d_hi - d_lo)

        draw.rectangle([x0, top, x0 + width, height - bottom], outline="black")
        for fraction in (0, 0.5, 1.0):
            draw.text((x(t_max * fraction) - 10, height - bottom + 6), f"{t_max * fraction:.0f}s", fill="black")
            d = d_lo + (d_hi - d_lo) * fraction
            draw.text((x0 - 40, y(d) - 6), f"{d:.2f}", fill="black")
        draw.text(
            (x0, 12), f"{result['size']}: style distance (lower is nearer the style) against seconds", fill="black"
        )
        for index, curve in enumerate(curves):
            colour = palette[index % len(palette)]
            line = [(x(t), y(d)) for t, _, d in curve["points"]]
            if len(line) > 1:
                draw.line(line, fill=colour, width=2)
            for px, py in line:  # every scored point, so a curve of one point shows too
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
    for index, curve in enumerate(sizes[0]["curves"]):
        x0, y0 = panel_w * len(sizes) + 8, top + 18 * index
        draw.rectangle([x0, y0 + 4, x0 + 12, y0 + 14], fill=palette[index % len(palette)])
        draw.text((x0 + 18, y0 + 2), curve["name"][:64], fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--reference-steps", type=int, default=500)
    parser.add_argument("--budget", type=float, default=0.6, help="each configuration's time, x the reference run")
    parser.add_argument("--smoothing", type=float, default=0.25, help="the smoothed L-BFGS contender's levels")
    parser.add_argument("--full-set", type=int, nargs="*", default=[256], help="sizes that measure every contender")
    parser.add_argument("--without", nargs="*", default=[], help="leave out the contenders whose names have these")
    parser.add_argument("--append", action="store_true", help="add these sizes to --out's (each size is one sitting)")
    parser.add_argument("--out", type=Path, default=RESULTS / "quality.json")
    parser.add_argument("--plot", type=Path, default=RESULTS / "style_distance.png")
    args = parser.parse_args(argv)
    weights = weights_from_env(network=NETWORK)
    results: dict[str, object] = {"machine": machine(), "network": NETWORK, "weights": weights.kind}
    results["machine"]["weights"] = weights.kind  # type: ignore[index]
    log(f"machine: {results['machine']}")
    measured = [
        measure_size(size, args.reference_steps, args.budget, args.smoothing, size in args.full_set, args.without)
        for size in args.sizes
    ]
    if args.append and args.out.exists():  # another sitting's sizes kept, this one's replaced
        kept = [r for r in json.loads(args.out.read_text())["sizes"] if r["size"] not in {m["size"] for m in measured}]
        measured = kept + measured
    results["sizes"] = measured
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    plot(measured, args.plot)
    log(f"wrote {args.out} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
