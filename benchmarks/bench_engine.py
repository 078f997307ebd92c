"""The engine's benchmarks: step speed against the machine's own convolution throughput, the per-step-task
recipe against our loop, time to quality for each optimiser configuration, and an optimisation task's peak RSS.

    python -m benchmarks.bench_engine --size 512 --out benchmarks/results/engine.json

Everything is measured in one run on this machine, so the ratios compare like with like. Timings only:
no assertion here, and none of this runs in the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

tf.get_logger().setLevel("ERROR")  # the per-step recipe retraces every step on purpose; no warning for that

from benchmarks.common import REPO, SAMPLES, log, machine, timed  # noqa: E402
from workflows import images  # noqa: E402
from workflows.engine import transfer  # noqa: E402
from workflows.engine.chain import EpochDone, RunState, run_epochs  # noqa: E402
from workflows.engine.networks.vgg_features import (  # noqa: E402
    CONTENT_LAYERS,
    RANDOM_SEED,
    STYLE_LAYERS,
    _he_normal_init,
)
from workflows.engine.options import ADAM_SETTINGS, StyleOptions  # noqa: E402
from workflows.engine.resample import resize  # noqa: E402
from workflows.engine.transfer import StyleTransfer  # noqa: E402

#: The tutorial's recipe: the reference every configuration is timed against.
ADAM = StyleOptions(optimizer="adam", precision="float32")
#: (downsampling factor, input channels, output channels) of every convolution up to block5_conv2.
VGG_CONVS = (
    [(1, 3, 64), (1, 64, 64), (2, 64, 128), (2, 128, 128)]
    + [(4, 128, 256)]
    + [(4, 256, 256)] * 3
    + [(8, 256, 512)]
    + [(8, 512, 512)] * 3
    + [(16, 512, 512)] * 2
)


# --- 1. seconds per step, against measured convolution throughput -------------------------------------------


def step_gflop(height: int, width: int) -> float:
    """One forward through block5_conv2 plus the backward pass to the input (no weight gradients): 2 x forward."""
    forward = sum(2 * (height // d) * (width // d) * cin * cout * 9 for d, cin, cout in VGG_CONVS)
    return 2 * forward / 1e9


def conv_throughput(dtype: tf.DType, height: int = 384, width: int = 512) -> dict[str, float]:
    """Forward GFLOP/s of the network's own 3x3 convolution shapes (at a 512x384 input) and of one large
    convolution (128x128x256 -> 256); ``best`` is the machine's convolution throughput the steps are held to.

    oneDNN picks its algorithm per shape (and may use fewer multiplications than the nominal count), so the
    fair reference is the best nominal rate it reaches on the very shapes a step runs."""
    rates: dict[str, float] = {}
    shapes = {(height // d, width // d, cin, cout) for d, cin, cout in VGG_CONVS} | {(128, 128, 256, 256)}
    for h, w, cin, cout in sorted(shapes):
        x = tf.cast(tf.random.normal((1, h, w, cin)), dtype)
        k = tf.cast(tf.random.normal((3, 3, cin, cout)) * 0.01, dtype)
        conv = tf.function(lambda x=x, k=k: tf.nn.conv2d(x, k, 1, "SAME"))
        seconds = timed(lambda conv=conv: conv().numpy(), repeats=5)["median_s"]
        rates[f"{h}x{w}x{cin}->{cout}"] = 2 * h * w * cin * cout * 9 / seconds / 1e9
    return {"best": max(rates.values()), "large_conv": rates["128x128x256->256"], "by_shape": rates}


def step_speed(content: np.ndarray, style: np.ndarray, precision: str, repeats: int) -> dict[str, float]:
    engine = StyleTransfer(content, style, ADAM, precision=precision)
    engine.run(2)  # trace and warm up
    seconds = timed(lambda: engine.run(1), repeats=repeats, warmup=1)["median_s"]
    height, width = content.shape[:2]
    return {"seconds_per_step": seconds, "gflop_per_step": step_gflop(height, width)}


# --- 2. the per-step-task recipe ---------------------------------------------------------------------------------


def per_step_task_recipe_step(content: np.ndarray, style: np.ndarray, weights_file: Path) -> None:
    """What a one-task-per-step recipe does every step: load VGG19, recompute targets, a fresh Adam, trace, step."""
    vgg = keras.applications.VGG19(include_top=False, weights=str(weights_file), input_shape=(None, None, 3))
    outputs = [vgg.get_layer(name).output for name in STYLE_LAYERS + CONTENT_LAYERS]
    engine = StyleTransfer(content, style, ADAM)  # recomputes the targets: two forward passes
    engine._extractor = keras.Model(vgg.input, outputs)  # and steps through the freshly loaded network
    variable = tf.Variable(content[None])
    adam = keras.optimizers.Adam(**ADAM_SETTINGS)
    adam.build([variable])
    engine._compiled_adam_step(variable, adam, None, 0.0)().numpy()


# --- 3. time to quality ------------------------------------------------------------------------------------------


@dataclass
class Curve:
    """Loss (by the fixed full-size evaluator) against optimisation seconds (evaluation excluded)."""

    name: str
    points: list[tuple[float, float]] = field(default_factory=list)
    reached_at_s: float | None = None
    steps: int = 0
    note: str = ""
    style_distance: float | None = (
        None  # the trained yardstick on the final image (workflows/engine/networks/arbitrary_stylization.py)
    )
    final: np.ndarray | None = field(default=None, repr=False)  # the last image, kept in memory only


class Stopwatch:
    def __init__(self) -> None:
        self.total = 0.0
        self._start: float | None = None

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.total += time.perf_counter() - self._start


def reference_run(content, style, steps: int) -> tuple[Curve, float, np.ndarray]:
    """The tutorial recipe: Adam from the content image, ``steps`` compiled steps at full size."""
    clock = Stopwatch()
    times, losses = [], []
    with clock:
        engine = StyleTransfer(content, style, ADAM)
    built = clock.total

    def record(index: int, loss: float) -> None:  # the loss before step ``index``, i.e. after ``index`` steps
        times.append(built + time.perf_counter() - began)
        losses.append(loss)

    with clock:
        began = time.perf_counter()
        result = engine.run(steps, on_step=record)
    target = float(engine.loss(result.image))
    distance = yardstick(result.image, style)
    curve = Curve(
        f"tutorial: Adam, {steps} steps", list(zip(times, losses)) + [(clock.total, target)], clock.total, steps
    )
    curve.style_distance = distance
    return curve, target, result.image


def yardstick(image: np.ndarray, style: np.ndarray) -> float | None:
    """How close the image's style is to the style image by a *trained* network, independent of VGG19 (so a
    run with random VGG19 weights shows honestly that it did not stylize); None with the preview turned off."""
    from workflows.engine.networks import arbitrary_stylization as feed_forward

    try:
        return feed_forward.style_distance(image, style)
    except feed_forward.PreviewError:
        return None


#: The float32 L-BFGS run again with the tutorial's exact (unsmoothed) total variation: what the smoothing buys.
EXACT_TV_NAME = "L-BFGS, float32, exact total variation (as before)"


@contextlib.contextmanager
def tv_smoothing(value: float) -> Iterator[None]:
    """Engines built inside use ``value`` as L-BFGS's total-variation smoothing (0: the tutorial's exact term)."""
    kept = transfer.TV_SMOOTHING
    transfer.TV_SMOOTHING = value
    try:
        yield
    finally:
        transfer.TV_SMOOTHING = kept


class _Stop(Exception):
    """Ends a chase from inside the chain's epoch callback: the target is reached or the budget is spent."""


