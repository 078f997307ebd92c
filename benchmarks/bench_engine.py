"""The engine's timing benchmarks: step speed against the machine's own convolution throughput, and the
per-step-task recipe against our loop (time to quality, on trained features: ``benchmarks/bench_quality.py``).

    python -m benchmarks.bench_engine --size 512 --out benchmarks/results/engine.json

Everything is measured in one run on this machine, so the ratios compare like with like. Timings only:
no assertion here, and none of this runs in the test suite.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

tf.get_logger().setLevel("ERROR")  # the per-step recipe retraces every step on purpose; no warning for that

from benchmarks.common import REPO, SAMPLES, log, machine, timed  # noqa: E402
from workflows import images  # noqa: E402
from workflows.engine.networks.vgg_features import (  # noqa: E402
    CONTENT_LAYERS,
    RANDOM_SEED,
    STYLE_LAYERS,
    _he_normal_init,
)
from workflows.engine.options import ADAM_SETTINGS, StyleOptions  # noqa: E402
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


# --- the run -----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="long side of the recipe's comparison")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "engine.json")
    parser.add_argument("--step-sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--skip", nargs="*", default=[], help="sections to skip: steps recipe")
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

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
