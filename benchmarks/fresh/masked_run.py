"""One optimisation task's epochs with style masks, for its peak memory:

    python -m benchmarks.fresh.masked_run SIDE STYLES MASKS

a SIDE x 3/4 SIDE photo and STYLES styles of its size (random pixels: memory depends on shapes, not values), MASKS
of them masked (vertical strips, one per style; 0: the blend, unmasked), 2 epochs of 8 L-BFGS steps through the
engine's epoch chain as the optimisation task runs them; prints its peak RSS in bytes."""

from __future__ import annotations

import argparse
import json

from benchmarks.fresh import use_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("side", type=int)
    parser.add_argument("styles", type=int)
    parser.add_argument("masks", type=int)
    args = parser.parse_args()
    use_tree()
    import numpy as np

    from benchmarks.common import peak_rss_bytes
    from workflows.engine.chain import RunState, run_epochs
    from workflows.engine.options import StyleOptions
    from workflows.engine.regions import StyleRegions

    height, width = args.side * 3 // 4, args.side
    rng = np.random.default_rng(0)
    content = rng.random((height, width, 3), dtype=np.float32)
    styles = [rng.random((height, width, 3), dtype=np.float32) for _ in range(args.styles)]
    masks = []
    for columns in np.array_split(np.arange(width), args.masks) if args.masks else []:
        mask = np.zeros((height, width), np.float32)
        mask[:, columns] = 1.0
        masks.append(mask)
    options = StyleOptions(max_dim=args.side, epochs=2, steps_per_epoch=8)
    run_epochs(content, styles, options, RunState(0, content), regions=StyleRegions.of(masks))
    print(json.dumps({"peak_rss_bytes": peak_rss_bytes()}))


if __name__ == "__main__":
    main()