def chase(
    name: str,
    content: np.ndarray,
    style: np.ndarray,
    evaluator: StyleTransfer,
    target: float,
    budget_s: float,
    options: StyleOptions,
    chunk: int,
) -> Curve:
    """Run the workflow's own epoch chain (``run_epochs``) until the evaluator's loss reaches ``target`` or
    ``budget_s`` runs out, scoring after every epoch with the clock stopped. Without a pyramid an epoch here is
    ``chunk`` steps (the run has as many as it needs); with one, the run is exactly the workflow's pyramid
    (``options.epochs`` levels of ``options.steps_per_epoch``), scored after each level."""
    curve = Curve(name)
    run = options if options.pyramid else dataclasses.replace(options, epochs=100_000, steps_per_epoch=chunk)
    began, scoring = time.perf_counter(), 0.0

    def on_epoch(done: EpochDone) -> None:
        nonlocal scoring
        elapsed = time.perf_counter() - began - scoring
        scored = time.perf_counter()
        loss = float(evaluator.loss(resize(done.state.output, content.shape[:2])))
        scoring += time.perf_counter() - scored
        curve.steps = len(done.state.losses)
        curve.points.append((elapsed, loss))
        log(f"  {name}: {curve.steps} steps, {elapsed:.0f} s, loss {loss:.4g} (target {target:.4g})")
        if loss <= target:
            curve.reached_at_s = elapsed
            raise _Stop
        if elapsed >= budget_s:
            raise _Stop

    last: list[np.ndarray] = []

    def keep(done: EpochDone) -> None:
        last[:] = [done.state.output]
        on_epoch(done)

    with contextlib.suppress(_Stop):
        run_epochs(content, style, run, RunState.start(content), on_epoch=keep)
    curve.final = resize(last[0], content.shape[:2]) if last else None
    curve.style_distance = yardstick(curve.final, style) if curve.final is not None else None
    return curve


