"""The instant preview against one VGG19 optimisation step, and the trained yardstick on the samples.

    NST_VGG19_WEIGHTS=random .venv/bin/python -m benchmarks.bench_preview --out benchmarks/results/preview.json

* Preview latency: warm median wall seconds of ``PreviewModel.transform`` (style embedding included, as a
  preview needs it) on ``samples/landscape.jpg`` resized to a long side of 256, 512 and 1024 px, with
  ``samples/swirls.jpg`` as the style; beside it, one warm ``StyleTransfer(content, style).run(1)`` (the
  default L-BFGS from the photo: its first evaluation and one step) at the same size, and the marginal step
  ``(run(3) - run(1)) / 2``. Random VGG19 weights time the same as the real ones.
* Yardstick: ``style_distance`` to the style of the photo and of the preview (at the photo's own 640 px and at
  the transformer's declared 384 px), for ``landscape.jpg`` + ``swirls.jpg``.

Timings only, no assertion; nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.common import log, timed
from workflows.engine.networks import arbitrary_stylization as preview

REPO = Path(__file__).resolve().parent.parent
SIZES = (256, 512, 1024)
# Fewer repeats where a VGG19 step takes seconds: the median of 3 is stable enough there.
VGG_REPEATS = {256: 5, 512: 3, 1024: 3}


def load(name: str, long_side: int | None = None) -> np.ndarray:
    image = Image.open(REPO / "samples" / name).convert("RGB")
    if long_side is not None:
        scale = long_side / max(image.size)
        size = (round(image.width * scale), round(image.height * scale))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float32) / 255.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "preview.json")
    parser.add_argument("--preview-repeats", type=int, default=10)
    args = parser.parse_args()

    model = preview.get_model()
    start = time.perf_counter()
    info = model.info  # loads (and hash-checks) both networks
    load_s = time.perf_counter() - start
    log(f"networks loaded and checked in {load_s:.2f} s ({info['threads']} threads)")

    photo, style = load("landscape.jpg"), load("swirls.jpg")
    at_own_size = model.transform(photo, style)
    at_384 = model.transform(photo, style, max_side=384)
    yardstick = {
        "photo": model.style_distance(photo, style),
        "preview": model.style_distance(at_own_size, style),
        "preview_at_384": model.style_distance(at_384, style),
        "content": "samples/landscape.jpg (640 x 480)",
        "style": "samples/swirls.jpg",
    }
    log(
        f"style distance: photo {yardstick['photo']:.2f}, preview {yardstick['preview']:.2f}, at 384 px {yardstick['preview_at_384']:.2f}"
    )

    rows = []
    for size in SIZES:
        content, style_sized = load("landscape.jpg", size), load("swirls.jpg", size)
        row: dict[str, Any] = {"long_side": size, "shape": list(content.shape[:2])}
        row["preview"] = timed(functools.partial(model.transform, content, style_sized), args.preview_repeats, warmup=2)
        row["embedding"] = timed(functools.partial(model.embedding, style_sized), args.preview_repeats, warmup=2)
        rows.append(row)
        log(f"{size} px: preview {row['preview']['median_s'] * 1000:.0f} ms")

    # TensorFlow only now, so the preview above ran as it does in a task before the optimisation starts.
    from workflows.engine.networks.vgg_features import weights_from_env
    from workflows.engine.transfer import StyleTransfer

    for row in rows:
        size = int(row["long_side"])
        content, style_sized = load("landscape.jpg", size), load("swirls.jpg", size)
        engine = StyleTransfer(content, style_sized)
        one = timed(functools.partial(engine.run, 1), VGG_REPEATS[size], warmup=1)
        three = timed(functools.partial(engine.run, 3), VGG_REPEATS[size], warmup=0)
        # run(1) from the photo pays the run's first evaluation and per-run set-up besides its one step; the
        # marginal step (run(3) - run(1)) / 2 is what each further step of a long run costs.
        row["vgg19_run1"] = one
        row["vgg19_run3"] = three
        row["vgg19_marginal_step_s"] = (three["median_s"] - one["median_s"]) / 2
        ratio = one["median_s"] / row["preview"]["median_s"]
        row["vgg19_run1_over_preview"] = ratio
        log(
            f"{size} px: StyleTransfer.run(1) {one['median_s']:.2f} s ({ratio:.0f}x the preview), "
            f"marginal step {row['vgg19_marginal_step_s']:.2f} s"
        )

    import onnxruntime

    result = {
        "machine": {
            "cores": len(os.sched_getaffinity(0)),
            # The cores are shared: the load average at the end says how busy the machine was meanwhile.
            "load_average_at_end": list(os.getloadavg()),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "onnxruntime": onnxruntime.__version__,
            "vgg19_weights": weights_from_env().kind,
        },
        "model": info,
        "load_s": load_s,
        "latency": rows,
        "yardstick": yardstick,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
