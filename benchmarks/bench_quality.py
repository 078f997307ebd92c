"""Time to the tutorial's quality on trained features, for each optimiser configuration, the default as it runs.

    python -m benchmarks.bench_quality --sizes 256 512 --out benchmarks/results/quality.json

Every configuration optimises on trained features (``network="vgg16"``; ``NST_VGG16_WEIGHTS``, by default the
offline stand-in) and is scored by one evaluator: the tutorial's exact loss (float32, full size, the total
variation unsmoothed) on the same network, with the clock stopped while it scores. The target at each size is
the exact loss that ``--reference-steps`` steps of the tutorial recipe (Adam, exact loss, from the photo) reach;
a configuration's time runs from building its engine (networks and targets, at every pyramid level) to the
first scored point at or below the target. The trained yardstick (the feed-forward model's style embedding,
independent of VGG) scores every point too: the style distance reached per second.

The last section (``--tiles 2048`` runs only it, ``--skip-tiles`` leaves it out) compares the stage planner's
tiled plan (a coarse stage, then tiles) with a single stage at one large size, on the same features and by the
same evaluator, at equal steps: the single stage, the coarse stage and every tile each run the same epochs x
steps. Both run through the real planner and tasks, every task in a fresh process (``bench_stages.run_plan``).

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
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("NST_VGG16_WEIGHTS", "stand-in")  # before the engine reads it; a real file or imagenet wins

from benchmarks.bench_stages import run_plan  # noqa: E402
from benchmarks.common import RESULTS, SAMPLES, log, machine  # noqa: E402
from workflows import images  # noqa: E402
from workflows.engine import stages  # noqa: E402
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
#: Steps between two scored points of a configuration that is not run on its own schedule, and of the reference.
CHUNK = {"lbfgs": 10, "adam": 25}
REFERENCE_EPOCH_STEPS = 50
#: The tiles comparison: its long side (the sample photo enlarged), and the epochs x steps of every one of its
#: tasks (the single stage, the coarse stage, each tile), chosen so that it takes about 45 minutes on 2 cores
#: shared with other work at nice 19 (47 minutes there: one L-BFGS step at 2048x1536 took about 2 minutes).
TILES_SIZE, TILES_EPOCHS, TILES_STEPS = 2048, 2, 3


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

    def measure(self, image: np.ndarray) -> tuple[float, float]:
        """The exact loss of ``image`` (resized to the content's size first) and its style distance."""
        image = resize(image, self.content.shape[:2])
        return float(self.evaluator.loss(image)), feed_forward.style_distance(image, self.style)

    def score(self, curve: Curve, seconds: float, image: np.ndarray, steps: int) -> bool:
        loss, distance = self.measure(image)
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
    """The tutorial recipe: Adam on the exact loss from the photo, ``steps`` steps in epochs of
    ``REFERENCE_EPOCH_STEPS``, scored after each: the same epoch chain and clock as every contender (``chase``).
    Nothing stops it early: what it reaches is the target."""
    if steps % REFERENCE_EPOCH_STEPS:
        raise ValueError(f"--reference-steps {steps}: a multiple of {REFERENCE_EPOCH_STEPS} is scored exactly there")
    recipe = dataclasses.replace(TUTORIAL, epochs=steps // REFERENCE_EPOCH_STEPS, steps_per_epoch=REFERENCE_EPOCH_STEPS)
    scorer.target = -math.inf
    curve = chase(scorer, Contender(f"the tutorial: Adam, exact loss, {steps} steps", recipe, True), math.inf)
    curve.reached_at_s, curve.steps_at_target, curve.distance_at_target = (
        curve.points[-1][0],
        steps,
        curve.points[-1][2],
    )
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


# --- tiles against a single stage -------------------------------------------------------------------------------


@contextlib.contextmanager
def one_stage_only() -> Iterator[None]:
    """The stage planner, in this process, plans every size as one stage (no coarse stage, no tiles): the single
    stage the tiled plan is compared with. Only this process plans; the tasks it starts do not."""
    original = stages.single_task_pixels
    stages.single_task_pixels = lambda *args, **kwargs: 1 << 40
    try:
        yield
    finally:
        stages.single_task_pixels = original


def planned_run(
    name: str, content: np.ndarray, style: np.ndarray, options: StyleOptions
) -> tuple[np.ndarray, dict[str, Any]]:
    """``run_plan`` in a scratch folder of its own: the result, and the run's wall time, tasks and largest task
    peak RSS (the tasks run one after another here; on a cluster the tiles run side by side)."""
    log(f"tiles: {name}")
    with tempfile.TemporaryDirectory() as scratch:
        began = time.perf_counter()
        image, run = run_plan(Path(scratch), content, style, options)
        wall = time.perf_counter() - began
    tasks = run["tasks"]
    summary = {
        "wall_s": wall,
        "tasks": len(tasks),
        "summed_task_s": sum(task["wall_s"] for task in tasks),
        "peak_bytes": max(task["peak_bytes"] for task in tasks),
    }
    log(f"tiles: {name}: {summary}")
    return image, summary


def tiles_section(size: int, epochs: int, steps: int) -> dict[str, object]:
    """The tiled plan at ``size`` px against a single stage there: both through the real planner and tasks, equal
    steps (the single stage, the coarse stage and every tile each run ``epochs`` x ``steps``), both scored by
    ``Scorer`` at full size (style and content targets at full resolution) once they are done."""
    content = images.load_rgb(SAMPLES / "landscape.jpg", role="content", max_dim=size)  # enlarged past 640 px
    style = images.load_rgb(SAMPLES / "swirls.jpg", role="style", max_dim=size)
    options = dataclasses.replace(DEFAULT, epochs=epochs, steps_per_epoch=steps, max_dim=size)
    plan = stages.plan(content.shape[:2], options)
    shown = f"{content.shape[1]}x{content.shape[0]}"
    if not plan.tiled:
        raise SystemExit(
            f"--tiles {size}: {shown} fits one task, so its plan has no tiles to compare; give a larger size"
        )
    tiled_image, tiled = planned_run(f"coarse stage + {len(plan.tiles)} tiles", content, style, options)
    with one_stage_only():
        single_image, single = planned_run(f"one stage at {shown}", content, style, options)
    log("tiles: scoring at full size")
    scorer = Scorer(content, style)
    photo_loss, photo_distance = scorer.measure(content)
    single["loss"], single["distance"] = scorer.measure(single_image)
    tiled["loss"], tiled["distance"] = scorer.measure(tiled_image)
    tiled.update(coarse=f"{plan.whole_hw[1]}x{plan.whole_hw[0]}", tiles=len(plan.tiles))
    result = {
        "size": shown,
        "machine": machine(NETWORK),
        "options": changed_options(options),
        "epochs": epochs,
        "steps_per_epoch": steps,
        "photo": {"loss": photo_loss, "distance": photo_distance},
        "single": single,
        "tiled": tiled,
        "loss_ratio": tiled["loss"] / single["loss"],
        "distance_ratio": tiled["distance"] / single["distance"],
    }
    log(f"tiles: {result}")
    return result


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
    parser.add_argument(
        "--tiles",
        type=int,
        metavar="SIZE",
        help=f"run only the tiled plan against a single stage, at this long side (otherwise at {TILES_SIZE}, after "
        "the sizes); --out's other results are kept",
    )
    parser.add_argument("--skip-tiles", action="store_true", help="leave that comparison out (--out's is kept)")
    parser.add_argument("--tiles-epochs", type=int, default=TILES_EPOCHS, help="epochs of every task of it")
    parser.add_argument("--tiles-steps", type=int, default=TILES_STEPS, help="steps per epoch of every task of it")
    parser.add_argument("--out", type=Path, default=RESULTS / "quality.json")
    parser.add_argument("--plot", type=Path, default=RESULTS / "style_distance.png")
    args = parser.parse_args(argv)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    weights = weights_from_env(network=NETWORK)
    results: dict[str, object] = {"machine": machine(NETWORK), "network": NETWORK, "weights": weights.kind}
    log(f"machine: {results['machine']}")
    if args.tiles is not None:  # this comparison alone: a sitting of its own, with its own machine in its entry
        tiles = tiles_section(args.tiles, args.tiles_epochs, args.tiles_steps)
        previous = json.loads(args.out.read_text()) if args.out.exists() else {}  # as it is now, after the runs
        results = {**results, **previous, "tiles": tiles}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
        log(f"wrote {args.out}")
        return 0
    measured = [
        measure_size(size, args.reference_steps, args.budget, args.smoothing, size in args.full_set, args.without)
        for size in args.sizes
    ]
    if args.append and previous:  # another sitting's sizes kept, this one's replaced
        kept = [r for r in previous["sizes"] if r["size"] not in {m["size"] for m in measured}]
        measured = kept + measured
    results["sizes"] = measured
    if not args.skip_tiles:
        results["tiles"] = tiles_section(TILES_SIZE, args.tiles_epochs, args.tiles_steps)
    elif "tiles" in previous:
        results["tiles"] = previous["tiles"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    plot(measured, args.plot)
    log(f"wrote {args.out} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
