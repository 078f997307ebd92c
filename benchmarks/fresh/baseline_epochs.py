"""The baseline commit's epochs (``bench_stages.BASELINE_COMMIT``: one ``optimize_epoch`` task per epoch), timed
warm in its own tree with its own engine:

    python -m benchmarks.fresh.baseline_epochs CONTENT.npy STYLE.npy EPOCHS STEPS

its epoch chain made twice in one process, each epoch's steps timed the second time from its first step (its
steps are its code's, so they are timed by it); prints the seconds of each epoch."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from benchmarks.fresh import use_tree


def baseline_tuning() -> Any:
    """That commit's tasks take one more input, built in its own tree: its workflow's defaults (style 1e-2,
    content 1e4, total variation 30, L-BFGS, no ema or pyramid, precision auto)."""
    use_tree()
    from workflows.recipe import Tuning  # type: ignore[import-not-found]

    return Tuning(1e-2, 1e4, 30.0, "lbfgs", 0.0, False, "auto")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("epochs", type=int)
    parser.add_argument("steps", type=int)
    args = parser.parse_args()
    use_tree()
    import numpy as np

    from workflows.style_engine import run_epoch  # type: ignore[import-not-found]

    content, style = np.load(args.content), np.load(args.style)
    tuning = baseline_tuning()

    def chain() -> list[float]:
        image, state, seconds = content, {}, []
        for epoch in range(args.epochs):
            first: list[float] = []

            def on_step(index: int, loss: float, first: list[float] = first) -> None:
                if index == 0:
                    first.append(time.perf_counter())

            plan = tuning.plan(epoch, args.epochs, args.steps)
            result = run_epoch(content, style, image, state, plan, on_step=on_step)
            seconds.append(time.perf_counter() - first[0])
            image, state = result.image, result.optimizer_state
        return seconds

    chain()
    print(json.dumps(chain()))


if __name__ == "__main__":
    main()
