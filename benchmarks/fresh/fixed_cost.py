"""Where a fresh optimisation task's time to its first step goes, by part:

    python -m benchmarks.fresh.fixed_cost CONTENT.npy STYLE.npy OPTIMIZER PRECISION

prints the seconds of each part (imports, the network's weights, the targets, the first step with its tracing,
three more steps); the caller adds the interpreter's start and exit from its wall time."""

from __future__ import annotations

import argparse
import json
import time

from benchmarks.fresh import use_tree


def main() -> None:
    began = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("optimizer")
    parser.add_argument("precision")
    args = parser.parse_args()
    use_tree()
    import numpy as np

    import workflows.engine.framework  # noqa: F401  TensorFlow and Keras, imported as the engine imports them

    marks = {"import TensorFlow": time.perf_counter()}
    import flytekit  # noqa: F401

    marks["import flytekit"] = time.perf_counter()
    from workflows.engine.networks.vgg_features import feature_extractor
    from workflows.engine.options import StyleOptions
    from workflows.engine.transfer import StyleTransfer

    content, style = np.load(args.content), np.load(args.style)
    feature_extractor(None, args.precision)
    marks["VGG19 weights"] = time.perf_counter()
    engine = StyleTransfer(content, style, StyleOptions(optimizer=args.optimizer), precision=args.precision)
    marks["style and content targets"] = time.perf_counter()
    first = engine.run(1)
    marks["first step (tracing included)"] = time.perf_counter()
    engine.run(3, image=first.image, optimizer_state=first.optimizer_state)
    marks["three more steps"] = time.perf_counter()
    previous, spans = began, {}
    for name, at in marks.items():
        spans[name], previous = at - previous, at
    print(json.dumps(spans))


if __name__ == "__main__":
    main()
