"""The peak memory of decoding one image as the ``preprocess`` task's pod does:

    python -m benchmarks.fresh.decode_peak IMAGE IMAGES_MODULE

imports the task module of the tree under test first (what the pod has imported before preprocess runs), then
loads IMAGES_MODULE (this tree's ``workflows/images.py``, or another commit's copy of it) from its file and
decodes IMAGE at ``max_dim=512``; prints the peak RSS, the imports' share of it, the seconds and the outcome."""

from __future__ import annotations

import argparse
import importlib.util
import json
import time

from benchmarks.common import peak_rss_bytes
from benchmarks.fresh import use_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("images_module")
    args = parser.parse_args()
    use_tree()
    import workflows.neural_style_transfer  # noqa: F401

    before = peak_rss_bytes()
    spec = importlib.util.spec_from_file_location("images_under_test", args.images_module)
    assert spec is not None and spec.loader is not None, args.images_module
    images = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(images)
    started = time.perf_counter()
    try:
        shape = list(images.load_rgb(args.image, role="content", max_dim=512).shape)
        outcome = "decoded"
    except images.ImageInputError as exc:
        shape, outcome = None, f"refused: {exc}"
    print(
        json.dumps(
            {
                "peak_gib": peak_rss_bytes() / 2**30,
                "imports_gib": before / 2**30,
                "seconds": time.perf_counter() - started,
                "shape": shape,
                "outcome": outcome,
            }
        )
    )


if __name__ == "__main__":
    main()