def terms(evaluator: StyleTransfer, image: np.ndarray) -> dict[str, float]:
    """The evaluator's (the tutorial's) weighted loss terms at ``image``, as plain numbers for the results."""
    return {name: float(value) for name, value in evaluator.loss_terms(image).items()}


def _preview_distance(content: np.ndarray, style: np.ndarray) -> float | None:
    from workflows.engine.networks import arbitrary_stylization as feed_forward

    try:
        return feed_forward.style_distance(feed_forward.preview_of(content, style), style)
    except feed_forward.PreviewError:
        return None


def chase_fresh_adam_every_step(
    name: str, content: np.ndarray, style: np.ndarray, evaluator: StyleTransfer, target: float, budget_s: float
) -> Curve:
    """The per-step-task recipe's dynamics: Adam's moments and count start from zero at every step."""
    curve, clock = Curve(name), Stopwatch()
    with clock:
        engine = StyleTransfer(content, style, ADAM)
    image = content
    while clock.total < budget_s:
        with clock:
            for _ in range(25):
                image = engine.run(1, image=image).image
        curve.steps += 25
        loss = float(evaluator.loss(image))
        curve.points.append((clock.total, loss))
        if loss <= target:
            curve.reached_at_s = clock.total
            break
    curve.style_distance = yardstick(image, style)
    return curve


# --- the plot ----------------------------------------------------------------------------------------------------


