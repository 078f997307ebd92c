"""The whole workflow under flytekit local execution, as ``pyflyte run`` runs it:

    python -m benchmarks.fresh.whole_workflow CONTENT STYLE EPOCHS STEPS MAX_DIM EPOCHS_PER_TASK [--upscale]

prints its wall seconds inside the process (the caller measures the process's) and the process's peak RSS: every
task of a local run shares this one process."""

from __future__ import annotations

import argparse
import json
import time

from benchmarks.common import peak_rss_bytes
from benchmarks.fresh import use_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("content", "style"):
        parser.add_argument(name)
    for name in ("epochs", "steps", "max_dim", "epochs_per_task"):
        parser.add_argument(name, type=int)
    parser.add_argument("--upscale", action="store_true", help="enlarge the photo to max_dim")
    args = parser.parse_args()
    use_tree()
    from workflows.neural_style_transfer import neural_style_transfer_wf

    began = time.perf_counter()
    neural_style_transfer_wf(
        content_img=args.content,
        style_img=args.style,
        epochs=args.epochs,
        steps_per_epoch=args.steps,
        max_dim=args.max_dim,
        epochs_per_task=args.epochs_per_task,
        upscale=args.upscale,
    )
    print(json.dumps({"workflow_s": time.perf_counter() - began, "peak_bytes": peak_rss_bytes()}))


if __name__ == "__main__":
    main()