def plot(curves: list[Curve], target: float, path: Path) -> None:
    """Loss (log scale) against seconds for every configuration, drawn with Pillow: no plotting dependency."""
    from PIL import Image, ImageDraw

    width, height, left, right, top, bottom = 900, 520, 80, 260, 30, 50
    points = [p for c in curves for p in c.points if p[1] > 0]
    t_max = max(p[0] for p in points) * 1.02
    l_lo = math.log10(min(min(p[1] for p in points), target)) - 0.02
    l_hi = math.log10(max(p[1] for p in points)) + 0.02
    x = lambda t: left + (width - left - right) * t / t_max
    y = lambda v: top + (height - top - bottom) * (l_hi - math.log10(v)) / (l_hi - l_lo)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    for fraction in (0, 0.25, 0.5, 0.75, 1.0):
        t = t_max * fraction
        draw.text((x(t) - 10, height - bottom + 6), f"{t:.0f}s", fill="black")
        v = 10 ** (l_lo + (l_hi - l_lo) * fraction)
        draw.text((8, y(v) - 6), f"{v:.3g}", fill="black")
    draw.line([(left, y(target)), (width - right, y(target))], fill=(150, 150, 150), width=1)
    draw.text((left + 4, y(target) - 14), "quality target", fill=(110, 110, 110))
    palette = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
    ]
    for index, curve in enumerate(curves):
        colour = palette[index % len(palette)]
        line = [(x(t), y(v)) for t, v in curve.points if v > 0]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        draw.rectangle(
            [width - right + 12, top + 18 * index + 4, width - right + 24, top + 18 * index + 14], fill=colour
        )
        draw.text((width - right + 30, top + 18 * index + 2), curve.name[:38], fill="black")
    draw.text((left, 8), "loss at full size (fixed evaluator) against optimisation seconds", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


# --- the run -----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="long side for time to quality and peak RSS")
    parser.add_argument("--reference-steps", type=int, default=500)
    parser.add_argument("--budget", type=float, default=0.6, help="each configuration's time, x the reference run")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "engine.json")
    parser.add_argument("--plot", type=Path, default=REPO / "benchmarks" / "results" / "time_to_quality.png")
    parser.add_argument("--step-sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--skip", nargs="*", default=[], help="sections to skip: steps recipe quality")
    args = parser.parse_args(argv)

    # Re-measuring some sections (--skip the others) updates the results file instead of replacing it.
    previous = json.loads(args.out.read_text()) if args.skip and args.out.exists() else {}
    results: dict[str, object] = {**previous, "machine": machine(), "size": args.size}
    log(f"machine: {results['machine']}")
    content_full = images.load_rgb(SAMPLES / "landscape.jpg", role="content", max_dim=args.size)
    style_full = images.load_rgb(SAMPLES / "swirls.jpg", role="style", max_dim=args.size)

    if "steps" not in args.skip:
        conv = {"float32": conv_throughput(tf.float32), "bfloat16": conv_throughput(tf.bfloat16)}
        results["conv_gflops"] = conv
        throughput = {precision: rates["best"] for precision, rates in conv.items()}
        log(f"convolution throughput: {throughput}")
        speeds = []
        for size in args.step_sizes:
            content = images.load_rgb(SAMPLES / "landscape.jpg", role="content", max_dim=size)
            style = images.load_rgb(SAMPLES / "swirls.jpg", role="style", max_dim=size)
            for precision in ("float32", "bfloat16"):
                speed = step_speed(content, style, precision, repeats=5 if size == 512 else 9)
                speed.update(size=f"{content.shape[1]}x{content.shape[0]}", precision=precision)
                speed["gflops"] = speed["gflop_per_step"] / speed["seconds_per_step"]
                speed["percent_of_conv_peak"] = 100 * speed["gflops"] / throughput[precision]
                speeds.append(speed)
                log(f"step: {speed}")
        results["steps"] = speeds

    if "recipe" not in args.skip:
        with tempfile.TemporaryDirectory() as tmp:
            weights_file = Path(tmp) / "vgg19_notop.weights.h5"  # a real notop file, as a task would load one
            vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
            _he_normal_init(vgg, RANDOM_SEED)
            vgg.save_weights(weights_file)
            recipe = timed(
                lambda: per_step_task_recipe_step(content_full, style_full, weights_file), repeats=3, warmup=1
            )["median_s"]
        full_size = f"{content_full.shape[1]}x{content_full.shape[0]}"
        measured = [s for s in results.get("steps", []) if s["size"] == full_size and s["precision"] == "float32"]
        ours = (
            measured[0]["seconds_per_step"]
            if measured
            else step_speed(content_full, style_full, "float32", 5)["seconds_per_step"]
        )
        results["recipe"] = {"per_step_task_seconds": recipe, "our_loop_seconds": ours, "ratio": recipe / ours}
        log(f"recipe: {results['recipe']}")

    if "quality" not in args.skip:
        evaluator = StyleTransfer(content_full, style_full, ADAM)  # the tutorial's loss, float32, full size
        reference, target, _ = reference_run(content_full, style_full, args.reference_steps)
        budget = args.budget * reference.reached_at_s  # slower than that is no contender: "not within" is reported
        log(f"reference: {reference.reached_at_s:.0f} s, target loss {target:.5g}")
        lbfgs = StyleOptions(optimizer="lbfgs", precision="float32")
        adam = StyleOptions(optimizer="adam", precision="float32")
        configs = [
            ("L-BFGS, 20 pairs, float32", lbfgs, 10),
            ("L-BFGS + bfloat16 convolutions", dataclasses.replace(lbfgs, precision="bfloat16"), 10),
            (EXACT_TV_NAME, lbfgs, 10),
            ("Adam + iterate averaging (0.95)", dataclasses.replace(adam, ema=0.95), 25),
            ("L-BFGS + pyramid (the workflow's, 5 x 100)", dataclasses.replace(lbfgs, pyramid=True), 100),
            ("Adam + pyramid (the workflow's, 5 x 100)", dataclasses.replace(adam, pyramid=True), 100),
        ]
        curves = [reference]
        for name, options, chunk in configs:
            log(f"time to quality: {name}")
            smoothing = 0.0 if name == EXACT_TV_NAME else transfer.TV_SMOOTHING
            with tv_smoothing(smoothing):
                curves.append(chase(name, content_full, style_full, evaluator, target, budget, options, chunk))
        name = "per-step tasks (fresh Adam each step)"
        log(f"time to quality: {name}")
        curve = chase_fresh_adam_every_step(name, content_full, style_full, evaluator, target, budget)
        if "recipe" in results:
            # Same dynamics as that recipe; its clock runs at the recipe's measured seconds per step.
            per_step = results["recipe"]["per_step_task_seconds"]
            curve.points = [(25 * (n + 1) * per_step, loss) for n, (_, loss) in enumerate(curve.points)]
            curve.reached_at_s = curve.steps * per_step if curve.reached_at_s is not None else None
            curve.note = f"dynamics simulated; time = steps x {per_step:.2f} s measured per recipe step"
        curves.append(curve)
        results["quality"] = {
            "target_loss": target,
            "curves": [{k: v for k, v in asdict(c).items() if k != "final"} for c in curves],
            "yardstick": {
                "photo": yardstick(content_full, style_full),
                "preview": _preview_distance(content_full, style_full),
            },
        }
        plot(curves, target, args.plot)
        # Which terms the configurations lower on the way to the target (with random weights: mostly smoothness).
        fastest = min((c for c in curves[1:] if c.reached_at_s), key=lambda c: c.reached_at_s, default=None)
        if fastest is not None and fastest.final is not None:
            results["quality"]["composition"] = {
                "photo": terms(evaluator, content_full),
                f"{fastest.name}, at the target": terms(evaluator, fastest.final),
            }

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
